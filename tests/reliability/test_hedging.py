"""Hedging: a slow first attempt gets a second one elsewhere; both are paid."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import GatewayFactory
from tests.reliability.support import (
    FAST_TIMEOUTS,
    PROMPT,
    answered,
    counts,
    delta,
    providers,
)
from tiergate.sim import Fleet

DEEPSEEK_ALL = {"deepseek": ("us-east", "eu-west", "apac")}


async def test_hedge_answers_from_the_second_deployment_and_counts_both(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """With hedge on, a first attempt slower than the hedge delay is raced by a second
    deployment, whose answer wins; the loser is cancelled and the cost is doubled."""
    gw = await make_gateway(
        providers=providers(fleet, DEEPSEEK_ALL),
        timeouts=FAST_TIMEOUTS,
        tiers={"default": {"candidates": ["deepseek-v4-flash"], "hedge": True}},
        hedging={"default_after_ms": 100},
    )
    await fleet.set_faults(
        [
            {
                "kind": "latency",
                "provider": "deepseek",
                "region": "us-east",
                "extra_ms": 1500,
            }
        ]
    )
    before = counts(fleet)
    slow_answers = answered(fleet, "deepseek-us-east")
    async with gw.client() as client:
        started = time.monotonic()
        raw = await client.chat.completions.with_raw_response.create(
            model="tier:default", messages=PROMPT, max_tokens=5
        )
        elapsed = time.monotonic() - started
    completion = raw.parse()
    await asyncio.sleep(1.6)

    assert raw.headers["x-tiergate-deployment"] == "deepseek-eu-west"
    assert raw.headers["x-tiergate-hedged"] == "true"
    assert raw.headers["x-tiergate-attempts"] == "2"
    assert 0.1 <= elapsed < 0.6
    assert delta(before, counts(fleet)) == {
        "deepseek-us-east": 1,
        "deepseek-eu-west": 1,
    }
    assert answered(fleet, "deepseek-us-east") == slow_answers, (
        "the loser was cancelled"
    )
    assert completion.usage is not None
    one_answer = completion.usage.completion_tokens * 0.25 / 1e6
    assert float(raw.headers["x-tiergate-cost-usd"]) == pytest.approx(2 * one_answer)


async def test_no_hedge_when_the_first_answer_is_fast(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """A first attempt that answers before the hedge delay is the only one sent."""
    gw = await make_gateway(
        providers=providers(fleet, DEEPSEEK_ALL),
        timeouts=FAST_TIMEOUTS,
        tiers={"default": {"candidates": ["deepseek-v4-flash"], "hedge": True}},
        hedging={"default_after_ms": 400},
    )
    before = counts(fleet)
    async with gw.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="tier:default", messages=PROMPT, max_tokens=5
        )

    assert "x-tiergate-hedged" not in raw.headers
    assert raw.headers["x-tiergate-attempts"] == "1"
    assert delta(before, counts(fleet)) == {"deepseek-us-east": 1}
