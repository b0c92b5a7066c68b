"""The record of one request, as the gateway hands it to the ledger and metrics.

The gateway builds exactly one ``RequestRecord`` per request, successful or not, after
the last byte went to the caller. Everything downstream (ledger stores, Prometheus
metrics, reports) reads this value and nothing else, so the layers stay decoupled.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestRecord:
    """What happened to one request. Times are Unix epoch seconds; durations are ms.

    ``key_id`` identifies the caller's key without revealing it (a short hash or the
    configured key name); the key itself never appears here. ``cost_usd`` is ``None``
    when any price needed for it is unknown, never 0 for "unknown".
    """

    request_id: str
    received_at: float
    done_at: float
    status: int
    first_byte_at: float | None = None
    key_id: str | None = None
    tier: str | None = None
    reason: str = ""
    model: str | None = None
    provider: str | None = None
    deployment: str | None = None
    region: str | None = None
    attempts: int = 0
    stream: bool = False
    error_type: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_estimated: bool = False
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    simulated: bool = False
    tried: list[str] = field(default_factory=list)
