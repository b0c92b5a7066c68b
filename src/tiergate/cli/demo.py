"""Commands ``tiergate demo`` and ``tiergate bench``: drive load through a gateway.

The heavy parts (openai client, numpy, matplotlib, the workload) are imported
inside the commands so that ``tiergate --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from tiergate.cli.app import app
from tiergate.loop import run as run_loop

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")


def _console() -> Console:
    """A console for tables; wide enough for the cheat sheet when output is piped."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def demo(
    requests: Annotated[
        int, typer.Option(min=1, help="Requests to replay through the gateway.")
    ] = 2000,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Requests in flight at once.")
    ] = 64,
    seed: Annotated[int, typer.Option(help="Seed for request order and regions.")] = 0,
    out: Annotated[
        Path,
        typer.Option(help="Folder for ledger.sqlite, report.json and latency.png."),
    ] = Path("tiergate-demo"),
) -> None:
    """Replay real prompts through the gateway and a SIMULATED fleet.

    Starts `tiergate serve --sim` with a fresh ledger in --out, sends the shipped
    workload from three regions and prints the cheat sheet of latency measured at
    the gateway."""
    from tiergate.bench.demo import DemoOptions, run_demo
    from tiergate.bench.process import ProcessStartError
    from tiergate.bench.workload import WorkloadError

    options = DemoOptions(
        requests=requests, concurrency=concurrency, seed=seed, out_dir=out
    )
    try:
        run_loop(run_demo(options, _console()))
    except (ProcessStartError, WorkloadError) as exc:
        _fail(str(exc))


def _regions(value: str) -> tuple[str, ...]:
    return tuple(region.strip() for region in value.split(",") if region.strip())


@app.command()
def bench(
    requests_per_region: Annotated[
        int, typer.Option(min=1, help="Requests sent from each region.")
    ] = 10_000,
    regions: Annotated[
        str, typer.Option(help="Comma-separated caller regions.")
    ] = "us-east,eu-west,apac",
    concurrency: Annotated[
        int, typer.Option(min=1, help="Requests in flight at once.")
    ] = 128,
    config: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Gateway config; without it the simulated fleet is used.",
        ),
    ] = None,
    db: Annotated[
        str, typer.Option(help="Ledger URL the gateway writes and the report reads.")
    ] = "sqlite:///tiergate-bench.sqlite3",
) -> None:
    """Send N requests from each region through the gateway; report from the ledger.

    The brief's method: timestamps at the gateway, 30 s client timeout, 3 retries.
    Without --config the gateway serves the SIMULATED fleet."""
    from tiergate.bench.process import ProcessStartError
    from tiergate.bench.runner import BenchOptions, run_bench
    from tiergate.bench.workload import WorkloadError
    from tiergate.errors import ConfigError
    from tiergate.ledger.store import LedgerOpenError, LedgerURLError

    options = BenchOptions(
        requests_per_region=requests_per_region,
        regions=_regions(regions),
        concurrency=concurrency,
        config=config,
        db=db,
    )
    try:
        try:
            run_loop(run_bench(options, _console()))
        except (LedgerURLError, LedgerOpenError) as exc:
            typer.echo(f"tiergate bench: {exc}", err=True)
            raise typer.Exit(2) from None
    except (ConfigError, ProcessStartError, WorkloadError, ValueError) as exc:
        _fail(str(exc))
