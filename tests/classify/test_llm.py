"""The optional LLM classifier: its answer when usable, else the trained model's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from openai import AsyncOpenAI

from tests.classify.conftest import user
from tiergate.classify.llm import LLMClassifier
from tiergate.classify.pipeline import Classifier
from tiergate.classify.settings import ClassifierSettings, LLMClassifierSettings
from tiergate.sim import Fleet

SETTINGS = ClassifierSettings(llm=LLMClassifierSettings(enabled=True))
MATH = user("Solve for x: 3x + 7 = 22. Show each step.")


@pytest_asyncio.fixture(scope="module")
async def sim_client() -> AsyncIterator[AsyncOpenAI]:
    """The official client against the simulated Alibaba APAC endpoint."""
    async with Fleet(base_port=0, time_scale=1.0, seed=3) as fleet:
        endpoint = fleet.endpoint("alibaba", "apac")
        client = AsyncOpenAI(base_url=endpoint.base_url, api_key="sim", max_retries=0)
        yield client
        await client.close()


def answering(text: str, delay_s: float = 0.0) -> Any:
    """A real async completion function that answers ``text`` after ``delay_s``."""

    async def complete(
        model: str, messages: list[dict[str, Any]], timeout_s: float
    ) -> str:
        await asyncio.sleep(delay_s)
        return text

    return complete


async def test_usable_answer_sets_the_tier(classifier: Classifier) -> None:
    """A prompt answer naming a tier replaces the trained model's tier."""
    fallback = classifier.classify(user("Tell me a joke about cats."))
    got = await LLMClassifier(SETTINGS, answering(" Reasoning.")).classify(
        user("Tell me a joke about cats."), fallback
    )
    assert (fallback.tier, got.tier) == ("default", "reasoning")
    assert got.reason.startswith("llm Qwen/Qwen3-8B -> reasoning")


async def test_deadline_falls_back_to_trained_model(classifier: Classifier) -> None:
    """An answer later than deadline_ms is dropped and the trained answer stands."""
    fallback = classifier.classify(MATH)
    start = time.perf_counter()
    got = await LLMClassifier(SETTINGS, answering("classify", delay_s=1.0)).classify(
        MATH, fallback
    )
    elapsed = time.perf_counter() - start
    assert got.tier == fallback.tier == "reasoning"
    assert got.reason.startswith("llm over 300 ms")
    assert 0.25 < elapsed < 0.8


async def test_error_falls_back(classifier: Classifier) -> None:
    """A failing completion function leaves the trained model's answer."""

    async def broken(
        model: str, messages: list[dict[str, Any]], timeout_s: float
    ) -> str:
        raise ConnectionError("upstream refused")

    fallback = classifier.classify(MATH)
    got = await LLMClassifier(SETTINGS, broken).classify(MATH, fallback)
    assert (got.tier, got.reason.split(",")[0]) == ("reasoning", "llm error")


async def test_structural_tiers_are_not_asked(classifier: Classifier) -> None:
    """A vision decision is final: the small model is not consulted."""
    body = user(
        [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]
    )
    fallback = classifier.classify(body)
    got = await LLMClassifier(SETTINGS, answering("default")).classify(body, fallback)
    assert got == fallback


async def test_simulated_fleet_answer(
    classifier: Classifier, sim_client: AsyncOpenAI
) -> None:
    """The simulated fleet's random answer is parsed, or the fallback stands."""
    seen: list[str] = []

    async def complete(
        model: str, messages: list[dict[str, Any]], timeout_s: float
    ) -> str:
        reply = await sim_client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=8,
            timeout=timeout_s,
        )
        seen.append(reply.choices[0].message.content or "")
        return seen[-1]

    llm = LLMClassifier(
        ClassifierSettings(llm=LLMClassifierSettings(enabled=True, deadline_ms=5000)),
        complete,
    )
    fallback = classifier.classify(MATH)
    got = await llm.classify(MATH, fallback)
    assert len(seen) == 1
    parsed = llm.parse(seen[0])
    if parsed is None:
        assert (got.tier, got.reason.split(",")[0]) == (
            fallback.tier,
            "llm answer unparseable",
        )
    else:
        assert got.tier == parsed


async def test_simulated_fleet_too_slow(
    classifier: Classifier, sim_client: AsyncOpenAI
) -> None:
    """A real HTTP round trip that cannot meet a 1 ms deadline falls back."""

    async def complete(
        model: str, messages: list[dict[str, Any]], timeout_s: float
    ) -> str:
        reply = await sim_client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=8,
        )
        return reply.choices[0].message.content or ""

    settings = ClassifierSettings(
        llm=LLMClassifierSettings(enabled=True, deadline_ms=1)
    )
    fallback = classifier.classify(MATH)
    got = await LLMClassifier(settings, complete).classify(MATH, fallback)
    assert got.tier == "reasoning"
    assert got.reason.startswith("llm over 1 ms")
