"""Failover order, the 503 when everything fails, and region preference."""

from __future__ import annotations

import time

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.reliability.support import FAST_TIMEOUTS, PROMPT, arrivals, providers
from tiergate.sim import Fleet

LAYOUT = {
    "deepseek": ("us-east", "eu-west", "apac"),
    "siliconflow": ("eu-west",),
    "alibaba": ("us-east",),
}
TIERS = {"default": {"candidates": ["deepseek-v4-flash", "Qwen/Qwen3-32B"]}}
NO_BREAKER = {"consecutive_errors": 50, "min_requests": 50}


async def test_failover_order_region_then_provider_then_model(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """Same model in the other regions, then at another provider, then the tier's
    next candidate model; the headers say which attempt answered."""
    gw = await make_gateway(
        providers=providers(fleet, LAYOUT),
        tiers=TIERS,
        timeouts=FAST_TIMEOUTS,
        breaker=NO_BREAKER,
    )
    await fleet.set_faults(
        [{"kind": "error", "status": 503, "model": "deepseek-v4-flash"}]
    )
    since = time.time()
    async with gw.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="tier:default", messages=PROMPT, max_tokens=5
        )

    order = [name for _, name in arrivals(fleet, since)]
    assert order == [
        "deepseek-us-east",
        "deepseek-eu-west",
        "deepseek-apac",
        "siliconflow-eu-west",
        "alibaba-us-east",
    ]
    assert raw.headers["x-tiergate-model"] == "Qwen/Qwen3-32B"
    assert raw.headers["x-tiergate-deployment"] == "alibaba-us-east"
    assert raw.headers["x-tiergate-attempts"] == "5"


async def test_all_failing_gives_openai_503_listing_what_was_tried(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """When every candidate fails, the caller gets a 503 in OpenAI's error format
    whose message and ``tried`` list name each attempt."""
    gw = await make_gateway(
        providers=providers(fleet, LAYOUT),
        tiers=TIERS,
        timeouts=FAST_TIMEOUTS,
        breaker=NO_BREAKER,
        retry={"max_retries": 1, "backoff_base_s": 0.01},
    )
    await fleet.set_faults([{"kind": "error", "status": 500}])
    async with gw.client() as client:
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(
                model="tier:default", messages=PROMPT, max_tokens=5
            )

    error = raised.value
    assert error.status_code == 503
    assert error.body["type"] == "service_unavailable"
    assert error.body["code"] == "no_deployment_available"
    assert error.body["tried"] == [
        "deepseek-us-east/deepseek-v4-flash: 500",
        "deepseek-eu-west/deepseek-v4-flash: 500",
        "alibaba-us-east/Qwen/Qwen3-32B: 500",
        "siliconflow-eu-west/Qwen/Qwen3-32B: 500",
    ]
    assert "deepseek-us-east/deepseek-v4-flash: 500" in error.message


async def test_caller_region_header_is_preferred(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """x-tiergate-region sends the request to that region's deployment."""
    gw = await make_gateway(providers=providers(fleet, LAYOUT), timeouts=FAST_TIMEOUTS)
    async with gw.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-pro",
            messages=PROMPT,
            max_tokens=5,
            extra_headers={"x-tiergate-region": "apac"},
        )
        plain = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-pro", messages=PROMPT, max_tokens=5
        )

    assert raw.headers["x-tiergate-deployment"] == "deepseek-apac"
    assert raw.headers["x-tiergate-region"] == "apac"
    assert plain.headers["x-tiergate-region"] == "us-east", "the gateway's own region"


async def test_nearest_healthy_region_by_observed_latency(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """With the caller's region down, the request goes to the region observed to be
    fastest, not the first of the static nearest list."""
    gw = await make_gateway(providers=providers(fleet, LAYOUT), timeouts=FAST_TIMEOUTS)
    await fleet.set_faults(
        [
            {
                "kind": "latency",
                "provider": "deepseek",
                "region": "us-east",
                "extra_ms": 150,
            }
        ]
    )
    async with gw.client() as client:
        for region in ("us-east", "eu-west") * 6:
            await client.chat.completions.create(
                model="deepseek-v4-pro",
                messages=PROMPT,
                max_tokens=5,
                extra_headers={"x-tiergate-region": region},
            )
        await fleet.set_faults(
            [{"kind": "region_down", "provider": "deepseek", "region": "apac"}]
        )
        raw = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-pro",
            messages=PROMPT,
            max_tokens=5,
            extra_headers={"x-tiergate-region": "apac"},
        )

    # The static table says us-east comes first for apac; observation says eu-west.
    assert gw.runtime.config.nearest["apac"][0] == "us-east"
    assert raw.headers["x-tiergate-deployment"] == "deepseek-eu-west"
    assert raw.headers["x-tiergate-attempts"] == "2"
