"""Live pages: one watcher of the store tells every open page that something changed.

The watcher reads two cheap stamps: the newest check-in event's id every ``poll_s`` (an
index lookup: the gates' feed and the on-site list) and the latest presence update every
``slow_every`` polls (the relay's receipts and validations: a count moves). It polls only
while a page listens, and works the same whether ingest runs in this process or another
(``sitegate-controller web`` beside ``run``). A page receives a server-sent event
``change`` and fetches its own fragment again: the server renders, the script only swaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from controller import schema
from controller.errors import StoreError
from controller.store import Store

log = logging.getLogger(__name__)

POLL_S = 0.2
SLOW_EVERY = 10  # presence states: every 2 s
KEEPALIVE_S = 15.0
MAX_LISTENERS = 200
RETRY_MS = 3000


class LiveHub:
    def __init__(self, store: Store, poll_s: float | None = None) -> None:
        self.store = store
        self.poll_s = poll_s or POLL_S
        self._listeners: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closing = False
        self.stamp: dict[str, object] = {}

    # --- lifecycle (the app's lifespan) -------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.closing = False
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        self._end_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def request_close(self) -> None:
        """From any thread: end every open stream, so that the server can stop at once."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._end_streams)

    def _end_streams(self) -> None:
        self.closing = True
        for queue in list(self._listeners):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait("")

    def poke(self) -> None:
        """From any thread: look now instead of at the next poll (e.g. after a commit)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # --- listeners ------------------------------------------------------------------------

    @property
    def full(self) -> bool:
        return len(self._listeners) >= MAX_LISTENERS

    async def stream(self) -> AsyncIterator[str]:
        """Server-sent events for one page until it goes away or the console stops."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=8)
        self._listeners.add(queue)
        if self._wake is not None:
            self._wake.set()
        try:
            yield f"retry: {RETRY_MS}\n\n"
            while not self.closing:
                try:
                    data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if not data:
                    return
                yield f"event: change\ndata: {data}\n\n"
        finally:
            self._listeners.discard(queue)

    # --- the watcher ------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        turn = 0
        while not self.closing:
            if self._listeners:
                try:
                    stamp = await run_in_threadpool(self._read, turn % SLOW_EVERY == 0)
                except StoreError as exc:
                    log.warning("live pages: the database did not answer (%s)", exc.code)
                    stamp = {}
                changed = {k: v for k, v in stamp.items() if self.stamp.get(k) != v}
                if changed and self.stamp:
                    self._tell(json.dumps(sorted(changed)))
                self.stamp.update(stamp)
                turn += 1
            else:
                self.stamp = {}
                turn = 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()

    def _read(self, slow: bool) -> dict[str, object]:
        with self.store.reading() as conn:
            stamp: dict[str, object] = {
                "checkins": conn.execute(select(func.max(schema.events.c.id))).scalar(),
                "quarantine": conn.execute(select(func.max(schema.quarantine.c.id))).scalar(),
            }
            if slow:
                latest = conn.execute(select(func.max(schema.presences.c.updated_at))).scalar()
                stamp["presences"] = str(latest)
                stamp["terminals"] = str(
                    conn.execute(select(func.max(schema.terminals.c.last_seen_at))).scalar()
                )
        return stamp

    def _tell(self, data: str) -> None:
        for queue in list(self._listeners):
            if queue.full():
                continue  # a slow page: it will refetch on the next change anyway
            queue.put_nowait(data)
