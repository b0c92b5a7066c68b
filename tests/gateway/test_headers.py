"""Override headers and caller keys, through a live gateway."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import GatewayFactory
from tiergate.sim import Fleet

HELLO = [{"role": "user", "content": "hello"}]


async def test_max_latency_uses_observed_p99(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """x-tiergate-max-latency-ms skips a model whose observed p99 is over budget."""
    await fleet.set_faults([{"kind": "latency", "model": "kimi-k2.5", "extra_ms": 400}])
    live = await make_gateway()
    async with live.client() as client:
        for model in ("kimi-k2.5", "deepseek-r1", "Qwen/Qwen3.5-397B"):
            for _ in range(6):
                await client.chat.completions.create(
                    model=model, messages=HELLO, max_tokens=4
                )
        raw = await client.chat.completions.with_raw_response.create(
            model="tier:reasoning",
            messages=HELLO,
            max_tokens=4,
            extra_headers={"x-tiergate-max-latency-ms": "300"},
        )
    assert raw.headers["x-tiergate-model"] == "Qwen/Qwen3.5-397B"
    assert "<= 300ms" in raw.headers["x-tiergate-reason"]


async def test_keys_authenticate_and_restrict(
    make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With keys configured: no key or a wrong key is 401; an excluded tier is 403."""
    monkeypatch.setenv("TEAM_A_KEY", "sk-team-a-secret")
    live = await make_gateway(
        auth={
            "keys": [
                {"id": "team-a", "key_env": "TEAM_A_KEY", "exclude_tiers": ["heavy"]}
            ]
        }
    )
    async with live.client(api_key="sk-wrong") as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            await wrong.chat.completions.create(model="auto", messages=HELLO)
    assert "sk-wrong" not in str(caught.value.body)

    async with live.client(api_key="sk-team-a-secret") as good:
        raw = await good.chat.completions.with_raw_response.create(
            model="auto", messages=HELLO, max_tokens=4
        )
        assert raw.headers["x-tiergate-tier"] == "default"
        with pytest.raises(openai.PermissionDeniedError):
            await good.chat.completions.create(model="tier:heavy", messages=HELLO)


async def test_timeout_header_bounds_the_request(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """x-tiergate-timeout-ms ends a request stuck upstream with a 503 in time."""
    await fleet.set_faults([{"kind": "hang", "model": "deepseek-v4-flash"}])
    live = await make_gateway()
    async with live.client() as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model="deepseek-v4-flash",
                messages=HELLO,
                extra_headers={"x-tiergate-timeout-ms": "400"},
            )
    assert caught.value.status_code in (503, 504)
    assert caught.value.body["code"] == "no_deployment_available"
