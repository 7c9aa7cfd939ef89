"""NATS configuration for the federation: one central hub, one leaf server per site.

Topology (see CONTRACT.md "Streams and federation")::

    site services ──► leaf nats-server (JetStream domain <site>, stream HALL_<SITE>)
                           │  leafnode remote, bound to account HALL, user leaf-<site>
                           ▼
                      central nats-server (JetStream domain central, stream CENTRAL)
                           CENTRAL sources HALL_<SITE> through $JS.<site>.API

Both sides define the account ``HALL`` with ``jetstream: enabled``; the leaf remote binds its local
``HALL`` to the hub's ``HALL`` so JetStream domains reach across the leaf connection. Each site's
leaf connection authenticates on central with its own user ``leaf-<site>``, whose permissions allow
only what sourcing of that site's stream needs (see ``leaf_permissions``): the leaf may send its own
``hall.<site>.>`` subjects and the replies and deliveries of its JetStream domain; central may send
into the leaf only requests for ``$JS.<site>.API.>`` and flow control for ``HALL_<SITE>``. So a leaf
cannot inject events under another site's id, and nothing published elsewhere lands in its stream.

The other direction (central → site, shared/downlink.py): central's stream ``DOWN`` holds ``down.<site|all>.>``;
each leaf's ``DOWN_<SITE>`` sources it through ``$JS.central.API``. The leaf may create consumers on ``DOWN``
only filtered to its own and ``all`` subjects, and receives their deliveries under ``down-deliver.<site>``.

A site's services connect to their leaf server without credentials (``no_auth_user``; the leaf has no
leafnode listener). Central has no ``no_auth_user`` — nats-server would bind a credential-less *leaf*
connection to it too — so central's own clients use the ``hallnet`` user and its generated password
(``stack.json`` carries it in ``central.nats_url``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, ExternalStream, RetentionPolicy, StorageType, StreamConfig, StreamSource

ACCOUNT = "HALL"
LOCAL_USER = "hallnet"
CENTRAL_DOMAIN = "central"
CENTRAL_STREAM = "CENTRAL"
DAY_S = 86_400
DOWN_STREAM = "DOWN"  # central → sites (shared/downlink.py: the same names, kept here so configs need no service code)
SITE_ONLY = ("svc.>",)  # core-NATS requests between a site's services (CONTRACT.md): never over the leaf


def site_stream_name(site: str) -> str:
    """Same rule as shared.settings.site_stream_name (kept here so configs need no service code)."""
    return "HALL_" + site.upper().replace("-", "_")


def leaf_user(site: str) -> str:
    return f"leaf-{site}"


def new_password() -> str:
    return secrets.token_urlsafe(18)  # URL-safe: it travels inside nats-leaf:// URLs


@dataclass(frozen=True)
class SiteLeaf:
    """One site's leaf server and its credential on central."""

    site: str
    password: str  # of leaf-<site> on central
    client_port: int = 0
    store_dir: Path | None = None
    local_password: str = ""  # of the leaf's own hallnet user (local clients use no_auth_user)

    @property
    def user(self) -> str:
        return leaf_user(self.site)


@dataclass(frozen=True)
class ClusterNode:
    """Central as a node of a NATS cluster (production: 3 nodes, CENTRAL with 3 replicas)."""

    name: str  # server_name, unique in the cluster: hallnet-central-1 …
    port: int  # cluster (route) port of this node
    routes: Sequence[str]  # every node's route URL, this one included: nats-route://host:port
    password: str  # of the route user shared by the nodes
    cluster: str = "hallnet-central"


@dataclass(frozen=True)
class Central:
    client_port: int
    leaf_port: int
    store_dir: Path
    local_password: str
    sites: Sequence[SiteLeaf] = field(default_factory=tuple)
    host: str = "127.0.0.1"
    node: ClusterNode | None = None  # None: a single central server


def _q(value: Any) -> str:
    """A NATS-config literal: JSON strings and lists are valid NATS config syntax."""
    return json.dumps(value, ensure_ascii=False)


def leaf_permissions(site: str) -> dict[str, Any]:
    """What site ``site``'s leaf connection may send to (publish) and receive from (subscribe)
    central. Directions are the leaf's point of view, as nats-server applies them: "publish" is
    what the leaf may export to central, "subscribe" what central may deliver into the leaf."""
    stream = site_stream_name(site)
    return {
        "publish": {
            "allow": [
                f"hall.{site}.>",  # live events of its own site only, for core-NATS listeners
                "$JSC.R.>",  # replies to the JetStream API requests of central's sourcing
                "$JS.S.>",  # deliveries of the sourcing consumer central created on the leaf
                "_INBOX.>",  # replies to central clients that query the site domain's API
                # the downlink (shared/downlink.py): the site's DOWN_<SITE> sources central's DOWN, and may create
                # its sourcing consumers there only with a filter on its own subjects or those for all sites
                f"$JS.{CENTRAL_DOMAIN}.API.CONSUMER.CREATE.{DOWN_STREAM}.*.down.{site}.>",
                f"$JS.{CENTRAL_DOMAIN}.API.CONSUMER.CREATE.{DOWN_STREAM}.*.down.all.>",
                f"$JS.FC.{DOWN_STREAM}.>",  # flow-control replies of those consumers
            ],
        },
        "subscribe": {
            "allow": [
                # requests to this site's JetStream domain: read its stream, manage consumers on it
                f"$JS.{site}.API.INFO",
                f"$JS.{site}.API.STREAM.INFO.{stream}",
                f"$JS.{site}.API.STREAM.MSG.GET.{stream}",
                f"$JS.{site}.API.DIRECT.GET.{stream}",
                f"$JS.{site}.API.DIRECT.GET.{stream}.>",
                f"$JS.{site}.API.CONSUMER.CREATE.{stream}",
                f"$JS.{site}.API.CONSUMER.CREATE.{stream}.>",
                f"$JS.{site}.API.CONSUMER.DURABLE.CREATE.{stream}.*",
                f"$JS.{site}.API.CONSUMER.INFO.{stream}.*",
                f"$JS.{site}.API.CONSUMER.DELETE.{stream}.*",
                f"$JS.{site}.API.CONSUMER.MSG.NEXT.{stream}.*",
                f"$JS.FC.{stream}.>",  # flow-control replies for consumers on the site stream
                f"$JS.FC.{site}.*.{stream}.>",
                "$LDS.>",  # leafnode loop detection
                f"down-deliver.{site}.>",  # deliveries of its downlink consumers (the sources' deliver prefix)
                "$JSC.R.>",  # replies to the leaf's requests to central's JetStream API
            ],
        },
    }


def _perm_block(perms: dict[str, Any], indent: str) -> str:
    lines = [f"{indent}permissions: {{"]
    for direction, rule in perms.items():
        lines.append(f"{indent}  {direction}: {{ allow: [")
        lines += [f"{indent}    {_q(subject)}" for subject in rule["allow"]]
        lines.append(f"{indent}  ] }}")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def render_central(c: Central) -> str:
    users = [f'      {{ user: {_q(LOCAL_USER)}, password: {_q(c.local_password)} }}']
    for s in c.sites:
        users.append(
            f"      {{ user: {_q(s.user)}, password: {_q(s.password)},\n"
            + _perm_block(leaf_permissions(s.site), "        ")
            + " }"
        )
    cluster: list[str] = []
    if c.node is not None:
        n = c.node
        routes = [r.replace("://", f"://route:{n.password}@", 1) if "@" not in r else r for r in n.routes]
        cluster = [
            "# one node of central's NATS cluster: JetStream replicates CENTRAL over the routes (R3 with 3 nodes)",
            "cluster {",
            f"  name: {_q(n.cluster)}",
            f"  listen: {_q(f'{c.host}:{n.port}')}",
            f"  authorization {{ user: \"route\", password: {_q(n.password)} }}",
            f"  routes: {_q(routes)}",
            "}",
        ]
    return "\n".join([
        "# Generated by hallnet.natsconf: central hub of the hallnet federation.",
        f"server_name: {_q(c.node.name if c.node else 'hallnet-central')}",
        f"listen: {_q(f'{c.host}:{c.client_port}')}",
        "jetstream {",
        f"  domain: {_q(CENTRAL_DOMAIN)}",
        f"  store_dir: {_q(str(c.store_dir))}",
        "}",
        "accounts {",
        f"  {ACCOUNT} {{",
        "    jetstream: enabled",
        "    users: [",
        *users,
        "    ]",
        "  }",
        "}",
        "# No no_auth_user here: a leaf connecting without credentials would be bound to it and get",
        "# the unrestricted hallnet user. Every client of central, leaf or not, authenticates.",
        "leafnodes {",
        f"  listen: {_q(f'{c.host}:{c.leaf_port}')}",
        "}",
        *cluster,
        "",
    ])


def render_leaf(s: SiteLeaf, central_leaf_url: str, *, host: str = "127.0.0.1") -> str:
    """``central_leaf_url`` like ``nats-leaf://127.0.0.1:17422``, or several separated by commas (every node
    of a central cluster: the leaf fails over between them); the site's credential is added unless a URL
    already carries one."""
    urls = []
    for url in (u.strip() for u in central_leaf_url.split(",") if u.strip()):
        if "@" not in url:
            scheme, rest = url.split("://", 1)
            url = f"{scheme}://{s.user}:{s.password}@{rest}"
        urls.append(url)
    return "\n".join([
        f"# Generated by hallnet.natsconf: leaf server of site {s.site}.",
        f"server_name: {_q('hallnet-' + s.site)}",
        f"listen: {_q(f'{host}:{s.client_port}')}",
        "jetstream {",
        f"  domain: {_q(s.site)}",
        f"  store_dir: {_q(str(s.store_dir))}",
        "}",
        "accounts {",
        f"  {ACCOUNT} {{",
        "    jetstream: enabled",
        f"    users: [ {{ user: {_q(LOCAL_USER)}, password: {_q(s.local_password or new_password())} }} ]",
        "  }",
        "}",
        "# the site's own services connect without credentials (the server has no leaf listener)",
        f"no_auth_user: {_q(LOCAL_USER)}",
        "leafnodes {",
        "  remotes: [",
        # only the URLs listed: a hub advertises its own leaf address (internal, behind NAT, or — in tests — the far
        # side of a cut link); a site reaches central only the way its configuration says. Requests between the
        # site's services (svc.>, e.g. the applicant's phone to notify) never cross to central, nor come from it.
        f"    {{ urls: {_q(urls)}, account: {_q(ACCOUNT)}, ignore_discovered_servers: true,",
        f"      deny_exports: {_q(list(SITE_ONLY))}, deny_imports: {_q(list(SITE_ONLY))} }}",
        "  ]",
        "}",
        "",
    ])


def central_stream_config(sites: Iterable[str], *, local_sites: Iterable[str] = (),
                          max_age_days: int = 400, replicas: int = 1) -> StreamConfig:
    """CENTRAL sources every site stream, each source filtered to that site's own subjects.
    Sites in ``local_sites`` have their stream on this very server (no leaf, no domain)."""
    local = set(local_sites)
    sources = [
        StreamSource(
            name=site_stream_name(site),
            filter_subject=f"hall.{site}.>",
            external=None if site in local else ExternalStream(api=f"$JS.{site}.API"),
        )
        for site in sorted(set(sites))
    ]
    return StreamConfig(
        name=CENTRAL_STREAM,
        subjects=[],
        sources=sources,
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age_days * DAY_S,
        duplicate_window=2 * 3600,
        num_replicas=replicas,
    )


async def ensure_central_stream(js: JetStreamContext, sites: Iterable[str], *,
                                local_sites: Iterable[str] = (), replicas: int = 1) -> None:
    """Create or update the CENTRAL stream so that it sources every site in ``sites`` (``replicas`` 3 on a
    3-node central cluster)."""
    import nats.js.errors

    config = central_stream_config(sites, local_sites=local_sites, replicas=replicas)
    try:
        info = await js.stream_info(CENTRAL_STREAM)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)
        return
    if _source_keys(info.config.sources) != _source_keys(config.sources):
        await js.update_stream(config)


def _source_keys(sources: Iterable[StreamSource] | None) -> set[tuple[str, str | None, str | None]]:
    return {(s.name, s.filter_subject, s.external.api if s.external else None) for s in sources or []}


# --- documented samples (deploy/nats/) --------------------------------------------------------------
DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy" / "nats"


def render_deploy_samples(site: str = "zhuzhou") -> dict[str, str]:
    """``central.conf`` and ``leaf-site.conf`` as docker-compose.yml uses them: placeholder passwords
    (replace them in any real deployment), container paths, the standard ports inside containers."""
    leaf = SiteLeaf(site, f"change-me-leaf-{site}", 4222, Path("/data/jetstream"), "change-me-local")
    central = Central(4222, 7422, Path("/data/jetstream"), "change-me-central", [leaf], host="0.0.0.0")  # noqa: S104 - a container listens on all its interfaces
    note = "# Sample for docker-compose.yml; regenerate with `python -m hallnet.natsconf`.\n"
    samples = {
        "central.conf": note + render_central(central),
        "leaf-site.conf": note + render_leaf(leaf, "nats-leaf://nats-central:7422", host="0.0.0.0"),  # noqa: S104 - a container listens on all its interfaces
    }
    # Production: central as a 3-node cluster (hosts nats-central-1..3), CENTRAL with 3 replicas; a site's
    # leaf lists every node and fails over between them.
    routes = [f"nats-route://nats-central-{i}:6222" for i in (1, 2, 3)]
    cluster_note = ("# Sample: node {i} of a 3-node central cluster (deploy/README.md); regenerate with "
                    "`python -m hallnet.natsconf`.\n")
    for i in (1, 2, 3):
        node = ClusterNode(f"hallnet-central-{i}", 6222, routes, "change-me-route")
        c = Central(4222, 7422, Path("/data/jetstream"), "change-me-central", [leaf], host="0.0.0.0",  # noqa: S104 - a container listens on all its interfaces
                    node=node)
        samples[f"central-cluster-{i}.conf"] = cluster_note.format(i=i) + render_central(c)
    samples["leaf-site-cluster.conf"] = cluster_note.format(i="-") + render_leaf(
        leaf, ",".join(f"nats-leaf://nats-central-{i}:7422" for i in (1, 2, 3)), host="0.0.0.0")  # noqa: S104 - a container listens on all its interfaces
    return samples


def write_deploy_samples(directory: Path = DEPLOY_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in render_deploy_samples().items():
        (directory / name).write_text(text, encoding="utf-8")
        out.append(directory / name)
    return out


async def _central_stream_cli(url: str, sites: list[str], local: bool) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await ensure_central_stream(nc.jetstream(), sites, local_sites=sites if local else [])
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m hallnet.natsconf`` writes deploy/nats/*.conf; ``… central-stream --url U --sites a,b``
    creates or updates the CENTRAL stream (docker-compose runs it once)."""
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(prog="python -m hallnet.natsconf")
    sub = parser.add_subparsers(dest="command")
    samples = sub.add_parser("samples", help="write the deploy/nats samples (the default)")
    samples.add_argument("directory", nargs="?", default=str(DEPLOY_DIR))
    central = sub.add_parser("central-stream", help="create/update CENTRAL on a central server")
    central.add_argument("--url", required=True)
    central.add_argument("--sites", required=True, help="comma-separated site ids")
    central.add_argument("--local", action="store_true", help="site streams live on this server (no leaves)")
    args = parser.parse_args(argv)
    if args.command == "central-stream":
        asyncio.run(_central_stream_cli(args.url, [s for s in args.sites.split(",") if s], args.local))
        print(f"{CENTRAL_STREAM} sources {args.sites}")
        return
    for p in write_deploy_samples(Path(getattr(args, "directory", DEPLOY_DIR))):
        print(p)


if __name__ == "__main__":
    main()
