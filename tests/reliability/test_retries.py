"""Retries: which failures are retried, backoff, and Retry-After cooldowns."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.reliability.support import (
    FAST_TIMEOUTS,
    PROMPT,
    arrivals,
    counts,
    delta,
    providers,
    stub_upstream,
)
from tiergate.sim import Fleet

# deepseek-v4-flash: deepseek in two regions, then siliconflow (another provider).
TWO_PROVIDERS = {"deepseek": ("us-east", "eu-west"), "siliconflow": ("eu-west",)}


@pytest.mark.parametrize(
    ("status", "answered_by"),
    [
        (429, "siliconflow-eu-west"),
        (500, "deepseek-eu-west"),
        (502, "deepseek-eu-west"),
        (503, "deepseek-eu-west"),
        (504, "deepseek-eu-west"),
        (529, "deepseek-eu-west"),
    ],
)
async def test_retriable_status_fails_over_once(
    fleet: Fleet, make_gateway: GatewayFactory, status: int, answered_by: str
) -> None:
    """A retriable status costs one upstream call and the next deployment answers
    (a 429 cools the whole provider down, so the other provider answers)."""
    gw = await make_gateway(
        providers=providers(fleet, TWO_PROVIDERS), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults(
        [
            {
                "kind": "error",
                "status": status,
                "provider": "deepseek",
                "region": "us-east",
            }
        ]
    )
    before = counts(fleet)
    async with gw.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-flash", messages=PROMPT, max_tokens=5
        )

    assert raw.headers["x-tiergate-deployment"] == answered_by
    assert raw.headers["x-tiergate-attempts"] == "2"
    assert delta(before, counts(fleet)) == {"deepseek-us-east": 1, answered_by: 1}


async def test_connection_error_fails_over(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """A deployment that refuses connections is skipped for the next region."""
    gw = await make_gateway(
        providers=providers(fleet, TWO_PROVIDERS), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults(
        [{"kind": "region_down", "provider": "deepseek", "region": "us-east"}]
    )
    async with gw.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-flash", messages=PROMPT, max_tokens=5
        )

    assert raw.headers["x-tiergate-deployment"] == "deepseek-eu-west"
    assert raw.headers["x-tiergate-attempts"] == "2"
    assert raw.parse().choices[0].message.content


@pytest.mark.parametrize(
    ("status", "caller_sees"),
    [(400, 400), (404, 404), (422, 422)],
)
async def test_client_errors_are_never_retried(
    fleet: Fleet, make_gateway: GatewayFactory, status: int, caller_sees: int
) -> None:
    """400/404/422 reach exactly one upstream and the caller gets the provider's
    error as it was."""
    gw = await make_gateway(
        providers=providers(fleet, TWO_PROVIDERS), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults(
        [
            {
                "kind": "error",
                "status": status,
                "provider": "deepseek",
                "region": "us-east",
            }
        ]
    )
    before = counts(fleet)
    async with gw.client() as client:
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(
                model="deepseek-v4-flash", messages=PROMPT, max_tokens=5
            )

    assert raised.value.status_code == caller_sees
    assert delta(before, counts(fleet)) == {"deepseek-us-east": 1}


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_credentials_fail_over_once(
    fleet: Fleet, make_gateway: GatewayFactory, status: int
) -> None:
    """A provider refusing the gateway's key is not retried, but another provider
    answers: one bad key is never an outage."""
    gw = await make_gateway(
        providers=providers(fleet, TWO_PROVIDERS), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults(
        [{"kind": "error", "status": status, "provider": "deepseek"}]
    )
    before = counts(fleet)
    async with gw.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-flash", messages=PROMPT, max_tokens=5
        )

    calls = delta(before, counts(fleet))
    assert raw.headers["x-tiergate-provider"] != "deepseek"
    assert all(n == 1 for name, n in calls.items() if name.startswith("deepseek-"))
    assert gw.runtime.health.get("deepseek-us-east").failures == 1


async def test_retries_of_one_deployment_back_off_exponentially(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """With a single deployment, the 3 retries wait longer each time (jittered
    exponential backoff), then a 503 lists all 4 attempts."""
    gw = await make_gateway(
        providers=providers(fleet, {"deepseek": ("us-east",)}),
        timeouts=FAST_TIMEOUTS,
        retry={"max_retries": 3, "backoff_base_s": 0.1, "backoff_max_s": 1.0},
        breaker={"consecutive_errors": 50, "min_requests": 50},
    )
    await fleet.set_faults([{"kind": "error", "status": 503, "provider": "deepseek"}])
    since = time.time()
    async with gw.client() as client:
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(
                model="deepseek-v4-pro", messages=PROMPT, max_tokens=5
            )

    times = [at for at, name in arrivals(fleet, since) if name == "deepseek-us-east"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert raised.value.status_code == 503
    assert len(raised.value.body["tried"]) == 4
    assert len(times) == 4
    # base 0.1 s doubling, each scaled by a jitter in [0.5, 1.0]
    assert 0.045 <= gaps[0] <= 0.15
    assert 0.095 <= gaps[1] <= 0.25
    assert 0.195 <= gaps[2] <= 0.45


async def test_retry_after_seconds_cools_the_provider_down(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """After a 429 with Retry-After: 1, the provider's deployments get nothing for
    1 s while requests go elsewhere without waiting; then they get traffic again."""
    gw = await make_gateway(
        providers=providers(fleet, TWO_PROVIDERS), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults(
        [{"kind": "rate_limit", "provider": "deepseek", "retry_after": 1}]
    )
    async with gw.client() as client:
        started = time.monotonic()
        first = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-flash", messages=PROMPT, max_tokens=5
        )
        first_elapsed = time.monotonic() - started
        before = counts(fleet)
        second = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-flash", messages=PROMPT, max_tokens=5
        )
        during = delta(before, counts(fleet))
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{gw.url}/v1/deployments") as response,
        ):
            rows = {r["id"]: r for r in (await response.json())["data"]}

        await fleet.clear_faults()
        await asyncio.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
        later = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-flash", messages=PROMPT, max_tokens=5
        )

    assert first.headers["x-tiergate-deployment"] == "siliconflow-eu-west"
    assert first_elapsed < 0.5, "the request moved on rather than sleeping"
    assert second.headers["x-tiergate-attempts"] == "1"
    assert during == {"siliconflow-eu-west": 1}
    assert 0.5 < rows["deepseek-us-east"]["cooldown_remaining_s"] <= 1.0
    assert 0.5 < rows["deepseek-eu-west"]["cooldown_remaining_s"] <= 1.0
    assert rows["deepseek-us-east"]["breaker"] == "closed"
    assert later.headers["x-tiergate-deployment"] == "deepseek-us-east"


async def test_retry_after_http_date_is_honoured(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """A Retry-After given as an HTTP date keeps that deployment idle until the date
    passes; meanwhile the next deployment answers."""
    async with stub_upstream("http_date_429", after_s=2.0, limited=1) as stub:
        layout = providers(fleet, {"deepseek": ("eu-west",)})
        layout["stubby"] = {
            "simulated": True,
            "deployments": [
                {
                    "base_url": stub.url,
                    "region": "us-east",
                    "models": {"deepseek-v4-flash": "deepseek-v4-flash"},
                }
            ],
        }
        gw = await make_gateway(providers=layout, timeouts=FAST_TIMEOUTS)
        async with gw.client() as client:
            first = await client.chat.completions.with_raw_response.create(
                model="deepseek-v4-flash", messages=PROMPT, max_tokens=5
            )
            limited_at = stub.calls[0]
            served = []
            while time.time() < limited_at + 3.0:
                raw = await client.chat.completions.with_raw_response.create(
                    model="deepseek-v4-flash", messages=PROMPT, max_tokens=5
                )
                served.append((time.time(), raw.headers["x-tiergate-deployment"]))
                if raw.headers["x-tiergate-deployment"] == "stubby-us-east":
                    break
                await asyncio.sleep(0.1)

    assert first.headers["x-tiergate-deployment"] == "deepseek-eu-west"
    assert len(stub.calls) == 2, "one 429, then nothing until the date passed"
    # An HTTP date has whole seconds: 2 s ahead means 1 to 2 s of waiting.
    assert 1.0 <= stub.calls[1] - limited_at <= 2.3
    assert served[-1][1] == "stubby-us-east"


async def test_request_waits_for_retry_after_when_nothing_else_exists(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """With no other deployment, a request sleeps out the Retry-After (it fits the
    deadline) and is then answered."""
    gw = await make_gateway(
        providers=providers(fleet, {"deepseek": ("us-east",)}), timeouts=FAST_TIMEOUTS
    )
    await fleet.set_faults(
        [{"kind": "rate_limit", "provider": "deepseek", "retry_after": 1}]
    )

    async def lift() -> None:
        await asyncio.sleep(0.3)
        await fleet.clear_faults()

    lifting = asyncio.get_running_loop().create_task(lift())
    async with gw.client() as client:
        started = time.monotonic()
        raw = await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-pro", messages=PROMPT, max_tokens=5
        )
        elapsed = time.monotonic() - started
    await lifting

    assert raw.headers["x-tiergate-attempts"] == "2"
    assert 0.95 <= elapsed < 2.0
