"""Tamper evidence of the ratings (好差评不得篡改): the table refuses UPDATE and DELETE, and the hash chain finds
direct changes by a superuser who switched the triggers off."""

from __future__ import annotations

import asyncpg
import pytest

from shared.chain import GENESIS, link_hash
from tests.harness import Servers
from tests.integration.ratings_fixtures import RatingsEnv, start_ratings


async def _rate_three(env: RatingsEnv) -> list[dict[str, object]]:
    out = []
    for window_no, level in ((1, 5), (2, 1), (3, 4)):
        inv = await env.invitation(window_no, await env.complete_ticket(window_no=window_no))
        r = await env.rate(inv["id"], {"level": level})
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


async def test_ratings_are_append_only(servers: Servers, site: str, database_url: str) -> None:
    """A plain UPDATE, DELETE or TRUNCATE of a rating is refused by the database; the chain stays intact."""
    async with start_ratings(servers, site, database_url) as env:
        await _rate_three(env)
        for stmt in ("UPDATE ratings SET level = 5", "DELETE FROM ratings", "TRUNCATE ratings CASCADE"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await env.sql(stmt)
        check = await env.verify()
        assert (check["ok"], check["checked"], check["broken_at"]) == (True, 3, None)


async def test_direct_update_with_triggers_off_is_detected(servers: Servers, site: str, database_url: str) -> None:
    """A superuser who sets session_replication_role = replica and turns 非常不满意 into 非常满意 is caught at
    that rating's chain position."""
    async with start_ratings(servers, site, database_url) as env:
        rated = await _rate_three(env)
        await env.sql("SET session_replication_role = replica",
                      f"UPDATE ratings SET level = 5 WHERE id = '{rated[1]['id']}'")
        check = await env.verify()
        assert (check["ok"], check["checked"], check["broken_at"]) == (False, 1, rated[1]["chain_seq"])


async def test_direct_delete_with_triggers_disabled_is_detected(servers: Servers, site: str, database_url: str
                                                                ) -> None:
    """A superuser who disables the table's triggers and deletes a bad rating leaves a gap at its position;
    deleting the last one disagrees with the chain's head."""
    async with start_ratings(servers, site, database_url) as env:
        rated = await _rate_three(env)
        await env.sql("ALTER TABLE ratings DISABLE TRIGGER ALL",
                      f"DELETE FROM ratings WHERE id = '{rated[1]['id']}'",
                      "ALTER TABLE ratings ENABLE TRIGGER ALL")
        check = await env.verify()
        assert (check["ok"], check["checked"], check["broken_at"]) == (False, 1, 2)
        await env.sql("ALTER TABLE ratings DISABLE TRIGGER ALL",
                      "DELETE FROM ratings WHERE chain_seq >= 2",
                      "ALTER TABLE ratings ENABLE TRIGGER ALL")
        check = await env.verify()
        assert (check["ok"], check["checked"], check["broken_at"]) == (False, 1, 2)


async def test_chain_hash_of_each_rating_is_published(servers: Servers, site: str, database_url: str) -> None:
    """The submitted events carry consecutive chain positions and the stored hashes (a witness outside the
    site's database)."""
    async with start_ratings(servers, site, database_url) as env:
        rated = await _rate_three(env)
        events = await env.events(expect=3, types=("ratings.rating.",))
        assert [(e.data["chain_seq"], e.data["chain_hash"]) for e in events] == [
            (r["chain_seq"], r["chain_hash"]) for r in rated]
        assert [r["chain_seq"] for r in rated] == [1, 2, 3]


async def test_events_alone_check_every_link_of_the_chain(servers: Servers, site: str, database_url: str) -> None:
    """The submitted events carry prev hash and digest: each link recomputes from them (shared.chain) and each
    entry's prev is the previous event's hash — no text or personal data needed."""
    async with start_ratings(servers, site, database_url) as env:
        rated = await _rate_three(env)
        events = sorted((e for e in await env.events(expect=3, types=("ratings.rating.submitted",))),
                        key=lambda e: e.data["chain_seq"])
        assert [e.data["chain_hash"] for e in events] == [r["chain_hash"] for r in rated]
        prev = GENESIS
        for e in events:
            assert e.data["chain_prev"] == prev
            assert link_hash(e.data["chain_prev"], e.data["chain_digest"]) == e.data["chain_hash"]
            prev = e.data["chain_hash"]
        forged = dict(events[1].data, chain_digest="0" * 64)  # what a rewritten entry would have to claim
        assert link_hash(forged["chain_prev"], forged["chain_digest"]) != forged["chain_hash"]
