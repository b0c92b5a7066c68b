"""``tiergate demo`` end to end: a real gateway child process, the ledger, the files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from tiergate.bench.demo import DemoOptions, run_demo
from tiergate.bench.runner import BenchOptions, run_bench

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def test_demo_reports_from_the_ledger(tmp_path: Path) -> None:
    """The report covers every request sent, taken from the gateway's ledger rows."""
    console = Console(file=io.StringIO(), width=160)
    options = DemoOptions(requests=48, concurrency=16, seed=3, out_dir=tmp_path)
    result = await run_demo(options, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    report = json.loads((tmp_path / "report.json").read_text("utf-8"))

    assert result.load.ok_count == 48, result.load.errors
    assert "SIMULATED" in text
    assert "blended" in text
    assert report["requests"] == 48
    assert report["simulated_requests"] == 48
    assert report["total"]["output_tokens"] == sum(
        o.output_tokens or 0 for o in result.load.outcomes
    )
    assert {g["region"] for g in report["by_model_region"]} == {
        "us-east",
        "eu-west",
        "apac",
    }
    assert (tmp_path / "latency.png").read_bytes().startswith(PNG_MAGIC)


async def test_demo_starts_afresh_each_run(tmp_path: Path) -> None:
    """A second run into the same folder reports only its own requests."""
    console = Console(file=io.StringIO(), width=160)
    for requests in (12, 9):
        options = DemoOptions(requests=requests, concurrency=8, out_dir=tmp_path)
        result = await run_demo(options, console)

    assert result.report.requests == 9


async def test_bench_sends_n_per_region_and_reports_its_own_rows(
    tmp_path: Path,
) -> None:
    """Bench puts N requests per region in the ledger; a rerun reports only its own."""
    db = f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    console = Console(file=io.StringIO(), width=160)
    for per_region in (4, 3):
        options = BenchOptions(
            requests_per_region=per_region,
            regions=("eu-west", "apac"),
            concurrency=8,
            db=db,
            log_path=tmp_path / "gateway.log",
        )
        result = await run_bench(options, console)

    assert result.load.ok_count == 6, result.load.errors
    assert len(result.records) == 6
    assert sorted(r.region for r in result.records) == ["apac"] * 3 + ["eu-west"] * 3
    assert {r.request_id for r in result.records} == {
        o.request_id for o in result.load.outcomes
    }
    assert result.report.requests == 6
    assert "SIMULATED" in console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_demo_command_writes_its_files(tmp_path: Path) -> None:
    """`tiergate demo --requests N --out DIR` exits 0 and leaves report and plot."""
    out = tmp_path / "demo"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tiergate.cli import main; main()",
            "demo",
            "--requests",
            "20",
            "--concurrency",
            "10",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "SIMULATED" in done.stdout
    assert json.loads((out / "report.json").read_text("utf-8"))["requests"] == 20
    assert (out / "latency.png").read_bytes().startswith(PNG_MAGIC)
