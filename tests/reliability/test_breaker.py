"""Circuit breaker: open, half-open single probe, close, ramp, active probe, and
what operators see of it (``GET /v1/deployments`` and warning logs)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import pytest

from tests.conftest import GatewayFactory, LiveGateway
from tests.reliability.support import FAST_TIMEOUTS, PROMPT, counts, delta, providers
from tiergate.config import Breaker
from tiergate.health import BreakerState, Health
from tiergate.sim import Fleet

DEEPSEEK_ALL = {"deepseek": ("us-east", "eu-west", "apac")}
BREAKER = {
    "consecutive_errors": 2,
    "min_requests": 100,
    "open_s": 0.4,
    "ramp_s": 1.5,
}


async def _deployments(gw: LiveGateway) -> dict[str, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{gw.url}/v1/deployments") as response,
    ):
        assert response.status == 200
        return {row["id"]: row for row in (await response.json())["data"]}


async def _ask(gw: LiveGateway, **extra: Any) -> Any:
    async with gw.client() as client:
        return await client.chat.completions.with_raw_response.create(
            model="deepseek-v4-pro", messages=PROMPT, max_tokens=5, **extra
        )


async def test_breaker_opens_probes_once_and_closes(
    fleet: Fleet, make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Two errors open the breaker (no traffic, shown as open, logged at warning);
    after open_s one probe alone goes through while others go elsewhere, and its
    success closes the breaker."""
    caplog.set_level(logging.WARNING, logger="tiergate.health")
    gw = await make_gateway(
        providers=providers(fleet, DEEPSEEK_ALL),
        timeouts=FAST_TIMEOUTS,
        breaker=BREAKER,
    )
    await fleet.set_faults(
        [{"kind": "error", "status": 500, "provider": "deepseek", "region": "us-east"}]
    )
    for _ in range(2):
        assert (await _ask(gw)).headers["x-tiergate-attempts"] == "2"
    opened = await _deployments(gw)

    before = counts(fleet)
    skipped = await _ask(gw)
    while_open = delta(before, counts(fleet))

    # A slow but healthy deployment: the probe is still in flight while the others
    # arrive, so only one request may be let through.
    await fleet.set_faults(
        [
            {
                "kind": "latency",
                "provider": "deepseek",
                "region": "us-east",
                "extra_ms": 300,
            }
        ]
    )
    await asyncio.sleep(BREAKER["open_s"] + 0.05)
    before = counts(fleet)
    answers = await asyncio.gather(*(_ask(gw) for _ in range(5)))
    probing = delta(before, counts(fleet))
    closed = await _deployments(gw)

    assert opened["deepseek-us-east"]["breaker"] == "open"
    assert opened["deepseek-us-east"]["last_error"] == "upstream_500"
    assert opened["deepseek-eu-west"]["breaker"] == "closed"
    assert skipped.headers["x-tiergate-attempts"] == "1"
    assert "deepseek-us-east" not in while_open
    assert probing["deepseek-us-east"] == 1
    assert (
        sorted(a.headers["x-tiergate-deployment"] for a in answers).count(
            "deepseek-us-east"
        )
        == 1
    )
    assert closed["deepseek-us-east"]["breaker"] == "closed"
    changes = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("breaker ")
    ]
    assert changes[0].startswith("breaker deepseek-us-east: closed -> open")
    assert "breaker deepseek-us-east: open -> half_open" in changes
    assert "breaker deepseek-us-east: half_open -> closed" in changes
    assert all(
        r.levelno == logging.WARNING
        for r in caplog.records
        if r.getMessage() in changes
    )


async def test_closed_breaker_ramps_traffic_back(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """Right after closing, a deployment gets a small share of its traffic; after
    ramp_s, all of it."""
    breaker = {**BREAKER, "ramp_s": 4.0}
    gw = await make_gateway(
        providers=providers(fleet, DEEPSEEK_ALL),
        timeouts=FAST_TIMEOUTS,
        breaker=breaker,
    )
    await fleet.set_faults(
        [{"kind": "region_down", "provider": "deepseek", "region": "us-east"}]
    )
    for _ in range(2):
        await _ask(gw)
    await fleet.clear_faults()
    await asyncio.sleep(BREAKER["open_s"] + 0.05)
    probe = await _ask(gw)
    assert probe.headers["x-tiergate-deployment"] == "deepseek-us-east"

    closed_at = time.monotonic()
    ramping = [(await _ask(gw)).headers["x-tiergate-deployment"] for _ in range(20)]
    ramp_took = time.monotonic() - closed_at
    await asyncio.sleep(breaker["ramp_s"] - ramp_took)
    ramped = [(await _ask(gw)).headers["x-tiergate-deployment"] for _ in range(10)]

    # The admitted share rises from 10% to 100% over ramp_s, so these 20 requests
    # (sent in the first part of it) mostly went to the next region.
    assert ramp_took < breaker["ramp_s"] / 2
    mean_share = 0.1 + 0.9 * (ramp_took / 2) / breaker["ramp_s"]
    assert ramping.count("deepseek-us-east") <= 20 * mean_share + 6
    assert ramping.count("deepseek-eu-west") >= 5
    assert ramped == ["deepseek-us-east"] * 10


async def test_active_probe_closes_the_breaker_before_open_s(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """With probe_interval_s set, a recovered deployment is found by the probe and
    closed long before its open period would end."""
    breaker = {**BREAKER, "open_s": 30.0, "probe_interval_s": 0.1}
    gw = await make_gateway(
        providers=providers(fleet, DEEPSEEK_ALL),
        timeouts=FAST_TIMEOUTS,
        breaker=breaker,
    )
    await fleet.set_faults(
        [{"kind": "region_down", "provider": "deepseek", "region": "us-east"}]
    )
    for _ in range(2):
        await _ask(gw)
    assert (await _deployments(gw))["deepseek-us-east"]["breaker"] in (
        "open",
        "half_open",
    )
    await asyncio.sleep(0.3)
    still_down = (await _deployments(gw))["deepseek-us-east"]["breaker"]

    await fleet.clear_faults()
    recovered_at = time.monotonic()
    state = still_down
    while state != "closed" and time.monotonic() - recovered_at < 2.0:
        await asyncio.sleep(0.02)
        state = (await _deployments(gw))["deepseek-us-east"]["breaker"]

    assert still_down in ("open", "half_open"), "failed probes keep it open"
    assert state == "closed"
    assert time.monotonic() - recovered_at < 1.0


def test_flapping_deployment_stays_open_longer_each_time() -> None:
    """A breaker that re-opens soon after closing doubles its open period each time,
    and only a probe (half-open) can close it."""
    now = [0.0]
    health = Health(
        Breaker(consecutive_errors=1, open_s=1.0, max_open_s=8.0, ramp_s=0),
        {"d": "us-east"},
        clock=lambda: now[0],
    )
    open_periods = []
    for _ in range(4):
        assert health.acquire("d")
        health.failure("d", "upstream_500")
        open_periods.append(health.get("d").open_for)
        health.success("d")  # a late answer while open must not close it
        assert health.get("d").state is BreakerState.OPEN
        now[0] += health.get("d").open_for
        assert health.acquire("d"), "half-open lets one probe through"
        assert not health.acquire("d"), "and only one"
        health.success("d")
        assert health.get("d").state is BreakerState.CLOSED

    assert open_periods == [1.0, 2.0, 4.0, 8.0]
