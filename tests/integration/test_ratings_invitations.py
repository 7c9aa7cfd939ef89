"""一次一评 and 一事一评 against real PostgreSQL and NATS: a 即办件 finished at the window is rated there (its ticket's
invitation) and opens no online invitation, which would default and drag the figure; a promised case (承诺件), or a
case whose kind nobody told us, opens one."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Literal

from shared.events.matters import CaseAccepted, CaseCompleted
from tests.harness import Servers
from tests.integration.ratings_fixtures import RatingsEnv, start_ratings


def accepted(case_id: uuid.UUID, kind: Literal["instant", "promised"]) -> CaseAccepted:
    return CaseAccepted(case_id=case_id, matter_id="yl-txsq", kind=kind, window_no=2, staff_id="s002",
                        time_limit_days=0 if kind == "instant" else 10, due_at=None)


def completed(case_id: uuid.UUID) -> CaseCompleted:
    return CaseCompleted(case_id=case_id, result="approved", working_days_used=0, overdue=False)


async def invitation_of(env: RatingsEnv, subject_id: uuid.UUID) -> Any:
    async with asyncio.timeout(10):
        while (inv := await env.app.pool.fetchrow("SELECT * FROM invitations WHERE subject_id = $1",
                                                  subject_id)) is None:
            await asyncio.sleep(0.05)
    return inv


async def test_an_instant_case_opens_no_online_invitation_a_promised_one_does(servers: Servers, site: str,
                                                                              database_url: str) -> None:
    """即办件 → no invitation and no ``ratings.invitation.opened``; 承诺件 → one online invitation; a completed case
    never heard of as accepted counts as promised."""
    async with start_ratings(servers, site, database_url) as env:
        instant, promised, unknown = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await env.publish(accepted(instant, "instant"))
        await env.publish(completed(instant))
        await env.publish(accepted(promised, "promised"))
        await env.publish(completed(promised))
        await env.publish(completed(unknown))
        inv = await invitation_of(env, unknown)  # events apply in order: the instant case was handled before
        assert inv["subject"] == "case" and inv["channel"] == "online"
        assert (await invitation_of(env, promised))["window_no"] == 2
        assert await env.app.pool.fetchval("SELECT count(*) FROM invitations WHERE subject_id = $1", instant) == 0
        opened = await env.events(expect=2, types=("ratings.invitation.",))
        assert sorted(e.data["subject_id"] for e in opened) == sorted([str(promised), str(unknown)])
