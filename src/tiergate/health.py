"""Per-deployment health: circuit breaker, Retry-After cooldowns, latency windows.

The breaker is the classic three-state machine, driven by a window of recent
outcomes:

- closed: traffic flows; it opens after ``consecutive_errors`` failures in a row, or
  when the window's error rate reaches ``error_rate`` over at least ``min_requests``;
- open: no traffic for ``open_s``, doubled on every re-open that follows a recent
  close (a flapping deployment waits longer each time), up to ``max_open_s``;
- half-open: exactly one request is let through as a probe; success closes the
  breaker, failure opens it again.

After closing, a deployment takes traffic back gradually over ``ramp_s`` (the share
admitted rises linearly), so a flapping deployment never gets full rate at once.

Only a probe's verdict moves an open breaker: a success that arrives while the
breaker is open (a request that was already in flight when it opened) is counted but
does not close it. The probe is either the one real request a half-open breaker lets
through or, with ``probe_interval_s`` set, a tiny request from ``tiergate.probe``.

A ``Retry-After`` starts a cooldown instead: the deployment gets nothing until it
ends, and the breaker does not count it, since a rate limit says nothing about health.

State lives in the process. With ``state.backend: redis`` the decisions that matter
across replicas (a breaker opening, a Retry-After cooldown) are published through
``tiergate.state`` and applied here by ``apply_remote``, so one replica's discovery
keeps the others away too; error windows and latency stay per process.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from tiergate.config import Breaker

logger = logging.getLogger(__name__)

WINDOW_SAMPLES = 256
RECOMPUTE_EVERY = 16


class BreakerState(Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class LatencyWindow:
    """The last ``WINDOW_SAMPLES`` latencies (ms); percentiles are recomputed only
    every ``RECOMPUTE_EVERY`` samples, so reading them on the request path is cheap."""

    __slots__ = ("_cache", "_samples", "_since")

    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=WINDOW_SAMPLES)
        self._since = 0
        self._cache: dict[float, float] = {}

    def add(self, value_ms: float) -> None:
        self._samples.append(value_ms)
        self._since += 1
        # A young window moves a lot with each sample, and sorting a few dozen values
        # is cheap, so it is recomputed on every read until it has some history.
        if self._since >= RECOMPUTE_EVERY or len(self._samples) <= 4 * RECOMPUTE_EVERY:
            self._cache.clear()
            self._since = 0

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile in ms, ``None`` with fewer than 5 samples."""
        if len(self._samples) < 5:
            return None
        cached = self._cache.get(q)
        if cached is None:
            cached = float(np.percentile(np.fromiter(self._samples, float), q))
            self._cache[q] = cached
        return cached


@dataclass(slots=True)
class DeploymentHealth:
    """Health of one deployment. Mutated only by ``Health``."""

    id: str
    region: str
    state: BreakerState = BreakerState.CLOSED
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=20))
    consecutive_errors: int = 0
    opened_at: float = 0.0
    open_for: float = 0.0
    reopens: int = 0
    closed_at: float = float("-inf")
    probe_in_flight: bool = False
    cooldown_until: float = 0.0
    last_error: str | None = None
    successes: int = 0
    failures: int = 0


StateListener = Callable[[str, BreakerState], None]
# (deployment, "open" | "cooldown", seconds): a decision worth sharing with replicas.
EventListener = Callable[[str, str, float], None]


class Health:
    """Health of every deployment, plus observed latency per model and region."""

    def __init__(
        self,
        settings: Breaker,
        deployments: dict[str, str],
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_change: StateListener | None = None,
        on_event: EventListener | None = None,
    ):
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_change = on_change
        self.on_event = on_event
        self._deps = {
            dep_id: DeploymentHealth(
                dep_id, region, outcomes=deque(maxlen=settings.window)
            )
            for dep_id, region in deployments.items()
        }
        self._latency: dict[tuple[str, str, bool], LatencyWindow] = {}
        self._dep_latency: dict[str, LatencyWindow] = {}

    def get(self, dep_id: str) -> DeploymentHealth:
        return self._deps[dep_id]

    # -- admission -----------------------------------------------------------------

    def usable(self, dep_id: str) -> bool:
        """Whether the deployment may be planned now: not cooling down after a
        Retry-After, and its breaker closed or ready for a half-open probe."""
        dep = self._deps[dep_id]
        now = self._clock()
        if now < dep.cooldown_until:
            return False
        if dep.state is BreakerState.OPEN:
            if now - dep.opened_at < dep.open_for:
                return False
            self._set_state(dep, BreakerState.HALF_OPEN)
        return not (dep.state is BreakerState.HALF_OPEN and dep.probe_in_flight)

    def ramping(self, dep_id: str) -> bool:
        """True when a recently closed deployment should not get this request yet:
        the admitted share grows linearly from 10% to 100% over ``ramp_s``."""
        ramp = self._settings.ramp_s
        if ramp <= 0:
            return False
        elapsed = self._clock() - self._deps[dep_id].closed_at
        if elapsed >= ramp:
            return False
        share = 0.1 + 0.9 * elapsed / ramp
        return self._rng.random() >= share

    def acquire(self, dep_id: str) -> bool:
        """Claim the deployment for one attempt; a half-open breaker lets only one
        probe through. Returns False when the attempt must go elsewhere."""
        if not self.usable(dep_id):
            return False
        dep = self._deps[dep_id]
        if dep.state is BreakerState.HALF_OPEN:
            dep.probe_in_flight = True
        return True

    def open_remaining(self, dep_id: str) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        dep = self._deps[dep_id]
        if dep.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, dep.opened_at + dep.open_for - self._clock())

    def cooldown_remaining(self, dep_id: str) -> float:
        return max(0.0, self._deps[dep_id].cooldown_until - self._clock())

    def cool_down(self, dep_ids: list[str], seconds: float, reason: str) -> None:
        """Send nothing to ``dep_ids`` for ``seconds`` (a provider's Retry-After that
        covers all of its deployments). Breakers are not touched."""
        until = self._clock() + seconds
        for dep_id in dep_ids:
            dep = self._deps[dep_id]
            dep.cooldown_until = max(dep.cooldown_until, until)
            self._emit(dep_id, "cooldown", seconds)
        logger.warning(
            "deployments %s cooling down for %.1fs (%s)",
            ", ".join(dep_ids),
            seconds,
            reason,
            extra={"deployments": dep_ids, "retry_after_s": seconds},
        )

    def needs_probe(self, dep_id: str) -> bool:
        """Whether an active probe should test this deployment now: its breaker is
        not closed, no probe is in flight and it is not cooling down."""
        dep = self._deps[dep_id]
        return (
            dep.state is not BreakerState.CLOSED
            and not dep.probe_in_flight
            and self._clock() >= dep.cooldown_until
        )

    def begin_probe(self, dep_id: str) -> bool:
        """Claim the single probe of a deployment whose breaker is not closed, even
        before its open period ends (the active probe may find it healthy sooner).
        Returns False when it is closed or a probe is already in flight; the probe's
        verdict goes to ``success`` / ``failure`` like any attempt's."""
        if not self.needs_probe(dep_id):
            return False
        dep = self._deps[dep_id]
        self._set_state(dep, BreakerState.HALF_OPEN)
        dep.probe_in_flight = True
        return True

    # -- outcomes ------------------------------------------------------------------

    def success(self, dep_id: str, latency_ms: float | None = None) -> None:
        dep = self._deps[dep_id]
        dep.successes += 1
        dep.consecutive_errors = 0
        dep.probe_in_flight = False
        slow = self._settings.slow_ms
        dep.outcomes.append(
            not (slow is not None and latency_ms is not None and latency_ms > slow)
        )
        if latency_ms is not None:
            self._dep_latency.setdefault(dep_id, LatencyWindow()).add(latency_ms)
        if dep.state is BreakerState.HALF_OPEN:
            dep.closed_at = self._clock()
            dep.outcomes.clear()
            dep.consecutive_errors = 0
            self._set_state(dep, BreakerState.CLOSED)
        elif dep.state is BreakerState.CLOSED and not dep.outcomes[-1]:
            self._maybe_open(dep)
        # OPEN: a late answer from before the breaker opened proves little; only a
        # probe (half-open) may close it.

    def failure(
        self, dep_id: str, error: str, retry_after_s: float | None = None
    ) -> None:
        """Count a failed attempt; ``retry_after_s`` starts a cooldown during which
        the deployment gets nothing."""
        dep = self._deps[dep_id]
        now = self._clock()
        dep.failures += 1
        dep.last_error = error
        dep.probe_in_flight = False
        if retry_after_s is not None and retry_after_s > 0:
            until = now + retry_after_s
            if until > dep.cooldown_until + 0.05:
                logger.warning(
                    "deployment %s cooling down for %.1fs (Retry-After)",
                    dep_id,
                    retry_after_s,
                    extra={"deployment": dep_id, "retry_after_s": retry_after_s},
                )
            dep.cooldown_until = max(dep.cooldown_until, until)
            self._emit(dep_id, "cooldown", retry_after_s)
            # A rate limit says nothing about health; do not count it to the breaker.
            return
        dep.consecutive_errors += 1
        dep.outcomes.append(False)
        if dep.state is BreakerState.HALF_OPEN:
            self._open(dep, now)
        else:
            self._maybe_open(dep)

    def release(self, dep_id: str) -> None:
        """An attempt ended with no verdict (cancelled by the caller or a hedge)."""
        self._deps[dep_id].probe_in_flight = False

    def _maybe_open(self, dep: DeploymentHealth) -> None:
        if dep.state is not BreakerState.CLOSED:
            return
        s = self._settings
        errors = dep.outcomes.count(False)
        by_rate = len(dep.outcomes) >= s.min_requests and errors / len(
            dep.outcomes
        ) >= (s.error_rate)
        if dep.consecutive_errors >= s.consecutive_errors or by_rate:
            self._open(dep, self._clock())

    def _open(self, dep: DeploymentHealth, now: float) -> None:
        s = self._settings
        recently_closed = now - dep.closed_at < max(s.max_open_s, 4 * s.open_s)
        dep.reopens = dep.reopens + 1 if recently_closed else 0
        dep.open_for = min(s.open_s * (2**dep.reopens), s.max_open_s)
        dep.opened_at = now
        self._set_state(dep, BreakerState.OPEN)
        self._emit(dep.id, "open", dep.open_for)

    def _emit(self, dep_id: str, kind: str, seconds: float) -> None:
        if self.on_event is not None:
            self.on_event(dep_id, kind, seconds)

    def apply_remote(self, dep_id: str, kind: str, seconds: float) -> None:
        """Apply another replica's decision: stay away from ``dep_id`` for
        ``seconds`` more. An open breaker here then probes on its own when the time
        is up. Applying never publishes again, so replicas do not echo each other."""
        dep = self._deps.get(dep_id)
        if dep is None or seconds <= 0:
            return
        now = self._clock()
        if kind == "cooldown":
            dep.cooldown_until = max(dep.cooldown_until, now + seconds)
        elif kind == "open":
            if (
                dep.state is BreakerState.OPEN
                and dep.opened_at + dep.open_for >= now + seconds
            ):
                return
            dep.opened_at, dep.open_for = now, seconds
            dep.last_error = "opened by another replica"
            self._set_state(dep, BreakerState.OPEN)

    def _set_state(self, dep: DeploymentHealth, state: BreakerState) -> None:
        if dep.state is state:
            return
        previous, dep.state = dep.state, state
        logger.warning(
            "breaker %s: %s -> %s%s",
            dep.id,
            previous.name.lower(),
            state.name.lower(),
            f" for {dep.open_for:.1f}s (last error: {dep.last_error})"
            if state is BreakerState.OPEN
            else "",
            extra={"deployment": dep.id, "breaker": state.name.lower()},
        )
        if self._on_change is not None:
            self._on_change(dep.id, state)

    # -- latency -------------------------------------------------------------------

    def observe_latency(self, model: str, region: str, stream: bool, ms: float) -> None:
        """Record a successful request's latency (time to first token for streams)."""
        key = (model, region, stream)
        window = self._latency.get(key)
        if window is None:
            window = self._latency[key] = LatencyWindow()
        window.add(ms)

    def latency(self, model: str, region: str, stream: bool, q: float) -> float | None:
        """Observed ``q``-th percentile (ms) for a model in a region, if known."""
        window = self._latency.get((model, region, stream))
        return None if window is None else window.percentile(q)

    def deployment_latency(self, dep_id: str, q: float = 50.0) -> float | None:
        window = self._dep_latency.get(dep_id)
        return None if window is None else window.percentile(q)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every deployment's state for ``GET /v1/deployments``."""
        now = self._clock()
        rows = []
        for dep in self._deps.values():
            open_left = dep.open_for - (now - dep.opened_at)
            rows.append(
                {
                    "id": dep.id,
                    "region": dep.region,
                    "breaker": dep.state.name.lower(),
                    "open_remaining_s": round(open_left, 3)
                    if dep.state is BreakerState.OPEN
                    else 0.0,
                    "cooldown_remaining_s": round(
                        max(0.0, dep.cooldown_until - now), 3
                    ),
                    "recent_error_rate": round(
                        dep.outcomes.count(False) / len(dep.outcomes), 3
                    )
                    if dep.outcomes
                    else 0.0,
                    "probe_in_flight": dep.probe_in_flight,
                    "ramp_remaining_s": round(
                        max(0.0, self._settings.ramp_s - (now - dep.closed_at)), 3
                    )
                    if dep.state is BreakerState.CLOSED
                    else 0.0,
                    "successes": dep.successes,
                    "failures": dep.failures,
                    "last_error": dep.last_error,
                    "p50_ms": self.deployment_latency(dep.id, 50.0),
                    "p99_ms": self.deployment_latency(dep.id, 99.0),
                }
            )
        return rows
