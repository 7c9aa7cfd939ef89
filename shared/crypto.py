"""Personal data at rest (names, ID numbers, phone numbers): AES-256-GCM (``cryptography``) with a key from
settings. Used by every service that keeps personal data (matters: applicants; notify: phone numbers).

A sealed value is ``0x01 | key id (4 bytes) | nonce (12 bytes) | ciphertext and tag``. The key id is the
start of SHA-256 of the key, so values sealed before a key rotation are still read with an old key. The
associated data binds a value to its row and field (``case:<id>:id_no``): a value copied into another row or
field does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"


class BadKey(ValueError):
    """A key in the settings is not usable (the message never contains it)."""


class CannotDecrypt(ValueError):
    pass


def parse_key(text: str, setting: str = "data key") -> bytes:
    """A 32-byte key written as base64 (standard or URL-safe) or as 64 hex digits."""
    t = text.strip()
    candidates: list[bytes] = []
    if len(t) == 64:
        with contextlib.suppress(ValueError):
            candidates.append(bytes.fromhex(t))
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(decode(t + "=" * (-len(t) % 4)))
    for key in candidates:
        if len(key) == 32:
            return key
    raise BadKey(f"{setting} must be 32 bytes, written as base64 or 64 hex digits")


def derive_development_key(token_secret: str, *, salt: bytes, info: bytes) -> bytes:
    """A per-site key for development sites that set no data key (never for production)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(token_secret.encode())


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:4]


class DataBox:
    def __init__(self, key: bytes, old_keys: Sequence[bytes] = (), *, lookup_salt: bytes = b"hallnet-lookup") -> None:
        if len(key) != 32 or any(len(k) != 32 for k in old_keys):
            raise BadKey("AES-256 keys are 32 bytes")
        self._kid = _key_id(key)
        self._keys = {_key_id(k): AESGCM(k) for k in (*old_keys, key)}
        self._lookup_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=lookup_salt,
                                info=b"lookup").derive(key)

    def lookup(self, text: str) -> bytes:
        """A keyed hash of ``text`` (HMAC-SHA256): finds and counts equal values without opening them.
        It changes with the current key (e.g. notify's per-phone limits start afresh after a rotation)."""
        return hmac.new(self._lookup_key, text.encode(), hashlib.sha256).digest()

    def seal(self, text: str, context: str) -> bytes:
        nonce = os.urandom(12)
        ct = self._keys[self._kid].encrypt(nonce, text.encode(), context.encode())
        return VERSION + self._kid + nonce + ct

    def open(self, blob: bytes, context: str) -> str:
        if len(blob) < 1 + 4 + 12 + 16 or blob[:1] != VERSION:
            raise CannotDecrypt("not a sealed value")
        aead = self._keys.get(blob[1:5])
        if aead is None:
            raise CannotDecrypt("sealed with a key this service does not have")
        try:
            return aead.decrypt(blob[5:17], blob[17:], context.encode()).decode()
        except InvalidTag:
            raise CannotDecrypt("the value was altered or belongs to another record") from None
