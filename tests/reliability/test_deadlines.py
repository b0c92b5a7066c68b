"""Deadlines: connect, first byte, stream idle gap and the caller's total."""

from __future__ import annotations

import time

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.reliability.support import (
    FAST_TIMEOUTS,
    PROMPT,
    counts,
    delta,
    providers,
    unaccepting_port,
)
from tiergate.sim import Fleet

DEEPSEEK_ALL = {"deepseek": ("us-east", "eu-west", "apac")}


async def test_connect_timeout_fails_over(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """A deployment that never completes the TCP handshake costs connect_s, then the
    next region answers."""
    async with unaccepting_port() as dead_url:
        layout = providers(fleet, {"deepseek": ("eu-west",)})
        layout["blackhole"] = {
            "simulated": True,
            "deployments": [
                {
                    "base_url": dead_url,
                    "region": "us-east",
                    "models": {"deepseek-v4-pro": "deepseek-v4-pro"},
                }
            ],
        }
        gw = await make_gateway(
            providers=layout, timeouts={**FAST_TIMEOUTS, "connect_s": 0.3}
        )
        async with gw.client() as client:
            started = time.monotonic()
            raw = await client.chat.completions.with_raw_response.create(
                model="deepseek-v4-pro", messages=PROMPT, max_tokens=5
            )
            elapsed = time.monotonic() - started

    assert raw.headers["x-tiergate-deployment"] == "deepseek-eu-west"
    assert raw.headers["x-tiergate-attempts"] == "2"
    assert 0.25 <= elapsed < 1.5


async def test_first_byte_timeout_fails_over(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """A hanging deployment is given up after first_byte_s and the next region
    answers within the caller's deadline."""
    gw = await make_gateway(
        providers=providers(fleet, DEEPSEEK_ALL), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults(
        [{"kind": "hang", "provider": "deepseek", "region": "us-east"}]
    )
    before = counts(fleet)
    async with gw.client() as client:
        started = time.monotonic()
        raw = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-pro", messages=PROMPT, max_tokens=5
        )
        elapsed = time.monotonic() - started

    assert raw.headers["x-tiergate-deployment"] == "deepseek-eu-west"
    assert raw.headers["x-tiergate-attempts"] == "2"
    assert delta(before, counts(fleet)) == {
        "deepseek-us-east": 1,
        "deepseek-eu-west": 1,
    }
    assert 0.45 <= elapsed < 1.5


async def test_stream_idle_gap_ends_with_an_error(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """A stream that stalls after its first events ends after idle_s with an error
    the openai client raises, not with a silent end."""
    timeouts = {**FAST_TIMEOUTS, "idle_s": 0.3, "first_byte_s": 1.0}
    gw = await make_gateway(providers=providers(fleet, DEEPSEEK_ALL), timeouts=timeouts)
    await fleet.set_faults(
        [{"kind": "hang", "provider": "deepseek", "after_chunks": 2}]
    )
    chunks = []
    async with gw.client() as client:
        stream = await client.chat.completions.create(
            model="deepseek-v4-pro", messages=PROMPT, max_tokens=30, stream=True
        )
        last = time.monotonic()
        with pytest.raises(openai.APIError) as raised:
            async for chunk in stream:
                chunks.append(chunk)
                last = time.monotonic()
        gap = time.monotonic() - last

    assert chunks, "the stream was committed before it stalled"
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    assert "truncated" in raised.value.message
    assert 0.25 <= gap < 0.9


async def test_total_deadline_is_never_exceeded_by_retries(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """With every deployment hanging, retries stop at total_s and the caller gets a
    503 saying the deadline was reached."""
    timeouts = {**FAST_TIMEOUTS, "total_s": 1.2}
    gw = await make_gateway(providers=providers(fleet, DEEPSEEK_ALL), timeouts=timeouts)
    await fleet.set_faults([{"kind": "hang", "provider": "deepseek"}])
    async with gw.client() as client:
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(
                model="deepseek-v4-pro", messages=PROMPT, max_tokens=5
            )
        elapsed = time.monotonic() - started

    assert raised.value.status_code == 503
    assert "deadline reached" in raised.value.message
    # 0.5 s + 0.5 s of first-byte timeouts, then a third attempt cut at 1.2 s
    assert len(raised.value.body["tried"]) == 3
    assert 1.1 <= elapsed < 1.2 * 1.1 + 0.1


async def test_timeout_header_shortens_the_deadline(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """x-tiergate-timeout-ms lowers the request's total deadline below the config's."""
    gw = await make_gateway(
        providers=providers(fleet, DEEPSEEK_ALL), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults([{"kind": "hang", "provider": "deepseek"}])
    async with gw.client() as client:
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(
                model="deepseek-v4-pro",
                messages=PROMPT,
                max_tokens=5,
                extra_headers={"x-tiergate-timeout-ms": "300"},
            )
        elapsed = time.monotonic() - started

    assert raised.value.status_code == 503
    assert 0.28 <= elapsed < 0.6
