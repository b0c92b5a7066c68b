"""Tier policy: from a classified request to the ordered models that may serve it.

The policy never sends anything. It turns the caller's ``model`` (a catalog model,
``tier:<name>`` or ``auto``), the classifier's answer and the override headers into a
``Decision``: the tier, the candidate models in the order to try them, and a short
reason a person can read in ``x-tiergate-reason``. These constraints always hold,
whatever the headers say:

- a request that needs vision, audio, video or tools only goes to a model with it;
- the estimated input plus ``max_tokens`` fits the model's context window;
- a model or tier excluded by the config or by the caller's key is never used;
- a model no deployment serves is not a candidate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tiergate.catalog import Catalog, Model
from tiergate.classify.pipeline import Classification, Classifier
from tiergate.config import Config, KeyPolicy
from tiergate.errors import Forbidden, InvalidRequest, UnknownModel, Unroutable

DIRECT_TIER = "direct"
# Room kept for the answer when the caller sets no max_tokens.
DEFAULT_ANSWER_TOKENS = 1024

LatencyLookup = Callable[[str, str], float | None]


@dataclass(frozen=True, slots=True)
class Overrides:
    """Per-request overrides read from ``x-tiergate-*`` headers."""

    tier: str | None = None
    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    region: str | None = None
    timeout_ms: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Overrides:
        """Parse the override headers; a malformed number is a 400, not ignored."""
        return cls(
            tier=headers.get("x-tiergate-tier") or None,
            max_latency_ms=_positive(headers, "x-tiergate-max-latency-ms"),
            max_cost_usd=_positive(headers, "x-tiergate-max-cost-usd"),
            region=headers.get("x-tiergate-region") or None,
            timeout_ms=_positive(headers, "x-tiergate-timeout-ms"),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a request may go: ``models`` in the order to try them."""

    tier: str
    models: tuple[str, ...]
    reason: str
    classification: Classification


def _positive(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(f"header {name} must be a number, got {raw!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise InvalidRequest(
            f"header {name} must be a positive finite number, got {raw!r}"
        )
    return value


def classify_for(
    classifier: Classifier, body: Mapping[str, Any], overrides: Overrides
) -> Classification:
    """What the policy needs to know about ``body``. The intent model only runs
    when it picks the tier (``model: auto`` and no tier header); a named model or
    tier needs the structural signals alone, which are far cheaper."""
    if overrides.tier is None and body.get("model") == "auto":
        return classifier.classify(body)
    return classifier.signals(body)


class Policy:
    """Applies the config's tiers and exclusions; one instance per gateway."""

    def __init__(self, config: Config, catalog: Catalog, served: set[str]):
        self._config = config
        self._catalog = catalog
        self._served = served
        self._excluded_models = set(config.exclude_models)
        self._excluded_tiers = set(config.exclude_tiers)

    def decide(
        self,
        body: Mapping[str, Any],
        classification: Classification,
        overrides: Overrides,
        key: KeyPolicy | None,
        region: str,
        latency: LatencyLookup,
    ) -> Decision:
        """The decision for one request; raises a 4xx ``RequestError`` when the
        request names something unknown or forbidden, or nothing allowed fits."""
        requested = body.get("model")
        tier, models, reasons = self._initial(requested, classification, overrides)
        self._check_tier_allowed(tier, key)

        models = self._allowed(models, key, tier, requested)
        models, skipped = self._constrained(models, body, classification)
        reasons.extend(skipped)
        if overrides.max_cost_usd is not None:
            models, why = self._within_cost(models, body, classification, overrides)
            reasons.append(why)
        if overrides.max_latency_ms is not None:
            models, why = self._within_latency(models, overrides, region, latency)
            reasons.append(why)

        kept = [r for r in reasons if r]
        kept[-1] = f"{kept[-1]} -> {models[0]}"
        return Decision(tier, tuple(models), "; ".join(kept), classification)

    def _initial(
        self, requested: Any, classification: Classification, overrides: Overrides
    ) -> tuple[str, list[str], list[str]]:
        """Tier and raw candidate list before constraints."""
        if overrides.tier is not None:
            tier = overrides.tier
            return (
                tier,
                self._tier_models(tier, classification),
                [f"header tier {tier}"],
            )

        if requested == "auto":
            tier = classification.tier
            return (
                tier,
                self._tier_models(tier, classification),
                [classification.reason],
            )

        if isinstance(requested, str) and requested.startswith("tier:"):
            tier = requested.removeprefix("tier:")
            return tier, self._tier_models(tier, classification), [f"model tier:{tier}"]

        if not isinstance(requested, str) or not requested:
            raise InvalidRequest("'model' must be a non-empty string", param="model")
        model = self._catalog.get(requested)
        if model is None:
            raise UnknownModel(
                f"model {requested!r} is not a catalog model, a tier (tier:<name>) or "
                f"'auto'; tiers: {', '.join(self._config.tiers)}",
                param="model",
            )
        return DIRECT_TIER, [model.id], [f"model {model.id} requested"]

    def _tier_models(self, tier: str, classification: Classification) -> list[str]:
        spec = self._config.tiers.get(tier)
        if spec is None:
            raise UnknownModel(
                f"unknown tier {tier!r}; configured tiers: "
                f"{', '.join(self._config.tiers)}",
                param="model",
            )
        if classification.chinese and spec.chinese_candidates:
            ordered = spec.chinese_candidates + spec.candidates
            return list(dict.fromkeys(ordered))
        return list(spec.candidates)

    def _check_tier_allowed(self, tier: str, key: KeyPolicy | None) -> None:
        if tier in self._excluded_tiers:
            raise Forbidden(f"tier {tier!r} is excluded by the config (exclude_tiers)")
        if key is not None and tier in key.exclude_tiers:
            raise Forbidden(f"key {key.id!r} may not use tier {tier!r}")

    def _allowed(
        self, models: list[str], key: KeyPolicy | None, tier: str, requested: Any
    ) -> list[str]:
        banned = set(self._excluded_models)
        if key is not None:
            banned.update(key.exclude_models)
        allowed = [m for m in models if m not in banned]
        if not allowed:
            who = f"key {key.id!r}" if key is not None else "the config"
            target = requested if tier == DIRECT_TIER else f"tier {tier!r}"
            raise Forbidden(f"{who} excludes every model of {target}")
        served = [m for m in allowed if m in self._served]
        if not served:
            raise Unroutable(
                f"no configured deployment serves {', '.join(allowed)}; add it to a "
                "provider's deployments.models"
            )
        return served

    def _constrained(
        self, models: list[str], body: Mapping[str, Any], classification: Classification
    ) -> tuple[list[str], list[str]]:
        needed_tokens = classification.input_tokens + _answer_tokens(body)
        kept: list[str] = []
        dropped: list[str] = []
        for model_id in models:
            model = self._catalog[model_id]
            missing = sorted(c for c in classification.needs if not model.can(c))
            if missing:
                dropped.append(f"{model_id} lacks {'/'.join(missing)}")
            elif needed_tokens > model.context_window:
                dropped.append(
                    f"{model_id} context {model.context_window} < ~{needed_tokens}"
                )
            else:
                kept.append(model_id)
        if not kept:
            raise Unroutable(
                "no allowed model can serve this request: " + "; ".join(dropped),
                code="no_capable_model",
            )
        return kept, [f"skipped {', '.join(dropped)}"] if dropped else []

    def _within_cost(
        self,
        models: list[str],
        body: Mapping[str, Any],
        classification: Classification,
        overrides: Overrides,
    ) -> tuple[list[str], str]:
        cap = overrides.max_cost_usd
        assert cap is not None
        answer = _answer_tokens(body)
        estimates = {
            m: _worst_case_cost(self._catalog[m], classification.input_tokens, answer)
            for m in models
        }
        fits = [m for m in models if (cost := estimates[m]) is not None and cost <= cap]
        if not fits:
            raise Unroutable(
                f"no candidate fits x-tiergate-max-cost-usd {cap:g} for ~{answer} "
                "answer tokens (unknown prices never fit): "
                + ", ".join(f"{m} {_money(estimates[m])}" for m in models),
                code="over_cost_limit",
            )
        return fits, f"cost cap ${cap:g} keeps {len(fits)}/{len(models)}"

    def _within_latency(
        self,
        models: list[str],
        overrides: Overrides,
        region: str,
        latency: LatencyLookup,
    ) -> tuple[list[str], str]:
        budget = overrides.max_latency_ms
        assert budget is not None
        observed = {m: latency(m, region) for m in models}
        fits = [m for m in models if (p99 := observed[m]) is not None and p99 <= budget]
        if not fits:
            seen = ", ".join(
                f"{m} {'n/a' if observed[m] is None else f'{observed[m]:.0f}ms'}"
                for m in models
            )
            return models, f"no candidate's p99 in {region} fits {budget:g}ms ({seen})"

        def price(model_id: str) -> float:
            value = self._catalog[model_id].price_out_per_m
            return float("inf") if value is None else value

        fits.sort(key=price)
        rest = [m for m in models if m not in fits]
        best = fits[0]
        return fits + rest, f"p99 {observed[best]:.0f}ms <= {budget:g}ms in {region}"


def _answer_tokens(body: Mapping[str, Any]) -> int:
    for field in ("max_completion_tokens", "max_tokens"):
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_ANSWER_TOKENS


def _worst_case_cost(
    model: Model, input_tokens: int, answer_tokens: int
) -> float | None:
    if model.price_out_per_m is None:
        return None
    cost = answer_tokens * model.price_out_per_m
    if model.price_in_per_m is not None:
        cost += input_tokens * model.price_in_per_m
    return cost / 1_000_000


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"
