"""A federation's NATS on one machine for reliability tests and benchmarks: a central server and N site leaf
servers from the generated configs (``hallnet.natsconf``), each leaf connected to central through a
``WanLink`` — a real TCP relay that can be cut and restored, standing in for a site's WAN line.

Cutting a link closes the leaf connection's sockets and refuses new ones (the leaf keeps retrying, as over a
dead line); the site's own server, stream and services carry on. Central can be stopped and started again on
the same store. Nothing here is a mock: every byte goes through real nats-server processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from hallnet import natsconf
from hallnet.embedded import NatsServer, free_port


class WanLink:
    """A TCP relay ``127.0.0.1:port`` → ``target_port`` that can be cut (all connections dropped, new ones
    refused) and restored."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def up(self) -> bool:
        return self._server is not None

    async def start(self) -> WanLink:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()
            self._writers.discard(dst)

    async def cut(self) -> None:
        """Drop every connection through the link and refuse new ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def restore(self) -> None:
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.cut()


@dataclass
class Testbed:
    """Central + site leaves, each leaf behind its own ``WanLink``."""

    __test__ = False  # not a pytest class, despite the name

    root: Path
    sites: list[str]
    central: NatsServer | None = None
    central_conf: natsconf.Central | None = None
    leaves: dict[str, NatsServer] = field(default_factory=dict)
    links: dict[str, WanLink] = field(default_factory=dict)

    @property
    def central_url(self) -> str:
        assert self.central_conf is not None
        c = self.central_conf
        return f"nats://{natsconf.LOCAL_USER}:{c.local_password}@127.0.0.1:{c.client_port}"

    def site_url(self, site: str) -> str:
        return self.leaves[site].url

    async def start(self) -> Testbed:
        self.root.mkdir(parents=True, exist_ok=True)
        leaf_confs = [natsconf.SiteLeaf(s, natsconf.new_password(), free_port(), self.root / f"js-{s}",
                                        natsconf.new_password()) for s in self.sites]
        self.central_conf = natsconf.Central(free_port(), free_port(), self.root / "js-central",
                                             natsconf.new_password(), leaf_confs)
        path = self.root / "central.conf"
        path.write_text(natsconf.render_central(self.central_conf))
        self.central = NatsServer(port=self.central_conf.client_port, config=path,
                                  log_file=self.root / "central.log")
        await asyncio.to_thread(self.central.start)
        for leaf in leaf_confs:
            link = await WanLink(self.central_conf.leaf_port).start()
            self.links[leaf.site] = link
            path = self.root / f"{leaf.site}.conf"
            path.write_text(natsconf.render_leaf(leaf, f"nats-leaf://127.0.0.1:{link.port}"))
            server = NatsServer(port=leaf.client_port, config=path, log_file=self.root / f"{leaf.site}.log")
            self.leaves[leaf.site] = server
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in self.leaves.values()))
        return self

    async def restart_central(self, down_s: float = 0.0) -> None:
        """Stop the central server (SIGTERM, like an operator's restart) and start it on the same store."""
        assert self.central is not None
        await asyncio.to_thread(self.central.stop)
        if down_s:
            await asyncio.sleep(down_s)
        await asyncio.to_thread(self.central.start)

    async def stop(self) -> None:
        for link in self.links.values():
            await link.close()
        for server in [*self.leaves.values(), *([self.central] if self.central else [])]:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(server.stop)
