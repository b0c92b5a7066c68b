"""What routing saves: blended $/M output under ``auto`` against one-model baselines.

Routes every request of the shipped demo workload (drawn from the permissively
licensed shared prompt sets) the way the gateway would, without sending anything,
and prices it from the catalog. Three strategies are compared:

- ``auto``: the classifier and the default tier policy;
- ``default tier``: every request to the default tier's first model that can serve
  it (requests with images cannot go to a text model, so they take the vision tier's
  first model; the baseline is as cheap as the constraints allow);
- ``best model``: every request to the strongest capable model (highest mean quality
  score of chat, code, math and chinese for text; the best vision score for images).

Output tokens per request are assumed equal across strategies and requests (the
figures are ratios of prices weighted by traffic), so the blended $/M is the mean
output price over requests. A model with an unknown price is reported as unpriced
traffic and left out of the blend, never priced at zero.

Usage: ``python scripts/bench_routing_cost.py [--json]``
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from tiergate.bench.workload import load_workload
from tiergate.catalog import Catalog, Model
from tiergate.classify.pipeline import Classifier
from tiergate.config import Config, parse_config
from tiergate.errors import TiergateError
from tiergate.policy import Overrides, Policy

SKILLS = ("chat", "code", "math", "chinese")


def best_model(catalog: Catalog, served: set[str], needs: frozenset[str]) -> Model:
    """The strongest served model with every capability ``needs`` names."""
    capable = [m for m in catalog if m.id in served and all(m.can(c) for c in needs)]
    if "vision" in needs:
        return max(capable, key=lambda m: m.score("vision"))
    return max(capable, key=lambda m: sum(m.score(s) for s in SKILLS))


def route_all(config: Config) -> dict[str, list[tuple[str, str]]]:
    """(tier, model) per request for each strategy."""
    catalog = config.build_catalog()
    served = {m for _, _, dep in config.deployments() for m in dep.models}
    policy = Policy(config, catalog, served)
    classifier = Classifier(config.classifier)
    none = Overrides()
    results: dict[str, list[tuple[str, str]]] = {
        "auto": [],
        "default tier": [],
        "best model": [],
    }
    for row in load_workload():
        body: dict[str, Any] = {"model": "auto", "messages": row.messages}
        c = classifier.classify(body)
        try:
            d = policy.decide(body, c, none, None, config.region, lambda m, r: None)
        except TiergateError as error:
            raise SystemExit(f"row {row.id} is unroutable: {error.message}") from None
        results["auto"].append((d.tier, d.models[0]))

        tier = "vision" if "vision" in c.needs else "default"
        base = policy.decide(
            {**body, "model": f"tier:{tier}"},
            c,
            none,
            None,
            config.region,
            lambda m, r: None,
        )
        results["default tier"].append((tier, base.models[0]))
        results["best model"].append(("best", best_model(catalog, served, c.needs).id))
    return results


def blend(catalog: Catalog, routed: list[tuple[str, str]]) -> dict[str, Any]:
    prices = [catalog[model].price_out_per_m for _, model in routed]
    priced = [p for p in prices if p is not None]
    tiers = Counter(tier for tier, _ in routed)
    models = Counter(model for _, model in routed)
    return {
        "requests": len(routed),
        "blended_usd_per_m_out": sum(priced) / len(priced) if priced else None,
        "unpriced_share": 1 - len(priced) / len(prices),
        "tier_share": {t: n / len(routed) for t, n in tiers.most_common()},
        "model_share": {m: n / len(routed) for m, n in models.most_common()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    config = parse_config(None)
    catalog = config.build_catalog()
    figures = {
        name: blend(catalog, routed) for name, routed in route_all(config).items()
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return

    console = Console()
    if not console.is_terminal:
        console = Console(width=100)
    table = Table(title="blended $ per million output tokens on the shipped workload")
    for column in ("strategy", "requests", "$/M out", "unpriced traffic", "vs auto"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    auto = figures["auto"]["blended_usd_per_m_out"]
    for name, f in figures.items():
        value = f["blended_usd_per_m_out"]
        table.add_row(
            name,
            str(f["requests"]),
            f"${value:.4f}",
            f"{f['unpriced_share']:.1%}",
            f"{value / auto:.2f}x",
        )
    console.print(table)

    shares = Table(title="auto: share of traffic per tier and model")
    shares.add_column("tier")
    shares.add_column("share", justify="right")
    for tier, share in figures["auto"]["tier_share"].items():
        shares.add_row(tier, f"{share:.1%}")
    console.print(shares)
    models = ", ".join(
        f"{m} {s:.1%}" for m, s in figures["auto"]["model_share"].items()
    )
    console.print(f"models under auto: {models}")


if __name__ == "__main__":
    main()
