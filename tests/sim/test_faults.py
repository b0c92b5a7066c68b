"""Fault rules: validation, matching and how firing rules combine."""

from __future__ import annotations

import random

import pytest

from tiergate.catalog import load_default_catalog
from tiergate.sim.faults import NO_EFFECTS, FaultError, FaultSet, parse_rules
from tiergate.sim.names import ModelNames


@pytest.fixture(scope="module")
def names() -> ModelNames:
    return ModelNames(load_default_catalog())


def test_bad_status_is_reported_with_its_field(names: ModelNames) -> None:
    """An error rule with status 200 is refused, naming faults[0].error.status."""
    with pytest.raises(FaultError, match=r"faults\[0\]\.error\.status"):
        parse_rules([{"kind": "error", "status": 200}], names)


def test_unknown_kind_and_region_are_refused(names: ModelNames) -> None:
    """An unknown kind or region is a FaultError, not silently ignored."""
    with pytest.raises(FaultError, match="kind"):
        parse_rules([{"kind": "meteor"}], names)
    with pytest.raises(FaultError, match="region must be one of"):
        parse_rules([{"kind": "region_down", "region": "mars"}], names)


def test_model_names_resolve_to_catalog_ids(names: ModelNames) -> None:
    """A rule's model may be any served name; an unknown one is refused."""
    [rule] = parse_rules([{"kind": "hang", "model": "deepseek-reasoner"}], names)
    assert rule.model == "deepseek-r1"
    with pytest.raises(FaultError, match="unknown model"):
        parse_rules([{"kind": "hang", "model": "nope-1"}], names)


def test_rules_match_only_their_place_and_model(names: ModelNames) -> None:
    """A rule scoped to provider, region and model leaves other requests alone."""
    rules = parse_rules(
        [
            {
                "kind": "error",
                "status": 503,
                "provider": "zhipu",
                "region": "apac",
                "model": "glm-5",
            }
        ],
        names,
    )
    faults, rng = FaultSet(rules), random.Random(0)
    hit = faults.effects("zhipu", "apac", "glm-5", rng)
    assert hit.rejection is not None and hit.rejection.status == 503
    assert faults.effects("zhipu", "eu-west", "glm-5", rng) is NO_EFFECTS
    assert faults.effects("zhipu", "apac", "glm-4-9b", rng) is NO_EFFECTS
    assert faults.effects("siliconflow", "apac", "glm-5", rng) is NO_EFFECTS


def test_rate_fires_on_about_that_share(names: ModelNames) -> None:
    """An error rule at rate 0.3 rejects roughly 30% of 5,000 requests."""
    faults = FaultSet(
        parse_rules([{"kind": "error", "status": 500, "rate": 0.3}], names)
    )
    rng = random.Random(9)
    hits = sum(
        faults.effects("deepseek", "us-east", "deepseek-v4-flash", rng).rejection
        is not None
        for _ in range(5_000)
    )
    assert 1_350 <= hits <= 1_650


def test_effects_combine(names: ModelNames) -> None:
    """Latencies add, slow factors multiply, the smallest cut wins, first error wins."""
    raw = [
        {"kind": "latency", "extra_ms": 100},
        {"kind": "latency", "extra_ms": 50},
        {"kind": "slow_stream", "factor": 2},
        {"kind": "slow_stream", "factor": 3},
        {"kind": "cut_stream", "after_chunks": 5},
        {"kind": "cut_stream", "after_chunks": 2},
        {"kind": "rate_limit", "retry_after": 4},
        {"kind": "error", "status": 500},
    ]
    effects = FaultSet(parse_rules(raw, names)).effects(
        "alibaba", "apac", "Qwen/Qwen3-8B", random.Random(0)
    )
    assert effects.extra_latency_s == pytest.approx(0.15)
    assert effects.slow_factor == 6
    assert effects.cut_after_chunks == 2
    assert effects.rejection is not None
    assert (effects.rejection.status, effects.rejection.retry_after) == (429, 4)


def test_region_down_takes_whole_endpoints(names: ModelNames) -> None:
    """region_down covers the endpoints of its region and refuses a model scope."""
    faults = FaultSet(
        parse_rules([{"kind": "region_down", "region": "eu-west"}], names)
    )
    assert faults.down("deepseek", "eu-west")
    assert not faults.down("deepseek", "apac")
    assert not faults
    with pytest.raises(FaultError, match="no model"):
        parse_rules(
            [{"kind": "region_down", "region": "apac", "model": "glm-5"}], names
        )
