"""The request ledger: one row per request, in SQLite or PostgreSQL.

The gateway builds a :class:`RequestRecord` per request and hands it to a
:class:`LedgerWriter`, which writes batches in the background to a :class:`Store`
from :func:`open_store`. Reports read the same store with :meth:`Store.fetch`.
"""

from tiergate.ledger.record import RequestRecord
from tiergate.ledger.store import DEFAULT_LEDGER_URL, LedgerURLError, Store, open_store
from tiergate.ledger.writer import LedgerWriter

__all__ = [
    "DEFAULT_LEDGER_URL",
    "LedgerURLError",
    "LedgerWriter",
    "RequestRecord",
    "Store",
    "open_store",
]
