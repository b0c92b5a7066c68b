"""``tiergate sim``: run the simulated provider fleet until Ctrl-C or SIGTERM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tiergate.cli.app import app
from tiergate.loop import run as run_loop
from tiergate.sim import layout

if TYPE_CHECKING:
    from rich.console import Console

    from tiergate.sim.fleet import Fleet


@app.command()
def sim(
    host: Annotated[str, typer.Option(help="Address every endpoint binds to.")] = (
        layout.DEFAULT_HOST
    ),
    base_port: Annotated[
        int,
        typer.Option(help="First endpoint port (admin API one below); 0 = ephemeral."),
    ] = layout.DEFAULT_BASE_PORT,
    seed: Annotated[int, typer.Option(help="Seed of every latency and text draw.")] = 0,
    zero_latency: Annotated[
        bool, typer.Option(help="Answer at once with tiny outputs (benchmarks).")
    ] = False,
    time_scale: Annotated[
        float, typer.Option(min=0.0, help="Multiplier on every modelled delay.")
    ] = 1.0,
) -> None:
    """Run the SIMULATED provider fleet: one OpenAI-compatible endpoint per provider
    and region, with an admin API to switch faults on and off."""
    from rich.console import Console

    from tiergate.sim import run_fleet

    console = Console()
    fleet_run = run_fleet(
        host,
        base_port,
        seed,
        zero_latency,
        time_scale,
        on_ready=lambda fleet: _print_fleet(
            console, fleet, seed, time_scale, zero_latency
        ),
    )
    try:
        run_loop(fleet_run)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot start the simulated fleet:[/red] {exc}")
        console.print("Choose another --base-port (or 0 for ephemeral ports).")
        raise typer.Exit(code=1) from exc
    console.print("simulated fleet stopped")


def _print_fleet(
    console: Console, fleet: Fleet, seed: int, time_scale: float, zero_latency: bool
) -> None:
    from rich.table import Table

    mode = "zero latency" if zero_latency else f"time scale {time_scale:g}"
    table = Table(title=f"SIMULATED provider fleet (seed {seed}, {mode})")
    table.add_column("provider")
    table.add_column("region")
    table.add_column("base URL (SIMULATED)")
    for endpoint in fleet.endpoints:
        table.add_row(endpoint.provider, endpoint.region, endpoint.base_url)
    console.print(table)
    console.print(
        f"admin API: {fleet.admin_url}  (GET/PUT/DELETE /admin/faults, /admin/stats)"
    )
    console.print("Any API key works; press Ctrl-C to stop.")
