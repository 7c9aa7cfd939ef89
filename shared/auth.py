"""Staff passwords (scrypt) and clerk tokens.

A clerk token is bound to the window signed into and signed with the site's secret (HMAC-SHA256),
so every service of the site can verify it (the matters service accepts a case with it) without a
call to the queue service. The queue service also checks that the window's session is still open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from dataclasses import dataclass


def hash_password(password: str, *, n: int = 2**14, r: int = 8, p: int = 1) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
    )
    return hmac.compare_digest(got.hex(), digest)


class InvalidToken(Exception):
    pass


TOKEN_TTL_S = 12 * 3600  # a clerk's or duty manager's token lives this long


@dataclass(frozen=True)
class ClerkClaims:
    site: str
    staff_id: str
    window_no: int
    session_id: uuid.UUID
    expires_at: int
    role: str = "clerk"  # clerk (at a window), manager (值班长), backoffice (后台办理, window 0)
    department: str | None = None  # a back-office clerk's department (科室), e.g. 工伤保险科


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def issue_token(secret: str, claims: ClerkClaims) -> str:
    body = _b64(json.dumps({
        "site": claims.site, "sub": claims.staff_id, "win": claims.window_no,
        "sid": str(claims.session_id), "exp": claims.expires_at, "role": claims.role,
        **({"dept": claims.department} if claims.department else {}),
    }, separators=(",", ":"), ensure_ascii=False).encode())
    sig = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def verify_token(secret: str, token: str, *, site: str, now: float | None = None) -> ClerkClaims:
    try:
        body, sig = token.split(".")
    except ValueError as exc:
        raise InvalidToken("malformed token") from exc
    want = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(want, sig):
        raise InvalidToken("bad token signature")
    try:
        data = json.loads(_unb64(body))
        claims = ClerkClaims(
            site=data["site"], staff_id=data["sub"], window_no=int(data["win"]),
            session_id=uuid.UUID(data["sid"]), expires_at=int(data["exp"]), role=data.get("role", "clerk"),
            department=data.get("dept"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidToken("malformed token") from exc
    if claims.site != site:
        raise InvalidToken("token of another site")
    if claims.expires_at < (now if now is not None else time.time()):
        raise InvalidToken("token expired")
    return claims
