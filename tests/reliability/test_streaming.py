"""Streams: invisible failover before the first byte, a visible error after it, and
a caller that goes away cancelling its upstream request."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.reliability.support import (
    FAST_TIMEOUTS,
    PROMPT,
    answered,
    providers,
    stub_upstream,
)
from tiergate.sim import Fleet

DEEPSEEK_ALL = {"deepseek": ("us-east", "eu-west", "apac")}


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "cut_stream", "after_chunks": 0},
        {"kind": "hang"},
        {"kind": "error", "status": 503},
    ],
    ids=["cut-before-first-byte", "no-first-byte", "status"],
)
async def test_failure_before_first_byte_fails_over_invisibly(
    fleet: Fleet, make_gateway: GatewayFactory, fault: dict[str, object]
) -> None:
    """A stream that fails before its first byte is retried elsewhere and the caller
    gets one complete stream."""
    gw = await make_gateway(
        providers=providers(fleet, DEEPSEEK_ALL), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults([{**fault, "provider": "deepseek", "region": "us-east"}])
    async with gw.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-pro", messages=PROMPT, max_tokens=20, stream=True
        )
        chunks = [chunk async for chunk in raw.parse()]

    assert raw.headers["x-tiergate-deployment"] == "deepseek-eu-west"
    assert raw.headers["x-tiergate-attempts"] == "2"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[simulated deepseek-v4-pro")
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


async def test_cut_after_first_byte_raises_in_the_client(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """A stream cut after it started ends with an error event the openai client
    raises; it never ends as if it were complete."""
    gw = await make_gateway(
        providers=providers(fleet, DEEPSEEK_ALL), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults(
        [{"kind": "cut_stream", "provider": "deepseek", "after_chunks": 3}]
    )
    chunks = []
    async with gw.client() as client:
        stream = await client.chat.completions.create(
            model="deepseek-v4-pro", messages=PROMPT, max_tokens=30, stream=True
        )
        with pytest.raises(openai.APIError) as raised:
            async for chunk in stream:
                chunks.append(chunk)

    assert 1 <= len(chunks) <= 3
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    assert raised.value.body["code"] == "stream_interrupted"
    assert "truncated" in raised.value.message


async def test_disconnect_cancels_a_non_streaming_upstream_request(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """A caller that gives up makes the gateway drop its upstream request: the
    simulated provider never gets to answer it."""
    gw = await make_gateway(
        providers=providers(fleet, {"deepseek": ("us-east",)}),
        timeouts={**FAST_TIMEOUTS, "first_byte_s": 5.0},
    )
    await fleet.set_faults(
        [{"kind": "hang", "provider": "deepseek", "region": "us-east", "seconds": 0.8}]
    )
    before = answered(fleet, "deepseek-us-east")
    async with gw.client(timeout=0.2) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(
                model="deepseek-v4-pro", messages=PROMPT, max_tokens=5
            )
    await asyncio.sleep(1.0)

    assert answered(fleet, "deepseek-us-east") == before


async def test_disconnect_cancels_a_stream_promptly(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """Closing a stream mid-way drops the upstream connection within moments."""
    async with stub_upstream("slow_stream", seconds=5.0) as stub:
        layout = {
            "stubby": {
                "simulated": True,
                "deployments": [
                    {
                        "base_url": stub.url,
                        "region": "us-east",
                        "models": {"deepseek-v4-pro": "deepseek-v4-pro"},
                    }
                ],
            }
        }
        gw = await make_gateway(providers=layout, timeouts=FAST_TIMEOUTS)
        async with gw.client() as client:
            stream = await client.chat.completions.create(
                model="deepseek-v4-pro", messages=PROMPT, max_tokens=50, stream=True
            )
            seen = 0
            async for _ in stream:
                seen += 1
                if seen == 3:
                    break
            await stream.close()
            closed_at = time.time()
            for _ in range(50):
                if stub.cancelled:
                    break
                await asyncio.sleep(0.02)

    assert stub.cancelled, "the upstream stream was not dropped"
    assert stub.cancelled[0] - closed_at < 0.5
