"""Prometheus metrics: names, labels and values as the official parser reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tiergate.catalog import load_default_catalog
from tiergate.ledger import LedgerWriter, RequestRecord, open_store
from tiergate.metrics import BreakerState, Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, _ = metrics.render()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def _record(**fields: object) -> RequestRecord:
    base: dict[str, object] = {
        "request_id": "r",
        "received_at": 1.0,
        "done_at": 1.3,
        "status": 200,
        "model": "deepseek-v4-flash",
        "region": "us-east",
        "tier": "default",
        "latency_ms": 300.0,
        "ttft_ms": 40.0,
        "input_tokens": 100,
        "output_tokens": 400,
        "cost_usd": 0.0001,
    }
    base.update(fields)
    return RequestRecord(**base)  # type: ignore[arg-type]


LABELS = frozenset(
    {"model": "deepseek-v4-flash", "region": "us-east", "tier": "default"}.items()
)
REQ = LABELS | {("status", "200")}


def test_observe_counts_requests_latency_tokens_and_cost() -> None:
    """Two observed requests show up in counters and histograms with their values."""
    metrics = Metrics(load_default_catalog())

    metrics.observe(_record())
    metrics.observe(_record(latency_ms=1200.0, ttft_ms=None, cost_usd=0.0002))
    s = _samples(metrics)

    assert s[("tiergate_requests_total", REQ)] == 2
    assert s[("tiergate_request_duration_seconds_count", REQ)] == 2
    assert s[("tiergate_request_duration_seconds_sum", REQ)] == pytest.approx(1.5)
    assert s[("tiergate_request_duration_seconds_bucket", REQ | {("le", "0.3")})] == 1
    assert s[("tiergate_request_duration_seconds_bucket", REQ | {("le", "1.5")})] == 2
    assert s[("tiergate_time_to_first_token_seconds_count", REQ)] == 1
    assert s[("tiergate_tokens_total", LABELS | {("kind", "output")})] == 800
    assert s[("tiergate_tokens_total", LABELS | {("kind", "input")})] == 200
    assert s[("tiergate_cost_usd_total", LABELS)] == pytest.approx(0.0003)


def test_unknown_price_is_counted_as_unpriced_tokens_not_cost() -> None:
    """A request without cost adds its output tokens to the unpriced counter."""
    metrics = Metrics(load_default_catalog())

    metrics.observe(_record(model="glm-4.6v", tier="vision", cost_usd=None))
    s = _samples(metrics)
    labels = frozenset(
        {"model": "glm-4.6v", "region": "us-east", "tier": "vision"}.items()
    )

    assert s[("tiergate_unpriced_output_tokens_total", labels)] == 400
    assert s[("tiergate_cost_usd_total", labels)] == 0


def test_label_values_stay_bounded() -> None:
    """Models outside the catalog become 'other'; missing values become 'none'."""
    metrics = Metrics(load_default_catalog())

    metrics.observe(_record(model="made-up-model-123"))
    metrics.observe(_record(model=None, region=None, tier=None, status=400))
    s = _samples(metrics)

    other = frozenset(
        {"model": "other", "region": "us-east", "tier": "default"}.items()
    )
    none = frozenset({"model": "none", "region": "none", "tier": "none"}.items())
    assert s[("tiergate_requests_total", other | {("status", "200")})] == 1
    assert s[("tiergate_requests_total", none | {("status", "400")})] == 1


def test_retries_fallbacks_and_breaker_state() -> None:
    """retry, fallback and set_breaker show up with their labels and values."""
    metrics = Metrics(load_default_catalog())

    metrics.retry("deepseek-us-east")
    metrics.retry("deepseek-us-east")
    metrics.fallback("deepseek-v4-flash", "Qwen/Qwen3-32B")
    metrics.set_breaker("deepseek-us-east", BreakerState.OPEN)
    metrics.set_breaker("moonshot-apac", "half-open")
    metrics.set_breaker("moonshot-apac", 0)
    metrics.set_breaker("zhipu-eu-west", "half_open")
    s = _samples(metrics)

    assert (
        s[("tiergate_retries_total", frozenset({("deployment", "deepseek-us-east")}))]
        == 2
    )
    fallback = frozenset(
        {"from_model": "deepseek-v4-flash", "to_model": "Qwen/Qwen3-32B"}.items()
    )
    assert s[("tiergate_fallbacks_total", fallback)] == 1
    breaker = "tiergate_breaker_state"
    assert s[(breaker, frozenset({("deployment", "deepseek-us-east")}))] == 2
    assert s[(breaker, frozenset({("deployment", "moonshot-apac")}))] == 0
    assert s[(breaker, frozenset({("deployment", "zhipu-eu-west")}))] == 1
    with pytest.raises(ValueError):
        metrics.set_breaker("x", 7)


async def test_ledger_counters_come_from_the_watched_writer(tmp_path: Path) -> None:
    """The ledger's dropped and written counts are exported at scrape time."""
    metrics = Metrics()
    writer = LedgerWriter(open_store(str(tmp_path / "l.db")), queue_max=2)
    metrics.watch_ledger(writer)

    for i in range(5):
        writer.record(_record(request_id=f"r{i}"))
    await writer.start()
    await writer.close()
    s = _samples(metrics)

    assert s[("tiergate_ledger_dropped_records_total", frozenset())] == 3
    assert s[("tiergate_ledger_written_records_total", frozenset())] == 2
    assert s[("tiergate_ledger_queued_records", frozenset())] == 0


def test_each_instance_has_its_own_registry() -> None:
    """Two Metrics objects in one process neither clash nor share values."""
    first, second = Metrics(), Metrics()

    first.observe(_record())
    body, content_type = second.render()

    assert content_type.startswith("text/plain")
    assert _samples(first)[("tiergate_requests_total", REQ)] == 1
    assert ("tiergate_requests_total", REQ) not in _samples(second)
    assert b"# HELP tiergate_requests_total" in body
