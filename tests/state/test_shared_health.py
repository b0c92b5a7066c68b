"""Health decisions shared between two gateway replicas through the real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from tests.conftest import GatewayFactory, require_service
from tiergate.health import BreakerState
from tiergate.sim import Fleet

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def redis_url() -> str:
    return require_service(
        "Redis", "TIERGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"
    )


@pytest.fixture
async def shared(redis_url: str) -> dict[str, object]:
    """A state section with a prefix of its own, removed from Redis afterwards."""
    prefix = f"tiergate-test-{uuid.uuid4().hex[:8]}"
    yield {
        "backend": "redis",
        "redis_url": redis_url,
        "prefix": prefix,
        "sync_interval_s": 0.05,
    }
    client = aioredis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_retry_after_seen_by_one_replica_keeps_the_other_away(
    fleet: Fleet, make_gateway: GatewayFactory, shared: dict[str, object]
) -> None:
    """A 429 Retry-After at replica A: replica B sends nothing there until it ends."""
    await fleet.set_faults(
        [{"kind": "rate_limit", "provider": "moonshot", "retry_after": 3}]
    )
    a = await make_gateway(state=shared)
    b = await make_gateway(state=shared)

    async with a.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="kimi-k2.5", messages=HELLO, max_tokens=4
        )
    assert raw.headers["x-tiergate-provider"] == "siliconflow"
    for _ in range(40):
        if all(
            b.runtime.health.cooldown_remaining(f"moonshot-{region}") > 0
            for region in ("us-east", "eu-west", "apac")
        ):
            break
        await asyncio.sleep(0.05)

    fleet.reset_stats()
    async with b.client() as client:
        for _ in range(5):
            raw = await client.chat.completions.with_raw_response.create(
                model="kimi-k2.5", messages=HELLO, max_tokens=4
            )
            assert raw.headers["x-tiergate-provider"] == "siliconflow"
    moonshot_calls = sum(
        e["requests"]
        for name, e in fleet.stats()["endpoints"].items()
        if name.startswith("moonshot-")
    )
    assert moonshot_calls == 0
    assert b.runtime.health.cooldown_remaining("moonshot-us-east") > 1.0


async def test_breaker_opened_by_one_replica_opens_on_the_other(
    fleet: Fleet, make_gateway: GatewayFactory, shared: dict[str, object]
) -> None:
    """Replica A's breaker opening is applied on replica B within the sync interval."""
    await fleet.set_faults(
        [{"kind": "error", "provider": "zhipu", "region": "us-east", "status": 503}]
    )
    a = await make_gateway(state=shared, breaker={"open_s": 5, "consecutive_errors": 2})
    b = await make_gateway(state=shared, breaker={"open_s": 5})

    async with a.client() as client:
        for _ in range(3):
            await client.chat.completions.create(
                model="glm-5", messages=HELLO, max_tokens=4
            )
    assert a.runtime.health.get("zhipu-us-east").state is BreakerState.OPEN

    for _ in range(40):
        if b.runtime.health.get("zhipu-us-east").state is BreakerState.OPEN:
            break
        await asyncio.sleep(0.05)
    assert b.runtime.health.get("zhipu-us-east").state is BreakerState.OPEN
    assert not b.runtime.health.usable("zhipu-us-east")
