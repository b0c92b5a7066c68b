"""Command ``tiergate chaos``: failure drills against the SIMULATED fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from tiergate.cli.app import app
from tiergate.loop import run as run_loop

T = TypeVar("T")


@app.command()
def chaos(
    drill: Annotated[
        str,
        typer.Option(
            help="Drill to run: region-down, rate-limit, hang, flap, stream-cut, "
            "all-down, or all."
        ),
    ] = "all",
    duration: Annotated[
        float, typer.Option(min=2.0, help="Seconds of load per drill.")
    ] = 20.0,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Most requests in flight at once.")
    ] = 64,
    rate: Annotated[
        float, typer.Option(min=1.0, help="Requests per second (open loop).")
    ] = 40.0,
    seed: Annotated[int, typer.Option(help="Seed for the fleet and arrivals.")] = 0,
    time_scale: Annotated[
        float,
        typer.Option(min=0.01, help="Simulated latency multiplier; 1.0 is real time."),
    ] = 1.0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results here.")
    ] = None,
) -> None:
    """Break the SIMULATED fleet under load and check the gateway copes.

    Each drill starts a simulated fleet and a gateway on loopback, runs load through
    the gateway with the openai client, switches a fault on mid-run and prints a
    pass/fail line with its figures. Exits with status 1 when a drill fails."""
    from rich.console import Console
    from rich.table import Table

    from tiergate.bench.chaos import DRILLS, ChaosOptions, DrillResult, run_drills

    names = list(DRILLS) if drill == "all" else [drill]
    unknown = [n for n in names if n not in DRILLS]
    if unknown:
        typer.secho(
            f"error: unknown drill {unknown[0]!r}; choose from "
            f"{', '.join(DRILLS)} or all",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)

    console = Console() if Console().is_terminal else Console(width=200)
    options = ChaosOptions(
        duration_s=duration,
        rate=rate,
        concurrency=concurrency,
        seed=seed,
        time_scale=time_scale,
    )
    scale = (
        "real (unscaled) latencies"
        if time_scale == 1.0
        else f"time_scale {time_scale:g}"
    )
    console.print(
        f"[bold yellow]SIMULATED[/] fleet, {scale}: {len(names)} drill(s) of "
        f"{duration:g} s at {rate:g} req/s (at most {concurrency} in flight)"
    )

    def show(result: DrillResult) -> None:
        mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
        console.print(f"{mark} {result.name}: {result.summary()}")

    results = run_loop(run_drills(names, options, show))

    table = Table(title="tiergate chaos drills (SIMULATED fleet)", show_lines=True)
    table.add_column("drill")
    table.add_column("result")
    table.add_column("criterion")
    table.add_column("figures")
    for result in results:
        table.add_row(
            result.name,
            "[green]PASS[/]" if result.passed else "[red]FAIL[/]",
            result.criterion,
            "\n".join(f"{k}: {v}" for k, v in result.figures.items()),
        )
    console.print(table)
    if json_out is not None:
        rows = [
            {
                "drill": r.name,
                "passed": r.passed,
                "criterion": r.criterion,
                "figures": r.figures,
                "simulated": r.simulated,
            }
            for r in results
        ]
        json_out.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    if not all(r.passed for r in results):
        raise typer.Exit(1)
