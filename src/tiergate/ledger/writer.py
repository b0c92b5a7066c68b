"""Batched, off-the-request-path ledger writes.

The gateway calls :meth:`LedgerWriter.record` once per request; it appends to an
in-memory queue and returns at once. A background task writes the queue to the
store in batches of ``batch_size``, or whatever is queued every
``flush_interval_s``, so a request never waits on the database.

When the queue is full (``queue_max`` records waiting, i.e. the store is down or
slower than the traffic for a while), the **newest record is dropped**: the request
path must neither block nor grow memory without bound, and the records already
queued are as valuable as the new one, so nothing is evicted to make room. Each drop
adds to :attr:`LedgerWriter.dropped` (exported as a metric by
:meth:`tiergate.metrics.Metrics.watch_ledger`) and is logged at warning at most once
per ``drop_log_interval_s`` with the count since the last line.

A failed batch write is retried with backoff and stays out of the queue meanwhile,
so retries never reorder or lose rows while the gateway runs. :meth:`close` writes
everything still queued; only if the store keeps failing through
``close_retries`` attempts are the remaining rows given up, counted in
:attr:`LedgerWriter.lost` and logged at error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from types import TracebackType

from tiergate.ledger.record import RequestRecord
from tiergate.ledger.store import Store

logger = logging.getLogger(__name__)

_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 5.0


class LedgerWriter:
    """Queues request records and writes them to ``store`` in the background.

    Use ``await start()`` (opens the store, starts the task), ``record(rec)`` per
    request, ``await close()`` at shutdown (flushes, then closes the store). The
    writer owns the store from ``start()`` on. Single event loop only: ``record``
    is not thread-safe.
    """

    def __init__(
        self,
        store: Store,
        batch_size: int = 200,
        flush_interval_s: float = 0.2,
        queue_max: int = 50_000,
        *,
        drop_log_interval_s: float = 10.0,
        close_retries: int = 3,
    ) -> None:
        if batch_size < 1 or queue_max < 1:
            raise ValueError("ledger batch_size and queue_max must be at least 1")
        self.store = store
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.queue_max = queue_max
        self.drop_log_interval_s = drop_log_interval_s
        self.close_retries = close_retries

        self.written = 0
        self.dropped = 0
        self.lost = 0
        self.failed_batches = 0

        self._queue: deque[RequestRecord] = deque()
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._drops_unlogged = 0
        self._last_drop_log = float("-inf")

    @property
    def queued(self) -> int:
        """Records accepted and not yet written (including a batch being written)."""
        return len(self._queue) + self._in_flight

    def record(self, record: RequestRecord) -> bool:
        """Queue ``record`` for writing; False when it was dropped (queue full or
        writer closed). O(1), never blocks, never raises."""
        if self._closed or len(self._queue) >= self.queue_max:
            self._drop()
            return False

        self._queue.append(record)
        self._empty.clear()
        if len(self._queue) >= self.batch_size:
            self._wake.set()
        return True

    async def start(self) -> None:
        """Open the store (applying migrations) and start the background writer."""
        if self._task is not None:
            return
        await self.store.open()
        self._task = asyncio.create_task(self._run(), name="tiergate-ledger-writer")
        self._task.add_done_callback(_log_crash)

    async def flush(self) -> None:
        """Wait until everything recorded so far is written (or given up)."""
        if self._task is None or self._task.done():
            raise RuntimeError("LedgerWriter.flush() needs a started, open writer")
        self._wake.set()
        await self._empty.wait()

    async def close(self) -> None:
        """Write every queued record, stop the task and close the store.

        Records arriving while the final flush runs are still written; after
        ``close()`` returns, :meth:`record` drops and counts.
        """
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        else:
            await self.store.open()
        self._closed = True
        # Records that arrived between the task's last look and now.
        while self._queue:
            await self._write_next()
        await self.store.close()

    async def __aenter__(self) -> LedgerWriter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(self) -> None:
        while self._queue or not self._closing:
            if len(self._queue) < self.batch_size and not self._closing:
                await self._sleep()
            if self._queue:
                await self._write_next()
            if not self._queue:
                self._empty.set()

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
        self._wake.clear()

    async def _write_next(self) -> None:
        count = min(self.batch_size, len(self._queue))
        batch = [self._queue.popleft() for _ in range(count)]
        self._in_flight = count
        try:
            await self._write_with_retries(batch)
        finally:
            self._in_flight = 0

    async def _write_with_retries(self, batch: list[RequestRecord]) -> None:
        backoff = _FIRST_BACKOFF_S
        failures = 0
        while True:
            try:
                await self.store.write(batch)
            except Exception:
                failures += 1
                self.failed_batches += 1
                logger.warning(
                    "ledger write of %d records to %s failed (attempt %d)",
                    len(batch),
                    self.store.url,
                    failures,
                    exc_info=True,
                    extra={"ledger_batch": len(batch), "attempt": failures},
                )
                if self._closing and failures > self.close_retries:
                    self._give_up(batch)
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
            else:
                self.written += len(batch)
                return

    def _give_up(self, batch: list[RequestRecord]) -> None:
        self.lost += len(batch)
        logger.error(
            "ledger gave up %d records at shutdown: %s kept failing",
            len(batch),
            self.store.url,
            extra={"ledger_lost": len(batch)},
        )

    def _drop(self) -> None:
        self.dropped += 1
        self._drops_unlogged += 1
        now = time.monotonic()
        if now - self._last_drop_log < self.drop_log_interval_s:
            return
        logger.warning(
            "ledger queue full (%d records) or writer closed: dropped %d records "
            "since the last warning, %d in all",
            self.queue_max,
            self._drops_unlogged,
            self.dropped,
            extra={"ledger_dropped": self.dropped},
        )
        self._last_drop_log = now
        self._drops_unlogged = 0


def _log_crash(task: asyncio.Task[None]) -> None:
    # The loop only ends on close(); an exception here is a bug, and without this
    # line it would surface only as records piling up and being dropped.
    if not task.cancelled() and task.exception() is not None:
        logger.error("ledger writer stopped", exc_info=task.exception())
