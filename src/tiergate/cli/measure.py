"""``tiergate report`` and ``tiergate plan``: figures from the ledger and the catalog.

Heavy libraries (numpy, matplotlib, database drivers) load inside the commands so
that ``tiergate --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import enum
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tiergate.cli.app import app

if TYPE_CHECKING:
    from tiergate.ledger import RequestRecord

LEDGER_URL_ENV = "TIERGATE_LEDGER_URL"


class ReportFormat(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class PlanFormat(enum.StrEnum):
    table = "table"
    json = "json"


@app.command()
def report(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Ledger URL: a file path, sqlite:///PATH or postgresql://... "
            f"[default: ${LEDGER_URL_ENV}, else the gateway's default SQLite file]",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only requests since: 30m, 1h, 2d, an ISO time or epoch."),
    ] = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="table, json or csv.")
    ] = ReportFormat.table,
    plot_path: Annotated[
        Path | None,
        typer.Option("--plot", help="Also write p50/p95/p99 per model+region (PNG)."),
    ] = None,
) -> None:
    """Latency, errors, tokens and cost per family, model, region and tier, from
    the ledger."""
    from rich.console import Console

    from tiergate.bench import report as rep
    from tiergate.catalog import load_default_catalog
    from tiergate.ledger import DEFAULT_LEDGER_URL
    from tiergate.ledger.store import LedgerOpenError, LedgerURLError

    url = db or os.environ.get(LEDGER_URL_ENV) or DEFAULT_LEDGER_URL
    try:
        start = rep.parse_since(since) if since else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None

    try:
        records = asyncio.run(_fetch(url, start))
    except (LedgerOpenError, LedgerURLError) as exc:
        typer.echo(f"tiergate report: {exc}", err=True)
        raise typer.Exit(2) from None
    result = rep.build_report(records, load_default_catalog())
    if output_format is ReportFormat.json:
        typer.echo(rep.to_json(result))
    elif output_format is ReportFormat.csv:
        typer.echo(rep.to_csv(result), nl=False)
    else:
        rep.render_table(result, Console())
    if plot_path is not None:
        try:
            rep.plot(result, plot_path)
        except OSError as exc:
            typer.echo(f"tiergate report: cannot write {plot_path}: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"plot written to {plot_path}", err=True)


async def _fetch(url: str, since: float | None) -> list[RequestRecord]:
    from tiergate.ledger import open_store
    from tiergate.ledger.store import LedgerOpenError

    store = open_store(url)
    path = getattr(store, "path", None)
    if path is not None and path != ":memory:" and not Path(path).exists():
        raise LedgerOpenError(
            f"no ledger at {path!r}: give --db or TIERGATE_LEDGER_URL"
        )
    await store.open()
    try:
        return await store.fetch(since=since)
    finally:
        await store.close()


@app.command()
def plan(
    mix: Annotated[
        str | None,
        typer.Option(
            help="Tier shares, e.g. default=60,reasoning=40 (default: the brief's mix)."
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(help="Tier model, e.g. vision=glm-4.6v (repeatable)."),
    ] = None,
    monthly_tokens: Annotated[
        str, typer.Option(help="Tokens a month, e.g. 500M.")
    ] = "500M",
    tokens_per_second: Annotated[
        list[float] | None,
        typer.Option(help="Per-instance tokens/s (repeatable) [60 and 35]."),
    ] = None,
    peak_factor: Annotated[float, typer.Option(help="Peak over average.")] = 10.8,
    utilisation: Annotated[float, typer.Option(help="Target, in (0, 1].")] = 1.0,
    spare: Annotated[int, typer.Option(help="Instances on top of the load.")] = 5,
    classify_input_tokens: Annotated[int, typer.Option()] = 300,
    classify_output_tokens: Annotated[int, typer.Option()] = 5,
    answer_tokens: Annotated[
        int, typer.Option(help="Average answer length in output tokens.")
    ] = 400,
    output_format: Annotated[
        PlanFormat, typer.Option("--format", help="table or json.")
    ] = PlanFormat.table,
) -> None:
    """Blended $/M from a tier mix and the catalog, what the classifier adds, and
    instances needed for a monthly token volume."""
    from rich.console import Console

    from tiergate.bench import plan as pl
    from tiergate.catalog import load_default_catalog

    try:
        result = pl.build_plan(
            load_default_catalog(),
            mix=pl.parse_mix(mix) if mix else None,
            models=pl.parse_models(model or []),
            monthly_tokens=pl.parse_count(monthly_tokens),
            rates=tokens_per_second or pl.BRIEF_RATES,
            peak_factor=peak_factor,
            utilisation=utilisation,
            spare=spare,
            classifier_tokens=(
                classify_input_tokens,
                classify_output_tokens,
                answer_tokens,
            ),
        )
    except pl.PlanError as exc:
        raise typer.BadParameter(str(exc)) from None

    if output_format is PlanFormat.json:
        typer.echo(pl.plan_to_json(result))
    else:
        pl.render_plan(result, Console())
