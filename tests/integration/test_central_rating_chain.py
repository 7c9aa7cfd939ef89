"""Central verifies each site's rating chain (好差评) from the events alone: links recompute, order holds, and a site
that rewrites an entry after its event went out is caught at that position."""

from __future__ import annotations

import uuid

from shared.chain import GENESIS, digest, link_hash
from shared.events.ratings import RatingDefaulted, RatingSubmitted, RatingVoided
from tests.integration.central_fixtures import (
    PREFIX,
    CentralEnv,
    central_env_fixture,  # noqa: F401  (the fixture, by its name)
)


def _chain(n: int, start_prev: str = GENESIS, first: int = 1) -> list[dict[str, object]]:
    """``n`` links as a site would compute them (the digests stand for entries central never sees)."""
    out, prev = [], start_prev
    for seq in range(first, first + n):
        dg = digest(f"entry {seq} {uuid.uuid4()}".encode())
        h = link_hash(prev, dg)
        out.append({"chain_seq": seq, "chain_prev": prev, "chain_digest": dg, "chain_hash": h})
        prev = h
    return out


def _submitted(link: dict[str, object], level: int = 5) -> RatingSubmitted:
    return RatingSubmitted(rating_id=uuid.uuid4(), subject="ticket", subject_id=uuid.uuid4(), window_no=1,
                           staff_id="s001", matter_id="yl-txsq", scale="national5", level=level, channel="onsite",
                           **link)


async def _verify(env: CentralEnv, site: str) -> dict[str, object]:
    r = await env.client.get(f"{PREFIX}/sites/{site}/ratings-chain/verify")
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_sites_chain_checks_out_from_its_events(central_env: CentralEnv) -> None:
    """Submitted, defaulted and voided entries, published out of order, verify as one unbroken chain."""
    env = central_env
    site = env.sites[0]
    links = _chain(4)
    events = [env.event(site, _submitted(links[0])),
              env.event(site, RatingDefaulted(rating_id=uuid.uuid4(), subject_id=uuid.uuid4(), level=3,
                                              **links[2])),
              env.event(site, _submitted(links[1], level=1)),
              env.event(site, RatingVoided(rating_id=uuid.uuid4(), voids=uuid.uuid4(), **links[3]))]
    await env.publish(*events)
    await env.wait_ingested(4)
    check = await _verify(env, site)
    assert (check["ok"], check["checked"], check["broken_at"]) == (True, 4, None), check


async def test_a_rewritten_entry_is_caught_where_it_was_rewritten(central_env: CentralEnv) -> None:
    """The site rewrites entry 2 and recomputes the chain from there: the new entry 3 no longer links to the entry 2
    central holds, and a re-sent entry 2 with another hash is a conflict; a gap is reported as missing."""
    env = central_env
    site, other = env.sites[0], env.sites[1]
    honest = _chain(3)
    await env.publish(*(env.event(site, _submitted(x)) for x in honest[:2]))
    await env.wait_ingested(2)
    assert (await _verify(env, site))["ok"] is True
    rewritten = _chain(2, start_prev=str(honest[0]["chain_hash"]), first=2)
    await env.publish(env.event(site, _submitted(rewritten[1])))  # entry 3, linked to the rewritten entry 2
    await env.wait_ingested(3)
    check = await _verify(env, site)
    assert (check["ok"], check["checked"], check["broken_at"]) == (False, 2, 3), check
    await env.publish(env.event(site, _submitted(rewritten[0])))  # the rewritten entry 2 itself
    await env.wait_ingested(4)
    check = await _verify(env, site)
    assert check["ok"] is False and check["conflicts"] == [2], check
    # another site whose entry 2 never arrived: missing, not fine
    await env.publish(*(env.event(other, _submitted(x)) for x in (honest[0], honest[2])))
    await env.wait_ingested(6)
    check = await _verify(env, other)
    assert (check["ok"], check["broken_at"]) == (False, 2) and "never reached" in str(check["reason"]), check
