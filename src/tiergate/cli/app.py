"""The root typer application that every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tiergate",
    help="OpenAI-compatible LLM gateway: route each request to the cheapest adequate "
    "model tier, fail over across providers and regions, measure latency and cost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
