"""The queue service's use cases, wired once on a started runtime's pool: tickets (``tickets.py``), window sessions
(``windows.py``), call-next (``calling.py``), the hall manager's (``manager.py``) and the back office's
(``backoffice.py``), all sharing one
``QueueContext`` (the pool, the stores, the clock, the cached policy, the outbox)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.queue.backoffice import BackOfficeCases
from services.queue.calling import Calling
from services.queue.context import QueueContext
from services.queue.manager import ManagerCases
from services.queue.store import QueueStore
from services.queue.tickets import TicketCases
from services.queue.windows import WindowCases
from shared.settings import Settings


class QueueApp:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, *, clock: Callable[[], datetime] | None = None,
                 store: QueueStore | None = None) -> None:
        self.ctx = QueueContext(pool, settings, clock=clock, store=store)
        self.pool = pool
        self.settings = settings
        self.tickets = TicketCases(self.ctx)
        self.windows = WindowCases(self.ctx)
        self.calling = Calling(self.ctx)
        self.manager = ManagerCases(self.ctx)
        self.backoffice = BackOfficeCases(self.ctx)
