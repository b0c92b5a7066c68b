"""The simulated fleet's latency model: time to first token, then a steady token rate.

Time to first token (TTFT) is lognormal. Its p99 for a family's production pick in
its reference region (``us-east``) on the family's own provider is the figure the
brief reports for that family; everything else is a multiplier on that figure, all
held in :data:`PROFILES`:

===============  ==========  ==========================================  =========
family           p99 (ms)    region factor us-east / eu-west / apac      tok/s dflt
===============  ==========  ==========================================  =========
deepseek         340         1.00 / 1.08 / 0.95                          50
qwen             410         1.00 / 1.05 / 0.75  (fastest in APAC)       55
glm              480         1.00 / 1.10 / 0.95                          40
kimi             520         1.00 / 1.10 / 0.95                          35
===============  ==========  ==========================================  =========

- ``MODEL_FACTORS`` scales TTFT for models other than the production picks (small
  models answer sooner, the 397B and the reasoner later); unlisted models are 1.0.
- ``HOST_FACTORS`` scales TTFT for a multi-family host serving another family's
  model (siliconflow: 1.12x the family's figure).
- ``TTFT_SIGMA`` is the spread of log TTFT; the median is ``p99 / exp(z99 * sigma)``.
- After the first token, tokens come at the catalog's ``tokens_per_second`` (the
  family default above when the catalog has none). There is no jitter on the token
  rate: the variance the gateway has to cope with lives in TTFT and in the faults.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from types import MappingProxyType

from tiergate.catalog import Model

# z-score of the 99th percentile of a standard normal distribution
Z99 = 2.3263478740408408
TTFT_SIGMA = 0.35
REFERENCE_REGION = "us-east"


@dataclass(frozen=True, slots=True)
class FamilyProfile:
    """Latency figures of one model family."""

    ttft_p99_ms: float
    region_factors: MappingProxyType[str, float]
    default_tokens_per_second: float


def _profile(
    p99: float, us: float, eu: float, apac: float, tps: float
) -> FamilyProfile:
    regions = MappingProxyType({"us-east": us, "eu-west": eu, "apac": apac})
    return FamilyProfile(p99, regions, tps)


PROFILES: MappingProxyType[str, FamilyProfile] = MappingProxyType(
    {
        "deepseek": _profile(340.0, 1.00, 1.08, 0.95, 50.0),
        "qwen": _profile(410.0, 1.00, 1.05, 0.75, 55.0),
        "glm": _profile(480.0, 1.00, 1.10, 0.95, 40.0),
        "kimi": _profile(520.0, 1.00, 1.10, 0.95, 35.0),
    }
)

MODEL_FACTORS: MappingProxyType[str, float] = MappingProxyType(
    {
        "Qwen/Qwen3-8B": 0.70,
        "glm-4-9b": 0.70,
        "deepseek-coder": 0.95,
        "deepseek-v4-pro": 1.10,
        "deepseek-r1": 1.15,
        "Qwen/Qwen3-VL-32B": 1.10,
        "Qwen/Qwen3-Omni-30B": 1.10,
        "glm-4.6v": 1.10,
        "Qwen/Qwen3.5-397B": 1.30,
    }
)

HOST_FACTORS: MappingProxyType[str, float] = MappingProxyType({"siliconflow": 1.12})

# Used for a family missing from PROFILES (a user-extended catalog): the slowest
# family's figures, so an unknown model never looks better than a known one.
FALLBACK_PROFILE = PROFILES["kimi"]


@dataclass(frozen=True, slots=True)
class TtftDistribution:
    """Lognormal TTFT of one model at one provider and region, in seconds."""

    median_s: float
    sigma: float

    @property
    def p99_s(self) -> float:
        return self.median_s * math.exp(Z99 * self.sigma)


def ttft_distribution(model: Model, provider: str, region: str) -> TtftDistribution:
    """The TTFT distribution of ``model`` served by ``provider`` in ``region``.

    An unknown family gets :data:`FALLBACK_PROFILE`; an unknown region gets factor
    1.0 (the reference region's figure).
    """
    profile = PROFILES.get(model.family, FALLBACK_PROFILE)
    p99_ms = (
        profile.ttft_p99_ms
        * profile.region_factors.get(region, 1.0)
        * MODEL_FACTORS.get(model.id, 1.0)
        * HOST_FACTORS.get(provider, 1.0)
    )
    median_s = p99_ms / 1000.0 / math.exp(Z99 * TTFT_SIGMA)
    return TtftDistribution(median_s=median_s, sigma=TTFT_SIGMA)


def draw_ttft(rng: random.Random, distribution: TtftDistribution) -> float:
    """One TTFT sample in seconds (before the fleet's ``time_scale``)."""
    return rng.lognormvariate(math.log(distribution.median_s), distribution.sigma)


def tokens_per_second(model: Model) -> float:
    """The output rate of ``model``: its catalog figure, else its family default."""
    if model.tokens_per_second is not None:
        return model.tokens_per_second
    return PROFILES.get(model.family, FALLBACK_PROFILE).default_tokens_per_second
