"""Federation benchmarks (issue 6), on real servers: a central nats-server, N site leaf servers each behind a
real TCP link (``hallnet.testbed``), an embedded PostgreSQL, and central's own ingest (``services.central``)
writing its projections.

    python -m bench.central_bench [--sites 20] [--rate 500] [--seconds 30] [--preload 50000] [--outage 100000]

1. **Latency** site → central projections: every site publishes its share of ``--rate`` events/s for
   ``--seconds``; for each event, the time from ``occurred_at`` (set when it is published) to the commit of the
   central batch that applied it. Prints p50/p99. Target p99 ≤ 1 s.
2. **Ingest rate** into the projections, and the raw JetStream consume rate (fetch + ack, nothing else) over the
   same ``--preload`` events in the same run, and their ratio. Targets ≥ 5,000 events/s and ≥ 0.3 of raw.
3. **Catch-up** after an outage: every site's link is cut, ``--outage`` events are published at the sites
   (buffered in their streams), the links return; the time until central has applied them all. Target ≤ 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench.site_traffic import SiteTraffic
from hallnet import natsconf
from hallnet.embedded import EmbeddedPostgres, free_port
from hallnet.testbed import Testbed
from shared.bus import Bus


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Sites:
    """One Bus and one traffic generator per site."""

    def __init__(self, bed: Testbed) -> None:
        self.bed = bed
        self.buses: dict[str, Bus] = {}
        self.traffic = {s: SiteTraffic(s) for s in bed.sites}

    async def connect(self) -> None:
        for site in self.bed.sites:
            bus = Bus(self.bed.site_url(site), name=f"bench-{site}")
            await bus.connect()
            await bus.ensure_site_streams(site, max_age_days=1)
            self.buses[site] = bus

    async def burst(self, per_site: int) -> int:
        """Publish ``per_site`` events on every site as fast as JetStream acknowledges them."""
        async def one(site: str) -> int:
            bus, gen = self.buses[site], self.traffic[site].events()
            futures = []
            for env in itertools.islice(gen, per_site):
                futures.append(await bus.js.publish_async(env.subject, env.to_bytes(),
                                                          headers={"Nats-Msg-Id": env.msg_id}))
                if len(futures) >= 2000:
                    await asyncio.gather(*futures)
                    futures.clear()
            await asyncio.gather(*futures)
            return per_site

        return sum(await asyncio.gather(*(one(s) for s in self.bed.sites)))

    async def paced(self, rate: float, seconds: float) -> int:
        """``rate`` events/s in total, spread evenly over the sites, for ``seconds``."""
        per_site = rate / len(self.bed.sites)

        async def one(site: str, offset: float) -> int:
            bus, gen = self.buses[site], self.traffic[site].events()
            loop = asyncio.get_running_loop()
            start = loop.time() + offset
            n = 0
            while (due := start + n / per_site) < start + seconds:
                await asyncio.sleep(max(0.0, due - loop.time()))
                env = next(gen)
                await bus.js.publish_async(env.subject, env.to_bytes(), headers={"Nats-Msg-Id": env.msg_id})
                n += 1
            return n

        offsets = [i / rate for i in range(len(self.bed.sites))]
        return sum(await asyncio.gather(*(one(s, o) for s, o in zip(self.bed.sites, offsets, strict=True))))

    async def close(self) -> None:
        for bus in self.buses.values():
            await bus.close()


async def wait_central(js: Any, count: int, timeout_s: float) -> float:
    """Seconds until CENTRAL holds ``count`` messages."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        info = await js.stream_info(natsconf.CENTRAL_STREAM)
        if info.state.messages >= count:
            return time.perf_counter() - t0
        await asyncio.sleep(0.05)
    raise TimeoutError(f"CENTRAL has {info.state.messages} of {count} messages after {timeout_s}s")


async def raw_consume(nc: Any, count: int, batch: int) -> float:
    """Events/s of a bare durable pull consumer over CENTRAL: fetch, parse nothing, ack — the ceiling."""
    js = nc.jetstream()
    name = f"bench-raw-{os.getpid()}"
    sub = await js.pull_subscribe("hall.>", durable=name, stream=natsconf.CENTRAL_STREAM,
                                  config=ConsumerConfig(ack_policy=AckPolicy.ALL, deliver_policy=DeliverPolicy.ALL,
                                                        max_ack_pending=-1))
    seen = 0
    t0 = time.perf_counter()
    while seen < count:
        msgs = await sub.fetch(batch, timeout=5)
        seen += len(msgs)
        await msgs[-1].ack()  # AckPolicy.ALL: one ack covers the batch
    rate = seen / (time.perf_counter() - t0)
    await js.delete_consumer(natsconf.CENTRAL_STREAM, name)
    return rate


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.central_bench")
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--preload", type=int, default=50_000)
    parser.add_argument("--outage", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)

    from bench.central_ingest import CentralUnderTest  # the central service's ingest, driven in this process

    root = Path(tempfile.mkdtemp(prefix="hallnet-central-bench-"))
    sites = [f"site{i:02d}" for i in range(1, args.sites + 1)]
    pg = EmbeddedPostgres(root / "pg", port=free_port(), log_file=root / "pg.log")
    bed = Testbed(root / "nats", sites)
    results: dict[str, Any] = {"date": datetime.now().astimezone().isoformat(timespec="seconds"),
                               "machine": f"{platform.node()} {os.cpu_count()} cores {platform.processor()}",
                               "sites": args.sites}
    await asyncio.to_thread(pg.start)
    await bed.start()
    nc = await nats.connect(bed.central_url, max_reconnect_attempts=-1)
    js = nc.jetstream()
    traffic = Sites(bed)
    central: CentralUnderTest | None = None
    try:
        await natsconf.ensure_central_stream(js, sites)
        await traffic.connect()
        pool_dsn = f"postgresql://postgres@127.0.0.1:{pg.port}/central"

        # 1. latency at a steady rate, central's ingest running — after a warm-up that waits until every site's
        #    source is flowing (nats-server sets sources up, with retries, once CENTRAL exists)
        central = await CentralUnderTest.start(bed.central_url, pool_dsn, sites, batch=args.batch)
        t_warm = time.perf_counter()
        warm = await traffic.burst(1)
        await central.wait_applied(warm, timeout_s=120)
        print(f"warm-up  every site's source flowing after {time.perf_counter() - t_warm:.1f} s", flush=True)
        central.latencies_s.clear()
        published = warm + await traffic.paced(args.rate, args.seconds)
        await central.wait_applied(published, timeout_s=60)
        lat = central.latencies_s
        results["latency"] = {"events": published - warm, "rate": args.rate, "p50_ms": 1000 * pct(lat, 0.50),
                              "p99_ms": 1000 * pct(lat, 0.99), "max_ms": 1000 * max(lat)}
        print(f"latency  {published - warm} events at {args.rate:.0f}/s from {args.sites} sites: "
              f"p50 {1000 * pct(lat, .5):.1f} ms  p99 {1000 * pct(lat, .99):.1f} ms  max {1000 * max(lat):.1f} ms",
              flush=True)
        await central.stop()
        central = None

        # 2. ingest rate vs raw consume rate over the same preloaded events
        before = (await js.stream_info(natsconf.CENTRAL_STREAM)).state.messages
        await traffic.burst(args.preload // args.sites)
        total = before + (args.preload // args.sites) * args.sites
        await wait_central(js, total, timeout_s=300)
        raw = await raw_consume(nc, total, args.batch)
        central = await CentralUnderTest.start(bed.central_url, pool_dsn, sites, batch=args.batch, fresh=True)
        t0 = time.perf_counter()
        await central.wait_applied(total, timeout_s=600)
        ingest = total / (time.perf_counter() - t0)
        results["ingest"] = {"events": total, "raw_per_s": raw, "ingest_per_s": ingest, "ratio": ingest / raw}
        print(f"ingest   {total} events: raw JetStream consume {raw:,.0f}/s, central ingest {ingest:,.0f}/s, "
              f"ratio {ingest / raw:.2f}", flush=True)

        # 3. catch-up after an outage that buffered --outage events at the sites
        for link in bed.links.values():
            await link.cut()
        applied_before = central.applied
        per_site = args.outage // args.sites
        t_pub = time.perf_counter()
        await traffic.burst(per_site)
        pub_s = time.perf_counter() - t_pub
        t0 = time.perf_counter()
        for link in bed.links.values():
            await link.restore()
        await central.wait_applied(applied_before + per_site * args.sites, timeout_s=600)
        catch = time.perf_counter() - t0
        results["catch_up"] = {"events": per_site * args.sites, "seconds": catch, "publish_s": pub_s}
        print(f"catch-up {per_site * args.sites} events buffered at {args.sites} sites: all applied "
              f"{catch:.1f} s after the links returned (publishing them took {pub_s:.1f} s)", flush=True)
        counts = await central.check_counts()
        published_issued = sum(t.counts["queue.ticket.issued"] for t in traffic.traffic.values())
        counts["issued_published"] = published_issued
        counts["ok"] = counts["issued_in_projection"] == published_issued and counts["duplicates"] == 0
        results["check"] = counts
        print(f"check    tickets issued at the sites {published_issued}, in central's projections "
              f"{counts['issued_in_projection']}: {'OK' if counts['ok'] else 'MISMATCH'} ({json.dumps(counts)})",
              flush=True)
    finally:
        if central is not None:
            await central.stop()
        await traffic.close()
        await nc.close()
        await bed.stop()
        await asyncio.to_thread(pg.stop)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results, ensure_ascii=False, default=str))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
