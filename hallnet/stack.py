"""The local federation behind ``hallnet up``: PostgreSQL, central and leaf NATS servers, each site's
services, health checks, ``stack.json``, supervision and an orderly stop.

Every child runs in its own session (Ctrl-C reaches only ``hallnet``, which then stops the children in
order: services, leaf NATS, central NATS, PostgreSQL) and, on Linux, gets SIGTERM if ``hallnet``
itself dies. Ports are preferred (14222, 14301…, 8101…) but never assumed free. The process plumbing
(``Child``, ``Ports``, secrets, health waits) lives in ``hallnet.procs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hallnet import natsconf
from hallnet.demo import site_config_path
from hallnet.embedded import EmbeddedPostgres, nats_server_binary
from hallnet.procs import (
    Child,
    Ports,
    StackError,
    database_url,
    load_secrets,
    service_env,
    service_module,
    stop_children,
    wait_healthy,
    wait_port,
)


@dataclass(frozen=True)
class ServiceSpec:
    """One service of a site: started as ``python -m services.<name>`` on port base + offset."""

    name: str
    port_offset: int


# Add a service with one line; only those whose ``services/<name>/__main__.py`` exists are started.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("queue", 0),  # 排队叫号
    ServiceSpec("matters", 1),  # 事项与办件
    ServiceSpec("ratings", 2),  # 好差评
    ServiceSpec("notify", 3),  # 短信
    ServiceSpec("gateway", 5),  # 站点网关: the screens and the site's entry URL; keep it after the services it proxies
)


def available_services() -> list[ServiceSpec]:
    """The services whose ``services/<name>/__main__.py`` exists (looked up without importing them)."""
    spec = importlib.util.find_spec("services")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    return [s for s in SERVICES if any((root / s.name / "__main__.py").is_file() for root in roots)]


def central_available() -> bool:
    """Whether ``services/central/__main__.py`` (the supervision service) exists."""
    spec = importlib.util.find_spec("services")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    return any((root / "central" / "__main__.py").is_file() for root in roots)


def start_postgres(state_dir: Path, port: int) -> EmbeddedPostgres:
    """The embedded PostgreSQL with its data under ``<state>/pg`` (kept between runs)."""
    pg = EmbeddedPostgres(state_dir / "pg", port=port, log_file=state_dir / "logs" / "postgres.log")
    pg.log_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        return pg.start()
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as exc:
        pg.stop()
        raise StackError(f"PostgreSQL did not start: {exc} (log: {pg.log_file})") from exc


def nats_child(name: str, config: Path, log: Path, port: int, tier: int) -> Child:
    return Child(name, [nats_server_binary(), "-c", str(config)], log, tier=tier, port=port)


def demo_accounts(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The demo accounts of a site file, as ``stack.json`` lists them: ``staff`` (each window's A clerk),
    ``managers`` (值班长) and ``backoffice`` (后台, with their department)."""
    people = config.get("staff", [])
    return {
        "staff": [{"staff_id": st["staff_id"], "password": st["password"], "window_no": no}
                  for st in people for no, role in st["roles"] if role == "A"],
        "managers": [{"staff_id": st["staff_id"], "password": st["password"]} for st in people if st.get("manager")],
        "backoffice": [{"staff_id": st["staff_id"], "password": st["password"], "department": st["backoffice"]}
                       for st in people if st.get("backoffice")],
    }


# --- the federation ------------------------------------------------------------------------------
@dataclass
class Site:
    id: str
    name: str
    index: int
    config: Path
    nats_url: str = ""
    services: dict[str, str] = field(default_factory=dict)
    staff: list[dict[str, Any]] = field(default_factory=list)
    managers: list[dict[str, Any]] = field(default_factory=list)  # 值班长: POST /queue/api/v1/manager/sign-in
    backoffice: list[dict[str, Any]] = field(default_factory=list)  # 后台: POST /queue/api/v1/staff/sign-in


class Federation:
    """Starts, supervises and stops one demo federation whose state lives in ``state_dir``.

    ``NATS_URL`` names an existing central server (no central is started); sites then connect to it
    directly, unless ``HALLNET_CENTRAL_LEAF_URL`` (its leafnode URL, may contain ``{site}``) is set too,
    in which case each site still gets its own leaf server. ``DATABASE_URL`` names an existing
    PostgreSQL server whose path is replaced by each service's database name.
    """

    def __init__(self, state_dir: Path, sites: list[str], *, with_services: bool = True,
                 environ: dict[str, str] | None = None) -> None:
        env = dict(os.environ if environ is None else environ)
        self.state_dir = state_dir.resolve()
        self.with_services = with_services
        self.external_nats = env.get("NATS_URL") or None
        self.central_leaf_url = env.get("HALLNET_CENTRAL_LEAF_URL") or None
        self.external_db = env.get("DATABASE_URL") or None
        self.ports = Ports()
        self.children: list[Child] = []
        self.pg: EmbeddedPostgres | None = None
        self.central_url = ""
        self.central_service: str | None = None  # the supervision service's base URL
        self.central_gateway: str | None = None  # the gateway serving the wall in front of it
        self.supervisors: list[dict[str, str]] = []  # demo supervisor accounts of the central wall
        self.sites: list[Site] = []
        for i, sid in enumerate(sites):
            path = site_config_path(sid)
            if not path.exists():
                raise StackError(f"no site configuration for {sid!r} (expected {path})")
            name = json.loads(path.read_text(encoding="utf-8"))["name"]
            self.sites.append(Site(sid, name, i, path))

    @property
    def stack_path(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def run_path(self) -> Path:  # every child so far, written as they start (for ``hallnet down``)
        return self.state_dir / "run.json"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def with_leaves(self) -> bool:
        return self.external_nats is None or self.central_leaf_url is not None

    # --- start -----------------------------------------------------------------------------
    def _spawn(self, child: Child) -> Child:
        self.children.append(child.start())
        self._write(self.run_path, self._process_doc())
        return child

    def _process_doc(self) -> dict[str, Any]:
        procs = []
        if self.pg is not None and self.pg.proc is not None:
            procs.append({"name": "postgres", "pid": self.pg.proc.pid, "argv": self.pg.argv,
                          "user": getattr(self.pg, "_user", None),  # PostgreSQL refuses to run as root
                          "log": str(self.pg.log_file)})
        procs += [c.record() for c in self.children]
        return {"supervisor": {"pid": os.getpid(), "argv": self._own_cmdline()}, "processes": procs}

    @staticmethod
    def _own_cmdline() -> list[str]:
        import psutil

        return psutil.Process().cmdline()

    @staticmethod
    def _write(path: Path, doc: dict[str, Any]) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    async def start(self) -> dict[str, Any]:
        """Start everything, wait for health, create the central stream, write stack.json."""
        self.logs.mkdir(parents=True, exist_ok=True)
        secrets = load_secrets(self.state_dir / "secrets.json", [s.id for s in self.sites])
        if self.external_db is None:
            self.pg = start_postgres(self.state_dir, self.ports.pick(15432))
            self._write(self.run_path, self._process_doc())
        await self._start_nats(secrets)
        if self.with_services:
            await self._start_services(secrets)
        await self._ensure_central_stream()
        if self.with_services and central_available():
            await self._start_central(secrets)
        doc = self.stack_doc()
        self._write(self.stack_path, doc)
        return doc

    async def _start_nats(self, secrets: dict[str, Any]) -> None:
        conf_dir = self.state_dir / "nats"
        conf_dir.mkdir(parents=True, exist_ok=True)
        leaves = [natsconf.SiteLeaf(s.id, secrets["sites"][s.id]["leaf_password"],
                                    self.ports.pick(14301 + s.index) if self.with_leaves else 0,
                                    conf_dir / s.id, secrets["sites"][s.id]["local_password"])
                  for s in self.sites]
        if self.external_nats:
            self.central_url = self.external_nats
            leaf_url = self.central_leaf_url or ""
        else:
            pw = secrets["central"]["hallnet_password"]
            central = natsconf.Central(self.ports.pick(14222), self.ports.pick(17422), conf_dir / "central", pw,
                                       leaves)
            path = conf_dir / "central.conf"
            path.write_text(natsconf.render_central(central))
            child = self._spawn(nats_child("nats-central", path, self.logs / "nats-central.log",
                                           central.client_port, tier=1))
            await wait_port(child, central.client_port)
            self.central_url = f"nats://{natsconf.LOCAL_USER}:{pw}@127.0.0.1:{central.client_port}"
            leaf_url = f"nats-leaf://127.0.0.1:{central.leaf_port}"
        for site, leaf in zip(self.sites, leaves, strict=True):
            if not self.with_leaves:
                site.nats_url = self.central_url
                continue
            path = conf_dir / f"{site.id}.conf"
            path.write_text(natsconf.render_leaf(leaf, leaf_url.replace("{site}", site.id)))
            child = self._spawn(nats_child(f"nats-{site.id}", path, self.logs / f"nats-{site.id}.log",
                                           leaf.client_port, tier=2))
            await wait_port(child, leaf.client_port)
            site.nats_url = f"nats://127.0.0.1:{leaf.client_port}"

    async def _start_services(self, secrets: dict[str, Any]) -> None:
        started: list[Child] = []
        for site in self.sites:
            specs = available_services()
            ports = {spec.name: self.ports.pick(8101 + 10 * site.index + spec.port_offset) for spec in specs}
            urls = {name: f"http://127.0.0.1:{p}" for name, p in ports.items()}
            for spec in specs:
                port = ports[spec.name]
                db = database_url(self.external_db, self.pg.port if self.pg else None,
                                  f"{site.id.replace('-', '_')}_{spec.name}")
                env = service_env(site=site.id, site_name=site.name, service=spec.name, nats_url=site.nats_url,
                                  db_url=db, port=port, token_secret=secrets["sites"][site.id]["token_secret"],
                                  seed_file=site.config, data_key=secrets["sites"][site.id].get("data_key", ""),
                                  notify_key=secrets["sites"][site.id].get("notify_key", ""))
                if spec.name == "matters" and not self.with_leaves:  # central's DOWN is on the site's own server
                    env["HALLNET_MATTERS_DOWNLINK_API"] = ""
                if spec.name == "gateway":  # proxies the site's other services, started before it in this loop
                    env["HALLNET_UPSTREAMS"] = json.dumps(site.services)
                if spec.name == "notify":  # asks the queue who is next; texts links to the site's public entry
                    if "queue" in urls:
                        env["HALLNET_QUEUE_URL"] = urls["queue"]
                    if "gateway" in urls:
                        env["HALLNET_PUBLIC_URL"] = urls["gateway"]
                child = Child(f"{site.id}-{spec.name}", [sys.executable, "-m", service_module(spec.name)],
                              self.logs / f"{site.id}-{spec.name}.log", env=env, tier=3, port=port,
                              health_url=f"http://127.0.0.1:{port}/{spec.name}/api/v1/health")
                started.append(self._spawn(child))
                site.services[spec.name] = f"http://127.0.0.1:{port}"
            accounts = demo_accounts(json.loads(site.config.read_text(encoding="utf-8")))
            site.staff, site.managers, site.backoffice = accounts["staff"], accounts["managers"], accounts["backoffice"]
        await asyncio.gather(*(wait_healthy(c) for c in started))

    async def _ensure_central_stream(self) -> None:
        import nats

        nc = await nats.connect(self.central_url, connect_timeout=5, max_reconnect_attempts=3)
        try:
            sites = [s.id for s in self.sites]
            await natsconf.ensure_central_stream(nc.jetstream(), sites,
                                                 local_sites=[] if self.with_leaves else sites)
        finally:
            await nc.close()

    async def _start_central(self, secrets: dict[str, Any]) -> None:
        """The supervision service (监管中心) on central's NATS, with its own database."""
        from shared.auth import hash_password

        gateway_port, port = self.ports.pick(8200), self.ports.pick(8201)
        db = database_url(self.external_db, self.pg.port if self.pg else None, "central")
        sites = []
        for site in self.sites:
            config = json.loads(site.config.read_text(encoding="utf-8"))
            hours = (config.get("office_hours") or {}).get("sessions")
            sites.append({"id": site.id, "name": site.name, "scale": config.get("rating_scale", "national5"),
                          **({"office_hours": hours} if hours else {})})
        c = secrets["central"]
        env = {
            "HALLNET_SITE": "central", "HALLNET_SITE_NAME": "监管中心", "HALLNET_SERVICE": "central",
            "NATS_URL": self.central_url, "DATABASE_URL": db,
            "HALLNET_HTTP_HOST": "127.0.0.1", "HALLNET_HTTP_PORT": str(port),
            "HALLNET_TOKEN_SECRET": c["token_secret"], "HALLNET_LOG_FORMAT": "json",
            "HALLNET_CENTRAL_SITES": json.dumps(sites, ensure_ascii=False),
            "HALLNET_CENTRAL_SUPERVISORS": json.dumps({c["supervisor_user"]: hash_password(c["supervisor_password"])}),
        }
        child = Child("central", [sys.executable, "-m", "services.central"], self.logs / "central.log", env=env,
                      tier=3, port=port, health_url=f"http://127.0.0.1:{port}/central/api/v1/health")
        self._spawn(child)
        self.central_service = f"http://127.0.0.1:{port}"
        # the wall (监管大屏) is served by a gateway in front of central, so that it talks to its own origin
        gw_env = {"HALLNET_SITE": "central", "HALLNET_SITE_NAME": "监管中心", "HALLNET_SERVICE": "gateway",
                  "HALLNET_HTTP_HOST": "127.0.0.1", "HALLNET_HTTP_PORT": str(gateway_port),
                  "HALLNET_LOG_FORMAT": "json", "HALLNET_UPSTREAMS": json.dumps({"central": self.central_service})}
        gateway = Child("central-gateway", [sys.executable, "-m", "services.gateway"],
                        self.logs / "central-gateway.log", env=gw_env, tier=3, port=gateway_port,
                        health_url=f"http://127.0.0.1:{gateway_port}/gateway/api/v1/health")
        self._spawn(gateway)
        await asyncio.gather(wait_healthy(child), wait_healthy(gateway))
        self.central_gateway = f"http://127.0.0.1:{gateway_port}"
        self.supervisors = [{"user": c["supervisor_user"], "password": c["supervisor_password"]}]

    def stack_doc(self) -> dict[str, Any]:
        central_entry = f"{self.central_gateway}/wall" if self.central_gateway else None
        return {
            "central": {"entry": central_entry,
                        "services": {"central": self.central_service} if self.central_service else {},
                        "supervisors": self.supervisors, "nats_url": self.central_url,
                        "stream": natsconf.CENTRAL_STREAM,
                        "js_domain": None if self.external_nats else natsconf.CENTRAL_DOMAIN},
            "sites": [{"id": s.id, "name": s.name, "nats_url": s.nats_url,
                       "entry": (f"{s.services['gateway']}/" if "gateway" in s.services
                                 else f"{s.services['queue']}/" if "queue" in s.services else None),
                       "services": s.services, "staff": s.staff, "managers": s.managers,
                       "backoffice": s.backoffice,
                       "config": str(s.config)} for s in self.sites],
            **self._process_doc(),
            "state_dir": str(self.state_dir),
        }

    # --- run, stop -------------------------------------------------------------------------
    async def supervise(self, stop: asyncio.Event, *, poll_s: float = 1.0) -> None:
        """Until ``stop`` is set: report a child that dies, restart it once, refresh stack.json."""
        pg_reported = False
        while not stop.is_set():
            for child in self.children:
                if child.stopping or child.alive():
                    continue
                code = child.proc.returncode if child.proc else None
                if child.restarts >= 1:
                    print(f"!! {child.name} exited again (code {code}); not restarting. Log: {child.log}", flush=True)
                    child.stopping = True
                    continue
                print(f"!! {child.name} exited unexpectedly (code {code}); restarting it once. "
                      f"Log: {child.log}", flush=True)
                child.restarts += 1
                child.start()
                self._write(self.run_path, self._process_doc())
                if self.stack_path.exists():
                    self._write(self.stack_path, self.stack_doc())
            if self.pg and self.pg.proc and self.pg.proc.poll() is not None and not pg_reported:
                print(f"!! postgres exited (code {self.pg.proc.returncode}); see {self.pg.log_file}", flush=True)
                pg_reported = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Services first, then leaf NATS, central NATS and PostgreSQL."""
        await stop_children(self.children, timeout_s)
        if self.pg is not None:
            self.pg.stop()
        for path in (self.stack_path, self.run_path):
            path.unlink(missing_ok=True)
