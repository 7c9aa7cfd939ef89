"""Electronic supervision of deadlines (电子监察): the periodic checker that shows yellow and red cards
(黄牌/红牌). (Due dates move with the site's calendar in ``MattersApp.change_calendar``.)

Each card is emitted once per (case, level): the ``case_warnings`` row and the outbox row of
``matters.case.warned`` are written in one transaction, and the row's primary key refuses a second card
whatever happens (a restart, a second process checking at the same moment, a rerun). The outbox relay
publishes with ``Nats-Msg-Id``, so a re-publish after a crash is dropped by the stream.
"""

from __future__ import annotations

import asyncio
import uuid

from services.matters import domain as d
from services.matters.app import MattersApp
from shared.events.matters import CaseWarned
from shared.logging import get_logger
from shared.outbox import add_to_outbox

log = get_logger("matters.deadlines")


async def check_deadlines(app: MattersApp) -> list[tuple[uuid.UUID, d.Level]]:
    """Show every card that is due now and was not shown before; return the ones shown by this call."""
    now = app.now()
    shown: list[tuple[uuid.UUID, d.Level]] = []
    async with app.pool.acquire() as conn:
        cal = await app.calendar(conn)
        for r in await app.store.running_cases(conn):
            level = d.card_level(cal, now=now, due_on=r["due_on"], limit_days=r["time_limit_days"],
                                 policy=app.settings.card_policy)
            for card in d.cards_to_emit(level, r["warned"]):
                async with conn.transaction():
                    c = await app.store.case(conn, r["id"], lock=True)
                    if c is None or c["status"] != d.Status.ACCEPTED or c["due_on"] != r["due_on"]:
                        continue  # completed, suspended or given more time since the scan: next round decides
                    due_at = c["due_at"].astimezone(app.tz)  # the wire carries the site's offset
                    spec = app.catalog.get(c["matter_id"])
                    env = app.event(CaseWarned(case_id=c["id"], level=card.value, due_at=due_at,
                                               department=spec.department if spec else None, kind=c["kind"]), now)
                    if await app.store.insert_warning(conn, c["id"], card.value, due_at, now, env.id):
                        await add_to_outbox(conn, env)
                        await app.store.log(conn, c["id"], f"card_{card.value}", "system", now)
                        shown.append((c["id"], card))
    for case_id, card in shown:
        log.info("case_warned", case_id=str(case_id), level=card.value)
    return shown


async def deadline_loop(app: MattersApp, interval_s: float) -> None:
    while True:
        await check_deadlines(app)
        await asyncio.sleep(interval_s)

