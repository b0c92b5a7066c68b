"""Plan before buying: blended $/M from a tier mix, and instances for a token volume.

Both are arithmetic on the catalog and a few stated assumptions, printed term by
term so a reader can check them by hand (``tiergate plan``).

**Blend.** Shares are read as shares of *output tokens* (prices are per output
token), so the blend is the sum of share x price over the tiers. A tier whose model
has no known price makes the blend unknown; the known part and the unpriced share
are reported instead of pricing it at 0. The brief's mix computes to $0.7625.

**The classifier.** The brief lists classification as 5% of traffic, but the
classifier runs once for *every* request: it is overhead on the other tiers, not a
share of them. Taken that way, the answered traffic is the other 95% and its blend
per million answered output tokens is (0.7625 - 0.0005) / 0.95 = $0.802, which is
where the brief's "$0.80" sits. The classifier's own calls add their output tokens
(a label of a few tokens per request) and their input tokens (it reads the prompt);
the default catalog has no input prices, so that part is unknown, not zero.
tiergate's default classifier is a local trained model that adds no tokens at all;
the LLM classifier is opt-in.

**Capacity.** Average demand is the monthly tokens over a 30-day month; peak demand
is that times a peak factor; load instances are peak demand over (per-instance
tokens/s x target utilisation), rounded up; ``spare`` instances are added on top for
failover and rolling deploys. The brief's pair (60 tok/s -> 40 instances, 35 tok/s
-> 65 at 500M tokens a month) is not proportional (60/35 = 1.71 but 65/40 = 1.63),
so no peak factor alone reproduces it. The two points fix the line ``instances =
spare + peak / rate`` exactly: peak 2,100 tok/s and 5 spare instances (see
:func:`fit_capacity`). 2,100 tok/s is 10.9x the 192.9 tok/s average, so the
defaults are peak factor 10.8 (any value in (10.70, 10.88] rounds the same way),
utilisation 1.0 and 5 spare, giving 35 + 5 = 40 and 60 + 5 = 65.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from tiergate.catalog import Catalog

BRIEF_MIX: dict[str, float] = {
    "default": 0.60,
    "classify": 0.05,
    "reasoning": 0.10,
    "vision": 0.15,
    "heavy": 0.10,
}
BRIEF_MODELS: dict[str, str] = {
    "default": "deepseek-v4-flash",
    "classify": "Qwen/Qwen3-8B",
    "reasoning": "kimi-k2.5",
    "vision": "Qwen/Qwen3-Omni-30B",
    "heavy": "Qwen/Qwen3.5-397B",
}
# The brief's second choice inside a tier, shown beside the blend (not in it).
BRIEF_ALTERNATES: dict[str, tuple[str, str]] = {
    "vision": ("glm-4.6v", "Chinese documents"),
}
CLASSIFY_TIER = "classify"

SECONDS_PER_MONTH = 30 * 86400
BRIEF_MONTHLY_TOKENS = 500_000_000
BRIEF_RATES: tuple[float, ...] = (60.0, 35.0)
BRIEF_INSTANCES: tuple[int, ...] = (40, 65)
DEFAULT_PEAK_FACTOR = 10.8
DEFAULT_UTILISATION = 1.0
DEFAULT_SPARE = 5

_SHARE_TOLERANCE = 1e-6


class PlanError(ValueError):
    """A mix, model choice or volume that cannot be planned; says which option."""


# ---- blend -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlendTerm:
    """One tier's part of the blend: ``share x price = contribution``."""

    tier: str
    share: float
    model: str
    price_out_per_m: float | None
    contribution: float | None


@dataclass(frozen=True, slots=True)
class Alternate:
    """A model the brief names as a tier's second choice, with its price."""

    tier: str
    model: str
    use: str
    price_out_per_m: float | None


@dataclass(frozen=True, slots=True)
class Blend:
    """The blend of a mix. ``usd_per_m_out`` is ``None`` when any term's price is
    unknown; ``known_usd_per_m_out`` sums the known terms, ``unpriced_share`` the
    shares left out of it."""

    terms: list[BlendTerm]
    usd_per_m_out: float | None
    known_usd_per_m_out: float
    unpriced_share: float
    alternates: list[Alternate] = field(default_factory=list)


def blend(
    mix: Mapping[str, float], models: Mapping[str, str], catalog: Catalog
) -> Blend:
    """The blended $/M output tokens of ``mix`` (tier -> share, summing to 1) with
    ``models`` (tier -> catalog model id). Raises PlanError for a tier without a
    model, an unknown model id or shares that do not sum to 1."""
    total = math.fsum(mix.values())
    if abs(total - 1.0) > _SHARE_TOLERANCE:
        raise PlanError(f"--mix shares sum to {total:.4g}, not 1 (100%)")

    terms = [_term(tier, share, models, catalog) for tier, share in mix.items()]
    known = math.fsum(t.contribution for t in terms if t.contribution is not None)
    unpriced = math.fsum(t.share for t in terms if t.contribution is None)
    alternates = [
        Alternate(tier, model, use, _price(catalog, model))
        for tier, (model, use) in BRIEF_ALTERNATES.items()
        if tier in mix and model in catalog and models.get(tier) != model
    ]
    return Blend(
        terms=terms,
        usd_per_m_out=known if unpriced == 0 else None,
        known_usd_per_m_out=known,
        unpriced_share=unpriced,
        alternates=alternates,
    )


def _term(
    tier: str, share: float, models: Mapping[str, str], catalog: Catalog
) -> BlendTerm:
    model_id = models.get(tier)
    if model_id is None:
        raise PlanError(f"tier {tier!r} has no model: add --model {tier}=MODEL")
    model = catalog.get(model_id)
    if model is None:
        raise PlanError(f"--model {tier}={model_id}: not a catalog model")
    price = model.price_out_per_m
    contribution = share * price if price is not None else None
    return BlendTerm(tier, share, model.id, price, contribution)


def _price(catalog: Catalog, model_id: str) -> float | None:
    model = catalog.get(model_id)
    return model.price_out_per_m if model is not None else None


# ---- classifier overhead ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassifierCost:
    """What classifying every request costs, beside the brief's 5%-share framing.

    ``answered_usd_per_m_out`` is the blend of the non-classify tiers renormalised
    to 100% (classification is overhead, not answered traffic).
    ``output_add_usd_per_m_out`` is the classifier's output tokens per request
    over the answer's output tokens, at the classifier's output price;
    ``input_add_usd_per_m_out`` the same for its input, ``None`` when unpriced.
    """

    model: str
    share_framing_usd_per_m_out: float | None
    answered_share: float
    answered_usd_per_m_out: float | None
    classify_input_tokens: int
    classify_output_tokens: int
    answer_output_tokens: int
    output_add_usd_per_m_out: float | None
    input_add_usd_per_m_out: float | None
    total_usd_per_m_out: float | None


def classifier_cost(
    result: Blend,
    catalog: Catalog,
    model_id: str,
    input_tokens: int = 300,
    output_tokens: int = 5,
    answer_tokens: int = 400,
) -> ClassifierCost:
    """The classifier's cost per million *answered* output tokens, when it reads
    ``input_tokens`` and writes ``output_tokens`` per request and the answers
    average ``answer_tokens``. Raises PlanError for an unknown model or a
    non-positive answer length."""
    model = catalog.get(model_id)
    if model is None:
        raise PlanError(f"classifier model {model_id!r}: not a catalog model")
    if answer_tokens <= 0:
        raise PlanError("--answer-tokens must be positive")

    answered = [t for t in result.terms if t.tier != CLASSIFY_TIER]
    classify = [t for t in result.terms if t.tier == CLASSIFY_TIER]
    answered_share = math.fsum(t.share for t in answered)
    answered_blend = _renormalised(answered, answered_share)
    out_add = _per_answer(output_tokens, answer_tokens, model.price_out_per_m)
    in_add = _per_answer(input_tokens, answer_tokens, model.price_in_per_m)
    total = None
    if answered_blend is not None and out_add is not None and in_add is not None:
        total = answered_blend + out_add + in_add
    return ClassifierCost(
        model=model.id,
        share_framing_usd_per_m_out=classify[0].contribution if classify else 0.0,
        answered_share=answered_share,
        answered_usd_per_m_out=answered_blend,
        classify_input_tokens=input_tokens,
        classify_output_tokens=output_tokens,
        answer_output_tokens=answer_tokens,
        output_add_usd_per_m_out=out_add,
        input_add_usd_per_m_out=in_add,
        total_usd_per_m_out=total,
    )


def _renormalised(terms: Sequence[BlendTerm], share: float) -> float | None:
    if share == 0 or any(t.contribution is None for t in terms):
        return None
    return math.fsum(t.contribution or 0.0 for t in terms) / share


def _per_answer(tokens: int, answer_tokens: int, price: float | None) -> float | None:
    return None if price is None else tokens / answer_tokens * price


# ---- capacity --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapacityRow:
    """Instances for one per-instance rate: ``ceil(peak / (rate x util)) + spare``."""

    tokens_per_second: float
    load_instances_exact: float
    load_instances: int
    spare: int
    instances: int


@dataclass(frozen=True, slots=True)
class Capacity:
    """The sizing of ``monthly_tokens`` at each rate in ``rows``."""

    monthly_tokens: float
    seconds_per_month: int
    average_tps: float
    peak_factor: float
    peak_tps: float
    utilisation: float
    rows: list[CapacityRow]


def capacity(
    monthly_tokens: float,
    rates: Sequence[float] = BRIEF_RATES,
    peak_factor: float = DEFAULT_PEAK_FACTOR,
    utilisation: float = DEFAULT_UTILISATION,
    spare: int = DEFAULT_SPARE,
) -> Capacity:
    """Instances needed for ``monthly_tokens`` at each per-instance tokens/s rate.

    Raises PlanError for a non-positive volume, rate or peak factor, a utilisation
    outside (0, 1] or a negative spare count.
    """
    if monthly_tokens <= 0 or peak_factor <= 0 or any(r <= 0 for r in rates):
        raise PlanError("--monthly-tokens, --tokens-per-second and --peak-factor > 0")
    if not 0 < utilisation <= 1 or spare < 0:
        raise PlanError("--utilisation must be in (0, 1] and --spare at least 0")

    average = monthly_tokens / SECONDS_PER_MONTH
    peak = average * peak_factor
    rows = []
    for rate in rates:
        exact = peak / (rate * utilisation)
        load = math.ceil(exact - 1e-9)  # 35.0000000001 is still 35 instances
        rows.append(CapacityRow(rate, exact, load, spare, load + spare))
    return Capacity(
        monthly_tokens, SECONDS_PER_MONTH, average, peak_factor, peak, utilisation, rows
    )


def fit_capacity(
    points: Sequence[tuple[float, int]] = tuple(
        zip(BRIEF_RATES, BRIEF_INSTANCES, strict=True)
    ),
) -> tuple[float, float]:
    """(peak tokens/s, fixed instances) of the line ``instances = fixed + peak /
    rate`` through two (rate, instances) points; the brief's pair gives
    (2100, 5)."""
    (r1, n1), (r2, n2) = points
    peak = (n2 - n1) / (1 / r2 - 1 / r1)
    return peak, n1 - peak / r1


# ---- option parsing --------------------------------------------------------------

_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmbg]?)\s*$", re.IGNORECASE)
_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9}


def parse_count(text: str) -> float:
    """``500M`` -> 5e8 (suffixes k, M, B/G); raises PlanError otherwise."""
    match = _COUNT.match(text)
    if not match:
        raise PlanError(f"{text!r}: use a number with an optional k/M/B suffix")
    return float(match.group(1)) * _SUFFIX[match.group(2).lower()]


def parse_mix(text: str) -> dict[str, float]:
    """``default=60,reasoning=40`` or ``default=0.6,...`` or ``default=60%`` ->
    tier -> share as a fraction. Shares above 1 are read as percentages."""
    pairs = _pairs(text, "--mix")
    mix = {}
    for tier, value in pairs.items():
        try:
            share = float(value.rstrip("%"))
        except ValueError:
            raise PlanError(
                f"--mix {tier}={value}: the share is not a number"
            ) from None
        percent = value.endswith("%") or share > 1
        mix[tier] = share / 100 if percent else share
    return mix


def parse_models(values: Sequence[str]) -> dict[str, str]:
    """``["vision=glm-4.6v", ...]`` (or comma-joined) -> tier -> model id."""
    models: dict[str, str] = {}
    for value in values:
        models.update(_pairs(value, "--model"))
    return models


def _pairs(text: str, option: str) -> dict[str, str]:
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise PlanError(f"{option} {item!r}: use tier=value")
        pairs[key.strip()] = value.strip()
    return pairs


# ---- rendering -------------------------------------------------------------------


def render_blend(result: Blend, console: Console) -> None:
    """Print the blend term by term, then the total or why it is unknown."""
    console.print("[bold]Blended cost[/] (shares read as shares of output tokens)")
    for t in result.terms:
        price = _usd(t.price_out_per_m)
        value = _usd(t.contribution, 4)
        console.print(
            f"  {t.tier:<10} {t.share:>6.1%}  {t.model:<22} "
            f"{t.share:.2f} x {price:>7} = {value}",
            markup=False,
        )
    if result.usd_per_m_out is not None:
        console.print(
            f"  blend = ${result.usd_per_m_out:.4f} per million output tokens"
        )
    else:
        console.print(
            f"  blend unknown: {result.unpriced_share:.1%} of traffic has no known "
            f"price; the priced part alone is ${result.known_usd_per_m_out:.4f}"
        )
    for alt in result.alternates:
        price = _usd(alt.price_out_per_m)
        console.print(
            f"  {alt.tier} for {alt.use}: {alt.model} at {price} per M out; "
            + (
                "not in the blend; traffic sent there is unpriced, so any split "
                "makes the blend unknown (not cheaper)"
                if alt.price_out_per_m is None
                else "not in the blend"
            ),
            markup=False,
        )


def render_classifier(cost: ClassifierCost, console: Console) -> None:
    """Print the classifier's cost under the brief's framing and as overhead."""
    console.print("[bold]What the classifier adds[/]")
    console.print(
        f"  as the brief frames it (a traffic share): "
        f"{_usd(cost.share_framing_usd_per_m_out, 4)} per M in the blend above"
    )
    console.print(
        f"  as overhead (it runs on every request): answered traffic is "
        f"{cost.answered_share:.0%}, its blend {_usd(cost.answered_usd_per_m_out, 4)} "
        "per M answered output tokens",
        markup=False,
    )
    console.print(
        f"  plus the classifier's own calls on {cost.model}: "
        f"{cost.classify_output_tokens} out / {cost.answer_output_tokens} answer "
        f"tokens = {_usd(cost.output_add_usd_per_m_out, 6)} per M (output); "
        f"{cost.classify_input_tokens} in per request = "
        f"{_usd(cost.input_add_usd_per_m_out, 6)} per M (input)",
        markup=False,
    )
    console.print(
        f"  total with the classifier as overhead: {_overhead_total(cost)}; "
        "tiergate's default classifier is a local model and adds no tokens",
        markup=False,
    )


def _overhead_total(cost: ClassifierCost) -> str:
    if cost.total_usd_per_m_out is not None:
        return f"${cost.total_usd_per_m_out:.4f}"
    if cost.answered_usd_per_m_out is None or cost.output_add_usd_per_m_out is None:
        return "unknown"
    known = cost.answered_usd_per_m_out + cost.output_add_usd_per_m_out
    return f"${known:.4f} + the classifier's input (price unknown)"


def render_capacity(cap: Capacity, console: Console) -> None:
    """Print the sizing arithmetic and one line per per-instance rate."""
    console.print("[bold]Capacity[/]")
    console.print(
        f"  {cap.monthly_tokens:,.0f} tokens / {cap.seconds_per_month:,} s "
        f"(30 days) = {cap.average_tps:,.1f} tok/s average; x peak factor "
        f"{cap.peak_factor:g} = {cap.peak_tps:,.1f} tok/s at peak; "
        f"utilisation {cap.utilisation:.0%}",
        markup=False,
    )
    for row in cap.rows:
        console.print(
            f"  at {row.tokens_per_second:g} tok/s per instance: "
            f"ceil({cap.peak_tps:,.1f} / ({row.tokens_per_second:g} x "
            f"{cap.utilisation:g}) = {row.load_instances_exact:.2f}) = "
            f"{row.load_instances} + {row.spare} spare = {row.instances} instances",
            markup=False,
        )
    peak, fixed = fit_capacity()
    console.print(
        f"  (the brief's 60 vs 35 tok/s -> 40 vs 65 instances fits peak "
        f"{peak:,.0f} tok/s + {fixed:g} spare exactly; no peak factor alone does)",
        markup=False,
    )


def _usd(value: float | None, digits: int = 2) -> str:
    return "unknown" if value is None else f"${value:.{digits}f}"


# ---- the whole plan --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything ``tiergate plan`` prints."""

    blend: Blend
    classifier: ClassifierCost
    capacity: Capacity


def build_plan(
    catalog: Catalog,
    mix: Mapping[str, float] | None = None,
    models: Mapping[str, str] | None = None,
    monthly_tokens: float = BRIEF_MONTHLY_TOKENS,
    rates: Sequence[float] = BRIEF_RATES,
    peak_factor: float = DEFAULT_PEAK_FACTOR,
    utilisation: float = DEFAULT_UTILISATION,
    spare: int = DEFAULT_SPARE,
    classifier_tokens: tuple[int, int, int] = (300, 5, 400),
) -> Plan:
    """The brief's plan, with any of its assumptions replaced.

    ``models`` overrides the brief's tier -> model map tier by tier;
    ``classifier_tokens`` is (input, output) tokens per classification and the
    average answer's output tokens. Raises PlanError as the parts do.
    """
    chosen = {**BRIEF_MODELS, **(models or {})}
    result = blend(mix if mix is not None else BRIEF_MIX, chosen, catalog)
    classifier = classifier_cost(
        result, catalog, chosen.get(CLASSIFY_TIER, BRIEF_MODELS[CLASSIFY_TIER]),
        *classifier_tokens,
    )  # fmt: skip
    sizing = capacity(monthly_tokens, rates, peak_factor, utilisation, spare)
    return Plan(result, classifier, sizing)


def render_plan(plan: Plan, console: Console) -> None:
    """Print the blend, the classifier's share and the capacity estimate."""
    render_blend(plan.blend, console)
    console.print()
    render_classifier(plan.classifier, console)
    console.print()
    render_capacity(plan.capacity, console)


def plan_to_json(plan: Plan) -> str:
    """The plan as JSON; unknown prices and figures are ``null``."""
    from dataclasses import asdict

    import orjson

    peak, fixed = fit_capacity()
    body = asdict(plan)
    body["capacity"]["brief_fit"] = {"peak_tps": peak, "spare": fixed}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
