"""The PostgreSQL ledger, shared by every gateway replica, through an asyncpg pool.

Migrations take a transaction-scoped advisory lock, so replicas starting together
against an empty database apply each migration exactly once. With ``schema`` set,
the tables live in that schema (created if missing), which lets several ledgers, or
test runs, share one database.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence

import asyncpg

from tiergate.ledger.record import RequestRecord
from tiergate.ledger.schema import (
    COLUMNS,
    TABLE,
    VERSION_TABLE,
    from_row,
    pending,
    to_row,
)
from tiergate.ledger.store import LedgerOpenError

logger = logging.getLogger(__name__)

_INSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) "
    "ON CONFLICT (request_id) DO NOTHING"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"
# Any constant works as long as every tiergate process uses the same one.
_MIGRATION_LOCK = 0x7469_6572_6761_7465  # "tiergate" in ASCII


class PostgresStore:
    """A ledger in the PostgreSQL database at ``dsn`` (an asyncpg DSN)."""

    def __init__(self, dsn: str, schema: str | None = None, pool_size: int = 4) -> None:
        if schema is not None and not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"ledger schema {schema!r}: use letters, digits and _")
        self.dsn = dsn
        self.schema = schema
        self.url = dsn if schema is None else f"{dsn} (schema {schema})"
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        settings = {"search_path": f'"{self.schema}"'} if self.schema else None
        try:
            if self.schema is not None:
                await self._create_schema()
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=1, max_size=self._pool_size, server_settings=settings
            )
            await self.migrate()
        except (OSError, asyncpg.PostgresError) as error:
            await self.close()
            raise LedgerOpenError(
                f"cannot open the PostgreSQL ledger: {error} (check ledger.url / --db)"
            ) from error

    async def migrate(self) -> int:
        async with self._conn().acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
                "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            rows = await conn.fetch(f"SELECT version FROM {VERSION_TABLE}")
            applied: set[int] = {row["version"] for row in rows}
            for migration in pending("postgresql", applied):
                for statement in migration.statements:
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {VERSION_TABLE} VALUES ($1, $2)",
                    migration.version,
                    time.time(),
                )
                applied.add(migration.version)
                logger.info("ledger schema at version %d", migration.version)
        return max(applied)

    async def write(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        async with self._conn().acquire() as conn, conn.transaction():
            await conn.executemany(_INSERT, [to_row(record) for record in records])

    async def fetch(
        self, since: float | None = None, until: float | None = None
    ) -> list[RequestRecord]:
        clauses, params = [], []
        if since is not None:
            params.append(since)
            clauses.append(f"received_at >= ${len(params)}")
        if until is not None:
            params.append(until)
            clauses.append(f"received_at < ${len(params)}")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"{_SELECT}{where} ORDER BY received_at, request_id"
        async with self._conn().acquire() as conn:
            rows = await conn.fetch(query, *params)
        return [from_row(tuple(row)) for row in rows]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _create_schema(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        finally:
            await conn.close()

    def _conn(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresStore used before open() or after close()")
        return self._pool
