"""``tiergate demo``: the simulated fleet, the gateway, real prompts, the cheat sheet.

One run starts ``tiergate serve --sim`` as a child process with a fresh SQLite
ledger in the output folder, replays the shipped workload through it with the
official ``openai`` client, stops the gateway with SIGTERM (which flushes the ledger)
and builds the report from the ledger, so every latency it prints was measured at
the gateway. The run is fast because outputs are short (``max_tokens``) and many
requests are in flight, never because times are scaled: the simulated latencies are
the fleet's full model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from tiergate.bench.loadgen import LoadOptions, LoadResult, plan_requests, run_load
from tiergate.bench.process import gateway_process
from tiergate.bench.workload import load_workload

logger = logging.getLogger(__name__)

SIMULATED_NOTE = (
    "SIMULATED: every provider in this run is tiergate's simulated fleet. Latencies "
    "follow the simulator's model of each family and region and costs use catalog "
    "prices; neither was measured against a real provider."
)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``tiergate demo`` runs. ``out_dir`` receives ``ledger.sqlite``,
    ``report.json``, ``latency.png`` and ``gateway.log``."""

    requests: int = 2000
    concurrency: int = 64
    seed: int = 0
    out_dir: Path = Path("tiergate-demo")
    max_tokens: int = 32
    stream_share: float = 0.5


@dataclass(slots=True)
class DemoResult:
    """What a demo run produced; ``report`` is ``tiergate.bench.report``'s value."""

    load: LoadResult
    report: Any
    ledger_url: str
    report_path: Path
    plot_path: Path


def ledger_url_for(path: Path) -> str:
    """The ``sqlite:///`` URL of a ledger file (absolute paths give four slashes)."""
    return f"sqlite:///{path}"


def _fresh_ledger(out_dir: Path) -> Path:
    """The ledger path for this run, with any earlier run's file removed so the
    report covers this run only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = (out_dir / "ledger.sqlite").resolve()
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return path


async def fetch_records(url: str, since: float | None = None) -> list[Any]:
    """Every ledger record received at or after ``since`` (all when ``None``)."""
    from tiergate.ledger.store import open_store

    store = open_store(url)
    await store.open()
    try:
        return await store.fetch(since=since)
    finally:
        await store.close()


def write_report(report: Any, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``latency.png`` into ``out_dir``."""
    from tiergate.bench.report import plot, to_json

    report_path = out_dir / "report.json"
    plot_path = out_dir / "latency.png"
    report_path.write_text(to_json(report), "utf-8")
    plot(report, plot_path)
    return report_path, plot_path


def print_load_summary(console: Console, load: LoadResult) -> None:
    """The caller's view in one line, plus the failures by kind when there are any."""
    console.print(
        f"{len(load.outcomes)} requests in {load.elapsed_s:.1f} s "
        f"({load.requests_per_s:.0f} req/s at concurrency {load.concurrency}), "
        f"{load.ok_count} ok, {len(load.outcomes) - load.ok_count} failed"
    )
    for kind, count in load.errors.most_common():
        console.print(f"  [red]{count} x {kind}[/red]")


async def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    """Run the whole demo and print the cheat sheet.

    Raises ``ProcessStartError`` when the gateway does not start (the message quotes
    its log) and ``WorkloadError`` when the shipped workload is broken.
    """
    from tiergate.bench.report import build_report, render_table
    from tiergate.catalog import load_default_catalog

    ledger = ledger_url_for(_fresh_ledger(options.out_dir))
    rows = load_workload()
    specs = plan_requests(
        rows,
        options.requests,
        seed=options.seed,
        stream_share=options.stream_share,
        max_tokens=options.max_tokens,
    )
    console.print(Panel(SIMULATED_NOTE, title="tiergate demo", border_style="yellow"))

    child, base_url = gateway_process(
        options.out_dir / "gateway.log", sim=True, ledger=ledger
    )
    async with child:
        console.print(f"gateway with simulated fleet at {base_url} (pid {child.pid})")
        load = await run_load(
            base_url,
            specs,
            LoadOptions(concurrency=options.concurrency),
            console=console,
        )
    print_load_summary(console, load)

    records = await fetch_records(ledger)
    report = build_report(records, load_default_catalog())
    console.rule("[bold yellow]SIMULATED[/] cheat sheet, measured at the gateway")
    render_table(report, console)
    report_path, plot_path = write_report(report, options.out_dir)
    console.print(f"wrote {report_path} and {plot_path} (SIMULATED fleet)")
    return DemoResult(load, report, ledger, report_path, plot_path)
