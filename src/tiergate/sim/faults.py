"""Fault rules for the simulated fleet and what they do to one request.

A rule matches requests by optional ``provider``, ``region`` and ``model`` (any name
the fleet resolves, compared as the catalog id) and fires on a share ``rate`` of
the matching requests (1.0 = all). Kinds:

- ``error``: answer ``status`` (400..599) with an OpenAI error body.
- ``rate_limit``: answer 429 with ``Retry-After: retry_after`` (seconds).
- ``hang``: accept and never answer (``seconds`` null) or answer after ``seconds``;
  with ``after_chunks`` a stream sends that many events and then stalls.
- ``slow_stream``: the token rate is divided by ``factor``.
- ``cut_stream``: a stream is closed abruptly after ``after_chunks`` events, with no
  finish_reason and no ``[DONE]`` (non-streaming requests are not affected).
- ``region_down``: every endpoint of ``region`` (or only ``provider``'s) stops
  listening and drops its open connections; handled by the fleet, not per request.
- ``latency``: ``extra_ms`` added to the time to first token.

The first firing ``error``/``rate_limit`` rule decides a rejection and the first
firing ``hang`` a hang; ``latency`` rules add up, ``slow_stream`` factors multiply
and the smallest ``cut_stream`` wins. Fault delays are wall-clock: the fleet's
``time_scale`` does not shrink them, so a drill's 2 s hang stays 2 s.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from tiergate.sim.layout import PROVIDERS, REGIONS
from tiergate.sim.names import ModelNames


class FaultError(ValueError):
    """A fault rule list that cannot be applied; the message says which field."""


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str | None = None
    region: str | None = None
    model: str | None = None
    rate: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _known_place(self) -> _Rule:
        if self.provider is not None and self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}")
        if self.region is not None and self.region not in REGIONS:
            raise ValueError(f"region must be one of {', '.join(REGIONS)}")
        return self


class ErrorFault(_Rule):
    kind: Literal["error"]
    status: int = Field(ge=400, le=599)
    message: str | None = None


class RateLimitFault(_Rule):
    kind: Literal["rate_limit"]
    retry_after: int = Field(default=1, ge=0)


class HangFault(_Rule):
    kind: Literal["hang"]
    seconds: float | None = Field(default=None, gt=0)
    after_chunks: int | None = Field(default=None, ge=0)


class SlowStreamFault(_Rule):
    kind: Literal["slow_stream"]
    factor: float = Field(gt=1.0)


class CutStreamFault(_Rule):
    kind: Literal["cut_stream"]
    after_chunks: int = Field(default=3, ge=0)


class RegionDownFault(_Rule):
    kind: Literal["region_down"]
    region: str

    @model_validator(mode="after")
    def _whole_endpoints(self) -> RegionDownFault:
        if self.model is not None or self.rate != 1.0:
            raise ValueError(
                "region_down takes down whole endpoints: no model, no rate"
            )
        return self


class LatencyFault(_Rule):
    kind: Literal["latency"]
    extra_ms: float = Field(gt=0)


FaultRule = Annotated[
    ErrorFault
    | RateLimitFault
    | HangFault
    | SlowStreamFault
    | CutStreamFault
    | RegionDownFault
    | LatencyFault,
    Field(discriminator="kind"),
]
_RULES: TypeAdapter[list[FaultRule]] = TypeAdapter(list[FaultRule])


@dataclass(frozen=True, slots=True)
class Rejection:
    """An error answer a fault forces."""

    status: int
    message: str
    retry_after: int | None = None


@dataclass(frozen=True, slots=True)
class Effects:
    """What the faults do to one request; :data:`NO_EFFECTS` when nothing fires."""

    rejection: Rejection | None = None
    hang_s: float | None = None
    hang_after_chunks: int | None = None
    extra_latency_s: float = 0.0
    slow_factor: float = 1.0
    cut_after_chunks: int | None = None


NO_EFFECTS = Effects()


def parse_rules(raw: Any, names: ModelNames) -> list[FaultRule]:
    """Validated rules from JSON-like ``raw`` (a list, or ``{"faults": [...]}``).

    Raises :class:`FaultError` naming the offending field, e.g.
    ``faults[0].error.status: Input should be greater than or equal to 400``.
    """
    if isinstance(raw, dict) and set(raw) == {"faults"}:
        raw = raw["faults"]
    try:
        rules = _RULES.validate_python(raw)
    except ValidationError as exc:
        raise FaultError(_describe(exc)) from exc
    return [_with_catalog_model(rule, index, names) for index, rule in enumerate(rules)]


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        path = "faults" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in error["loc"]
        )
        lines.append(f"{path}: {error['msg']}")
    return "; ".join(lines)


def _with_catalog_model(rule: FaultRule, index: int, names: ModelNames) -> FaultRule:
    if rule.model is None:
        return rule
    model = names.resolve(rule.model)
    if model is None:
        raise FaultError(f"faults[{index}].model: unknown model {rule.model!r}")
    return rule.model_copy(update={"model": model.id})


class FaultSet:
    """An immutable list of rules and the effects they have on one request."""

    def __init__(self, rules: Sequence[FaultRule] = ()) -> None:
        self.rules: tuple[FaultRule, ...] = tuple(rules)
        self._per_request = tuple(
            r for r in self.rules if not isinstance(r, RegionDownFault)
        )

    def __bool__(self) -> bool:
        return bool(self._per_request)

    def as_json(self) -> list[dict[str, Any]]:
        return [rule.model_dump(mode="json") for rule in self.rules]

    def down(self, provider: str, region: str) -> bool:
        """True when a region_down rule covers the endpoint ``provider``/``region``."""
        return any(
            isinstance(rule, RegionDownFault) and _covers(rule, provider, region, None)
            for rule in self.rules
        )

    def effects(
        self, provider: str, region: str, model_id: str, rng: random.Random
    ) -> Effects:
        """The combined effect of every rule that matches and fires for a request."""
        if not self._per_request:
            return NO_EFFECTS
        found: dict[str, Any] = {}
        for rule in self._per_request:
            if _covers(rule, provider, region, model_id) and _fires(rule, rng):
                _apply(rule, found)
        return Effects(**found) if found else NO_EFFECTS


def _covers(rule: FaultRule, provider: str, region: str, model_id: str | None) -> bool:
    return (
        (rule.provider is None or rule.provider == provider)
        and (rule.region is None or rule.region == region)
        and (rule.model is None or model_id is None or rule.model == model_id)
    )


def _fires(rule: FaultRule, rng: random.Random) -> bool:
    return rule.rate >= 1.0 or rng.random() < rule.rate


def _apply(rule: FaultRule, found: dict[str, Any]) -> None:
    if isinstance(rule, ErrorFault) and "rejection" not in found:
        message = rule.message or f"simulated fault: upstream answered {rule.status}"
        found["rejection"] = Rejection(rule.status, message)
    elif isinstance(rule, RateLimitFault) and "rejection" not in found:
        message = f"simulated rate limit: retry after {rule.retry_after} s"
        found["rejection"] = Rejection(429, message, rule.retry_after)
    elif isinstance(rule, HangFault) and "hang_s" not in found:
        found["hang_s"] = math.inf if rule.seconds is None else rule.seconds
        found["hang_after_chunks"] = rule.after_chunks
    elif isinstance(rule, LatencyFault):
        found["extra_latency_s"] = (
            found.get("extra_latency_s", 0.0) + rule.extra_ms / 1000
        )
    elif isinstance(rule, SlowStreamFault):
        found["slow_factor"] = found.get("slow_factor", 1.0) * rule.factor
    elif isinstance(rule, CutStreamFault):
        current = found.get("cut_after_chunks", rule.after_chunks)
        found["cut_after_chunks"] = min(current, rule.after_chunks)
