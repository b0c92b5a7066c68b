"""The latency model: TTFT distributions per family, region and host; token rates."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tiergate.catalog import load_default_catalog
from tiergate.sim.latency import (
    PROFILES,
    draw_ttft,
    tokens_per_second,
    ttft_distribution,
)

# The brief's observed p99 of each family's production pick.
BRIEF_P99_MS = {
    "deepseek-v4-flash": ("deepseek", 340.0),
    "Qwen/Qwen3-32B": ("alibaba", 410.0),
    "glm-5": ("zhipu", 480.0),
    "kimi-k2.5": ("moonshot", 520.0),
}


def _p99_ms(model_id: str, provider: str, region: str, samples: int = 100_000) -> float:
    model = load_default_catalog()[model_id]
    distribution = ttft_distribution(model, provider, region)
    rng = random.Random(1234)
    draws = [draw_ttft(rng, distribution) for _ in range(samples)]
    return float(np.percentile(draws, 99)) * 1000


@pytest.mark.parametrize("model_id", sorted(BRIEF_P99_MS))
def test_ttft_p99_matches_the_brief_for_each_family(model_id: str) -> None:
    """Sampled TTFT p99 of a production pick in us-east is the brief's figure ±10%."""
    provider, expected = BRIEF_P99_MS[model_id]
    measured = _p99_ms(model_id, provider, "us-east")
    assert measured == pytest.approx(expected, rel=0.10)


def test_qwen_is_the_fastest_family_in_apac() -> None:
    """In APAC, Qwen3-32B has a lower TTFT p99 than every other production pick."""
    catalog = load_default_catalog()
    apac = {
        model_id: ttft_distribution(catalog[model_id], provider, "apac").p99_s
        for model_id, (provider, _) in BRIEF_P99_MS.items()
    }
    fastest = min(apac, key=apac.__getitem__)
    assert fastest == "Qwen/Qwen3-32B"
    assert apac["Qwen/Qwen3-32B"] < 0.410


def test_multi_family_host_is_slower_than_first_party() -> None:
    """siliconflow serving deepseek-v4-flash has a higher p99 than deepseek itself."""
    model = load_default_catalog()["deepseek-v4-flash"]
    own = ttft_distribution(model, "deepseek", "us-east").p99_s
    hosted = ttft_distribution(model, "siliconflow", "us-east").p99_s
    assert own < hosted < own * 1.5


def test_ttft_draws_repeat_with_the_same_seed() -> None:
    """Generators with one seed draw the same TTFT sequence; another seed differs."""
    model = load_default_catalog()["glm-5"]
    distribution = ttft_distribution(model, "zhipu", "eu-west")
    first = [draw_ttft(random.Random(5), distribution) for _ in range(3)]
    again = [draw_ttft(random.Random(5), distribution) for _ in range(3)]
    other = [draw_ttft(random.Random(6), distribution) for _ in range(3)]
    assert first == again
    assert first != other


def test_token_rate_comes_from_the_catalog_or_the_family_default() -> None:
    """V4 Flash streams at 60 tok/s; a model without a rate gets its family default."""
    catalog = load_default_catalog()
    assert tokens_per_second(catalog["deepseek-v4-flash"]) == 60
    unrated = catalog["glm-5"].model_copy(update={"tokens_per_second": None})
    assert tokens_per_second(unrated) == PROFILES["glm"].default_tokens_per_second
