"""The seam between the ledger writer and a database: the ``Store`` protocol.

Two real implementations: :class:`~tiergate.ledger.sqlite.SQLiteStore` (the
default; one file, for a single gateway process) and
:class:`~tiergate.ledger.postgres.PostgresStore` (shared by several replicas).
:func:`open_store` picks one from a URL. Both apply the migrations of
:mod:`tiergate.ledger.schema` on :meth:`Store.open`, so pointing a gateway at an
empty database is enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

from tiergate.ledger.record import RequestRecord

DEFAULT_LEDGER_URL = "sqlite:///tiergate-ledger.sqlite3"


class Store(Protocol):
    """Where ledger rows live. Every method may raise the driver's own errors."""

    url: str

    async def open(self) -> None:
        """Connect and bring the schema to the latest version."""

    async def migrate(self) -> int:
        """Apply pending migrations (idempotent); the schema version afterwards."""

    async def write(self, records: Sequence[RequestRecord]) -> None:
        """Insert ``records`` in one transaction; a request id already present is
        skipped, so a batch retried after an unclear failure is not doubled."""

    async def fetch(
        self, since: float | None = None, until: float | None = None
    ) -> list[RequestRecord]:
        """Records received in ``[since, until)`` (epoch seconds), oldest first."""

    async def close(self) -> None:
        """Release the connection(s); safe to call twice."""


class LedgerURLError(ValueError):
    """A ledger URL names no store tiergate knows (``ledger`` in the config)."""


class LedgerOpenError(RuntimeError):
    """The ledger store exists in the config but cannot be opened: the file is not a
    SQLite database, the server does not answer, or the credentials are refused."""


def open_store(url: str) -> Store:
    """A store for ``url``, not yet opened (call ``await store.open()``).

    ``postgresql://`` / ``postgres://`` URLs give a PostgreSQL store; an optional
    ``schema=NAME`` query parameter puts the tables in that schema (created when
    missing). ``sqlite:///path``, ``sqlite:///:memory:`` or a plain file path give a
    SQLite store. Anything else raises :class:`LedgerURLError`.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        from tiergate.ledger.postgres import PostgresStore

        dsn, schema = _split_schema(url)
        return PostgresStore(dsn, schema=schema)
    if scheme == "sqlite":
        from tiergate.ledger.sqlite import SQLiteStore

        return SQLiteStore(url.split("://", 1)[1].removeprefix("/") or ":memory:")
    if scheme == "" or len(scheme) == 1:  # a path, or a Windows drive letter
        from tiergate.ledger.sqlite import SQLiteStore

        return SQLiteStore(str(Path(url)))
    raise LedgerURLError(
        f"ledger URL {url!r}: use a file path, sqlite:///PATH or postgresql://..."
    )


def _split_schema(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schemas = query.pop("schema", None)
    rest = "&".join(
        f"{key}={value}" for key, values in query.items() for value in values
    )
    return urlunsplit(parts._replace(query=rest)), schemas[-1] if schemas else None
