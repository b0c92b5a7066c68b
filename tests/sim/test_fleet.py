"""The fleet as a whole: endpoints, seeding, the zero-latency path and counters."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
import pytest

from tiergate.sim import Fleet, run_fleet
from tiergate.sim.layout import PROVIDERS, REGIONS

from .support import ClientFactory

HELLO = [{"role": "user", "content": "hello fleet"}]


async def test_every_endpoint_binds_its_own_port(fleet: Fleet) -> None:
    """base_port=0 gives one ephemeral port per provider x region, plus the admin."""
    endpoints = fleet.endpoints
    assert {(e.provider, e.region) for e in endpoints} == {
        (p, r) for p in PROVIDERS for r in REGIONS
    }
    ports = {e.port for e in endpoints}
    assert len(ports) == len(PROVIDERS) * len(REGIONS)
    assert 0 not in ports
    admin_port = int(fleet.admin_url.rsplit(":", 1)[1])
    assert admin_port not in ports and admin_port > 0


async def test_each_endpoint_knows_its_provider_and_region(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """Every endpoint's answer names the provider and region it was sent to."""
    for endpoint in fleet.endpoints:
        client = make_client(endpoint)
        completion = await client.chat.completions.create(
            model="glm-4-9b", messages=HELLO, max_tokens=2
        )
        content = completion.choices[0].message.content or ""
        assert content.startswith(
            f"[simulated glm-4-9b @ {endpoint.provider}/{endpoint.region}]"
        )


async def _answers(fleet: Fleet, make_client: ClientFactory) -> list[tuple[str, int]]:
    client = make_client(fleet.endpoint("siliconflow", "us-east"))
    found = []
    for model in ("deepseek-v4-flash", "glm-5", "kimi-k2.5"):
        completion = await client.chat.completions.create(model=model, messages=HELLO)
        assert completion.usage is not None
        found.append(
            (completion.choices[0].message.content or "", completion.usage.total_tokens)
        )
    return found


async def test_same_seed_repeats_the_run(make_client: ClientFactory) -> None:
    """Two fleets with one seed give identical answers to one request sequence; another
    seed gives different ones."""
    runs = []
    for seed in (7, 7, 8):
        async with Fleet(base_port=0, seed=seed, time_scale=0.001) as fleet:
            runs.append(await _answers(fleet, make_client))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


async def test_zero_latency_answers_plain_and_streamed_requests(
    make_client: ClientFactory,
) -> None:
    """The zero-latency fleet answers at once with tiny, well-formed completions."""
    async with Fleet(base_port=0, zero_latency=True) as fleet:
        client = make_client(fleet.endpoint("deepseek", "us-east"))
        started = time.perf_counter()
        first = await client.chat.completions.create(
            model="deepseek-v4-flash", messages=HELLO
        )
        second = await client.chat.completions.create(
            model="deepseek-v4-flash", messages=HELLO
        )
        stream = await client.chat.completions.create(
            model="deepseek-v4-flash",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert time.perf_counter() - started < 1.0

    assert first.id != second.id
    assert first.usage is not None and first.usage.completion_tokens == 8
    assert first.usage.total_tokens == first.usage.prompt_tokens + 8
    assert (first.choices[0].message.content or "").startswith(
        "[simulated deepseek-v4-flash"
    )
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8


async def test_zero_latency_still_calls_tools_and_applies_faults(
    make_client: ClientFactory,
) -> None:
    """Zero latency keeps tool calls and faults working (they skip the fast path)."""
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    async with Fleet(base_port=0, zero_latency=True) as fleet:
        client = make_client(fleet.endpoint("zhipu", "apac"))
        called = await client.chat.completions.create(
            model="glm-5", messages=HELLO, tools=tools
        )
        await fleet.set_faults([{"kind": "error", "status": 502}])
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="glm-5", messages=HELLO)
    assert called.choices[0].finish_reason == "tool_calls"
    assert caught.value.status_code == 502


async def test_admin_stats_count_requests_and_reset(
    fresh_fleet: Fleet, make_client: ClientFactory
) -> None:
    """GET /admin/stats counts requests per endpoint with arrival times; DELETE
    resets them."""
    client = make_client(fresh_fleet.endpoint("moonshot", "eu-west"))
    before = time.time()
    for _ in range(3):
        await client.chat.completions.create(model="kimi-k2.5", messages=HELLO)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="no-such-model", messages=HELLO)

    async with aiohttp.ClientSession() as session:
        async with session.get(fresh_fleet.admin_url + "/admin/stats") as resp:
            stats = await resp.json()
        async with session.delete(fresh_fleet.admin_url + "/admin/stats") as resp:
            after_reset = await resp.json()

    entry = stats["endpoints"]["moonshot-eu-west"]
    assert entry["requests"] == 4
    assert entry["by_status"] == {"200": 3, "404": 1}
    assert entry["by_model"]["kimi-k2.5"] == 3
    assert len(entry["recent"]) == 4
    assert all(before <= stamp <= time.time() for stamp in entry["recent"])
    assert stats["total_requests"] == 4
    assert stats["endpoints"]["moonshot-apac"]["requests"] == 0
    assert after_reset["total_requests"] == 0
    assert after_reset["endpoints"]["moonshot-eu-west"]["recent"] == []


async def test_run_fleet_serves_until_stopped(make_client: ClientFactory) -> None:
    """run_fleet calls on_ready with a serving fleet and returns once stop is set."""
    stop = asyncio.Event()
    seen: list[Fleet] = []
    task = asyncio.create_task(
        run_fleet(base_port=0, time_scale=0.001, on_ready=seen.append, stop=stop)
    )
    while not seen:
        await asyncio.sleep(0.01)
    client = make_client(seen[0].endpoint("deepseek", "apac"))
    assert (await client.chat.completions.create(model="glm-5", messages=HELLO)).choices
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert seen[0].endpoints == []
