"""Prometheus instruments for the gateway, in a registry of their own.

Each :class:`Metrics` has its own ``CollectorRegistry`` rather than the process-wide
default, so several gateways in one process (tests, ``tiergate demo``) never clash
and ``GET /metrics`` shows exactly one gateway's figures.

Label sets are bounded: model (catalog ids; anything else becomes ``other``),
region, tier, HTTP status code, deployment. Request ids and keys never become
labels. Exported series (names per Prometheus conventions, base units):

- ``tiergate_request_duration_seconds`` and
  ``tiergate_time_to_first_token_seconds`` histograms {model, region, tier, status}
- ``tiergate_requests_total`` {model, region, tier, status}
- ``tiergate_tokens_total`` {model, region, tier, kind=input|output}; output
  includes reasoning tokens, as in the upstream's usage
- ``tiergate_cost_usd_total`` {model, region, tier}: priced requests only;
  ``tiergate_unpriced_output_tokens_total`` {model, region, tier} counts the output
  tokens whose price is unknown, so an unknown cost is visible, not read as 0
- ``tiergate_retries_total`` {deployment}, ``tiergate_fallbacks_total``
  {from_model, to_model}
- ``tiergate_breaker_state`` {deployment}: 0 closed, 1 half-open, 2 open
- ``tiergate_ledger_{dropped,written,lost}_records_total`` and
  ``tiergate_ledger_queued_records`` from the watched :class:`LedgerWriter`
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tiergate.ledger.record import RequestRecord

if TYPE_CHECKING:
    from tiergate.catalog import Catalog
    from tiergate.ledger.writer import LedgerWriter

# 5 ms .. 60 s: from a classifier-only answer to the brief's 30 s client timeout and
# a long reasoning stream, dense where the brief's p99 figures (340-520 ms) fall.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45,
    0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
)  # fmt: skip

_REQUEST_LABELS = ("model", "region", "tier", "status")
_USAGE_LABELS = ("model", "region", "tier")
_NONE = "none"
_OTHER = "other"


class BreakerState(IntEnum):
    """A deployment's circuit breaker state, as the gauge encodes it."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class _Children:
    """The label children one (model, region, tier, status) combination updates."""

    latency: Any
    ttft: Any
    requests: Any
    tokens_in: Any
    tokens_out: Any
    cost: Any
    unpriced: Any


class Metrics:
    """The gateway's instruments. ``observe`` runs once per request and is cheap:
    label children are created once per label combination and cached."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.registry = CollectorRegistry()
        self._models = {model.id for model in catalog} if catalog is not None else None
        self._children: dict[tuple[str, str, str, str], _Children] = {}
        self._ledger: LedgerWriter | None = None
        self._build_instruments()
        self.registry.register(_LedgerCollector(self))

    def _build_instruments(self) -> None:
        reg = self.registry
        self._latency = Histogram(
            "tiergate_request_duration_seconds",
            "Time from request received to last byte sent, measured at the gateway.",
            _REQUEST_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self._ttft = Histogram(
            "tiergate_time_to_first_token_seconds",
            "Time from request received to the first upstream byte.",
            _REQUEST_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self._requests = Counter(
            "tiergate_requests", "Requests answered.", _REQUEST_LABELS, registry=reg
        )
        self._tokens = Counter(
            "tiergate_tokens",
            "Tokens by kind (output includes reasoning tokens).",
            (*_USAGE_LABELS, "kind"),
            registry=reg,
        )
        self._cost = Counter(
            "tiergate_cost_usd",
            "USD cost of priced requests, from catalog prices.",
            _USAGE_LABELS,
            registry=reg,
        )
        self._unpriced = Counter(
            "tiergate_unpriced_output_tokens",
            "Output tokens of requests whose price is unknown (not in cost).",
            _USAGE_LABELS,
            registry=reg,
        )
        self._retries = Counter(
            "tiergate_retries",
            "Upstream attempts retried, by the deployment that failed.",
            ("deployment",),
            registry=reg,
        )
        self._fallbacks = Counter(
            "tiergate_fallbacks",
            "Failovers from one model to another candidate model.",
            ("from_model", "to_model"),
            registry=reg,
        )
        self._breaker = Gauge(
            "tiergate_breaker_state",
            "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open.",
            ("deployment",),
            registry=reg,
        )

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request (latency, TTFT, tokens, cost)."""
        children = self._children_for(record)
        children.latency.observe(record.latency_ms / 1000.0)
        if record.ttft_ms is not None:
            children.ttft.observe(record.ttft_ms / 1000.0)
        children.requests.inc()

        if record.input_tokens:
            children.tokens_in.inc(record.input_tokens)
        if record.output_tokens:
            children.tokens_out.inc(record.output_tokens)
        if record.cost_usd is not None:
            children.cost.inc(record.cost_usd)
        elif record.output_tokens:
            children.unpriced.inc(record.output_tokens)

    def retry(self, deployment: str) -> None:
        """Count one retry after ``deployment`` failed an attempt."""
        self._retries.labels(deployment).inc()

    def fallback(self, from_model: str, to_model: str) -> None:
        """Count one failover from ``from_model`` to the next candidate model."""
        self._fallbacks.labels(self._model(from_model), self._model(to_model)).inc()

    def set_breaker(self, deployment: str, state: BreakerState | int | str) -> None:
        """Record ``deployment``'s breaker state (an enum, 0-2, or its name such as
        ``"half_open"``); raises ValueError for anything else."""
        if isinstance(state, str):
            state = BreakerState[state.upper().replace("-", "_")]
        self._breaker.labels(deployment).set(int(BreakerState(state)))

    def watch_ledger(self, writer: LedgerWriter) -> None:
        """Export ``writer``'s dropped/written/lost counters and queue depth."""
        self._ledger = writer

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _children_for(self, record: RequestRecord) -> _Children:
        key = (
            self._model(record.model),
            record.region or _NONE,
            record.tier or _NONE,
            str(record.status),
        )
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._make_children(key)
        return children

    def _make_children(self, key: tuple[str, str, str, str]) -> _Children:
        usage = key[:3]
        return _Children(
            latency=self._latency.labels(*key),
            ttft=self._ttft.labels(*key),
            requests=self._requests.labels(*key),
            tokens_in=self._tokens.labels(*usage, "input"),
            tokens_out=self._tokens.labels(*usage, "output"),
            cost=self._cost.labels(*usage),
            unpriced=self._unpriced.labels(*usage),
        )

    def _model(self, model: str | None) -> str:
        if model is None:
            return _NONE
        if self._models is not None and model not in self._models:
            return _OTHER
        return model


class _LedgerCollector(Collector):
    """Reads the watched writer's counters at scrape time (0 before one is set)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        writer = self._metrics._ledger
        counts = {
            "dropped": writer.dropped if writer else 0,
            "written": writer.written if writer else 0,
            "lost": writer.lost if writer else 0,
        }
        for name, value in counts.items():
            yield CounterMetricFamily(
                f"tiergate_ledger_{name}_records",
                f"Ledger records {name} (see tiergate.ledger.writer).",
                value=value,
            )
        yield GaugeMetricFamily(
            "tiergate_ledger_queued_records",
            "Ledger records waiting to be written.",
            value=writer.queued if writer else 0,
        )
