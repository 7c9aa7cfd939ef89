"""Phone numbers at rest (see shared/crypto.py): the notify service's key setting and development key."""

from __future__ import annotations

from collections.abc import Sequence

from shared import crypto
from shared.crypto import BadKey, CannotDecrypt
from shared.crypto import derive_development_key as _derive
from shared.crypto import parse_key as _parse

__all__ = ["BadKey", "CannotDecrypt", "DataBox", "derive_development_key", "parse_key"]


class DataBox(crypto.DataBox):
    """Sealing plus the keyed phone lookup notify counts messages with."""

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        super().__init__(key, old_keys, lookup_salt=b"hallnet-notify-lookup")


def parse_key(text: str) -> bytes:
    return _parse(text, "notify_data_key")


def derive_development_key(token_secret: str) -> bytes:
    return _derive(token_secret, salt=b"hallnet-notify", info=b"phone numbers at rest")
