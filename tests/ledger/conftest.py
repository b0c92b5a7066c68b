"""Ledger fixtures: a fresh SQLite file or a throwaway PostgreSQL schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from tiergate.ledger import RequestRecord, Store, open_store

PG_URL = os.environ.get(
    "TIERGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A ledger URL for a unique PostgreSQL schema, dropped after the test."""
    try:
        conn = await asyncpg.connect(PG_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("TIERGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL at {PG_URL} unreachable: {exc}")
        pytest.skip(f"start PostgreSQL: {PG_URL} unreachable ({exc})")
    schema = f"tg_ledger_test_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A ledger URL for a new SQLite file."""
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
async def store(ledger_url: str) -> AsyncIterator[Store]:
    """An opened store on ``ledger_url``."""
    opened = open_store(ledger_url)
    await opened.open()
    yield opened
    await opened.close()


def make_record(index: int, **overrides: object) -> RequestRecord:
    """A fully populated record whose values depend on ``index``."""
    fields: dict[str, object] = {
        "request_id": f"req-{index:06d}",
        "received_at": 1_700_000_000.0 + index,
        "done_at": 1_700_000_000.5 + index,
        "status": 200,
        "first_byte_at": 1_700_000_000.1 + index,
        "key_id": "team-a",
        "tier": "default",
        "reason": "CJK 92% -> glm-5; 中文",
        "model": "deepseek-v4-flash",
        "provider": "deepseek",
        "deployment": "deepseek-us-east",
        "region": "us-east",
        "attempts": 1,
        "stream": index % 2 == 0,
        "error_type": None,
        "input_tokens": 100 + index,
        "output_tokens": 200 + index,
        "tokens_estimated": index % 3 == 0,
        "reasoning_tokens": None,
        "cached_tokens": 10,
        "cost_usd": (200 + index) * 0.25 / 1e6,
        "latency_ms": 500.0,
        "ttft_ms": 100.0,
        "simulated": True,
        "tried": ["deepseek-us-east"],
    }
    fields.update(overrides)
    return RequestRecord(**fields)  # type: ignore[arg-type]


RecordFactory = Callable[..., RequestRecord]
