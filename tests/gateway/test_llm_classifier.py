"""The optional LLM classifier asks the classify tier's model through the gateway's
own pool and falls back to the trained model when its deadline passes."""

from __future__ import annotations

from tests.conftest import GatewayFactory
from tiergate.sim import Fleet

LLM_ON = {"llm": {"enabled": True, "deadline_ms": 300}}


async def test_llm_deadline_falls_back_to_trained_model(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """A classify model slower than the deadline leaves the trained model's tier."""
    await fleet.set_faults(
        [{"kind": "latency", "model": "Qwen/Qwen3-8B", "extra_ms": 1500}]
    )
    live = await make_gateway(classifier=LLM_ON)
    async with live.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto",
            messages=[{"role": "user", "content": "Solve 3x + 7 = 22 step by step."}],
            max_tokens=10,
        )
    assert "llm over 300 ms" in raw.headers["x-tiergate-reason"]
    assert raw.headers["x-tiergate-tier"] == "reasoning"


async def test_llm_answer_is_used_or_reported(
    fleet: Fleet, make_gateway: GatewayFactory
) -> None:
    """Within the deadline the classify model is asked; the reason names its verdict."""
    before = fleet.stats()["total_requests"]
    live = await make_gateway(classifier=LLM_ON)
    async with live.client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto",
            messages=[{"role": "user", "content": "Write a haiku about autumn."}],
            max_tokens=10,
        )
    reason = raw.headers["x-tiergate-reason"]
    # The simulated model answers random words: either one names a tier, or the
    # gateway says it could not parse the answer and kept the trained model's tier.
    assert reason.startswith("llm ")
    assert fleet.stats()["total_requests"] - before == 2
