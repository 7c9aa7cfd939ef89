"""What the API answers and prints: matters, cases with masked applicant data, and the 一次性告知单
(the page the citizen takes home, and the data an SMS is made from). Pure: rows and values in, dicts out."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.matters import domain as d
from services.matters import personal
from services.matters.catalog import MaterialSpec, Matter, MatterSpec
from shared.ids import queue_uuid

PREFIX = "/matters/api/v1"
FORM_NAMES = {"original": "原件", "copy": "复印件", "original_and_copy": "原件及复印件"}
KIND_NAMES = {"instant": "即办件", "promised": "承诺件"}


def iso(dt: datetime | None, tz: ZoneInfo | None = None) -> str | None:
    """ISO 8601 with offset, in the site's time zone when given (the database answers in UTC)."""
    if dt is None:
        return None
    return (dt.astimezone(tz) if tz else dt).isoformat(timespec="milliseconds")


def day(v: date | None) -> str | None:
    return v.isoformat() if v else None


def material_view(m: MaterialSpec) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "required": m.required, "form": m.form, "form_name": FORM_NAMES[m.form],
            "copies": m.copies, "condition": m.condition, "note": m.note}


def matter_view(site: str, m: Matter) -> dict[str, Any]:
    s = m.spec
    return {
        "id": s.id, "name": s.name, "category": s.category, "department": s.department, "kind": s.kind.value,
        "kind_name": KIND_NAMES[s.kind.value], "legal_days": s.legal_days, "promised_days": m.promised_days,
        "queue": m.queue, "queue_id": str(queue_uuid(site, m.queue)), "enabled": m.enabled,
        "changed_by_site": list(m.changed),
        "pickup": s.pickup.model_dump() if s.pickup else None,
        "steps": [{"code": d.ACCEPT_STEP, "name": d.STEP_NAMES[d.ACCEPT_STEP], "department": s.department},
                  *[st.model_dump() for st in s.back_office_steps],
                  {"code": "complete", "name": d.STEP_NAMES["complete"], "department": s.department}],
        "basis": s.basis, "materials": [material_view(x) for x in s.materials],
    }


def applicant_view(name: str, id_no: str, phone: str | None) -> dict[str, Any]:
    return {"name": personal.mask_name(name), "id_no": personal.mask_id_no(id_no),
            "phone": personal.mask_phone(phone) if phone else None}


def notice_url(case_id: object) -> str:
    return f"{PREFIX}/cases/{case_id}/notice"


def steps_view(spec: MatterSpec, done: Sequence[str], log: Sequence[Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    by_step = {r["step"]: r for r in log if r["action"] in ("accept", "step") and r["step"]}
    out = []
    for code, name, dept in [(d.ACCEPT_STEP, d.STEP_NAMES[d.ACCEPT_STEP], spec.department),
                             *[(s.code, s.name, s.department) for s in spec.back_office_steps]]:
        r = by_step.get(code)
        out.append({"code": code, "name": name, "department": dept,
                    "done": (code == d.ACCEPT_STEP and r is not None) or code in done,
                    "staff_id": r["staff_id"] if r else None, "at": iso(r["at"], tz) if r else None})
    return out


def case_view(row: Any, spec: MatterSpec, applicant: dict[str, Any], tz: ZoneInfo, *, remaining: int | None = None,
              card: str | None = None, log: Sequence[Any] | None = None, suspensions: Sequence[Any] = (),
              warnings: Sequence[Any] = (), calendar_warnings: Sequence[str] = ()) -> dict[str, Any]:
    pending = [s for s in row["steps"] if s not in row["steps_done"]]
    view: dict[str, Any] = {
        "id": str(row["id"]), "matter_id": row["matter_id"], "matter_name": spec.name, "department": spec.department,
        "kind": row["kind"],
        "status": row["status"], "result": row["result"],
        "ticket_id": str(row["ticket_id"]) if row["ticket_id"] else None, "window_no": row["window_no"],
        "owner_staff_id": row["owner_staff_id"], "applicant": applicant,
        "provided": list(row["provided"]), "missing": list(row["missing"]),
        "next_step": pending[0] if row["status"] == d.Status.ACCEPTED and pending else None,
        "time_limit_days": row["time_limit_days"], "accepted_at": iso(row["created_at"], tz),
        "accepted_on": day(row["accepted_on"]), "due_on": day(row["due_on"]), "due_at": iso(row["due_at"], tz),
        "remaining_working_days": remaining, "card": card,
        "cards_shown": [w["level"] for w in warnings],
        "suspended_since": iso(row["suspended_since"], tz),
        "completed_at": iso(row["completed_at"], tz), "working_days_used": row["working_days_used"],
        "overdue": row["overdue"], "ready_at": iso(row["ready_at"], tz), "pickup_by": day(row["pickup_by"]),
        "picked_up_at": iso(row["picked_up_at"], tz),
        "pickup_item": spec.pickup.item if spec.pickup else None,
        "notice_url": notice_url(row["id"]) if row["status"] == d.Status.MATERIALS_MISSING else None,
        "calendar_warnings": list(calendar_warnings),
    }
    if log is not None:
        view["steps"] = steps_view(spec, row["steps_done"], log, tz)
        view["history"] = [{"action": r["action"], "step": r["step"], "department": r["department"],
                            "staff_id": r["staff_id"], "at": iso(r["at"], tz)} for r in log]
        view["suspensions"] = [
            {"reason_code": s["reason_code"], "reason": d.SUSPEND_REASONS.get(s["reason_code"], s["reason_code"]),
             "suspended_at": iso(s["suspended_at"], tz), "resumed_at": iso(s["resumed_at"], tz),
             "staff_id": s["staff_id"]}
            for s in suspensions]
    return view


def worklist_item(row: Any, spec: MatterSpec, applicant: dict[str, Any], tz: ZoneInfo, *, remaining: int | None,
                  card: str | None, next_steps: Sequence[str]) -> dict[str, Any]:
    """One line of the back office's worklist (后台工作台); the lead's screen relies on these names."""
    return {"id": str(row["id"]), "matter_id": row["matter_id"], "matter_name": spec.name,
            "department": spec.department, "status": row["status"], "accepted_at": iso(row["created_at"], tz),
            "due_at": iso(row["due_at"], tz), "remaining_working_days": remaining, "card": card,
            "applicant": applicant, "window_no": row["window_no"], "staff_id": row["owner_staff_id"],
            "next_steps": list(next_steps)}


# --- 一次性告知单 --------------------------------------------------------------------------------------


def notice_data(row: Any, spec: MatterSpec, applicant: dict[str, Any], site_name: str, tz: ZoneInfo
                ) -> dict[str, Any]:
    """Everything the 一次性告知单 says, and an SMS made from it (ids and names of materials, no personal data)."""
    by_id = {m.id: m for m in spec.materials}
    missing = [material_view(by_id[i]) for i in row["missing"] if i in by_id]
    items = "、".join(m["name"] for m in missing)
    window = f"{row['window_no']}号窗口" if row["window_no"] else "服务窗口"
    text = (f"您申请的“{spec.name}”尚缺{len(missing)}项材料：{items}。请备齐后到{site_name}{window}办理，"
            f"详见一次性告知单。")
    return {
        "case_id": str(row["id"]), "notice_no": str(row["id"]).replace("-", "")[-10:].upper(),
        "site_name": site_name, "matter": {"id": spec.id, "name": spec.name, "department": spec.department},
        "applicant": applicant, "window_no": row["window_no"], "staff_id": row["owner_staff_id"],
        "issued_at": iso(row["created_at"], tz), "missing": missing,
        "provided": [material_view(by_id[i]) for i in row["provided"] if i in by_id],
        "all_materials": [material_view(m) for m in spec.materials],
        "sms": {"template": "materials_missing",
                "params": {"matter": spec.name, "count": len(missing), "items": items, "place": site_name + window},
                "text": text},
        "url": notice_url(row["id"]),
    }


_CSS = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:780px;margin:2em auto;color:#111}
h1{text-align:center;letter-spacing:.3em}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #444;padding:.35em .5em;text-align:left;vertical-align:top}.meta td{border:none;padding:.15em 0}
.sign{margin-top:2.5em;display:flex;justify-content:space-between}@media print{.noprint{display:none}}"""


def notice_html(data: dict[str, Any]) -> str:
    """The printable 一次性告知单. Every value is escaped."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{i}</td><td>{e(m['name'])}</td><td>{e(m['form_name'])}</td><td>{m['copies']}</td>"
        f"<td>{e(m['condition'] or '')}{'；' if m['condition'] and m['note'] else ''}{e(m['note'] or '')}</td></tr>"
        for i, m in enumerate(data["missing"], 1))
    have = "、".join(e(m["name"]) for m in data["provided"]) or "无"
    a = data["applicant"]
    window = f"{data['window_no']}号窗口" if data["window_no"] else ""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>一次性告知单 {e(data['notice_no'])}</title><style>{_CSS}</style></head><body>
<h1>一次性告知单</h1>
<table class="meta"><tr><td>编号：{e(data['notice_no'])}</td><td>日期：{e((data['issued_at'] or '')[:10])}</td></tr>
<tr><td>申请人：{e(a['name'])}</td><td>证件号码：{e(a['id_no'])}</td></tr>
<tr><td>申请事项：{e(data['matter']['name'])}</td><td>承办科室：{e(data['matter']['department'])}</td></tr></table>
<p>您申请办理的“{e(data['matter']['name'])}”事项，经审查，申请材料尚不齐全。根据一次性告知制度，现将需补齐的
<strong>全部</strong>材料一次性告知如下，请备齐后到{e(data['site_name'])}{e(window)}办理：</p>
<table><thead><tr><th>序号</th><th>需补齐的材料</th><th>形式</th><th>份数</th><th>说明</th></tr></thead>
<tbody>{rows}</tbody></table>
<p>已收材料：{have}</p>
<p>本告知单所列以外的材料，窗口不得另行要求补充。如有疑问，请向受理窗口咨询。</p>
<div class="sign"><span>受理窗口：{e(window)}　经办人工号：{e(data['staff_id'])}</span><span>（窗口盖章）</span></div>
<p class="noprint"><button onclick="window.print()">打印 / print</button></p>
</body></html>"""
