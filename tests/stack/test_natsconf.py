"""The federation's NATS topology, on real nats-server processes started from the generated configs:
a central hub and two site leaf servers, each with its own JetStream domain and credential."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS

from hallnet import natsconf
from hallnet.embedded import NatsServer, free_port, nats_server_binary
from shared.bus import Bus

SITES = ("zhuzhou", "hengnan")
REFUSED = (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError)


@dataclass
class Topology:
    central: NatsServer
    central_url: str
    leaves: dict[str, NatsServer]
    conf: natsconf.Central
    tmp: Path

    def leaf(self, site: str, url: str | None = None, password: str | None = None) -> NatsServer:
        """A leaf server for ``site`` (not started), by default with the site's own credential."""
        known = next(s for s in self.conf.sites if s.site == site)
        leaf = natsconf.SiteLeaf(site, password or known.password, free_port(), self.tmp / f"js-{site}-{free_port()}")
        path = self.tmp / f"{site}-{leaf.client_port}.conf"
        path.write_text(natsconf.render_leaf(leaf, url or f"nats-leaf://127.0.0.1:{self.conf.leaf_port}"))
        return NatsServer(port=leaf.client_port, config=path, log_file=path.with_suffix(".log"))


def _start(tmp: Path, sites: tuple[str, ...], extra_users: tuple[str, ...] = ()) -> Topology:
    leaves = [natsconf.SiteLeaf(s, natsconf.new_password(), free_port(), tmp / f"js-{s}", natsconf.new_password())
              for s in (*sites, *extra_users)]
    conf = natsconf.Central(free_port(), free_port(), tmp / "js-central", natsconf.new_password(), leaves)
    (tmp / "central.conf").write_text(natsconf.render_central(conf))
    central = NatsServer(port=conf.client_port, config=tmp / "central.conf", log_file=tmp / "central.log").start()
    servers = {}
    for leaf in leaves[: len(sites)]:
        path = tmp / f"{leaf.site}.conf"
        path.write_text(natsconf.render_leaf(leaf, f"nats-leaf://127.0.0.1:{conf.leaf_port}"))
        servers[leaf.site] = NatsServer(port=leaf.client_port, config=path, log_file=tmp / f"{leaf.site}.log").start()
    url = f"nats://{natsconf.LOCAL_USER}:{conf.local_password}@127.0.0.1:{conf.client_port}"
    return Topology(central, url, servers, conf, tmp)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    topo = _start(tmp_path, SITES)
    try:
        yield topo
    finally:
        for leaf in topo.leaves.values():
            leaf.stop()
        topo.central.stop()


@pytest.fixture
async def central(topology: Topology) -> AsyncIterator[NATS]:
    nc = await nats.connect(topology.central_url)
    for site in SITES:
        await _reachable(nc, site)
    yield nc
    await nc.close()


async def _reachable(nc: NATS, domain: str, timeout_s: float = 10.0) -> bool:
    """Whether central reaches the JetStream domain ``domain`` (i.e. that leaf is connected)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            await nc.jetstream(domain=domain, timeout=0.5).account_info()
            return True
        except REFUSED:
            await asyncio.sleep(0.1)
    return False


async def _site_bus(topology: Topology, site: str) -> Bus:
    bus = Bus(topology.leaves[site].url, name=f"test-{site}")
    await bus.connect()
    await bus.ensure_site_streams(site)  # exactly what every service of the site does at start
    return bus


async def _central_messages(nc: NATS, expect: int, timeout_s: float = 10.0) -> list[tuple[str, bytes]]:
    js = nc.jetstream()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (await js.stream_info(natsconf.CENTRAL_STREAM)).state.messages >= expect:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # anything that should not be there has had its chance to arrive
    count = (await js.stream_info(natsconf.CENTRAL_STREAM)).state.messages
    out = []
    for seq in range(1, count + 1):
        msg = await js.get_msg(natsconf.CENTRAL_STREAM, seq)
        out.append((msg.subject or "", msg.data or b""))
    return out


def _body(site: str, n: int) -> bytes:
    return json.dumps({"site": site, "n": n}).encode()


def test_generated_configs_are_accepted_by_nats_server(tmp_path: Path) -> None:
    """``nats-server -t`` accepts the rendered central and leaf configs and the deploy/ samples."""
    leaf = natsconf.SiteLeaf("zhuzhou", "pw-leaf", 14301, tmp_path / "zz", "pw-local")
    central = natsconf.Central(14222, 17422, tmp_path / "c", "pw-central", [leaf])
    files = {"central.conf": natsconf.render_central(central),
             "leaf.conf": natsconf.render_leaf(leaf, "nats-leaf://127.0.0.1:17422"),
             **{f"deploy-{k}": v for k, v in natsconf.render_deploy_samples().items()}}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        argv = [nats_server_binary(), "-t", "-c", str(tmp_path / name)]
        r = subprocess.run(argv, capture_output=True, text=True)  # noqa: S603  (our own binary and file)
        assert r.returncode == 0, f"{name}: {r.stderr}"


def test_deploy_samples_are_up_to_date() -> None:
    """deploy/nats/*.conf are what ``python -m hallnet.natsconf`` writes."""
    for name, text in natsconf.render_deploy_samples().items():
        assert (natsconf.DEPLOY_DIR / name).read_text(encoding="utf-8") == text


async def test_central_sources_each_site_stream_through_its_domain(topology: Topology, central: NATS) -> None:
    """Events published on each leaf's site stream arrive in CENTRAL, sourced via $JS.<site>.API."""
    buses = [await _site_bus(topology, site) for site in SITES]
    try:
        for bus, site in zip(buses, SITES, strict=True):
            for n in range(3):
                await bus.js.publish(f"hall.{site}.queue.ticket.issued", _body(site, n),
                                     headers={"Nats-Msg-Id": f"{site}:{n}"})
        await natsconf.ensure_central_stream(central.jetstream(), SITES)
        got = await _central_messages(central, expect=6)
        assert sorted(got) == sorted((f"hall.{s}.queue.ticket.issued", _body(s, n)) for s in SITES for n in range(3))
        info = await central.jetstream().stream_info(natsconf.CENTRAL_STREAM)
        assert {s.name for s in info.sources or []} == {"HALL_ZHUZHOU", "HALL_HENGNAN"}
        await natsconf.ensure_central_stream(central.jetstream(), SITES)  # idempotent
    finally:
        for bus in buses:
            await bus.close()


async def test_a_site_cannot_contribute_events_under_another_sites_id(topology: Topology, central: NATS) -> None:
    """From zhuzhou's leaf, hengnan-prefixed events reach neither CENTRAL nor hengnan's stream: the
    leaf user may not publish them to central, and the source filter drops them even when zhuzhou's
    own stream is made to capture them."""
    zz, hn = await _site_bus(topology, "zhuzhou"), await _site_bus(topology, "hengnan")
    try:
        await natsconf.ensure_central_stream(central.jetstream(), SITES)
        await zz.nc.publish("hall.hengnan.queue.ticket.issued", b"spoof-core")  # type: ignore[union-attr]
        cfg = (await zz.js.stream_info("HALL_ZHUZHOU")).config
        cfg.subjects = ["hall.zhuzhou.>", "hall.hengnan.>"]  # a tampered site stream
        await zz.js.update_stream(cfg)
        await zz.js.publish("hall.hengnan.queue.ticket.issued", b"spoof-stream")
        await zz.js.publish("hall.zhuzhou.queue.ticket.issued", _body("zhuzhou", 1))
        await hn.js.publish("hall.hengnan.queue.ticket.issued", _body("hengnan", 1))
        await central.publish("hall.zhuzhou.queue.ticket.issued", b"from-central")  # central cannot write into a site
        await central.flush()
        got = await _central_messages(central, expect=2)
        assert sorted(got) == sorted([("hall.zhuzhou.queue.ticket.issued", _body("zhuzhou", 1)),
                                      ("hall.hengnan.queue.ticket.issued", _body("hengnan", 1))])
        assert (await hn.js.stream_info("HALL_HENGNAN")).state.messages == 1
        zz_subjects = [(await zz.js.get_msg("HALL_ZHUZHOU", s)).data for s in (1, 2)]
        assert zz_subjects == [b"spoof-stream", _body("zhuzhou", 1)]  # nothing from central got in
    finally:
        await zz.close()
        await hn.close()


async def test_central_reads_a_site_stream_but_cannot_change_it(topology: Topology, central: NATS) -> None:
    """Through $JS.zhuzhou.API central may read stream info, never purge or delete the stream."""
    zz = await _site_bus(topology, "zhuzhou")
    try:
        site_js = central.jetstream(domain="zhuzhou", timeout=1.0)
        info = await site_js.stream_info("HALL_ZHUZHOU")
        assert info.config.subjects == ["hall.zhuzhou.>"]
        with pytest.raises(REFUSED):
            await site_js.purge_stream("HALL_ZHUZHOU")
        with pytest.raises(REFUSED):
            await site_js.delete_stream("HALL_ZHUZHOU")
        with pytest.raises(REFUSED):  # nor reach another site's domain with zhuzhou's credential
            await central.jetstream(domain="hengnan", timeout=1.0).stream_info("HALL_ZHUZHOU")
        assert (await zz.js.stream_info("HALL_ZHUZHOU")).config.name == "HALL_ZHUZHOU"
    finally:
        await zz.close()


async def test_a_leaf_without_its_credential_is_refused(tmp_path: Path) -> None:
    """A leaf with a wrong password, or with none, never joins (its domain stays unreachable); the
    same leaf with the site's own credential does."""
    topo = _start(tmp_path, (), extra_users=("baogai",))
    bad = [topo.leaf("baogai", password="wrong"),
           topo.leaf("baogai", url=f"nats-leaf://nobody@127.0.0.1:{topo.conf.leaf_port}")]  # no password
    try:
        for server in bad:
            server.start()
        nc = await nats.connect(topo.central_url)
        try:
            assert not await _reachable(nc, "baogai", timeout_s=1.5)
            assert (tmp_path / "central.log").read_text().count("Authentication Failure") >= 2
            for server in bad:
                server.stop()
            good = topo.leaf("baogai")
            bad.append(good)
            good.start()
            assert await _reachable(nc, "baogai")
        finally:
            await nc.close()
    finally:
        for server in bad:
            server.stop()
        topo.central.stop()


async def _crossing(pub: NATS, sub: NATS, allowed: str, denied: str) -> tuple[bool, bool]:
    """Subscribe on ``sub`` to both subjects, publish both on ``pub`` until ``allowed`` arrives (interest crosses a
    leaf connection asynchronously), then ``denied`` a few times more: whether each arrived."""
    seen: set[str] = set()

    async def note(msg: Any) -> None:
        seen.add(msg.subject)

    subs = [await sub.subscribe(s, cb=note) for s in (allowed, denied)]
    await sub.flush()
    deadline = time.monotonic() + 10.0
    while allowed not in seen and time.monotonic() < deadline:
        for subject in (denied, allowed):
            await pub.publish(subject, b"probe")
        await pub.flush()
        await asyncio.sleep(0.1)
    for _ in range(5):
        await pub.publish(denied, b"after")
    await pub.flush()
    await asyncio.sleep(0.5)
    for s in subs:
        await s.unsubscribe()
    return allowed in seen, denied in seen


async def test_requests_between_a_sites_services_never_cross_the_leaf(tmp_path: Path) -> None:
    """svc.<site>.> (the applicant's phone on its way to notify) stays at the site while hall.<site>.> flows to
    central: with the site's least-privilege leaf user, and by the leaf's own deny_exports/deny_imports even when
    its leaf connection is (wrongly) given central's unrestricted user; inside the site the request is answered."""
    topo = _start(tmp_path, ("zhuzhou",), extra_users=("baogai",))
    unrestricted = f"nats-leaf://{natsconf.LOCAL_USER}:{topo.conf.local_password}@127.0.0.1:{topo.conf.leaf_port}"
    loose = topo.leaf("baogai", url=unrestricted)
    conns: list[NATS] = []
    try:
        loose.start()
        central = await nats.connect(topo.central_url)
        zz, bg = await nats.connect(topo.leaves["zhuzhou"].url), await nats.connect(loose.url)
        conns += [central, zz, bg]
        assert await _reachable(central, "zhuzhou") and await _reachable(central, "baogai")
        assert await _crossing(zz, central, "hall.zhuzhou.queue.ticket.issued",
                               "svc.zhuzhou.notify.contacts") == (True, False)
        assert await _crossing(bg, central, "hall.baogai.queue.ticket.issued",
                               "svc.baogai.notify.contacts") == (True, False)
        assert await _crossing(central, bg, "hall.baogai.matters.case.accepted",
                               "svc.baogai.notify.contacts") == (True, False)

        async def answer(msg: Any) -> None:
            await msg.respond(b'{"id": "1"}')

        await bg.subscribe("svc.baogai.notify.contacts", queue="notify", cb=answer)
        site_client = await nats.connect(loose.url)
        conns.append(site_client)
        reply = await site_client.request("svc.baogai.notify.contacts", b"{}", timeout=2)
        assert reply.data == b'{"id": "1"}'
        with pytest.raises(nats.errors.NoRespondersError):  # from central nobody answers: the request never crosses
            await central.request("svc.baogai.notify.contacts", b"{}", timeout=1)
    finally:
        for nc in conns:
            await nc.close()
        loose.stop()
        topo.leaves["zhuzhou"].stop()
        topo.central.stop()
