"""The report: figures against a hand-computed ledger, unknown prices, renderers."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import sys
import time
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from tiergate.bench.report import (
    Report,
    build_report,
    parse_since,
    plot,
    render_table,
    to_csv,
    to_json,
)
from tiergate.catalog import load_default_catalog
from tiergate.ledger import RequestRecord, open_store

CATALOG = load_default_catalog()


def _rec(n: int, model: str, region: str, tier: str, **fields: object) -> RequestRecord:
    base: dict[str, object] = {
        "request_id": f"r{n}",
        "received_at": 1_700_000_000.0 + n,
        "done_at": 1_700_000_001.0 + n,
        "status": 200,
        "model": model,
        "region": region,
        "tier": tier,
        "simulated": True,
    }
    base.update(fields)
    return RequestRecord(**base)  # type: ignore[arg-type]


def small_ledger() -> list[RequestRecord]:
    """Ten requests whose figures are worked out by hand in the tests below."""
    flash = [
        _rec(
            i,
            "deepseek-v4-flash",
            "us-east",
            "default",
            stream=True,
            latency_ms=100.0 * (i + 1),
            ttft_ms=50.0,
            output_tokens=100,
            input_tokens=10,
            cost_usd=100 * 0.25 / 1e6,
        )
        for i in range(5)
    ]
    failed = _rec(5, "deepseek-v4-flash", "apac", "default", status=503, latency_ms=20)
    glm = [
        _rec(6 + i, "glm-4.6v", "eu-west", "vision", latency_ms=ms, output_tokens=500)
        for i, ms in enumerate((1000.0, 2000.0))
    ]
    kimi = [
        _rec(8, "kimi-k2.5", "us-east", "reasoning", latency_ms=800.0,
             output_tokens=300, cost_usd=300 * 3.0 / 1e6),
        _rec(9, "kimi-k2.5", "us-east", "reasoning", latency_ms=1200.0,
             output_tokens=100, cost_usd=100 * 3.0 / 1e6, tokens_estimated=True),
    ]  # fmt: skip
    return [*flash, failed, *glm, *kimi]


def _by(groups: list, **keys: str) -> object:  # type: ignore[type-arg]
    (match,) = [g for g in groups if all(getattr(g, k) == v for k, v in keys.items())]
    return match


def test_family_figures_match_the_hand_computation() -> None:
    """DeepSeek: share 60%, p50/p95/p99 300/480/496 ms, 1 error in 6, 400 tok/s."""
    report = build_report(small_ledger(), CATALOG)
    ds = _by(report.by_family, family="deepseek")

    assert ds.requests == 6 and ds.share == pytest.approx(0.6)
    assert (ds.p50_ms, ds.p95_ms, ds.p99_ms) == pytest.approx((300, 480, 496))
    assert ds.errors == 1 and ds.error_rate == pytest.approx(1 / 6)
    # streams: 500 tokens over (50+150+250+350+450) ms of generation after TTFT
    assert ds.output_tok_s == pytest.approx(400.0)
    assert ds.cost_usd == pytest.approx(1.25e-4)
    assert ds.blended_usd_per_m_out == pytest.approx(0.25)


def test_non_streaming_speed_uses_the_whole_latency() -> None:
    """Kimi: 400 tokens over 2.0 s of non-streamed answers is 200 tok/s."""
    kimi = _by(build_report(small_ledger(), CATALOG).by_model, model="kimi-k2.5")

    assert kimi.output_tok_s == pytest.approx(200.0)
    assert kimi.p50_ms == pytest.approx(1000.0)
    assert kimi.blended_usd_per_m_out == pytest.approx(3.0)
    assert kimi.estimated_requests == 1


def test_unknown_price_stays_unknown_and_is_counted() -> None:
    """glm-4.6v has no cost or blend; the total blend says 1,000 tokens unpriced."""
    report = build_report(small_ledger(), CATALOG)
    glm = _by(report.by_model, model="glm-4.6v")

    assert glm.cost_usd is None and glm.blended_usd_per_m_out is None
    assert glm.unpriced_output_tokens == 1000 and glm.unpriced_requests == 2
    assert report.total.cost_usd == pytest.approx(1.325e-3)
    assert report.total.priced_output_tokens == 900
    assert report.total.blended_usd_per_m_out == pytest.approx(1.325e-3 / 900 * 1e6)
    assert report.total.unpriced_output_tokens == 1000
    assert report.unpriced_models == ["glm-4.6v"]


def test_region_groups_and_a_region_with_only_failures() -> None:
    """flash/apac has one failed request: error rate 100%, no latency figures."""
    report = build_report(small_ledger(), CATALOG)
    apac = _by(report.by_model_region, model="deepseek-v4-flash", region="apac")
    east = _by(report.by_model_region, model="deepseek-v4-flash", region="us-east")

    assert apac.requests == 1 and apac.error_rate == 1.0
    assert apac.p50_ms is None and apac.output_tok_s is None
    assert east.requests == 5 and east.error_rate == 0.0
    assert [g.region for g in report.by_model_region] == [
        "apac", "us-east", "eu-west", "us-east",
    ]  # fmt: skip


def test_tier_shares() -> None:
    """Tiers share requests 60/20/20 and output tokens 500/1000/400 of 1,900."""
    report = build_report(small_ledger(), CATALOG)
    tiers = [g.tier for g in report.by_tier]
    shares = [(g.share, g.output_share) for g in report.by_tier]

    assert tiers == ["default", "reasoning", "vision"]
    assert shares[0] == pytest.approx((0.6, 500 / 1900))
    assert shares[1] == pytest.approx((0.2, 400 / 1900))
    assert shares[2] == pytest.approx((0.2, 1000 / 1900))


def test_json_and_csv_keep_unknown_as_null_and_empty() -> None:
    """JSON has null cost for glm-4.6v; CSV leaves the cell empty, never 0."""
    report = build_report(small_ledger(), CATALOG)

    body = orjson.loads(to_json(report))
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))

    (glm_json,) = [g for g in body["by_model"] if g["model"] == "glm-4.6v"]
    assert glm_json["cost_usd"] is None and body["provenance"] == "simulated"
    (glm_csv,) = [r for r in rows if r["level"] == "model" and r["model"] == "glm-4.6v"]
    assert glm_csv["cost_usd"] == "" and glm_csv["unpriced_output_tokens"] == "1000"
    assert {r["level"] for r in rows} == {
        "total", "family", "model", "model_region", "tier",
    }  # fmt: skip


def test_table_is_labelled_simulated_and_shows_unknown() -> None:
    """The table's titles say simulated; glm-4.6v's cost reads 'unknown'."""
    console = Console(record=True, width=200)

    render_table(build_report(small_ledger(), CATALOG), console)
    text = console.export_text()

    assert "10 requests, simulated" in text
    assert "by model and region (simulated)" in text
    assert "1,000 output tokens unpriced (price unknown: glm-4.6v)" in text
    assert any("glm-4.6v" in line and "unknown" in line for line in text.splitlines())


def test_mixed_provenance_is_stated() -> None:
    """A ledger with real and simulated rows is labelled mixed with counts."""
    rows = [*small_ledger(), _rec(99, "glm-5", "apac", "default", simulated=False)]

    assert build_report(rows, CATALOG).provenance == "mixed (10 of 11 simulated)"


def test_empty_ledger_reports_nothing_without_failing() -> None:
    """No records: zero requests, unknown figures, a one-line table."""
    report = build_report([], CATALOG)
    console = Console(record=True)

    render_table(report, console)

    assert report.requests == 0 and report.total.p50_ms is None
    assert "no requests" in console.export_text()


def test_plot_writes_a_png(tmp_path: Path) -> None:
    """plot() writes a PNG file of the latency groups."""
    path = tmp_path / "latency.png"

    plot(build_report(small_ledger(), CATALOG), path)

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_since_accepts_durations_iso_times_and_epochs() -> None:
    """'90m' is 5,400 s back; ISO and epoch forms parse; junk names the forms."""
    assert parse_since("90m", now=10_000.0) == 4_600.0
    assert parse_since("2d", now=200_000.0) == 200_000.0 - 172_800
    assert parse_since("2026-05-01T12:00:00+00:00") == 1_777_636_800.0
    assert parse_since("1700000000") == 1_700_000_000.0
    with pytest.raises(ValueError, match="30m, 1h, 2d"):
        parse_since("yesterday")


async def test_report_command_reads_the_ledger(tmp_path: Path) -> None:
    """`tiergate report --db FILE --format json --since 1h` reports recent rows."""
    now = time.time()
    rows = small_ledger()
    recent = [
        RequestRecord(**{**_fields(r), "received_at": now - 60 + i})
        for i, r in enumerate(rows[:6])
    ]
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    store = open_store(url)
    await store.open()
    await store.write(rows[6:] + recent)
    await store.close()

    out = await _tiergate("report", "--db", url, "--format", "json", "--since", "1h")
    body = orjson.loads(out)

    assert body["requests"] == 6
    assert [g["family"] for g in body["by_family"]] == ["deepseek"]


def _fields(record: RequestRecord) -> dict[str, object]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


async def _tiergate(*args: str) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from tiergate.cli import main; main()",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out


def test_report_is_a_plain_value() -> None:
    """build_report returns a Report whose groups cover every record."""
    report = build_report(small_ledger(), CATALOG)

    assert isinstance(report, Report)
    assert sum(g.requests for g in report.by_model_region) == report.requests == 10
