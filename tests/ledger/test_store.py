"""Ledger stores: rows round-trip, filtering, idempotent writes and migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tiergate.ledger import LedgerURLError, RequestRecord, Store, open_store
from tiergate.ledger.postgres import PostgresStore
from tiergate.ledger.schema import LATEST_VERSION, MIGRATIONS
from tiergate.ledger.sqlite import SQLiteStore

from .conftest import make_record


async def test_every_field_round_trips(store: Store) -> None:
    """A record with every field set, and one with most unset, read back equal."""
    full = make_record(
        1,
        reasoning_tokens=40,
        error_type=None,
        tried=["moonshot-apac", "siliconflow-apac"],
    )
    sparse = RequestRecord(
        request_id="req-sparse",
        received_at=1_700_000_100.25,
        done_at=1_700_000_100.75,
        status=503,
        error_type="all_deployments_failed",
        latency_ms=12.5,
    )

    await store.write([full, sparse])

    assert await store.fetch() == [full, sparse]


async def test_unknown_cost_stays_null(store: Store) -> None:
    """A record with cost None is read back as None, not 0."""
    await store.write([make_record(1, model="glm-4.6v", cost_usd=None)])

    (row,) = await store.fetch()

    assert row.cost_usd is None
    assert row.output_tokens == 201


async def test_fetch_filters_by_received_time(store: Store) -> None:
    """fetch(since, until) returns the half-open window, oldest first."""
    records = [make_record(i) for i in (3, 1, 2, 0)]
    await store.write(records)

    window = await store.fetch(since=1_700_000_001.0, until=1_700_000_003.0)

    assert [r.request_id for r in window] == ["req-000001", "req-000002"]
    assert len(await store.fetch(since=1_700_000_002.5)) == 1


async def test_a_request_id_already_written_is_skipped(store: Store) -> None:
    """Writing the same batch twice (a retried batch) keeps one row per request."""
    batch = [make_record(i) for i in range(5)]

    await store.write(batch)
    await store.write([*batch, make_record(5)])

    assert [r.request_id for r in await store.fetch()] == [
        f"req-{i:06d}" for i in range(6)
    ]


async def test_migrations_are_idempotent(ledger_url: str) -> None:
    """Opening a ledger twice and migrating again applies nothing new."""
    first = open_store(ledger_url)
    await first.open()
    await first.write([make_record(1)])
    second = open_store(ledger_url)
    await second.open()

    assert await first.migrate() == LATEST_VERSION
    assert await second.migrate() == LATEST_VERSION
    assert len(await second.fetch()) == 1
    await first.close()
    await second.close()


def test_dialects_have_the_same_migration_versions() -> None:
    """SQLite and PostgreSQL migrations carry the same ordered version numbers."""
    versions = {
        dialect: [m.version for m in migrations]
        for dialect, migrations in MIGRATIONS.items()
    }

    assert versions["sqlite"] == versions["postgresql"]
    assert versions["sqlite"] == sorted(versions["sqlite"])


async def test_sqlite_schema_version_table_lists_each_migration(
    sqlite_url: str,
) -> None:
    """After two opens, schema_version holds each version exactly once."""
    for _ in range(2):
        store = open_store(sqlite_url)
        await store.open()
        await store.close()

    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version FROM tiergate_schema_version").fetchall()

    assert sorted(v for (v,) in rows) == [m.version for m in MIGRATIONS["sqlite"]]


def test_open_store_picks_the_store_from_the_url(tmp_path: Path) -> None:
    """sqlite URLs and paths give SQLite, postgresql URLs PostgreSQL, others fail."""
    plain = open_store(str(tmp_path / "a.db"))
    url = open_store(f"sqlite:///{tmp_path}/b.db")
    pg = open_store("postgresql://u@h:5432/db?schema=ledger_x&sslmode=disable")

    assert isinstance(plain, SQLiteStore) and plain.path == str(tmp_path / "a.db")
    assert isinstance(url, SQLiteStore) and url.path == f"{tmp_path}/b.db"
    assert isinstance(pg, PostgresStore)
    assert pg.schema == "ledger_x"
    assert pg.dsn == "postgresql://u@h:5432/db?sslmode=disable"
    with pytest.raises(LedgerURLError, match="ledger URL"):
        open_store("mysql://u@h/db")
    with pytest.raises(ValueError, match="ledger schema"):
        open_store("postgresql://u@h/db?schema=bad;name")
