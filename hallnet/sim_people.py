"""Made-up citizens for the traffic simulator: a name, an ID number that passes the national check digit
(GB 11643: region of the hall, a birth date, a sequence, the check character) and a mobile number.

None of them is anybody: names are drawn from common surnames and given names, the ID's sequence and the phone's
digits are random. They travel only over HTTP to the site's own services (the matters service seals them at once,
the notify service keeps the phone); the simulator never prints or logs them, as the services never do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from hallnet.demo import GIVEN, SURNAMES

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# 行政区划代码 of the demo halls' districts: 株洲 荷塘/芦淞/石峰/天元, 衡南县 (宝盖镇 is in 衡南县)
REGIONS = {"zhuzhou": ("430202", "430203", "430204", "430211"), "hengnan": ("430422",), "baogai": ("430422",)}
DEFAULT_REGIONS = ("430102", "430104", "430111")  # 长沙: any other site
MOBILE_SECOND_DIGITS = "3456789"


@dataclass(frozen=True)
class Applicant:
    name: str
    id_no: str
    phone: str

    def body(self) -> dict[str, str]:
        """The ``applicant`` of ``POST /matters/api/v1/cases``."""
        return {"name": self.name, "id_no": self.id_no, "phone": self.phone}


def id_check_char(first17: str) -> str:
    """The 18th character of a resident ID number (ISO 7064 MOD 11-2)."""
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def fake_id_no(rng: random.Random, site: str, today: date) -> str:
    """A valid-looking ID number of an adult (18 to 80) registered in the hall's region."""
    region = rng.choice(REGIONS.get(site, DEFAULT_REGIONS))
    born = today - timedelta(days=rng.randint(18 * 366, 80 * 365))
    first17 = f"{region}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    return first17 + id_check_char(first17)


def fake_phone(rng: random.Random) -> str:
    """An 11-digit mainland mobile number (1[3-9] and nine digits)."""
    return "1" + rng.choice(MOBILE_SECOND_DIGITS) + "".join(rng.choice("0123456789") for _ in range(9))


def fake_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def fake_applicant(rng: random.Random, site: str, today: date) -> Applicant:
    return Applicant(fake_name(rng), fake_id_no(rng, site, today), fake_phone(rng))
