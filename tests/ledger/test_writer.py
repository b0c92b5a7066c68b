"""The ledger writer: batching, flush on close and SIGTERM, queue-full drops."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tiergate.ledger import LedgerWriter, open_store

from .conftest import make_record


async def _read_all(url: str) -> list[str]:
    store = open_store(url)
    await store.open()
    try:
        return [r.request_id for r in await store.fetch()]
    finally:
        await store.close()


async def test_batches_reach_the_store_in_order(ledger_url: str) -> None:
    """95 records in batches of 10 are all written, in order, after flush()."""
    writer = LedgerWriter(open_store(ledger_url), batch_size=10, flush_interval_s=0.05)
    await writer.start()

    for i in range(95):
        writer.record(make_record(i))
    await writer.flush()

    assert writer.written == 95 and writer.queued == 0
    assert await _read_all(ledger_url) == [f"req-{i:06d}" for i in range(95)]
    await writer.close()


async def test_close_writes_everything_still_queued(ledger_url: str) -> None:
    """close() writes records that neither the batch size nor the timer flushed."""
    writer = LedgerWriter(
        open_store(ledger_url), batch_size=5000, flush_interval_s=60.0
    )
    await writer.start()
    for i in range(1234):
        writer.record(make_record(i))

    await writer.close()

    assert writer.written == 1234 and writer.dropped == 0
    assert len(await _read_all(ledger_url)) == 1234


async def test_record_returns_at_once_while_the_store_writes(sqlite_url: str) -> None:
    """record() only queues: right after 500 calls nothing has been written yet."""
    async with LedgerWriter(open_store(sqlite_url), batch_size=100) as writer:
        accepted = [writer.record(make_record(i)) for i in range(500)]

        assert all(accepted)
        assert writer.written == 0 and writer.queued == 500
    assert writer.written == 500


async def test_full_queue_drops_the_newest_and_counts(sqlite_url: str) -> None:
    """With queue_max=5, records 6..8 are refused and counted; the first 5 land."""
    writer = LedgerWriter(open_store(sqlite_url), queue_max=5)

    results = [writer.record(make_record(i)) for i in range(8)]
    await writer.start()
    await writer.close()

    assert results == [True] * 5 + [False] * 3
    assert writer.dropped == 3
    assert await _read_all(sqlite_url) == [f"req-{i:06d}" for i in range(5)]


async def test_records_after_close_are_dropped_and_counted(sqlite_url: str) -> None:
    """A record arriving after close() is refused and counted, not silently lost."""
    writer = LedgerWriter(open_store(sqlite_url))
    await writer.start()
    await writer.close()

    assert writer.record(make_record(1)) is False
    assert writer.dropped == 1


async def test_failed_writes_are_retried_until_the_store_recovers(
    sqlite_url: str,
) -> None:
    """While the table is missing, batches fail and stay queued; then all land."""
    path = sqlite_url.removeprefix("sqlite:///")
    writer = LedgerWriter(open_store(sqlite_url), batch_size=10, flush_interval_s=0.02)
    await writer.start()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE tiergate_requests RENAME TO parked")

    for i in range(25):
        writer.record(make_record(i))
    async with asyncio.timeout(10):
        while writer.failed_batches == 0:
            await asyncio.sleep(0.02)
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE parked RENAME TO tiergate_requests")
    await writer.close()

    assert writer.written == 25 and writer.lost == 0
    assert len(await _read_all(sqlite_url)) == 25


_LOAD_SCRIPT = textwrap.dedent(
    """
    import asyncio, signal, sys
    from tiergate.ledger import LedgerWriter, RequestRecord, open_store

    async def main(url):
        writer = LedgerWriter(open_store(url), batch_size=50, flush_interval_s=0.05)
        await writer.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        accepted = 0
        while not stop.is_set():
            for _ in range(20):
                rec = RequestRecord(f"r{accepted}", 1.0 + accepted, 2.0, 200)
                accepted += writer.record(rec)
            await asyncio.sleep(0)
        await writer.close()
        print(accepted, writer.written, writer.dropped, flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


def test_sigterm_under_load_loses_no_accepted_record(tmp_path: Path) -> None:
    """A process recording continuously, stopped by SIGTERM, writes every record."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOAD_SCRIPT, url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"

    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    accepted, written, _dropped = map(int, out.split())

    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM tiergate_requests").fetchone()
    assert proc.returncode == 0
    assert accepted > 1000
    assert rows == written == accepted
