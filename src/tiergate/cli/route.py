"""``tiergate route``: what the gateway would do with a request, without sending it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from tiergate.cli.app import app


@app.command()
def route(
    text: str | None = typer.Argument(None, help="A user message to route."),
    file: Path | None = typer.Option(
        None, "--file", "-f", help="A chat completion request body (JSON)."
    ),
    model: str = typer.Option(
        "auto", help="The request's model (auto, tier:X, or a model)."
    ),
    region: str | None = typer.Option(None, help="Caller region (x-tiergate-region)."),
    header: list[str] = typer.Option(
        [], "--header", "-H", help="Override header, e.g. 'x-tiergate-tier: heavy'."
    ),
    config_file: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Print the tier, model order and reason for a request; nothing is sent."""
    from tiergate.classify.intent import IntentModelError
    from tiergate.classify.pipeline import Classifier
    from tiergate.cli.serve import _load
    from tiergate.errors import TiergateError
    from tiergate.policy import Overrides, Policy, classify_for

    body = _request_body(text, file, model)
    config = _load(config_file)
    headers = _parse_headers(header)
    if region is not None:
        headers["x-tiergate-region"] = region

    served = {m for _, _, dep in config.deployments() for m in dep.models}
    policy = Policy(config, config.build_catalog(), served)
    try:
        classifier = Classifier(config.classifier)
    except IntentModelError as error:
        typer.echo(f"classifier.model_path: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        overrides = Overrides.from_headers(headers)
        classification = classify_for(classifier, body, overrides)
        decision = policy.decide(
            body,
            classification,
            overrides,
            None,
            overrides.region or config.region,
            lambda _model, _region: None,
        )
    except TiergateError as error:
        _print({"error": error.body()["error"]}, as_json)
        raise typer.Exit(1) from None

    c = decision.classification
    result = {
        "tier": decision.tier,
        "model": decision.models[0],
        "candidates": list(decision.models),
        "reason": decision.reason,
        "intent": c.intent,
        "confidence": round(c.confidence, 3),
        "chinese": c.chinese,
        "cjk_share": c.cjk_share,
        "input_tokens": c.input_tokens,
        "needs": sorted(c.needs),
    }
    _print(result, as_json)


def _request_body(text: str | None, file: Path | None, model: str) -> dict[str, Any]:
    if file is not None:
        try:
            raw = sys.stdin.read() if str(file) == "-" else file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            typer.echo(f"cannot read {file}: {error}", err=True)
            raise typer.Exit(2) from None
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as error:
            typer.echo(f"{file}: not valid JSON ({error})", err=True)
            raise typer.Exit(2) from None
        if not isinstance(body, dict):
            typer.echo(f"{file}: a request body must be a JSON object", err=True)
            raise typer.Exit(2)
        body.setdefault("model", model)
        return body
    if text is None:
        typer.echo("give a TEXT argument or --file request.json", err=True)
        raise typer.Exit(2)
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def _parse_headers(items: list[str]) -> dict[str, str]:
    headers = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep:
            typer.echo(f"--header {item!r}: expected 'name: value'", err=True)
            raise typer.Exit(2)
        headers[name.strip().lower()] = value.strip()
    return headers


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    if "error" in result:
        typer.echo(
            f"not routable ({result['error']['code']}): {result['error']['message']}"
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None)
    for key, value in result.items():
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        table.add_row(f"[bold]{key}[/bold]", shown)
    Console().print(table)
