"""Demo site configurations drawn from the seed documents (../shared/seeds), written to
``hallnet/demo_sites/<site>.json`` in the shape the queue service loads.

Regenerate with ``python -m hallnet.demo`` (deterministic: same bytes every time).

What comes from the seeds: 株洲市人社局 runs three halls — 养老保险 (13 windows), 医疗生育保险 (15),
综合服务厅 (就业创业 5, 工伤 6, 失业 6); 衡南县人社局 has 31 windows and 33 clerks, a bank fee window
(邮政银行收费窗口) and 27 township stations such as 宝盖镇's; matter names (退休审批, 转移接续, 异地就医备案,
门诊慢性病登记, 生育津贴, 灵活就业人员补缴, 社保卡补办, 小额担保贷款, 职业技能培训 …) and service times
("社保续保缴费最快只要5分钟", "补办医保卡 … 不超过10分钟"). Staff names are generated (they are
employees, not people from the seeds); demo passwords are ``<staff_id>pw`` and are for demos only. Each site
also has back-office clerks (后台, ``staff[].backoffice``: the department) for each department that processes its
promised matters (承诺件), the departments named as in the matters catalog: two per department, as a case's
复核 (recheck) is someone else's than its 审核 (review).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).parent / "demo_sites"

# matter_id → (name 事项名称, typical service time at the window in seconds)
MATTERS: dict[str, tuple[str, int]] = {
    "yl-cbdj": ("企业职工养老保险参保登记", 360), "yl-lhjy": ("灵活就业人员参保登记", 420),
    "yl-ycbj": ("灵活就业人员一次性补缴", 720), "yl-jgsy": ("机关事业单位养老保险参保登记", 480),
    "yl-gxzy": ("养老保险关系转移接续", 600), "yl-txsq": ("企业职工退休申请", 900),
    "yl-zgrz": ("养老待遇领取资格认证", 240), "yl-sfsl": ("丧葬补助金、抚恤金申领", 600),
    "yl-cxcb": ("城乡居民养老保险参保登记", 300), "yl-cxdy": ("城乡居民养老保险待遇申领", 480),
    "yb-cbdj": ("职工基本医疗保险参保登记", 300), "yb-gxzy": ("医疗保险关系转移接续", 420),
    "yb-ydjy": ("异地就医备案", 300), "yb-mtdj": ("门诊慢性病登记", 420),
    "yb-fybx": ("医疗费用手工报销", 480), "yb-tsbz": ("特殊病种待遇审批", 600),
    "yb-cxcb": ("城乡居民医疗保险参保缴费", 240),
    "sy-jtsl": ("生育津贴申领", 480), "sy-ylbx": ("生育医疗费用报销", 420),
    "kk-bhk": ("社会保障卡补换", 480), "kk-sl": ("社会保障卡申领", 300), "kk-gs": ("社会保障卡挂失", 120),
    "jy-jydj": ("就业登记", 240), "jy-sydj": ("失业登记", 300), "jy-knrd": ("就业困难人员认定", 600),
    "jy-cydk": ("创业担保贷款申请", 900), "jy-pxbm": ("职业技能培训报名", 240), "jy-qzdj": ("求职登记", 180),
    "gs-rdsq": ("工伤认定申请", 900), "gs-ldnl": ("劳动能力鉴定申请", 600),
    "gs-ylbx": ("工伤医疗费用报销", 600), "gs-cbdj": ("建筑项目工伤保险参保登记", 480),
    "sb-bxj": ("失业保险金申领", 600), "sb-gxzy": ("失业保险关系转移", 420),
    "jf-sbjf": ("社会保险费缴纳", 300), "ld-jcts": ("劳动保障监察投诉", 900), "ld-htba": ("劳动用工备案", 300),
}


@dataclass(frozen=True)
class QueueSpec:
    prefix: str
    name: str
    hall: str
    matters: tuple[str, ...]

    @property
    def default_service_s(self) -> int:
        mean = sum(MATTERS[m][1] for m in self.matters) / len(self.matters)
        return int(round(mean / 30) * 30)


@dataclass(frozen=True)
class Section:
    """A section (科室) of a hall: its windows, each a list of queue prefixes in preference order."""

    hall: str
    windows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SiteSpec:
    site: str
    name: str
    staff_prefix: str
    staff_count: int
    queues: tuple[QueueSpec, ...]
    sections: tuple[Section, ...]


def _w(count: int, *prefs: str) -> tuple[tuple[str, ...], ...]:
    return (tuple(prefs),) * count


def _q(hall: str, *rows: tuple[str, str, tuple[str, ...]]) -> tuple[QueueSpec, ...]:
    return tuple(QueueSpec(p, n, hall, ms) for p, n, ms in rows)


_ZZ_YL, _ZZ_YB, _ZZ_ZH = "养老保险服务厅", "医疗生育保险服务厅", "综合服务厅"
_HN, _BG = "便民服务大厅", "服务站大厅"

SITES: tuple[SiteSpec, ...] = (
    SiteSpec(
        "zhuzhou", "株洲市人社局便民服务大厅", "zz", 48,
        _q(_ZZ_YL, ("A", "养老保险参保缴费", ("yl-cbdj", "yl-lhjy", "yl-ycbj", "yl-jgsy")),
           ("B", "养老保险关系转移", ("yl-gxzy",)), ("C", "退休审批与待遇", ("yl-txsq", "yl-zgrz", "yl-sfsl")))
        + _q(_ZZ_YB, ("D", "医保参保与转移", ("yb-cbdj", "yb-gxzy", "yb-cxcb")),
             ("E", "医疗费用报销", ("yb-fybx", "yb-mtdj", "yb-tsbz")), ("F", "异地就医备案", ("yb-ydjy",)),
             ("G", "生育保险", ("sy-jtsl", "sy-ylbx")), ("H", "社会保障卡", ("kk-bhk", "kk-sl", "kk-gs")))
        + _q(_ZZ_ZH, ("K", "就业服务", ("jy-jydj", "jy-sydj", "jy-knrd", "jy-qzdj", "jy-pxbm")),
             ("N", "创业服务", ("jy-cydk",)), ("L", "工伤保险", ("gs-rdsq", "gs-ldnl", "gs-ylbx", "gs-cbdj")),
             ("M", "失业保险", ("sb-bxj", "sb-gxzy"))),
        (
            Section(_ZZ_YL, _w(5, "A", "B", "C") + _w(3, "B", "A", "C") + _w(5, "C", "A", "B")),  # 13
            Section(_ZZ_YB, _w(4, "D", "F", "E", "H") + _w(5, "E", "D", "F") + _w(2, "F", "E", "D")
                    + _w(2, "G", "E") + _w(2, "H", "D")),  # 15
            Section(_ZZ_ZH, _w(4, "K", "N") + _w(1, "N", "K")),  # 就业创业 5
            Section(_ZZ_ZH, _w(6, "L")),  # 工伤 6
            Section(_ZZ_ZH, _w(6, "M")),  # 失业 6
        ),
    ),
    SiteSpec(
        "hengnan", "衡南县人社局便民服务大厅", "hn", 33,
        _q(_HN, ("A", "企业职工养老保险",
                 ("yl-cbdj", "yl-lhjy", "yl-gxzy", "yl-txsq", "yl-zgrz", "yl-sfsl", "yl-jgsy")),
           ("B", "医疗保险", ("yb-cbdj", "yb-ydjy", "yb-mtdj", "yb-fybx", "yb-tsbz", "yb-gxzy")),
           ("H", "社会保障卡", ("kk-bhk", "kk-sl", "kk-gs")),
           ("C", "城乡居民社会保险", ("yl-cxcb", "yl-cxdy", "yb-cxcb")),
           ("D", "就业与失业保险", ("jy-jydj", "jy-sydj", "jy-knrd", "jy-cydk", "jy-pxbm", "sb-bxj", "sb-gxzy")),
           ("E", "工伤生育保险", ("gs-rdsq", "gs-ldnl", "gs-ylbx", "sy-jtsl", "sy-ylbx")),
           ("F", "劳动关系与监察", ("ld-jcts", "ld-htba")),
           ("G", "社保费缴纳(邮政银行)", ("jf-sbjf",))),
        (
            Section(_HN, _w(8, "A", "C")),
            Section(_HN, _w(6, "B", "H") + _w(2, "H", "B")),
            Section(_HN, _w(4, "C", "A")),
            Section(_HN, _w(5, "D")),
            Section(_HN, _w(3, "E")),
            Section(_HN, _w(2, "F")),
            Section(_HN, _w(1, "G")),  # 31 windows
        ),
    ),
    SiteSpec(
        "baogai", "宝盖镇劳动保障服务站", "bg", 3,
        _q(_BG, ("A", "社会保险", ("yl-cxcb", "yl-cxdy", "yl-zgrz", "yb-cxcb", "kk-sl", "kk-bhk", "jf-sbjf")),
           ("B", "就业服务", ("jy-qzdj", "jy-jydj", "jy-pxbm", "jy-knrd"))),
        (Section(_BG, _w(1, "A", "B") + _w(1, "B", "A")),),
    ),
)
SITE_IDS = tuple(s.site for s in SITES)

OFFICE_HOURS: dict[str, Any] = {
    "weekdays": [1, 2, 3, 4, 5],
    "sessions": [["08:30", "12:00"], ["14:30", "17:30"]],
    "issue_cutoff_min": 0,
    "issue_during_lunch": True,
}
POLICY: dict[str, int] = {
    "green_bonus_s": 900, "appointment_bonus_s": 1200, "appointment_early_s": 900,
    "preference_step_s": 600, "max_calls": 3, "no_show_after_calls": 2, "requeue_positions": 3,
}

BACKOFFICE_PER_DEPARTMENT = 2  # 审核 and 复核 of one case are two people

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏"
            "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛龚邵万严覃戴")
_GIVEN_NAMES = ("娟 敏 静 丽 芳 燕 霞 玲 婷 洁 慧 颖 琳 莉 萍 雪梅 秀英 桂兰 丽华 海燕 红梅 晓燕 建华 建军 志强 志刚 "
         "国庆 卫东 伟 强 磊 勇 杰 涛 斌 超 明 刚 平 文 鹏 宇 浩 俊 凯 峰 波 晨 欣怡 佳琪 子涵 思远 雨婷 文博 "
         "浩然 宇航 俊杰 嘉怡 晓明 晓丽 春华 冬梅 立新 新华 红英 丽娟 玉兰 淑珍 小红 小军 亚平 艳 辉 军 伟民 "
         "振华 德明 金凤 美玲 雅琴 海波 永红 爱华 建平 利民 玉梅 湘云 湘平 湘君")
GIVEN = _GIVEN_NAMES.split()


@dataclass(frozen=True)
class Clerk:
    staff_id: str
    name: str
    roles: list[tuple[int, str]]


def _names(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _staff(spec: SiteSpec, windows: list[dict[str, Any]]) -> list[Clerk]:
    """One A-role clerk per window (AB角制度). Within a section the A clerk of each window is the B
    (stand-in) of the next window, in a ring; a window alone in its section gets the A clerk of the
    window before it as B. Extra clerks stand in (B) for every window of their section."""
    rng = random.Random(f"hallnet-demo-{spec.site}")  # noqa: S311  (demo names, not secrets)
    extra = spec.staff_count - len(windows)
    names = _names(rng, len(windows) + max(extra, 0))
    by_section: dict[int, list[int]] = {}
    for w in windows:
        by_section.setdefault(w["_section"], []).append(w["no"])
    clerks: list[Clerk] = []
    seq: dict[int, int] = {}
    for i, w in enumerate(windows):
        sec = w["_section"]
        seq[sec] = seq.get(sec, 0) + 1
        ring = by_section[sec]
        roles = [(w["no"], "A")]
        if len(ring) > 1:
            roles.append((ring[(ring.index(w["no"]) + 1) % len(ring)], "B"))
        clerks.append(Clerk(f"{spec.staff_prefix}{sec:02d}{seq[sec]:02d}", names[i], roles))
    for i, w in enumerate(windows):
        if len(by_section[w["_section"]]) == 1:
            clerks[i - 1 if i > 0 else 1].roles.append((w["no"], "B"))
    sections = sorted(by_section)
    for k in range(max(extra, 0)):
        sec = sections[k % len(sections)]
        clerks.append(Clerk(f"{spec.staff_prefix}99{k + 1:02d}", names[len(windows) + k],
                            [(no, "B") for no in by_section[sec]]))
    return clerks


def build_site(spec: SiteSpec) -> dict[str, Any]:
    """The site configuration of one demo site, in the queue service's format."""
    queues = [{"prefix": q.prefix, "name": q.name, "hall": q.hall, "default_service_s": q.default_service_s}
              for q in spec.queues]
    matters = [{"matter_id": m, "name": MATTERS[m][0], "queue": q.prefix, "service_s": MATTERS[m][1]}
               for q in spec.queues for m in q.matters]
    windows: list[dict[str, Any]] = []
    no = 0
    for sec_index, section in enumerate(spec.sections, start=1):
        for prefs in section.windows:
            no += 1
            windows.append({"no": no, "name": f"{no}号窗口", "hall": section.hall, "queues": list(prefs),
                            "_section": sec_index})
    clerks = _staff(spec, windows)
    for w in windows:
        del w["_section"]
    return {
        "site": spec.site, "name": spec.name, "timezone": "Asia/Shanghai",
        "office_hours": OFFICE_HOURS,
        "policy": POLICY,
        "queues": queues,
        "matters": matters,
        "windows": windows,
        "staff": [{"staff_id": c.staff_id, "name": c.name, "password": f"{c.staff_id}pw",
                   "roles": [[n, r] for n, r in c.roles]} for c in clerks]
        + [_hall_manager(clerks[0].staff_id[:2])]
        + _back_office(spec, [str(m["matter_id"]) for m in matters]),
    }


def backoffice_departments(matter_ids: list[str]) -> list[str]:
    """The departments (科室, as the matters catalog names them) that process the promised matters (承诺件) among
    ``matter_ids``: each matter's own and those of its back-office steps, in catalog order."""
    from services.matters.catalog import load_catalog  # the catalog is the one source of department names

    wanted = set(matter_ids)
    out: list[str] = []
    for spec in load_catalog():
        if spec.id in wanted and spec.kind.value == "promised":
            steps: list[str | None] = [s.department for s in spec.back_office_steps]
            for dept in [spec.department, *steps]:
                if dept and dept not in out:
                    out.append(dept)
    return out


def _back_office(spec: SiteSpec, matter_ids: list[str]) -> list[dict[str, Any]]:
    """Two back-office clerks (后台) per department that processes the site's promised matters (前台受理, 后台办理): a
    case's 复核 (recheck) is done by someone other than its 审核 (review). Staff ids are the site's letters, 8, the
    department's number and 1 or 2; they serve at no window."""
    rng = random.Random(f"hallnet-demo-backoffice-{spec.site}")  # noqa: S311  (demo names, not secrets)
    departments = backoffice_departments(matter_ids)
    names = iter(_names(rng, BACKOFFICE_PER_DEPARTMENT * len(departments)))
    out = []
    for i, dept in enumerate(departments, start=1):
        for n in range(1, BACKOFFICE_PER_DEPARTMENT + 1):
            staff_id = f"{spec.staff_prefix}8{i:02d}{n}"
            out.append({"staff_id": staff_id, "name": next(names), "password": f"{staff_id}pw", "roles": [],
                        "backoffice": dept})
    return out


def _hall_manager(letters: str) -> dict[str, Any]:
    """The hall's duty manager (值班长): configures windows, staff and matters; serves at no window."""
    staff_id = f"{letters}9001"
    return {"staff_id": staff_id, "name": "值班长", "password": f"{staff_id}pw", "roles": [], "manager": True}


def dumps(config: dict[str, Any]) -> str:
    """JSON with one list item per line: readable and diff-friendly."""
    lines = ["{"]
    keys = list(config)
    for i, key in enumerate(keys):
        value = config[key]
        comma = "," if i < len(keys) - 1 else ""
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = [json.dumps(v, ensure_ascii=False) for v in value]
            body = ",\n".join(f"    {item}" for item in items)
            lines.append(f"  {json.dumps(key)}: [\n{body}\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_all() -> dict[str, str]:
    """File name → content for every demo site."""
    return {f"{spec.site}.json": dumps(build_site(spec)) for spec in SITES}


def write_all(directory: Path = DEMO_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def site_config_path(site: str) -> Path:
    return DEMO_DIR / f"{site}.json"


if __name__ == "__main__":
    for p in write_all():
        print(p)
