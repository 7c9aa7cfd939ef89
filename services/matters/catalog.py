"""The catalog of matters (事项目录) shipped with the product, and a site's changes to it.

The catalog is data: ``catalog/*.json``, one file per category, each ``{"category", "queue", "matters":
[...]}`` (an entry inherits the file's category and default queue unless it names its own). It is
validated on load; an error names the file, the entry and the field, e.g. ``catalog/yanglao.json:
matter #6 yl-txsq 企业职工退休申请: promised_days: …``.

A site changes entries in two layers, the later winning: the site file (the ``matters`` list of the site
configuration that ``hallnet up`` hands every service: listed matters are enabled with that queue, the
others disabled) and the hall manager's overrides (enable/disable, queue, a shorter promised limit).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.matters.domain import ACCEPT_STEP, DEFAULT_STEPS, STEP_NAMES, Kind
from shared import errors

CATALOG_DIR = Path(__file__).with_name("catalog")
CATEGORIES = ("养老保险", "医疗保险", "生育保险", "工伤保险", "失业保险", "就业创业", "社会保障卡", "劳动关系",
              "社会保险费征缴")
QUEUE_PATTERN = r"^[A-Z]{1,2}$"


class CatalogError(errors.Unprocessable, ValueError):
    """The catalog or a site's change to it is wrong; the message names the entry (a manager's change that
    breaks it answers 422 ``unprocessable``)."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class MaterialSpec(_M):
    """One material (申请材料): 原件 / 复印件 / 原件及复印件, how many, required or only under a condition."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    name: str = Field(min_length=2, max_length=80)
    form: Literal["original", "copy", "original_and_copy"]
    copies: int = Field(1, ge=1, le=10)
    required: bool = True
    condition: str | None = Field(None, min_length=2, max_length=80)  # when a conditional material is needed
    note: str | None = Field(None, max_length=120)

    @model_validator(mode="after")
    def _condition(self) -> MaterialSpec:
        if not self.required and not self.condition:
            raise ValueError(f"material {self.id}: a conditional material needs its condition")
        if self.required and self.condition:
            raise ValueError(f"material {self.id}: a required material has no condition (set required: false)")
        return self


class PickupSpec(_M):
    """What the citizen collects after approval (证照领取) and how long it is held for them."""

    item: str = Field(min_length=2, max_length=40)
    kind: Literal["card", "certificate", "decision"]
    hold_days: int = Field(90, ge=1, le=365)


class StepSpec(_M):
    """A back-office step between 前台受理 and 办结 (后台审核, 复核 …)."""

    code: str = Field(pattern=r"^[a-z][a-z_]{1,23}$")
    name: str = Field(min_length=2, max_length=20)
    department: str | None = None


class MatterSpec(_M):
    id: str = Field(pattern=r"^[a-z]{2}-[a-z0-9]{2,16}$")
    name: str = Field(min_length=2, max_length=60)
    category: Literal[CATEGORIES]  # type: ignore[valid-type]  # a Literal of the constant tuple
    department: str = Field(min_length=2, max_length=30)  # 科室
    kind: Kind
    legal_days: int = Field(ge=0, le=365)  # 法定时限, working days
    promised_days: int = Field(ge=0, le=365)  # 承诺时限, working days (0 for 即办件)
    queue: str = Field(pattern=QUEUE_PATTERN)  # default queue prefix; sites route to their own
    materials: list[MaterialSpec] = Field(min_length=1)
    pickup: PickupSpec | None = None
    steps: list[StepSpec] | None = None
    basis: str | None = None  # 设定依据

    @model_validator(mode="after")
    def _rules(self) -> MatterSpec:
        if self.kind is Kind.INSTANT:
            if self.promised_days != 0:
                raise ValueError("an instant matter (即办件) has promised_days 0")
            if self.steps:
                raise ValueError("an instant matter (即办件) has no back-office steps")
        else:
            if self.promised_days < 1:
                raise ValueError("a promised matter (承诺件) needs promised_days of at least 1")
            if self.promised_days > self.legal_days:
                raise ValueError(f"promised_days {self.promised_days} exceeds legal_days {self.legal_days}")
        ids = [m.id for m in self.materials]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"material ids repeated: {', '.join(dup)}")
        codes = [s.code for s in self.steps or []]
        if len(set(codes)) != len(codes) or {ACCEPT_STEP, "complete"} & set(codes):
            raise ValueError("step codes must be unique and not 'accept' or 'complete'")
        return self

    @property
    def back_office_steps(self) -> list[StepSpec]:
        """Steps after 前台受理; a promised matter without its own gets 后台审核 → 复核 in its department."""
        if self.kind is Kind.INSTANT:
            return []
        steps = self.steps or [StepSpec(code=c, name=STEP_NAMES[c]) for c in DEFAULT_STEPS]
        return [s if s.department else s.model_copy(update={"department": self.department}) for s in steps]


class SiteChange(_M):
    """One layer of a site's change to an entry; None leaves the field as the layer below has it."""

    enabled: bool | None = None
    queue: str | None = Field(None, pattern=QUEUE_PATTERN)
    promised_days: int | None = Field(None, ge=0, le=365)


@dataclass(frozen=True)
class Matter:
    """A catalog entry as this site runs it."""

    spec: MatterSpec
    enabled: bool
    queue: str
    promised_days: int
    changed: tuple[str, ...] = ()  # fields the site changed

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> Kind:
        return self.spec.kind


def apply_changes(spec: MatterSpec, layers: Sequence[SiteChange]) -> Matter:
    enabled, queue, promised = True, spec.queue, spec.promised_days
    changed: list[str] = []
    for layer in layers:
        if layer.enabled is not None:
            enabled = layer.enabled
            changed.append("enabled")
        if layer.queue is not None:
            queue = layer.queue
            changed.append("queue")
        if layer.promised_days is not None:
            promised = layer.promised_days
            changed.append("promised_days")
    check_promised_days(spec, promised)
    return Matter(spec=spec, enabled=enabled, queue=queue, promised_days=promised,
                  changed=tuple(dict.fromkeys(changed)))


def check_promised_days(spec: MatterSpec, days: int) -> None:
    if spec.kind is Kind.INSTANT and days != 0:
        raise CatalogError(f"{spec.id} {spec.name}: 即办件没有承诺时限 / an instant matter keeps promised_days 0")
    if spec.kind is Kind.PROMISED and not 1 <= days <= spec.legal_days:
        raise CatalogError(f"{spec.id} {spec.name}: 承诺时限应在1至法定时限{spec.legal_days}个工作日之间 / "
                           f"promised_days must be within 1..{spec.legal_days}")


class Catalog:
    """The shipped entries, by id, in file order."""

    def __init__(self, specs: Mapping[str, MatterSpec]) -> None:
        self._specs = dict(specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> Iterator[MatterSpec]:
        return iter(self._specs.values())

    def __contains__(self, matter_id: object) -> bool:
        return matter_id in self._specs

    def get(self, matter_id: str) -> MatterSpec | None:
        return self._specs.get(matter_id)


def _describe(index: int, raw: Any) -> str:
    if isinstance(raw, dict):
        label = " ".join(str(raw[k]) for k in ("id", "name") if isinstance(raw.get(k), str))
        return f"matter #{index + 1} {label}".rstrip()
    return f"matter #{index + 1}"


def _errors(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        msg = e.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_catalog(files: Mapping[str, Any]) -> Catalog:
    """Validate catalog file contents (name → parsed JSON); CatalogError names the first broken entry."""
    specs: dict[str, MatterSpec] = {}
    where: dict[str, str] = {}
    for fname, data in files.items():
        if not isinstance(data, dict) or not isinstance(data.get("matters"), list):
            raise CatalogError(f"{fname}: expected an object with a 'matters' list")
        defaults = {k: data[k] for k in ("category", "queue") if k in data}
        unknown = set(data) - {"category", "queue", "matters"}
        if unknown:
            raise CatalogError(f"{fname}: unknown keys {', '.join(sorted(unknown))}")
        for i, raw in enumerate(data["matters"]):
            label = f"{fname}: {_describe(i, raw)}"
            if not isinstance(raw, dict):
                raise CatalogError(f"{label}: expected an object")
            try:
                spec = MatterSpec.model_validate({**defaults, **raw})
            except ValidationError as exc:
                raise CatalogError(f"{label}: {_errors(exc)}") from None
            if spec.id in specs:
                raise CatalogError(f"{label}: id {spec.id} already defined in {where[spec.id]}")
            specs[spec.id], where[spec.id] = spec, label
    if not specs:
        raise CatalogError("the catalog is empty")
    return Catalog(specs)


def load_catalog(folder: Path = CATALOG_DIR) -> Catalog:
    files: dict[str, Any] = {}
    for path in sorted(folder.glob("*.json")):
        name = f"{folder.name}/{path.name}"
        try:
            files[name] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CatalogError(f"{name}: not valid JSON: {exc}") from None
    return parse_catalog(files)


def site_file_changes(raw: Mapping[str, Any], catalog: Catalog, source: str = "site file"
                      ) -> dict[str, SiteChange]:
    """The site file's layer: its ``matters`` ({matter_id, queue}) enabled on their queue, others disabled.
    A site file without a ``matters`` list changes nothing."""
    listed = raw.get("matters")
    if listed is None:
        return {}
    if not isinstance(listed, list):
        raise CatalogError(f"{source}: 'matters' must be a list")
    changes: dict[str, SiteChange] = {}
    for i, m in enumerate(listed):
        mid = m.get("matter_id") if isinstance(m, dict) else None
        if not isinstance(mid, str) or mid not in catalog:
            raise CatalogError(f"{source}: matters #{i + 1} {mid!r} is not in the catalog (事项目录)")
        try:
            changes[mid] = SiteChange(enabled=True, queue=m.get("queue"))
        except ValidationError as exc:
            raise CatalogError(f"{source}: matters #{i + 1} {mid}: {_errors(exc)}") from None
    for spec in catalog:
        changes.setdefault(spec.id, SiteChange(enabled=False))
    return changes
