"""Central as a 3-node NATS cluster (the production layout of deploy/README.md), on real nats-server processes
started from the generated configs: CENTRAL is replicated three ways and keeps sourcing a site through the
loss of its stream leader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS

from hallnet import natsconf
from hallnet.embedded import NatsServer, free_port
from shared.bus import Bus

SITE = "zhuzhou"


@dataclass
class Cluster:
    nodes: dict[str, NatsServer]  # server_name → server
    urls: list[str]  # client URLs with the hallnet credential
    leaf: NatsServer


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    leaf_conf = natsconf.SiteLeaf(SITE, natsconf.new_password(), free_port(), tmp_path / "js-leaf",
                                  natsconf.new_password())
    route_ports = [free_port() for _ in range(3)]
    routes = [f"nats-route://127.0.0.1:{p}" for p in route_ports]
    password, route_pw = natsconf.new_password(), natsconf.new_password()
    nodes: dict[str, NatsServer] = {}
    leaf_urls, urls = [], []
    try:
        for i, route_port in enumerate(route_ports, start=1):
            node = natsconf.ClusterNode(f"hallnet-central-{i}", route_port, routes, route_pw)
            conf = natsconf.Central(free_port(), free_port(), tmp_path / f"js-central-{i}", password, [leaf_conf],
                                    node=node)
            path = tmp_path / f"central-{i}.conf"
            path.write_text(natsconf.render_central(conf))
            nodes[node.name] = NatsServer(port=conf.client_port, config=path, log_file=path.with_suffix(".log"))
            leaf_urls.append(f"nats-leaf://127.0.0.1:{conf.leaf_port}")
            urls.append(f"nats://{natsconf.LOCAL_USER}:{password}@127.0.0.1:{conf.client_port}")
        for server in nodes.values():
            server.start()
        path = tmp_path / "leaf.conf"
        path.write_text(natsconf.render_leaf(leaf_conf, ",".join(leaf_urls)))
        leaf = NatsServer(port=leaf_conf.client_port, config=path, log_file=tmp_path / "leaf.log").start()
        yield Cluster(nodes, urls, leaf)
    finally:
        for server in [*nodes.values(), *([leaf] if "leaf" in locals() else [])]:
            server.stop()


@pytest.fixture
async def central(cluster: Cluster) -> AsyncIterator[NATS]:
    nc = await nats.connect(servers=cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield nc
    await nc.close()


async def _until(what: str, probe, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
    """Retry ``probe`` (JetStream is electing leaders) until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: object = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            result = await probe()
            if result:
                return result
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
            last = exc
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what} not reached in {timeout_s}s (last error: {last!r})")


async def _publish(bus: Bus, start: int, count: int) -> None:
    for n in range(start, start + count):
        await bus.js.publish(f"hall.{SITE}.queue.ticket.issued", json.dumps({"site": SITE, "n": n}).encode(),
                             headers={"Nats-Msg-Id": f"{SITE}:{n}"})


async def test_central_cluster_replicates_and_survives_losing_the_stream_leader(cluster: Cluster,
                                                                                  central: NATS) -> None:
    """With CENTRAL at 3 replicas, killing its leader node loses no event and sourcing resumes on a new leader."""
    js = central.jetstream()

    async def create() -> bool:
        await natsconf.ensure_central_stream(js, [SITE], replicas=3)
        return True

    await _until("CENTRAL created with 3 replicas", create)
    bus = Bus(cluster.leaf.url, name="test-site")
    await bus.connect()
    try:
        await bus.ensure_site_streams(SITE)
        await _publish(bus, 0, 25)

        async def stored(n: int) -> bool:
            info = await js.stream_info(natsconf.CENTRAL_STREAM)
            return info.state.messages == n

        await _until("25 events in CENTRAL", lambda: stored(25))
        info = await js.stream_info(natsconf.CENTRAL_STREAM)
        assert info.config.num_replicas == 3
        assert info.cluster is not None and info.cluster.leader in cluster.nodes
        assert len(info.cluster.replicas or []) == 2
        old_leader = info.cluster.leader
        cluster.nodes[old_leader].stop()

        await _publish(bus, 25, 25)
        await _until("50 events in CENTRAL after the leader died", lambda: stored(50), timeout_s=45)
        info = await js.stream_info(natsconf.CENTRAL_STREAM)
        assert info.cluster is not None and info.cluster.leader != old_leader
        # the new leader may still be settling its consumers (503 "no responders" on a busy machine): retry
        sub = await _until("a consumer on the new leader",
                           lambda: js.pull_subscribe(f"hall.{SITE}.>", stream=natsconf.CENTRAL_STREAM))
        seen: set[int] = set()

        async def read() -> bool:
            for msg in await sub.fetch(50, timeout=5):
                seen.add(json.loads(msg.data)["n"])
                await msg.ack()
            return len(seen) >= 50

        await _until("every event read back", read, timeout_s=45)
        assert seen == set(range(50))
    finally:
        await bus.close()
