"""The one path from central to the sites (下行): the arrangement of a year today, supervision orders (督办) and
catalog updates later. Infrastructure only; what a message means is its event type's business.

Central publishes an envelope of origin ``central`` on ``down.<target>.<type>`` (``target``: a site id, or
``all``) into its stream ``DOWN`` (JetStream domain ``central``). Each site's leaf server has ``DOWN_<SITE>``,
which *sources* ``DOWN`` through the leaf (``$JS.central.API``), once for ``down.<site>.>`` and once for
``down.all.>``, and stores each message as ``hall.central.<type>``: an ordinary event subject of origin central,
so the site's ``EventConsumer`` (inbox: applied exactly once), the poison policy and the dead letters apply
unchanged. A site that is offline when central publishes gets everything when its link returns: a source resumes
where it stopped. Envelopes carry no personal data (staff text about a hall at most).
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
from nats.js.api import (
    DiscardPolicy,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
    SubjectTransform,
)

from shared.bus import Bus
from shared.consumer import EventConsumer, Handlers
from shared.events.base import Envelope, subject_for

DOWN_STREAM = "DOWN"
ORIGIN = "central"  # the envelope's site of everything that comes down
ALL = "all"  # target of a message for every site
CENTRAL_API = "$JS.central.API"  # central's JetStream domain, seen from a leaf
DAY_S = 86_400


def down_subject(target: str, event_type: str) -> str:
    """Where central publishes a message for ``target`` (a site id or ``all``)."""
    return f"down.{target}.{event_type}"


def deliver_prefix(site: str) -> str:
    """Central delivers the site's downlink under this prefix only (its leaf may receive nothing else of it)."""
    return f"down-deliver.{site}"


def site_down_stream_name(site: str) -> str:
    return "DOWN_" + site.upper().replace("-", "_")


def central_down_config(*, max_age_days: int = 800, replicas: int = 1) -> StreamConfig:
    """Central's ``DOWN``: every message for the sites, kept long enough for a site offline for months (and for a
    site added later to receive the arrangements in force)."""
    return StreamConfig(name=DOWN_STREAM, subjects=["down.>"], storage=StorageType.FILE,
                        retention=RetentionPolicy.LIMITS, discard=DiscardPolicy.OLD, max_age=max_age_days * DAY_S,
                        duplicate_window=2 * 3600, num_replicas=replicas,
                        description="central → sites (下行): down.<site|all>.<type>")


def site_down_config(site: str, *, api: str | None = CENTRAL_API, max_age_days: int = 800) -> StreamConfig:
    """The site's ``DOWN_<SITE>``, sourcing central's ``DOWN`` (through ``api``; ``None`` when ``DOWN`` is on the
    same server, as in a federation without leaf servers) for this site and for all, as ``hall.central.<type>``."""
    sources = [
        StreamSource(name=DOWN_STREAM, external=ExternalStream(api=api, deliver=deliver_prefix(site)) if api else None,
                     subject_transforms=[SubjectTransform(src=down_subject(target, ">"), dest=f"hall.{ORIGIN}.>")])
        for target in (site, ALL)
    ]
    return StreamConfig(name=site_down_stream_name(site), subjects=[], sources=sources, storage=StorageType.FILE,
                        retention=RetentionPolicy.LIMITS, discard=DiscardPolicy.OLD, max_age=max_age_days * DAY_S,
                        description=f"central → {site} (下行), sourced from {DOWN_STREAM}")


async def ensure_central_downlink(bus: Bus, *, replicas: int = 1) -> None:
    await bus.ensure_stream(central_down_config(replicas=replicas))


async def ensure_site_downlink(bus: Bus, site: str, *, api: str | None = CENTRAL_API) -> None:
    await bus.ensure_stream(site_down_config(site, api=api))


async def publish_down(bus: Bus, target: str, env: Envelope) -> int:
    """Put one envelope (origin ``central``) on the path to ``target``; returns its sequence in ``DOWN``.
    ``Nats-Msg-Id`` is the envelope's id: a retried publish is stored once."""
    if env.site != ORIGIN:
        raise ValueError(f"a downlink envelope comes from {ORIGIN}, not {env.site}")
    ack = await bus.js.publish(down_subject(target, env.type), env.to_bytes(), stream=DOWN_STREAM,
                               headers={"Nats-Msg-Id": env.msg_id, "Content-Type": "application/json"})
    return int(ack.seq)


def downlink_consumer(*, bus: Bus, pool: asyncpg.Pool, site: str, durable: str, handlers: Handlers,
                      max_deliver: int = 5) -> EventConsumer:
    """An ``EventConsumer`` of the site's ``DOWN_<SITE>``: each message applied once, poison dead-lettered to
    ``deadletter.<site>.<durable>`` as everywhere else."""
    subjects: Iterable[str] = (subject_for(ORIGIN, t.TYPE) for t in handlers)
    return EventConsumer(bus=bus, pool=pool, site=site, stream=site_down_stream_name(site), durable=durable,
                         handlers=handlers, subjects=list(subjects), max_deliver=max_deliver)
