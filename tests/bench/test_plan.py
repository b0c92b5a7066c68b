"""Planning: the brief's blend, the classifier's cost, capacity, option parsing."""

from __future__ import annotations

import asyncio
import sys

import orjson
import pytest
from rich.console import Console

from tiergate.bench.plan import (
    BRIEF_MIX,
    BRIEF_MODELS,
    PlanError,
    blend,
    build_plan,
    capacity,
    classifier_cost,
    fit_capacity,
    parse_count,
    parse_mix,
    parse_models,
    render_plan,
)
from tiergate.catalog import load_default_catalog

CATALOG = load_default_catalog()


def test_brief_mix_blends_to_76_cents_term_by_term() -> None:
    """0.15 + 0.0005 + 0.30 + 0.078 + 0.234 = $0.7625 per million output tokens."""
    result = blend(BRIEF_MIX, BRIEF_MODELS, CATALOG)
    terms = {t.tier: t.contribution for t in result.terms}

    assert terms == pytest.approx(
        {
            "default": 0.15,
            "classify": 0.0005,
            "reasoning": 0.30,
            "vision": 0.078,
            "heavy": 0.234,
        }
    )
    assert result.usd_per_m_out == pytest.approx(0.7625)


def test_an_unknown_price_makes_the_blend_unknown() -> None:
    """Vision on glm-4.6v: blend None, known part 0.6845, 15% unpriced."""
    result = blend(BRIEF_MIX, {**BRIEF_MODELS, "vision": "glm-4.6v"}, CATALOG)

    assert result.usd_per_m_out is None
    assert result.known_usd_per_m_out == pytest.approx(0.7625 - 0.078)
    assert result.unpriced_share == pytest.approx(0.15)


def test_the_brief_alternate_is_shown_with_its_unknown_price() -> None:
    """The brief's glm-4.6v for Chinese vision appears beside the blend, unpriced."""
    (alt,) = blend(BRIEF_MIX, BRIEF_MODELS, CATALOG).alternates

    assert (alt.tier, alt.model, alt.price_out_per_m) == ("vision", "glm-4.6v", None)


def test_classifier_as_overhead_lifts_the_blend_to_80_cents() -> None:
    """Without the 5% share, answered traffic blends to 0.762/0.95 = $0.8021."""
    result = blend(BRIEF_MIX, BRIEF_MODELS, CATALOG)

    cost = classifier_cost(result, CATALOG, "Qwen/Qwen3-8B", 300, 5, 400)

    assert cost.share_framing_usd_per_m_out == pytest.approx(0.0005)
    assert cost.answered_share == pytest.approx(0.95)
    assert cost.answered_usd_per_m_out == pytest.approx(0.762 / 0.95)
    assert cost.output_add_usd_per_m_out == pytest.approx(5 / 400 * 0.01)
    assert cost.input_add_usd_per_m_out is None
    assert cost.total_usd_per_m_out is None


def test_capacity_reproduces_the_brief_60_vs_35_example() -> None:
    """500M tokens a month: 60 tok/s needs 40 instances, 35 tok/s needs 65."""
    sizing = capacity(500e6, (60, 35))

    assert [row.instances for row in sizing.rows] == [40, 65]
    assert sizing.average_tps == pytest.approx(500e6 / 2_592_000)


def test_capacity_arithmetic_with_other_assumptions() -> None:
    """Peak 3x at 50% utilisation, no spare: ceil(578.7 / 30) = 20 at 60 tok/s."""
    (row,) = capacity(500e6, (60,), peak_factor=3, utilisation=0.5, spare=0).rows

    assert row.load_instances_exact == pytest.approx(500e6 / 2_592_000 * 3 / 30)
    assert row.instances == 20


def test_the_brief_pair_fits_a_peak_and_a_fixed_spare() -> None:
    """40 and 65 instances at 60 and 35 tok/s fit 2,100 tok/s plus 5 instances."""
    assert fit_capacity() == pytest.approx((2100.0, 5.0))


def test_bad_plans_say_which_option_to_change() -> None:
    """Shares not summing to 1, unknown models and bad volumes raise PlanError."""
    with pytest.raises(PlanError, match=r"sum to 0\.9"):
        blend({"default": 0.9}, BRIEF_MODELS, CATALOG)
    with pytest.raises(PlanError, match="--model heavy=gpt-9"):
        blend(BRIEF_MIX, {**BRIEF_MODELS, "heavy": "gpt-9"}, CATALOG)
    with pytest.raises(PlanError, match="--model chat=MODEL"):
        blend({"chat": 1.0}, BRIEF_MODELS, CATALOG)
    with pytest.raises(PlanError, match="utilisation"):
        capacity(1e6, (60,), utilisation=1.5)


def test_option_parsers() -> None:
    """Counts take k/M/B; mixes take fractions or percentages; models tier=id."""
    assert parse_count("500M") == 500e6
    assert parse_count("1.5k") == 1500
    assert parse_mix("default=60,reasoning=40%") == {"default": 0.6, "reasoning": 0.4}
    assert parse_mix("default=0.7, reasoning=0.3") == {"default": 0.7, "reasoning": 0.3}
    assert parse_models(["vision=glm-4.6v", "heavy=glm-5,default=glm-4-9b"]) == {
        "vision": "glm-4.6v",
        "heavy": "glm-5",
        "default": "glm-4-9b",
    }
    with pytest.raises(PlanError):
        parse_count("lots")
    with pytest.raises(PlanError):
        parse_mix("default")


def test_rendered_plan_shows_the_arithmetic() -> None:
    """The printed plan shows each term, the $0.7625 blend and both instance counts."""
    console = Console(record=True, width=200)

    render_plan(build_plan(CATALOG), console)
    text = console.export_text()

    assert "0.60 x   $0.25 = $0.1500" in text
    assert "blend = $0.7625 per million output tokens" in text
    assert "glm-4.6v at unknown" in text
    assert "= 35 + 5 spare = 40 instances" in text
    assert "= 60 + 5 spare = 65 instances" in text


async def test_plan_command_prints_json() -> None:
    """`tiergate plan --format json --mix ... --model ...` computes that mix."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from tiergate.cli import main; main()",
        "plan",
        "--format",
        "json",
        "--mix",
        "default=80,reasoning=20",
        "--model",
        "reasoning=deepseek-r1",
        "--tokens-per-second",
        "60",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    body = orjson.loads(out)

    assert proc.returncode == 0, err.decode()
    assert body["blend"]["usd_per_m_out"] == pytest.approx(0.8 * 0.25 + 0.2 * 2.5)
    assert [r["instances"] for r in body["capacity"]["rows"]] == [40]
