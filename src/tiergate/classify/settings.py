"""Every knob of the request classifier, with the brief's architecture as default.

The gateway's config embeds :class:`ClassifierSettings` as its ``classifier:`` section,
so a deployment changes a threshold or the intent -> tier map in YAML, never in code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

INTENTS: tuple[str, ...] = ("chat", "summarize", "code", "reasoning", "classify")

_DEFAULT_INTENT_TIERS: dict[str, str] = {
    "chat": "default",
    "summarize": "default",
    "code": "default",
    "reasoning": "reasoning",
    "classify": "classify",
}


class LLMClassifierSettings(BaseModel):
    """The optional second opinion from a small model of the classify tier."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    model: str = "Qwen/Qwen3-8B"
    deadline_ms: float = Field(default=300.0, gt=0)
    # Only this much of the request text goes into the classification prompt, which
    # keeps the small model's latency and cost flat for long requests.
    max_prompt_chars: int = Field(default=1500, gt=0)


class ClassifierSettings(BaseModel):
    """Thresholds and maps of the classification pipeline (see docs/classifier.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent_tiers: dict[str, str] = Field(
        default_factory=lambda: dict(_DEFAULT_INTENT_TIERS)
    )
    vision_tier: str = "vision"
    heavy_tier: str = "heavy"
    # The tier for requests with no usable text, and for low-confidence intents.
    fallback_tier: str = "default"
    # A share of CJK characters at or above this marks the request as Chinese.
    chinese_cjk_share: float = Field(default=0.3, ge=0.0, le=1.0)
    # Estimated input tokens at or above this send a text request to the heavy tier.
    heavy_input_tokens: int = Field(default=24_000, gt=0)
    # Token estimate: non-CJK characters per token and tokens per CJK character.
    chars_per_token: float = Field(default=4.0, gt=0)
    tokens_per_cjk_char: float = Field(default=0.7, gt=0)
    # Tokens counted for each image, audio or video part in the estimate.
    media_part_tokens: int = Field(default=1000, ge=0)
    # Below this probability the intent's tier is not trusted: fallback_tier wins.
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    # The intent model reads the head and tail of the last user message (instructions
    # sit at either end of a long paste) plus the start of the system message.
    head_chars: int = Field(default=1200, gt=0)
    tail_chars: int = Field(default=400, ge=0)
    system_chars: int = Field(default=200, ge=0)
    # Path of a model file to use instead of the one shipped in the package.
    model_path: str | None = None
    llm: LLMClassifierSettings = LLMClassifierSettings()

    @model_validator(mode="after")
    def _intents_known(self) -> ClassifierSettings:
        unknown = sorted(set(self.intent_tiers) - set(INTENTS))
        missing = sorted(set(INTENTS) - set(self.intent_tiers))
        if unknown or missing:
            raise ValueError(
                "classifier.intent_tiers must map exactly the intents "
                f"{', '.join(INTENTS)}; unknown: {unknown or 'none'}, "
                f"missing: {missing or 'none'}"
            )
        return self
