"""The optional second opinion: ask a small model of the classify tier for the tier.

The gateway passes ``complete(model, messages, timeout_s) -> text``, which sends a
chat completion through its own upstream pool. The trained model's answer is the
fallback and stands whenever the small model is late (past ``deadline_ms``), fails,
or answers with something that is not one of the text tiers. Structural decisions
(vision, heavy) are never put to the small model: no answer may send an image to a
model that cannot see it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tiergate.classify.pipeline import Classification
from tiergate.classify.settings import ClassifierSettings
from tiergate.classify.signals import read_signals

logger = logging.getLogger(__name__)

Complete = Callable[[str, list[dict[str, Any]], float], Awaitable[str]]

_INSTRUCTIONS = (
    "You route requests to model tiers. Reply with exactly one word, the tier:\n"
    "{tiers}\n"
    "default: chat, writing, summarization, extraction, code.\n"
    "reasoning: math, logic puzzles, multi-step planning, verifiable answers.\n"
    "classify: short labelling tasks (sentiment, spam, category, yes/no labels)."
)


class LLMClassifier:
    """Asks ``settings.llm.model`` for the tier, within ``settings.llm.deadline_ms``."""

    def __init__(self, settings: ClassifierSettings, complete: Complete) -> None:
        self.settings = settings
        self._complete = complete
        self._tiers = tuple(dict.fromkeys(settings.intent_tiers.values()))
        self._pattern = re.compile(
            r"\b(" + "|".join(map(re.escape, self._tiers)) + r")\b"
        )

    async def classify(
        self, body: Mapping[str, Any], fallback: Classification
    ) -> Classification:
        """The small model's tier, or ``fallback`` with the reason saying why not.

        Never raises (cancellation of the caller's task excepted).
        """
        if fallback.tier not in self._tiers or not fallback.intent:
            return fallback
        llm = self.settings.llm
        deadline = llm.deadline_ms / 1000.0
        try:
            answer = await asyncio.wait_for(
                self._complete(llm.model, self.prompt(body), deadline), deadline
            )
        except TimeoutError:
            return self._fallback(fallback, f"llm over {llm.deadline_ms:.0f} ms")
        except Exception:
            logger.warning("llm classifier failed, trained model stands", exc_info=True)
            return self._fallback(fallback, "llm error")

        tier = self.parse(answer)
        if tier is None:
            return self._fallback(fallback, "llm answer unparseable")
        reason = f"llm {llm.model} -> {tier}; trained: {fallback.reason}"
        return fallback.with_tier(tier, fallback.confidence, reason)

    def prompt(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The classification messages for ``body`` (its text sample, truncated)."""
        s = self.settings
        sig = read_signals(body, s.head_chars, s.tail_chars, s.system_chars)
        text = sig.sample[: s.llm.max_prompt_chars]
        return [
            {
                "role": "system",
                "content": _INSTRUCTIONS.format(tiers=", ".join(self._tiers)),
            },
            {"role": "user", "content": f"Request:\n{text}\n\nTier:"},
        ]

    def parse(self, answer: str) -> str | None:
        """The first tier name in ``answer`` (case-insensitive), or None."""
        found = (
            self._pattern.search(answer.lower()) if isinstance(answer, str) else None
        )
        return found.group(1) if found else None

    @staticmethod
    def _fallback(fallback: Classification, why: str) -> Classification:
        return fallback.with_tier(
            fallback.tier,
            fallback.confidence,
            f"{why}, trained model: {fallback.reason}",
        )
