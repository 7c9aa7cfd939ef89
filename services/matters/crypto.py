"""Applicant data at rest (see shared/crypto.py): the matters service's key setting and development key."""

from __future__ import annotations

from shared.crypto import BadKey, CannotDecrypt, DataBox
from shared.crypto import derive_development_key as _derive
from shared.crypto import parse_key as _parse

__all__ = ["BadKey", "CannotDecrypt", "DataBox", "derive_development_key", "parse_key"]


def parse_key(text: str) -> bytes:
    return _parse(text, "matters_data_key")


def derive_development_key(token_secret: str) -> bytes:
    return _derive(token_secret, salt=b"hallnet-matters", info=b"applicant data at rest")
