"""``tiergate bench``: the brief's latency method, reproduced against any config.

N requests from each region (10,000 by default, over US-East, EU-West and APAC),
all regions under load at once, with the brief's client settings (30 s timeout,
3 retries). Timestamps are taken at the gateway: the gateway writes every request to
the ledger (``--db``), and the report is built from the rows this run added.

Against the simulated fleet (the default), 30,000 requests take a few minutes here
because outputs are short (16 tokens) and many requests are in flight; the
simulated latencies themselves are never scaled.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from tiergate.bench.demo import SIMULATED_NOTE, fetch_records, print_load_summary
from tiergate.bench.loadgen import (
    REGIONS,
    LoadOptions,
    LoadResult,
    plan_per_region,
    run_load,
)
from tiergate.bench.process import gateway_process
from tiergate.bench.workload import load_workload

logger = logging.getLogger(__name__)

DEFAULT_DB = "sqlite:///tiergate-bench.sqlite3"


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What ``tiergate bench`` runs. With ``config=None`` the gateway serves the
    simulated fleet; with a config it serves whatever that file points at."""

    requests_per_region: int = 10_000
    regions: tuple[str, ...] = REGIONS
    concurrency: int = 128
    config: Path | None = None
    db: str = DEFAULT_DB
    seed: int = 0
    max_tokens: int = 16
    stream_share: float = 0.5
    timeout_s: float = 30.0
    max_retries: int = 3
    # The gateway child's output; quoted when it fails to start.
    log_path: Path = field(
        default_factory=lambda: (
            Path(tempfile.gettempdir()) / "tiergate-bench-gateway.log"
        )
    )


@dataclass(slots=True)
class BenchResult:
    """The caller's outcomes, the ledger rows this run added and the report."""

    load: LoadResult
    records: list[Any]
    report: Any


def bench_catalog(config: Path | None) -> Any:
    """The catalog the gateway prices with: the config's when one is given."""
    from tiergate.catalog import load_default_catalog

    if config is None:
        return load_default_catalog()
    from tiergate.config import load_config

    return load_config(config).build_catalog()


async def run_bench(options: BenchOptions, console: Console) -> BenchResult:
    """Run the benchmark, print the report and return it.

    Raises ``ConfigError`` for a bad ``config``, ``ProcessStartError`` when the
    gateway does not start and ``ValueError`` for an empty region list.
    """
    from tiergate.bench.report import build_report, render_table

    if not options.regions:
        raise ValueError("--regions names no region")
    catalog = bench_catalog(options.config)  # a bad config fails here, before load
    simulated = options.config is None
    specs = plan_per_region(
        load_workload(),
        options.requests_per_region,
        options.regions,
        seed=options.seed,
        stream_share=options.stream_share,
        max_tokens=options.max_tokens,
    )
    if simulated:
        console.print(
            Panel(SIMULATED_NOTE, title="tiergate bench", border_style="yellow")
        )

    child, base_url = gateway_process(
        options.log_path, sim=simulated, config=options.config, ledger=options.db
    )
    async with child:
        # Ledger times are the gateway's epoch seconds, on this machine's clock, and
        # the gateway is up now: everything received from here on is this run's.
        since = time.time()
        console.print(
            f"gateway at {base_url}: {options.requests_per_region} requests per region "
            f"x {len(options.regions)} regions, concurrency {options.concurrency}"
        )
        load = await run_load(
            base_url,
            specs,
            LoadOptions(
                concurrency=options.concurrency,
                timeout_s=options.timeout_s,
                max_retries=options.max_retries,
            ),
            console=console,
            progress_by_region=True,
        )
    print_load_summary(console, load)

    records = await fetch_records(options.db, since=since)
    report = build_report(records, catalog)
    label = "[bold yellow]SIMULATED[/] " if simulated else ""
    console.rule(f"{label}bench report, measured at the gateway ({options.db})")
    render_table(report, console)
    return BenchResult(load, records, report)
