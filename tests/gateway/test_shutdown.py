"""SIGTERM to a running ``tiergate serve``: every completed request is in the ledger."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

from openai import AsyncOpenAI

from tiergate.bench.process import gateway_process


async def test_sigterm_under_load_loses_no_completed_request(tmp_path: Path) -> None:
    """Requests answered before and during shutdown all land in the ledger."""
    ledger = tmp_path / "ledger.sqlite3"
    child, base_url = gateway_process(
        tmp_path / "gateway.log", sim=True, ledger=f"sqlite:///{ledger}"
    )
    completed: list[str] = []
    async with child:
        client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=30)

        async def caller(index: int) -> None:
            for turn in range(1000):
                try:
                    raw = await client.chat.completions.with_raw_response.create(
                        model="auto",
                        messages=[{"role": "user", "content": f"hi {index}-{turn}"}],
                        max_tokens=8,
                        stream=turn % 2 == 1,
                    )
                    if turn % 2 == 1:
                        async for _ in raw.parse():
                            pass
                    completed.append(raw.headers["x-request-id"])
                except Exception:
                    return  # the gateway went away: this caller is done

        callers = [asyncio.create_task(caller(i)) for i in range(12)]
        await asyncio.sleep(2.0)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*callers), timeout=30)
        await client.close()

    rows = sqlite3.connect(ledger).execute("SELECT request_id FROM tiergate_requests")
    written = {row[0] for row in rows}
    assert len(completed) > 20
    assert set(completed) <= written
