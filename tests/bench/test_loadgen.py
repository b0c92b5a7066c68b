"""The load generator: request plans, and real runs through a live gateway."""

from __future__ import annotations

import io
from collections import Counter

from rich.console import Console

from tests.conftest import LiveGateway
from tiergate.bench.loadgen import (
    REGIONS,
    LoadOptions,
    plan_per_region,
    plan_requests,
    run_load,
)
from tiergate.bench.process import free_port
from tiergate.bench.workload import load_workload


def test_plan_spreads_regions_evenly_and_repeats_by_seed() -> None:
    """A plan splits requests evenly over regions and is the same for the same seed."""
    rows = load_workload()
    plan = plan_requests(rows, 300, seed=4, stream_share=0.5, max_tokens=12)
    again = plan_requests(rows, 300, seed=4, stream_share=0.5, max_tokens=12)
    other = plan_requests(rows, 300, seed=5, stream_share=0.5, max_tokens=12)

    assert Counter(spec.region for spec in plan) == {r: 100 for r in REGIONS}
    assert 100 < sum(spec.stream for spec in plan) < 200
    assert {spec.max_tokens for spec in plan} == {12}
    assert [s.row.id for s in plan] == [s.row.id for s in again]
    assert [s.row.id for s in plan] != [s.row.id for s in other]
    assert len({spec.row.id for spec in plan}) == 300


def test_plan_cycles_when_asked_for_more_than_the_workload() -> None:
    """Asking for more requests than rows reuses rows rather than failing."""
    rows = load_workload()[:10]
    plan = plan_requests(rows, 25)

    assert len(plan) == 25
    assert {spec.row.id for spec in plan} == {row.id for row in rows}


def test_plan_per_region_sends_n_from_each_region() -> None:
    """The bench plan holds exactly N requests per named region."""
    plan = plan_per_region(load_workload(), 7, ("eu-west", "apac"))

    assert Counter(spec.region for spec in plan) == {"eu-west": 7, "apac": 7}


async def test_run_load_reports_what_the_gateway_did(gateway: LiveGateway) -> None:
    """Each outcome carries status, latency and the gateway's routing headers."""
    specs = plan_requests(load_workload(), 40, seed=1, max_tokens=8)
    result = await run_load(
        f"{gateway.url}/v1", specs, LoadOptions(concurrency=8), show_progress=False
    )

    assert result.ok_count == 40, result.errors
    assert [o.index for o in result.outcomes] == list(range(40))
    for spec, outcome in zip(specs, result.outcomes, strict=True):
        assert outcome.stream == spec.stream
        assert outcome.served_region == spec.region
        assert outcome.tier in ("default", "classify", "reasoning", "vision", "heavy")
        assert outcome.model and outcome.deployment and outcome.request_id
        assert 0 < outcome.latency_ms < 30_000
        assert outcome.output_tokens is not None and 0 < outcome.output_tokens <= 8
        if spec.stream:
            assert outcome.ttft_ms is not None
            assert outcome.ttft_ms <= outcome.latency_ms


async def test_workload_kinds_reach_their_tiers(gateway: LiveGateway) -> None:
    """Image rows land on the vision tier and long documents on the heavy tier."""
    rows = load_workload()
    picked = [r for r in rows if r.has_image][:5]
    picked += [r for r in rows if r.label == "long_context"][:5]
    specs = plan_requests(picked, len(picked), max_tokens=4, stream_share=0.0)
    result = await run_load(f"{gateway.url}/v1", specs, show_progress=False)

    for spec, outcome in zip(specs, result.outcomes, strict=True):
        assert outcome.tier == spec.row.expected_tier


async def test_progress_bar_counts_requests(gateway: LiveGateway) -> None:
    """The rich progress bar shows the finished count per region."""
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    specs = plan_requests(load_workload(), 9, max_tokens=4)
    await run_load(
        f"{gateway.url}/v1",
        specs,
        LoadOptions(concurrency=3),
        console=console,
        progress_by_region=True,
    )
    text = console.file.getvalue()  # type: ignore[attr-defined]

    assert "9/9" in text
    assert all(f"{region}" in text and "3/3" in text for region in REGIONS)


async def test_connection_failures_are_counted_not_raised() -> None:
    """With nothing listening, every request becomes a status-0 outcome."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    specs = plan_requests(load_workload(), 6, max_tokens=4)
    result = await run_load(url, specs, LoadOptions(concurrency=3), show_progress=False)

    assert result.ok_count == 0
    assert [o.status for o in result.outcomes] == [0] * 6
    assert len(result.errors) == 1
    ((kind, count),) = result.errors.items()
    assert count == 6
    assert kind.startswith("0 API") and kind.endswith("(ConnectionRefusedError)")


async def test_http_errors_are_counted_with_their_status(gateway: LiveGateway) -> None:
    """An unknown model gives 4xx outcomes with the openai error class named."""
    specs = plan_requests(load_workload(), 4, max_tokens=4)
    options = LoadOptions(concurrency=2, model="no-such-model")
    result = await run_load(f"{gateway.url}/v1", specs, options, show_progress=False)

    assert result.ok_count == 0
    for outcome in result.outcomes:
        assert 400 <= outcome.status < 500
        assert outcome.error is not None and outcome.error.endswith("Error")
