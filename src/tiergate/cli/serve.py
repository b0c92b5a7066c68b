"""``tiergate serve`` and ``tiergate models``."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from tiergate.cli.app import app
from tiergate.errors import ConfigError, TiergateError


def _load(config_file: Path | None):  # type: ignore[no-untyped-def]
    from tiergate.config import load_config

    try:
        return load_config(config_file)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    config_file: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config."
    ),
    host: str | None = typer.Option(
        None, help="Listen address (default: listen.host)."
    ),
    port: int | None = typer.Option(None, help="Listen port (default: listen.port)."),
    sim: bool = typer.Option(False, "--sim", help="Also run the simulated fleet here."),
    sim_base_port: int = typer.Option(9100, help="First port of the simulated fleet."),
    ledger: str | None = typer.Option(
        None, help="Ledger URL (sqlite path or postgresql://)."
    ),
    no_ledger: bool = typer.Option(False, "--no-ledger", help="Keep no ledger."),
    log_level: str = typer.Option(
        "warning", help="Log level of the gateway's loggers."
    ),
    access_log: bool = typer.Option(False, help="One log line per request."),
) -> None:
    """Run the gateway (OpenAI-compatible, on /v1/chat/completions)."""
    from tiergate.gateway.server import ServeOptions, run

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    config = _load(config_file)
    updates: dict[str, object] = {}
    if ledger is not None or no_ledger:
        updates["ledger"] = config.ledger.model_copy(
            update={"url": ledger or config.ledger.url, "enabled": not no_ledger}
        )
    if access_log:
        updates["access_log"] = True
    if updates:
        config = config.model_copy(update=updates)

    options = ServeOptions(
        host=host or config.listen.host,
        port=port if port is not None else config.listen.port,
        sim=sim,
        sim_base_port=sim_base_port,
        rebuild_for_fleet=sim and config_file is None,
    )
    where = f"http://{options.host}:{options.port}/v1"
    typer.echo(
        f"tiergate starting on {where}" + (" (with SIMULATED fleet)" if sim else "")
    )
    try:
        run(config, options)
    except TiergateError as error:
        typer.echo(f"tiergate: {error.message}", err=True)
        raise typer.Exit(2) from None


@app.command()
def models(
    config_file: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config."
    ),
) -> None:
    """Print the model catalog (prices in USD per million tokens)."""
    from rich.console import Console
    from rich.table import Table

    catalog = _load(config_file).build_catalog()
    table = Table(title="tiergate catalog (USD per million tokens; '?' = unknown)")
    for column in ("model", "family", "$/M out", "$/M in", "context", "capabilities"):
        table.add_column(
            column, justify="right" if "$" in column else "left", no_wrap=True
        )
    table.add_column("chat/code/math/zh", justify="right", no_wrap=True)

    def price(value: float | None) -> str:
        return "?" if value is None else f"{value:.2f}"

    for model in catalog:
        skills = ("chat", "code", "math", "chinese")
        scores = "/".join(str(model.score(skill)) for skill in skills)
        table.add_row(
            model.id,
            model.family,
            price(model.price_out_per_m),
            price(model.price_in_per_m),
            f"{model.context_window // 1024}K",
            ", ".join(sorted(model.capabilities)),
            scores,
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
