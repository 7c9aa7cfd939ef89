"""The house rules of ../shared/docs/STYLE.md that a machine can check, so they stay kept."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = [p for d in ("shared", "services", "hallnet") for p in sorted((ROOT / d).rglob("*.py"))]
EVERYTHING = CODE + [p for d in ("tests", "bench") for p in sorted((ROOT / d).rglob("*.py"))]
MAX_LINES = 350
NOQA = re.compile(r"#\s*noqa\b(?P<rest>.*)$")
TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<rest>.*)$")
# a rule code list, then a dash (or a parenthesis) and why, e.g. 'S603 - our own binary, argv list'
WITH_REASON = re.compile(r"^\s*:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*\s*[-—(:]\s*\S.{4,}")
TYPED_WITH_REASON = re.compile(r"^\[[a-z-]+(,\s*[a-z-]+)*\]\s*[-—(:#]\s*\S.{4,}")
PURE_FORBIDDEN = ("asyncpg", "nats", "fastapi", "structlog", "starlette", "httpx")


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_every_noqa_names_its_rule_and_says_why() -> None:
    """A lint ignore without a rule code or a reason is refused (structlog's rule: every ignore carries a reason)."""
    bare = []
    for p in EVERYTHING:
        for no, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            m = NOQA.search(line)
            if m and not WITH_REASON.match(m["rest"]):
                bare.append(f"{_rel(p)}:{no}: {line.strip()}")
    assert bare == [], "noqa without a code and a reason:\n" + "\n".join(bare)


def test_every_type_ignore_in_checked_code_names_its_error_and_says_why() -> None:
    """In the type-checked packages a ``type: ignore`` names the mypy error code and gives a reason."""
    bare = []
    for p in CODE:
        for no, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            m = TYPE_IGNORE.search(line)
            if m and not TYPED_WITH_REASON.match(m["rest"].strip()):
                bare.append(f"{_rel(p)}:{no}: {line.strip()}")
    assert bare == [], "type: ignore without a code and a reason:\n" + "\n".join(bare)


@pytest.mark.parametrize("top", ["services", "shared"])
def test_no_module_passes_the_size_limit(top: str) -> None:
    """No module in services/ or shared/ is longer than ~350 lines (split along its seams instead)."""
    long = [f"{_rel(p)}: {n} lines" for p in sorted((ROOT / top).rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert long == []


def _imports(p: Path) -> set[str]:
    tree = ast.parse(p.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_services_never_import_each_other() -> None:
    """A service imports shared/ and itself only: services meet on NATS subjects and HTTP, never in code."""
    crossing = []
    for p in sorted((ROOT / "services").rglob("*.py")):
        own = p.relative_to(ROOT / "services").parts[0]
        for mod in _imports(p):
            parts = mod.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] != own:
                crossing.append(f"{_rel(p)} imports {mod}")
    assert crossing == []


def test_domain_modules_are_pure() -> None:
    """``domain.py`` modules (the rules) import no database, bus, web or logging library."""
    impure = []
    for p in sorted((ROOT / "services").rglob("domain.py")):
        for mod in _imports(p):
            if mod.split(".")[0] in PURE_FORBIDDEN:
                impure.append(f"{_rel(p)} imports {mod}")
    assert impure == []
