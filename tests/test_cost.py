"""Per-request cost from catalog prices."""

from __future__ import annotations

import pytest

from tiergate.catalog import load_default_catalog
from tiergate.cost import covers_input, request_cost

CATALOG = load_default_catalog()


def test_output_tokens_are_priced_per_million() -> None:
    """2,000 output tokens of deepseek-v4-flash at $0.25/M cost $0.0005."""
    model = CATALOG["deepseek-v4-flash"]

    assert request_cost(model, 1000, 2000) == pytest.approx(0.0005)


def test_reasoning_inside_completion_tokens_is_not_billed_twice() -> None:
    """OpenAI-style usage: reasoning tokens are part of output_tokens already."""
    model = CATALOG["deepseek-r1"]

    assert request_cost(model, 10, 1000, reasoning_tokens=800) == pytest.approx(
        1000 * 2.50 / 1e6
    )


def test_separately_reported_reasoning_is_billed_as_output() -> None:
    """With reasoning_included=False, reasoning tokens are added at output price."""
    model = CATALOG["deepseek-r1"]

    cost = request_cost(model, 10, 200, 800, reasoning_included=False)

    assert cost == pytest.approx(1000 * 2.50 / 1e6)


def test_unknown_output_price_gives_unknown_cost() -> None:
    """glm-4.6v has no known price: the cost is None, not 0; so is a missing model."""
    assert request_cost(CATALOG["glm-4.6v"], 100, 100) is None
    assert request_cost(None, 100, 100) is None


def test_input_is_priced_where_the_catalog_knows_it() -> None:
    """With an input price the cost includes input; without, output only."""
    priced = CATALOG.merged({"Qwen/Qwen3-32B": {"price_in_per_m": 0.10}})

    with_input = request_cost(priced["Qwen/Qwen3-32B"], 5000, 1000)
    without = request_cost(CATALOG["Qwen/Qwen3-32B"], 5000, 1000)

    assert with_input == pytest.approx((5000 * 0.10 + 1000 * 0.28) / 1e6)
    assert without == pytest.approx(1000 * 0.28 / 1e6)
    assert covers_input(priced["Qwen/Qwen3-32B"])
    assert not covers_input(CATALOG["Qwen/Qwen3-32B"])


def test_missing_token_counts_bill_nothing() -> None:
    """A failed attempt with no reported tokens costs 0 on a priced model."""
    assert request_cost(CATALOG["kimi-k2.5"], None, None) == 0.0
