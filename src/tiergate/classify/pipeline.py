"""The request classifier: structure first, then language, then the intent model.

Precedence, highest first (docs/classifier.md explains why):

1. an image, audio or video part anywhere in the conversation -> the vision tier;
   no text signal can send media to a model that cannot see or hear it;
2. an estimated input at or above ``heavy_input_tokens`` -> the heavy tier;
3. otherwise the intent model's tier (probabilities summed per tier, so "code 0.4,
   chat 0.4" is a confident default); a request with no text, or an intent below
   ``min_confidence``, gets ``fallback_tier``.

The Chinese flag never picks a tier: it rides along (Chinese math is tier reasoning
with ``chinese=True``) and the policy picks a Chinese-capable model within the tier.
Tools and ``response_format`` are recorded in ``needs`` and the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from tiergate.classify.features import cjk_share
from tiergate.classify.intent import IntentModel
from tiergate.classify.settings import ClassifierSettings
from tiergate.classify.signals import (
    MEDIA_NEEDS,
    Signals,
    cjk_count_estimate,
    read_signals,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's decision for one request.

    ``needs`` holds the capabilities the request requires ("vision", "audio",
    "video", "tools"); ``input_tokens`` is an estimate of the prompt's tokens
    (characters, not a tokenizer); ``reason`` is short and meant for humans and the
    ``x-tiergate-reason`` header.
    """

    tier: str
    intent: str | None
    confidence: float
    chinese: bool
    cjk_share: float
    input_tokens: int
    needs: frozenset[str]
    reason: str

    def with_tier(self, tier: str, confidence: float, reason: str) -> Classification:
        """A copy with another tier (used by the LLM classifier and overrides)."""
        return replace(self, tier=tier, confidence=confidence, reason=reason)


class Classifier:
    """Decides the tier of chat completion requests; safe to share across tasks.

    Building one loads the intent model (tens of milliseconds), so the gateway builds
    one per process at start. Raises :class:`~tiergate.classify.intent.IntentModelError`
    when ``settings.model_path`` names an unusable file.
    """

    def __init__(self, settings: ClassifierSettings, model: IntentModel | None = None):
        self.settings = settings
        self.model = (
            model if model is not None else IntentModel.load(settings.model_path)
        )
        unknown = set(self.model.labels) - set(settings.intent_tiers)
        if unknown:
            raise ValueError(f"model labels {sorted(unknown)} missing in intent_tiers")
        # The tier of each model label, in label order, and the tiers in first-seen
        # order (ties between tiers go to the first, as max() over a dict did).
        label_tiers = [settings.intent_tiers[x] for x in self.model.labels]
        self._tier_labels = tuple(
            (tier, tuple(i for i, t in enumerate(label_tiers) if t == tier))
            for tier in dict.fromkeys(label_tiers)
        )

    def classify(self, body: Mapping[str, Any]) -> Classification:
        """Tier, intent and signals of ``body`` (a parsed chat completions request).

        Never raises on a body the gateway accepted: no text gives the fallback tier.
        """
        return self._decide(body, use_model=True)

    def signals(self, body: Mapping[str, Any]) -> Classification:
        """Structural and language signals only, without the intent model.

        Text requests that are not heavy get ``fallback_tier`` and ``intent=None``.
        """
        return self._decide(body, use_model=False)

    def _decide(self, body: Mapping[str, Any], use_model: bool) -> Classification:
        s = self.settings
        sig = read_signals(body, s.head_chars, s.tail_chars, s.system_chars)
        sample = sig.sample
        has_text = bool(sample) and not sample.isspace()
        tokens = self._estimate_tokens(sig)
        structural = self._structural(sig, tokens)
        if structural is not None or not use_model or not has_text:
            tier, confidence, why = structural or self._no_intent(has_text)
            label = None
        else:
            tier, confidence, label, why = self._intent(sample)

        share = cjk_share(sample)
        chinese = share >= s.chinese_cjk_share
        reason = why
        if chinese:
            reason += f"; CJK {share:.0%} -> chinese"
        if sig.needs and "tools" in sig.needs:
            reason += "; tools"
        if sig.response_format:
            reason += f"; response_format {sig.response_format}"
        return Classification(
            tier=tier,
            intent=label,
            confidence=confidence,
            chinese=chinese,
            cjk_share=round(share, 4),
            input_tokens=tokens,
            needs=sig.needs,
            reason=reason,
        )

    def _structural(self, sig: Signals, tokens: int) -> tuple[str, float, str] | None:
        """The tier that media or size force, with confidence and reason, if any."""
        s = self.settings
        if sig.needs:
            media = sorted(sig.needs & MEDIA_NEEDS)
            if media:
                kinds = "/".join("image" if m == "vision" else m for m in media)
                return s.vision_tier, 1.0, f"{kinds} part -> {s.vision_tier}"
        if tokens >= s.heavy_input_tokens:
            return s.heavy_tier, 1.0, f"input ~{_kilo(tokens)} tokens -> {s.heavy_tier}"
        return None

    def _no_intent(self, has_text: bool) -> tuple[str, float, str]:
        """The fallback when no intent is read (no text, or the signals-only path)."""
        why = "no text" if not has_text else "structure only"
        return (
            self.settings.fallback_tier,
            1.0,
            f"{why} -> {self.settings.fallback_tier}",
        )

    def _intent(self, sample: str) -> tuple[str, float, str, str]:
        """Tier, its probability mass, the reported intent and the reason's first
        clause, from the intent model's probabilities for ``sample``.

        The tier is the one with the most probability mass over the intents mapped
        to it (so "code 0.4, chat 0.4" is a confident default); the reported intent
        is the most likely one inside that tier, so it never contradicts the tier.
        """
        s = self.settings
        probabilities = self.model.probabilities(sample)
        best_tier, best_mass = "", -1.0
        members: tuple[int, ...] = ()
        for tier, indices in self._tier_labels:
            mass = math.fsum(map(probabilities.__getitem__, indices))
            if mass > best_mass:
                best_tier, best_mass, members = tier, mass, indices
        best = max(members, key=probabilities.__getitem__)
        label = self.model.labels[best]
        confidence = round(best_mass, 4)
        if confidence < s.min_confidence:
            return (
                s.fallback_tier,
                confidence,
                label,
                f"intent {label} ({confidence:.2f}) below "
                f"{s.min_confidence:.2f} -> {s.fallback_tier}",
            )
        return (
            best_tier,
            confidence,
            label,
            f"intent {label} ({confidence:.2f}) -> {best_tier}",
        )

    def _estimate_tokens(self, sig: Signals) -> int:
        """Prompt tokens from character counts plus a constant per media part."""
        s = self.settings
        cjk = min(sig.total_chars, cjk_count_estimate(sig.total_chars, sig.total_utf8))
        text = (sig.total_chars - cjk) / s.chars_per_token + cjk * s.tokens_per_cjk_char
        return round(text) + sig.media_parts * s.media_part_tokens


def _kilo(tokens: int) -> str:
    """41234 -> '41k'; small counts stay exact."""
    return f"{tokens / 1000:.0f}k" if tokens >= 1000 else str(tokens)
