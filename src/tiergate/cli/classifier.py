"""``tiergate classifier train|eval``: rebuild the shipped model, score a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tiergate.cli.app import app

classifier_app = typer.Typer(
    help="Train and evaluate the request classifier.", no_args_is_help=True
)
app.add_typer(classifier_app, name="classifier")

_SHIPPED = Path(__file__).resolve().parent.parent / "classify" / "model" / "intent.npz"


@classifier_app.command("train")
def train(
    data_dir: Annotated[
        Path, typer.Option(help="The shared prompt sets (see their SOURCES.md).")
    ] = Path("../shared/data/prompts"),
    out: Annotated[
        Path, typer.Option(help="Where to write the model file.")
    ] = _SHIPPED,
    report_dir: Annotated[
        Path, typer.Option(help="Where to write the split and eval files.")
    ] = Path("build/classifier"),
    hold_out: Annotated[
        list[str] | None,
        typer.Option(
            "--hold-out",
            help="Leave this trainable source (e.g. vicuna_bench) out of training "
            "entirely and evaluate on all of it; repeatable. Use with --out, so "
            "the shipped model is not replaced.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rebuild the intent model (fixed seed and split) and evaluate it."""
    from tiergate.classify.evaluate import evaluate, read_rows
    from tiergate.classify.intent import IntentModel
    from tiergate.classify.pipeline import Classifier
    from tiergate.classify.settings import ClassifierSettings
    from tiergate.classify.training import build

    if not data_dir.is_dir():
        raise typer.BadParameter(f"{data_dir} is not a folder", param_hint="--data-dir")
    try:
        result = build(data_dir, out, report_dir, hold_out=hold_out or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--data-dir") from exc

    classifier = Classifier(ClassifierSettings(), IntentModel.load(out))
    summary: dict[str, object] = {
        "model": str(out),
        "held_out_sources": sorted(hold_out or ()),
        "sources": result.counts,
    }
    for name, path in result.files.items():
        if name != "train":
            summary[name] = evaluate(classifier, read_rows(path)).as_dict()
    (report_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_train_summary(summary, report_dir)


@classifier_app.command("eval")
def eval_(
    data: Annotated[
        Path, typer.Option(help="JSONL rows with 'tier' and messages/prompt.")
    ],
    model: Annotated[
        Path | None, typer.Option(help="A model file instead of the shipped one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Accuracy, per-tier precision/recall, confusion matrix and timing on a file."""
    from tiergate.classify.evaluate import EvalDataError, evaluate, read_rows
    from tiergate.classify.intent import IntentModel, IntentModelError
    from tiergate.classify.pipeline import Classifier
    from tiergate.classify.settings import ClassifierSettings

    try:
        rows = read_rows(data)
    except (OSError, EvalDataError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--data") from exc
    try:
        classifier = Classifier(ClassifierSettings(), IntentModel.load(model))
    except IntentModelError as exc:
        raise typer.BadParameter(str(exc), param_hint="--model") from None
    report = evaluate(classifier, rows)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    print_report(report, title=str(data))


def print_report(report: object, title: str) -> None:
    """Rich tables for an EvalReport: headline, per tier, confusion matrix."""
    from rich.console import Console
    from rich.table import Table

    from tiergate.classify.evaluate import EvalReport

    assert isinstance(report, EvalReport)
    console = Console()
    console.print(
        f"[bold]{title}[/]: {report.rows} rows, "
        f"accuracy [bold]{report.accuracy:.2%}[/], "
        f"classify p50 {report.p50_ms:.3f} ms, p99 {report.p99_ms:.3f} ms, "
        f"max {report.max_ms:.3f} ms"
    )
    tiers = Table("tier", "precision", "recall", "support", title="per tier")
    for tier, score in report.tiers.items():
        tiers.add_row(
            tier, f"{score.precision:.3f}", f"{score.recall:.3f}", str(score.support)
        )
    console.print(tiers)

    names = list(report.confusion)
    matrix = Table("expected \\ predicted", *names, title="confusion matrix")
    for expected in names:
        matrix.add_row(expected, *(str(report.confusion[expected][p]) for p in names))
    console.print(matrix)
    if len(report.by_source) > 1:
        sources = Table("source", "accuracy", title="by source")
        for source, accuracy in report.by_source.items():
            sources.add_row(source, f"{accuracy:.2%}")
        console.print(sources)


def _print_train_summary(summary: dict[str, object], report_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    sources = summary["sources"]
    assert isinstance(sources, dict)
    table = Table("source", "train", "held out", title="training data")
    for name, counts in sources.items():
        table.add_row(name, str(counts["train"]), str(counts["heldout"]))
    console.print(table)
    results = Table("eval file", "rows", "accuracy", "p99 ms", title="evaluation")
    for name, value in summary.items():
        if isinstance(value, dict) and "accuracy" in value:
            results.add_row(
                name,
                str(value["rows"]),
                f"{value['accuracy']:.2%}",
                f"{value['p99_ms']:.3f}",
            )
    console.print(results)
    console.print(f"model: {summary['model']}; split and metrics: {report_dir}/")
