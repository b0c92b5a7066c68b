"""The SQLite ledger: one file, written through aiosqlite's worker thread.

WAL journal mode lets ``tiergate report`` read the file while a gateway writes it.
Migrations run under ``BEGIN IMMEDIATE`` so two processes opening the same new file
do not both create the table.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence

import aiosqlite

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
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) ON CONFLICT (request_id) DO NOTHING"
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"


class SQLiteStore:
    """A ledger in the SQLite file at ``path`` (``:memory:`` for a throwaway one)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if self._db is not None:
            return
        # isolation_level=None: transactions are explicit below, never implicit.
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA busy_timeout=5000")
            await self.migrate()
        except sqlite3.Error as error:
            # Close the connection's thread too, or the process could not exit.
            await self.close()
            raise LedgerOpenError(
                f"cannot open the SQLite ledger {self.path!r}: {error} "
                "(ledger.url / --db must name a SQLite file tiergate writes)"
            ) from error

    async def migrate(self) -> int:
        db = self._conn()
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute(
                f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            async with db.execute(f"SELECT version FROM {VERSION_TABLE}") as cursor:
                applied: set[int] = {row[0] for row in await cursor.fetchall()}
            for migration in pending("sqlite", applied):
                for statement in migration.statements:
                    await db.execute(statement)
                await db.execute(
                    f"INSERT INTO {VERSION_TABLE} VALUES (?, ?)",
                    (migration.version, time.time()),
                )
                applied.add(migration.version)
                logger.info("ledger schema at version %d", migration.version)
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return max(applied)

    async def write(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        db = self._conn()
        await db.execute("BEGIN")
        try:
            await db.executemany(_INSERT, [to_row(record) for record in records])
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise

    async def fetch(
        self, since: float | None = None, until: float | None = None
    ) -> list[RequestRecord]:
        query, params = _range_query(since, until)
        async with self._conn().execute(query, params) as cursor:
            rows = await cursor.fetchall()
        return [from_row(row) for row in rows]

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("SQLiteStore used before open() or after close()")
        return self._db


def _range_query(since: float | None, until: float | None) -> tuple[str, list[float]]:
    clauses, params = [], []
    if since is not None:
        clauses.append("received_at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("received_at < ?")
        params.append(until)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"{_SELECT}{where} ORDER BY received_at, request_id", params
