"""Matter → queue routing published by the matters service in the NATS key-value bucket
``matter_routes_<site>``: complete at start, updated when a manager changes a matter, and naming queues by the
very ids the queue service uses."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from services.matters.catalog import load_catalog
from shared.ids import queue_uuid as queue_service_queue_uuid
from tests.harness import Servers
from tests.integration.conftest import QueueEnv
from tests.integration.matters_fixtures import PREFIX, MattersEnv, matters_site_config, own_database, start_matters

CATALOG_IDS = frozenset(s.id for s in load_catalog())


async def _routes(env: MattersEnv, expect: dict[str, Any] | None = None, timeout_s: float = 10.0
                  ) -> dict[str, dict[str, Any]]:
    """The bucket's content, once it has a key for every catalog id and the given keys have the given values
    (the first publication writes key by key)."""
    js = env.nc.jetstream()
    for _ in range(int(timeout_s * 10)):
        try:
            kv = await js.key_value(f"matter_routes_{env.settings.site}")
            routes = {k: json.loads((await kv.get(k)).value) for k in await kv.keys()}
        except Exception:  # noqa: BLE001  (the bucket or its keys may not exist yet: poll again)
            routes = {}
        if set(routes) >= CATALOG_IDS and all(routes[k].items() >= v.items() for k, v in (expect or {}).items()):
            return routes
        await asyncio.sleep(0.1)
    raise TimeoutError(f"routes never matched {expect}")


async def test_every_catalog_matter_has_a_route_and_site_changes_follow(
        servers: Servers, site: str, database_url: str, tmp_path: Path) -> None:
    """Every catalog id is a route at start; a manager's change reaches the bucket at once, a reset undoes it."""
    async with start_matters(servers, site, database_url, tmp_path) as env:
        routes = await _routes(env)
        assert set(routes) == CATALOG_IDS
        listed = {m["matter_id"]: m["queue"] for m in matters_site_config(site)["matters"]}
        assert {k: v["queue"] for k, v in routes.items() if v["enabled"]} == listed
        assert routes["yl-txsq"]["queue_id"] == str(queue_service_queue_uuid(site, "A"))
        assert routes["gs-ldnl"]["enabled"] is False

        r = await env.client.put(f"{PREFIX}/matters/yb-ydjy/site-change", headers=env.manager, json={"queue": "A"})
        assert r.status_code == 200
        r = await env.client.put(f"{PREFIX}/matters/yl-txsq/site-change", headers=env.manager,
                                 json={"enabled": False})
        assert r.status_code == 200
        await _routes(env, {"yb-ydjy": {"queue": "A", "queue_id": str(queue_service_queue_uuid(site, "A"))},
                            "yl-txsq": {"enabled": False}}, timeout_s=3.0)
        await env.client.delete(f"{PREFIX}/matters/yb-ydjy/site-change", headers=env.manager)
        await _routes(env, {"yb-ydjy": {"queue": "B"}}, timeout_s=3.0)


async def test_routes_agree_with_the_queue_service_for_the_same_site(
        queue_env: QueueEnv, servers: Servers, site: str, tmp_path: Path) -> None:
    """From one site file, both services give each matter the same queue id (the id scheme has not drifted)."""
    queue_matters = (await queue_env.client.get("/queue/api/v1/matters")).json()
    assert queue_matters
    (tmp_path / "m").mkdir()
    async with own_database(servers, f"test_{site}_matters") as db, start_matters(servers, site, db,
                                                                                    tmp_path / "m") as env:
        routes = await _routes(env)
        ours = {m["id"]: m for m in (await env.client.get(f"{PREFIX}/matters")).json()}
    for qm in queue_matters:
        assert ours[qm["matter_id"]]["queue_id"] == qm["queue_id"], qm
        assert routes[qm["matter_id"]]["queue_id"] == qm["queue_id"], qm
        assert ours[qm["matter_id"]]["name"] == qm["name"]


async def test_queue_service_routes_tickets_by_the_matters_services_bucket(
        queue_env: QueueEnv, servers: Servers, site: str, tmp_path: Path) -> None:
    """A manager moves 异地就医备案 to queue A and switches 退休申请 off in the matters service: the kiosk's
    next tickets follow at once (A-numbers for the one, a clear 404 for the other), with no queue restart."""
    assert (await queue_env.issue("yb-ydjy"))["number"].startswith("B")
    (tmp_path / "m").mkdir()
    async with own_database(servers, f"test_{site}_matters") as db, start_matters(servers, site, db,
                                                                                    tmp_path / "m") as env:
        await _routes(env)
        r = await env.client.put(f"{PREFIX}/matters/yb-ydjy/site-change", headers=env.manager, json={"queue": "A"})
        assert r.status_code == 200
        r = await env.client.put(f"{PREFIX}/matters/yl-txsq/site-change", headers=env.manager,
                                 json={"enabled": False})
        assert r.status_code == 200
        for _ in range(100):
            routed = {m["matter_id"]: m["queue_prefix"]
                      for m in (await queue_env.client.get("/queue/api/v1/matters")).json()}
            if routed.get("yb-ydjy") == "A" and "yl-txsq" not in routed:
                break
            await asyncio.sleep(0.1)
        assert routed.get("yb-ydjy") == "A" and "yl-txsq" not in routed
        assert (await queue_env.issue("yb-ydjy"))["number"] == "A001"
        r = await queue_env.client.post("/queue/api/v1/tickets", json={"matter_id": "yl-txsq"})
        assert r.status_code == 404 and r.json()["message"]


async def test_a_route_to_a_queue_the_hall_does_not_run_keeps_the_matter_off(queue_env: QueueEnv) -> None:
    """A bucket entry naming an unknown queue switches the matter off instead of misrouting tickets."""
    from services.queue.routes import apply_route

    bogus = json.dumps({"matter_id": "yl-txsq", "name": "企业职工退休申请", "queue": "Z",
                        "queue_id": "00000000-0000-0000-0000-000000000001", "enabled": True}).encode()
    async with queue_env.app.pool.acquire() as conn:
        assert await apply_route(conn, "yl-txsq", bogus) == "unknown_queue"
        assert await apply_route(conn, "yl-txsq", b"not json") == "unreadable"
    r = await queue_env.client.post("/queue/api/v1/tickets", json={"matter_id": "yl-txsq"})
    assert r.status_code == 404
