"""The ledger's table, its columns and the migrations that build it, per dialect.

One row per request in ``tiergate_requests``; ``tiergate_schema_version`` lists the
migrations applied. Migrations are an ordered list per dialect with the same version
numbers in both, so a SQLite ledger and a PostgreSQL ledger always have the same
shape. A new migration is appended to both lists, never edited in place: a deployed
ledger has already run the old text.

Times are Unix epoch seconds (``DOUBLE``) rather than timestamp types so that both
dialects compare and filter them the same way; ``tried`` holds a JSON array of the
deployments attempted, in order.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson

from tiergate.ledger.record import RequestRecord

TABLE = "tiergate_requests"
VERSION_TABLE = "tiergate_schema_version"

# The row layout is the record's own field order, so adding a field to the record
# means adding a column in a new migration and nothing else here.
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RequestRecord))
_FLOATS = frozenset(
    {"received_at", "done_at", "first_byte_at", "latency_ms", "ttft_ms"}
)
_FLOATS |= {"cost_usd"}
_BOOLS = frozenset({"stream", "tokens_estimated", "simulated"})


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its version and the statements that make it."""

    version: int
    statements: tuple[str, ...]


def _create_table(real: str, boolean: str, bigint: str) -> str:
    return f"""
CREATE TABLE {TABLE} (
    request_id TEXT PRIMARY KEY,
    received_at {real} NOT NULL,
    done_at {real} NOT NULL,
    status INTEGER NOT NULL,
    first_byte_at {real},
    key_id TEXT,
    tier TEXT,
    reason TEXT NOT NULL DEFAULT '',
    model TEXT,
    provider TEXT,
    deployment TEXT,
    region TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    stream {boolean} NOT NULL DEFAULT FALSE,
    error_type TEXT,
    input_tokens {bigint},
    output_tokens {bigint},
    tokens_estimated {boolean} NOT NULL DEFAULT FALSE,
    reasoning_tokens {bigint},
    cached_tokens {bigint},
    cost_usd {real},
    latency_ms {real} NOT NULL,
    ttft_ms {real},
    simulated {boolean} NOT NULL DEFAULT FALSE,
    tried TEXT NOT NULL DEFAULT '[]'
)"""


_INDEXES = (
    f"CREATE INDEX {TABLE}_received_at ON {TABLE} (received_at)",
    f"CREATE INDEX {TABLE}_model_region ON {TABLE} (model, region)",
)

MIGRATIONS: dict[str, tuple[Migration, ...]] = {
    "sqlite": (
        Migration(1, (_create_table("REAL", "INTEGER", "INTEGER"),)),
        Migration(2, _INDEXES),
    ),
    "postgresql": (
        Migration(1, (_create_table("DOUBLE PRECISION", "BOOLEAN", "BIGINT"),)),
        Migration(2, _INDEXES),
    ),
}

LATEST_VERSION = max(m.version for m in MIGRATIONS["sqlite"])


_GET_COLUMNS = operator.attrgetter(*COLUMNS)
_TRIED = COLUMNS.index("tried")
_FLOAT_INDEXES = tuple(i for i, name in enumerate(COLUMNS) if name in _FLOATS)
_BOOL_INDEXES = tuple(i for i, name in enumerate(COLUMNS) if name in _BOOLS)


def pending(dialect: str, applied: set[int]) -> list[Migration]:
    """The migrations of ``dialect`` not yet in ``applied``, oldest first."""
    return [m for m in MIGRATIONS[dialect] if m.version not in applied]


def to_row(record: RequestRecord) -> tuple[Any, ...]:
    """The record as a row in :data:`COLUMNS` order, typed for both drivers.

    Runs once per request on the writer's batches, so it reads every field with one
    C-level ``attrgetter`` and converts only the few columns that need it.
    """
    row = list(_GET_COLUMNS(record))
    row[_TRIED] = orjson.dumps(list(row[_TRIED])).decode()
    for index in _FLOAT_INDEXES:
        value = row[index]
        if value is not None and type(value) is not float:
            row[index] = float(value)
    for index in _BOOL_INDEXES:
        row[index] = bool(row[index])
    return tuple(row)


def from_row(row: Sequence[Any]) -> RequestRecord:
    """A record from a row in :data:`COLUMNS` order (SQLite gives 0/1 for booleans)."""
    values = dict(zip(COLUMNS, row, strict=True))
    for name in _BOOLS:
        values[name] = bool(values[name])
    values["tried"] = orjson.loads(values["tried"] or "[]")
    return RequestRecord(**values)
