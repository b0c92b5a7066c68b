"""From a decision's candidate models to the deployments to try, in order.

For each candidate model in turn, the failover order is: the same model in the
preferred region, then in the other regions (nearest first), at one provider; then
the same model at the other providers; then the next candidate model. Deployments
cooling down after a Retry-After or with an open breaker are left out; a deployment
that is ramping back after its breaker closed goes to the back of its model's list.

The preferred region is the caller's ``x-tiergate-region`` or the gateway's own.
"Nearest" is by observed median latency to that region's deployments of the model,
with the config's static ``nearest`` table for regions with no history yet.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from tiergate.health import Health
from tiergate.upstream import Upstream


@dataclass(frozen=True, slots=True)
class Target:
    """One attempt's destination: a catalog model at a deployment."""

    model: str
    upstream_model: str
    upstream: Upstream


class Balancer:
    """Orders deployments per request; holds no per-request state."""

    def __init__(
        self,
        upstreams: list[Upstream],
        health: Health,
        nearest: dict[str, list[str]],
        rng: random.Random | None = None,
    ):
        self._health = health
        self._nearest = nearest
        self._rng = rng or random.Random()
        self._by_model: dict[str, list[Upstream]] = {}
        self._by_provider: dict[str, list[Upstream]] = {}
        for upstream in upstreams:
            self._by_provider.setdefault(upstream.provider, []).append(upstream)
            for model in upstream.models:
                self._by_model.setdefault(model, []).append(upstream)

    @property
    def served_models(self) -> set[str]:
        return set(self._by_model)

    def deployments_for(self, model: str) -> list[Upstream]:
        return list(self._by_model.get(model, ()))

    def deployments_of(self, provider: str) -> list[Upstream]:
        """Every deployment of ``provider`` (they share its account and limits)."""
        return list(self._by_provider.get(provider, ()))

    def targets(self, models: tuple[str, ...], region: str) -> Iterator[Target]:
        """Lazily yield targets for ``models`` in failover order; later models are
        only ordered if the attempts get that far."""
        for model in models:
            for upstream in self._order(model, region):
                yield Target(model, upstream.models[model], upstream)

    def _order(self, model: str, region: str) -> list[Upstream]:
        usable = [u for u in self._by_model.get(model, ()) if self._health.usable(u.id)]
        if not usable:
            return []

        rank = self._region_rank(model, region, usable)
        providers: dict[str, list[Upstream]] = {}
        for upstream in sorted(usable, key=lambda u: rank[u.region]):
            providers.setdefault(upstream.provider, []).append(upstream)

        ordered = self._provider_order(providers)
        flat = [u for name in ordered for u in providers[name]]
        ready = [u for u in flat if not self._health.ramping(u.id)]
        return ready + [u for u in flat if u not in ready]

    def _region_rank(
        self, model: str, region: str, usable: list[Upstream]
    ) -> dict[str, float]:
        static = [region, *self._nearest.get(region, [])]
        rank: dict[str, float] = {}
        for upstream in usable:
            r = upstream.region
            if r == region:
                rank[r] = -1.0
                continue
            observed = self._health.latency(model, r, False, 50.0)
            fallback = 1e6 + (static.index(r) if r in static else len(static))
            rank[r] = min(rank.get(r, float("inf")), observed if observed else fallback)
        return rank

    def _provider_order(self, providers: dict[str, list[Upstream]]) -> list[str]:
        """Providers by the rank of their best deployment; among providers whose best
        deployment is in the same region, a weighted random pick goes first."""
        names = list(providers)
        if len(names) == 1:
            return names
        best_region = {name: providers[name][0].region for name in names}
        first_region = providers[names[0]][0].region
        names.sort(key=lambda n: 0 if best_region[n] == first_region else 1)
        leaders = [n for n in names if best_region[n] == first_region]
        if len(leaders) > 1:
            weights = [providers[n][0].weight for n in leaders]
            pick = self._rng.choices(leaders, weights=weights)[0]
            names.remove(pick)
            names.insert(0, pick)
        return names
