"""Faults switched through the admin HTTP API, observed with the openai client."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import openai
import pytest

from tiergate.sim import Fleet

from .support import ClientFactory

HELLO = [{"role": "user", "content": "hello"}]


async def _admin(
    fleet: Fleet, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, fleet.admin_url + path, json=body) as resp,
    ):
        return resp.status, await resp.json()


async def _put_faults(fleet: Fleet, rules: list[dict[str, Any]]) -> None:
    status, body = await _admin(fleet, "PUT", "/admin/faults", rules)
    assert status == 200, body


async def test_health_and_fault_listing(fresh_fleet: Fleet) -> None:
    """GET /healthz answers; PUT then GET /admin/faults returns the rules in full."""
    assert await _admin(fresh_fleet, "GET", "/healthz") == (
        200,
        {"status": "ok", "simulated": True},
    )
    await _put_faults(fresh_fleet, [{"kind": "rate_limit", "provider": "moonshot"}])
    status, rules = await _admin(fresh_fleet, "GET", "/admin/faults")
    assert status == 200
    assert rules == [
        {
            "kind": "rate_limit",
            "provider": "moonshot",
            "region": None,
            "model": None,
            "rate": 1.0,
            "retry_after": 1,
        }
    ]
    status, rules = await _admin(
        fresh_fleet, "POST", "/admin/faults", [{"kind": "hang"}]
    )
    assert [rule["kind"] for rule in rules] == ["rate_limit", "hang"]
    assert await _admin(fresh_fleet, "DELETE", "/admin/faults") == (200, [])


async def test_bad_fault_body_is_a_400_naming_the_field(fresh_fleet: Fleet) -> None:
    """A rule with an invalid field gets 400 and leaves the active rules unchanged."""
    await _put_faults(fresh_fleet, [{"kind": "latency", "extra_ms": 10}])
    status, body = await _admin(
        fresh_fleet,
        "PUT",
        "/admin/faults",
        [{"kind": "error", "status": 200, "rate": 1}],
    )
    assert status == 400
    assert "faults[0].error.status" in body["error"]["message"]
    assert [rule["kind"] for rule in fresh_fleet.faults_json()] == ["latency"]


@pytest.mark.parametrize("status", [500, 502, 503, 529, 400])
async def test_error_rate_one_answers_that_status(
    fresh_fleet: Fleet, make_client: ClientFactory, status: int
) -> None:
    """An error rule at rate 1.0 makes every matching request fail with its status."""
    await _put_faults(
        fresh_fleet, [{"kind": "error", "status": status, "provider": "zhipu"}]
    )
    client = make_client(fresh_fleet.endpoint("zhipu", "apac"))
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model="glm-5", messages=HELLO)
    assert caught.value.status_code == status
    assert "simulated fault" in caught.value.message

    other = make_client(fresh_fleet.endpoint("alibaba", "apac"))
    assert (await other.chat.completions.create(model="glm-5", messages=HELLO)).choices


async def test_rate_limit_sends_retry_after(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """A rate_limit rule answers 429 with the Retry-After header it names."""
    await _put_faults(fresh_fleet, [{"kind": "rate_limit", "retry_after": 2}])
    client = make_client(fresh_fleet.endpoint("moonshot", "us-east"))
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="kimi-k2.5", messages=HELLO)
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.code == "rate_limit_exceeded"


async def test_cut_stream_raises_during_iteration(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """A cut stream makes the client raise mid-iteration, with no finish_reason seen."""
    await _put_faults(fresh_fleet, [{"kind": "cut_stream", "after_chunks": 3}])
    client = make_client(fresh_fleet.endpoint("deepseek", "us-east"))
    stream = await client.chat.completions.create(
        model="deepseek-v4-flash", messages=HELLO, stream=True
    )
    received = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    assert all(chunk.choices[0].finish_reason is None for chunk in received)


async def test_cut_stream_spares_non_streaming(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """cut_stream leaves non-streaming requests answering normally."""
    await _put_faults(fresh_fleet, [{"kind": "cut_stream", "after_chunks": 0}])
    client = make_client(fresh_fleet.endpoint("deepseek", "us-east"))
    completion = await client.chat.completions.create(
        model="deepseek-v4-flash", messages=HELLO
    )
    assert completion.choices[0].finish_reason == "stop"


async def test_region_down_refuses_then_recovers_on_the_same_port(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """region_down drops open keep-alive connections and refuses new ones; clearing
    it serves again on the same port while other regions never stopped."""
    down = fresh_fleet.endpoint("alibaba", "eu-west")
    client = make_client(down)
    await client.chat.completions.create(model="qwen3-8b", messages=HELLO)

    await _put_faults(fresh_fleet, [{"kind": "region_down", "region": "eu-west"}])
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="qwen3-8b", messages=HELLO)
    sibling = make_client(fresh_fleet.endpoint("zhipu", "eu-west"))
    with pytest.raises(openai.APIConnectionError):
        await sibling.chat.completions.create(model="glm-5", messages=HELLO)
    elsewhere = make_client(fresh_fleet.endpoint("alibaba", "apac"))
    assert (
        await elsewhere.chat.completions.create(model="qwen3-8b", messages=HELLO)
    ).choices
    _, listing = await _admin(fresh_fleet, "GET", "/admin/endpoints")
    assert {e["name"] for e in listing if not e["up"]} == {
        f"{p}-eu-west"
        for p in ("deepseek", "alibaba", "moonshot", "zhipu", "siliconflow")
    }

    await _admin(fresh_fleet, "DELETE", "/admin/faults")
    assert fresh_fleet.endpoint("alibaba", "eu-west").port == down.port
    assert (
        await client.chat.completions.create(model="qwen3-8b", messages=HELLO)
    ).choices


async def test_region_down_drops_a_stream_in_flight(make_client: ClientFactory) -> None:
    """A stream in progress when its region goes down ends in a connection error."""
    async with Fleet(base_port=0, time_scale=1.0) as fleet:
        client = make_client(fleet.endpoint("moonshot", "apac"))
        stream = await client.chat.completions.create(
            model="kimi-k2.5", messages=HELLO, stream=True, max_tokens=200
        )
        with pytest.raises(openai.APIConnectionError):
            async for _ in stream:
                await fleet.set_faults([{"kind": "region_down", "region": "apac"}])


async def test_hang_times_the_client_out(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """A hang rule never answers, so the client's timeout fires."""
    await _put_faults(fresh_fleet, [{"kind": "hang", "provider": "deepseek"}])
    client = make_client(fresh_fleet.endpoint("deepseek", "eu-west"), timeout=0.3)
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="deepseek-v4-flash", messages=HELLO)
    assert time.perf_counter() - started < 2.0


async def test_finite_hang_answers_late(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """A hang with seconds answers after at least that long."""
    await _put_faults(fresh_fleet, [{"kind": "hang", "seconds": 0.3}])
    client = make_client(fresh_fleet.endpoint("zhipu", "us-east"))
    started = time.perf_counter()
    completion = await client.chat.completions.create(model="glm-4-9b", messages=HELLO)
    assert completion.choices
    assert time.perf_counter() - started >= 0.3


async def test_hang_after_chunks_stalls_a_stream(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """A hang with after_chunks sends that many events, then stalls past the timeout."""
    await _put_faults(fresh_fleet, [{"kind": "hang", "after_chunks": 2}])
    client = make_client(fresh_fleet.endpoint("zhipu", "us-east"), timeout=0.5)
    stream = await client.chat.completions.create(
        model="glm-5", messages=HELLO, stream=True
    )
    received = []
    with pytest.raises(openai.APITimeoutError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 2


async def test_latency_fault_delays_the_answer(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """A latency rule adds its extra milliseconds to the time to first token."""
    await _put_faults(
        fresh_fleet, [{"kind": "latency", "extra_ms": 300, "region": "apac"}]
    )
    client = make_client(fresh_fleet.endpoint("alibaba", "apac"))
    started = time.perf_counter()
    await client.chat.completions.create(model="qwen3-8b", messages=HELLO)
    assert time.perf_counter() - started >= 0.3


async def test_slow_stream_divides_the_token_rate(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """slow_stream factor 50 makes a stream of N tokens take at least 50x its normal
    generation time, N / 60 tok/s x time scale 0.01."""
    await _put_faults(fresh_fleet, [{"kind": "slow_stream", "factor": 50}])
    client = make_client(fresh_fleet.endpoint("deepseek", "apac"))
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model="deepseek-v4-flash",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    elapsed = time.perf_counter() - started

    usage = chunks[-1].usage
    assert usage is not None
    # the last content chunk (at most 3 tokens) goes out without waiting for itself
    assert elapsed >= (usage.completion_tokens - 3) / 60 * 0.01 * 50


async def test_model_scoped_fault_spares_other_models(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """A fault on deepseek-reasoner leaves deepseek-v4-flash on the same endpoint."""
    await _put_faults(
        fresh_fleet, [{"kind": "error", "status": 503, "model": "deepseek-r1"}]
    )
    client = make_client(fresh_fleet.endpoint("deepseek", "us-east"))
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="deepseek-reasoner", messages=HELLO)
    assert (
        await client.chat.completions.create(model="deepseek-v4-flash", messages=HELLO)
    ).choices
