"""An invitation not rated in time counts as the default level (基本满意), exactly once: across a restart and
with two checkers at once."""

from __future__ import annotations

import asyncio

from tests.harness import Servers
from tests.integration.matters_fixtures import FakeClock
from tests.integration.ratings_fixtures import start_ratings


async def test_expired_invitation_defaults_once_across_a_restart(servers: Servers, site: str, database_url: str
                                                                 ) -> None:
    """After the expiry time two checkers at once default the invitation once (level 3, one event); after a
    restart the checker finds nothing more, and a late rating is refused with 409."""
    async with start_ratings(servers, site, database_url, ratings_expiry_s=3600) as env:
        inv = await env.invitation(1, await env.complete_ticket(window_no=1))
        rated = await env.invitation(2, await env.complete_ticket(window_no=2))
        assert (await env.rate(rated["id"], {"level": 4})).status_code == 201
        assert await env.app.default_expired() == 0  # not yet expired
        clock = env.clock
        clock.advance(hours=2)
        assert sorted(await asyncio.gather(env.app.default_expired(), env.app.default_expired())) == [0, 1]
    async with start_ratings(servers, site, database_url, clock=FakeClock(clock.at), ratings_expiry_s=3600) as env:
        assert await env.app.default_expired() == 0
        rows = await env.app.pool.fetch("SELECT kind, level, invitation_id::text FROM ratings ORDER BY chain_seq")
        assert [(r["kind"], r["level"]) for r in rows] == [("submitted", 4), ("defaulted", 3)]
        assert rows[1]["invitation_id"] == inv["id"]
        r = await env.rate(inv["id"], {"level": 5})
        assert r.status_code == 409 and r.json()["error"] == "AlreadyRated", r.text
        events = await env.events(expect=2)
        assert [e.type for e in events] == ["ratings.rating.submitted", "ratings.rating.defaulted"]
        assert events[1].data["level"] == 3 and events[1].data["subject_id"] == inv["subject_id"]
        assert events[1].data["chain_seq"] == 2 and len(events[1].data["chain_hash"]) == 64
        assert (await env.verify())["ok"]


async def test_periodic_checker_defaults_without_being_asked(servers: Servers, site: str, database_url: str
                                                             ) -> None:
    """The service's own checker (every ``ratings_expiry_check_interval_s``) defaults an expired invitation."""
    async with start_ratings(servers, site, database_url, ratings_expiry_s=60, check_interval_s=0.1) as env:
        await env.invitation(1, await env.complete_ticket(window_no=1))
        env.clock.advance(minutes=2)
        events = await env.events(expect=1, timeout_s=10)
        assert [e.type for e in events] == ["ratings.rating.defaulted"]
