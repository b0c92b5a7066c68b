"""Tier policy: candidates per tier and the constraints that always hold."""

from __future__ import annotations

from typing import Any

import pytest

from tiergate.classify.pipeline import Classifier
from tiergate.config import Config, KeyPolicy, parse_config
from tiergate.errors import Forbidden, InvalidRequest, UnknownModel, Unroutable
from tiergate.policy import Decision, Overrides, Policy


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(Config().classifier)


def _decide(
    classifier: Classifier,
    content: Any,
    *,
    model: str = "auto",
    config: Config | None = None,
    headers: dict[str, str] | None = None,
    key: KeyPolicy | None = None,
    latency: dict[str, float] | None = None,
    **body: Any,
) -> Decision:
    config = config or parse_config(None)
    served = {m for _, _, dep in config.deployments() for m in dep.models}
    policy = Policy(config, config.build_catalog(), served)
    request = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        **body,
    }
    overrides = Overrides.from_headers(headers or {})
    auto = model == "auto" and overrides.tier is None
    classification = (
        classifier.classify(request) if auto else classifier.signals(request)
    )
    observed = latency or {}
    return policy.decide(
        request, classification, overrides, key, "us-east", lambda m, r: observed.get(m)
    )


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}


def test_plain_chat_goes_to_default_tier(classifier: Classifier) -> None:
    """Everyday chat lands on the cheap default model."""
    decision = _decide(classifier, "Write a friendly reminder email about the meeting.")
    assert (decision.tier, decision.models[0]) == ("default", "deepseek-v4-flash")
    assert decision.reason.endswith("-> deepseek-v4-flash")


def test_math_goes_to_reasoning(classifier: Classifier) -> None:
    """A multi-step word problem goes to the reasoning tier's first model."""
    decision = _decide(
        classifier,
        "A train leaves at 3pm at 60 km/h, another at 4pm at 90 km/h. When does the "
        "second catch up? Show the steps.",
    )
    assert (decision.tier, decision.models[0]) == ("reasoning", "kimi-k2.5")


def test_chinese_request_gets_chinese_strong_model(classifier: Classifier) -> None:
    """Mostly-CJK text picks the tier's Chinese candidates (GLM by default)."""
    decision = _decide(classifier, "请写一封邀请朋友来家里吃饭的短信。")
    assert decision.models[0] == "glm-5"
    assert "CJK" in decision.reason


def test_mixed_chinese_english_below_threshold_stays(classifier: Classifier) -> None:
    """A little Chinese in an English request does not switch the model."""
    decision = _decide(
        classifier, "Please translate the word 你好 into English and explain its use."
    )
    assert decision.models[0] == "deepseek-v4-flash"


def test_image_never_reaches_a_model_without_vision(classifier: Classifier) -> None:
    """An image part selects vision models only, even when the tier is forced."""
    decision = _decide(classifier, [IMAGE])
    assert decision.tier == "vision"
    assert set(decision.models) <= {
        "Qwen/Qwen3-Omni-30B",
        "Qwen/Qwen3-VL-32B",
        "glm-4.6v",
    }

    with pytest.raises(Unroutable, match="lacks vision"):
        _decide(classifier, [IMAGE], headers={"x-tiergate-tier": "default"})


def test_image_only_chinese_context_prefers_glm_vision(classifier: Classifier) -> None:
    """An image with a Chinese question goes to glm-4.6v first."""
    decision = _decide(
        classifier, [{"type": "text", "text": "这张图片里有什么？"}, IMAGE]
    )
    assert decision.models[0] == "glm-4.6v"


def test_context_window_is_respected(classifier: Classifier) -> None:
    """A model whose context cannot hold input + max_tokens is skipped, and why."""
    config = parse_config({"catalog": {"deepseek-v4-flash": {"context_window": 1000}}})
    decision = _decide(classifier, "word " * 600, config=config, max_tokens=800)
    assert "deepseek-v4-flash" not in decision.models
    assert "context" in decision.reason

    with pytest.raises(Unroutable):
        _decide(
            classifier,
            "word " * 600,
            model="deepseek-v4-flash",
            config=config,
            max_tokens=800,
        )


def test_very_long_prompt_goes_heavy(classifier: Classifier) -> None:
    """An input far past the heavy threshold goes to the heavy tier."""
    decision = _decide(classifier, "lorem ipsum dolor sit amet " * 6000)
    assert (decision.tier, decision.models[0]) == ("heavy", "Qwen/Qwen3.5-397B")


def test_empty_message_gets_fallback_tier(classifier: Classifier) -> None:
    """Whitespace-only text is routable: the default tier, never an error."""
    assert _decide(classifier, "   \n ").tier == "default"


def test_tools_require_tool_capable_models(classifier: Classifier) -> None:
    """A tool-using request skips deepseek-r1, which has no tools in the catalog."""
    decision = _decide(
        classifier,
        "What's the weather?",
        model="tier:reasoning",
        tools=[{"type": "function", "function": {"name": "weather"}}],
    )
    assert "deepseek-r1" not in decision.models
    assert decision.models[0] == "kimi-k2.5"


def test_excluded_by_config_and_key(classifier: Classifier) -> None:
    """Models and tiers excluded by config or key are never used."""
    config = parse_config({"exclude_models": ["deepseek-v4-flash"]})
    assert "deepseek-v4-flash" not in _decide(classifier, "hello", config=config).models

    key = KeyPolicy(
        id="team", key_env="X", exclude_tiers=["heavy"], exclude_models=["glm-5"]
    )
    with pytest.raises(Forbidden, match="heavy"):
        _decide(classifier, "hello", model="tier:heavy", key=key)
    assert "glm-5" not in _decide(classifier, "你好，今天天气怎么样？", key=key).models
    with pytest.raises(Forbidden):
        _decide(classifier, "hi", model="glm-5", key=key)


def test_tier_header_forces_tier(classifier: Classifier) -> None:
    """x-tiergate-tier overrides the classifier."""
    decision = _decide(classifier, "hello", headers={"x-tiergate-tier": "heavy"})
    assert decision.tier == "heavy" and "header tier heavy" in decision.reason


def test_max_latency_picks_cheapest_that_fits(classifier: Classifier) -> None:
    """With a latency budget the cheapest candidate whose p99 fits goes first."""
    observed = {"kimi-k2.5": 900.0, "deepseek-r1": 300.0, "Qwen/Qwen3.5-397B": 250.0}
    decision = _decide(
        classifier,
        "x",
        model="tier:reasoning",
        latency=observed,
        headers={"x-tiergate-max-latency-ms": "400"},
    )
    assert decision.models[0] == "Qwen/Qwen3.5-397B"  # 2.34 $/M < 2.50 $/M
    assert decision.models[-1] == "kimi-k2.5"


def test_max_latency_none_fits_says_so(classifier: Classifier) -> None:
    """When no p99 fits, the order stays and the reason says why."""
    decision = _decide(
        classifier,
        "x",
        model="tier:reasoning",
        latency={"kimi-k2.5": 900.0},
        headers={"x-tiergate-max-latency-ms": "100"},
    )
    assert decision.models[0] == "kimi-k2.5"
    assert "no candidate's p99" in decision.reason


def test_max_cost_filters_and_refuses(classifier: Classifier) -> None:
    """A cost cap drops candidates over it; unknown prices never fit."""
    decision = _decide(
        classifier,
        "x",
        model="tier:reasoning",
        max_tokens=1000,
        headers={"x-tiergate-max-cost-usd": "0.0026"},
    )
    assert decision.models == ("deepseek-r1", "Qwen/Qwen3.5-397B")

    with pytest.raises(Unroutable, match="unknown"):
        _decide(
            classifier,
            [IMAGE],
            model="glm-4.6v",
            headers={"x-tiergate-max-cost-usd": "1"},
        )


def test_bad_header_and_unknown_names(classifier: Classifier) -> None:
    """Malformed numbers are 400; unknown models and tiers are 404."""
    with pytest.raises(InvalidRequest):
        _decide(classifier, "x", headers={"x-tiergate-max-latency-ms": "fast"})
    with pytest.raises(UnknownModel):
        _decide(classifier, "x", model="gpt-5")
    with pytest.raises(UnknownModel):
        _decide(classifier, "x", headers={"x-tiergate-tier": "turbo"})


def test_chinese_math_is_reasoning_on_glm(classifier: Classifier) -> None:
    """Chinese math keeps the reasoning tier and takes GLM first, Kimi next."""
    decision = _decide(
        classifier, "小明有5个苹果，吃了2个，又买了3个。他现在有几个苹果？请写出步骤。"
    )
    assert decision.tier == "reasoning"
    assert decision.models[:2] == ("glm-5", "kimi-k2.5")
