"""Applicant data (个人信息), pure: the checks of a name, an ID number and a phone at intake, and the masks every
answer shows (张*, 4301**********1234, 138****1234). Messages never echo the value."""

from __future__ import annotations

import re
from datetime import date

from services.matters.domain import MattersError
from shared import errors


class InvalidApplicant(errors.Unprocessable, MattersError):
    pass


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
_NAME_RE = re.compile(r"^[^\d\x00-\x1f<>&\"'{}]{1,40}$")


def normalize_id_no(value: str) -> str:
    """An 18-character ID number (居民身份证, also the residence permits of 港澳台 residents and the new
    permanent residence cards, which share its check digit) in upper case; the message never echoes it."""
    v = value.strip().upper()
    if not _ID_RE.match(v):
        raise InvalidApplicant("身份证号码应为18位 / the ID number must have 18 characters (17 digits and a check)")
    total = sum(int(c) * w for c, w in zip(v[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != v[17]:
        raise InvalidApplicant("身份证号码校验位不符 / the ID number's check digit is wrong")
    try:
        date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise InvalidApplicant("身份证号码中的出生日期无效 / the ID number has no valid birth date") from None
    return v


def normalize_phone(value: str) -> str:
    v = re.sub(r"[\s-]", "", value)
    if v.startswith("+86"):
        v = v[3:]
    if not _PHONE_RE.match(v):
        raise InvalidApplicant("手机号码应为11位大陆手机号 / the phone must be an 11-digit mainland mobile number")
    return v


def normalize_name(value: str) -> str:
    v = " ".join(value.split())
    if not _NAME_RE.match(v):
        raise InvalidApplicant("姓名应为1至40个字符，不含数字或符号 / the name must be 1-40 characters, no digits")
    return v


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***."""
    return name[:1] + "*" * (len(name) - 1)


def mask_id_no(id_no: str) -> str:
    """430102199001011234 → 4301**********1234."""
    return id_no[:4] + "*" * (len(id_no) - 8) + id_no[-4:]


def mask_phone(phone: str) -> str:
    """13812341234 → 138****1234."""
    return phone[:3] + "****" + phone[-4:]
