"""Attempts: deadlines, retries with backoff, failover, hedging, stream pre-commit.

``Attempter.run`` walks the request's candidate models in order and, for each, the
balancer's deployments in failover order (preferred region, other regions of the
same provider, then other providers). A retriable failure (connect error, timeout,
stream cut before the first byte, 429, 5xx, 529) moves the request to the next
deployment at once; a deployment is only tried a second time when every usable one
of that model has failed, and then after a jittered exponential backoff. Each
candidate model gets ``retry.max_retries`` retries; falling back to the next model
starts a fresh count. Nothing waits past the caller's deadline: every attempt and
every backoff is cut at it. A non-retriable status (400, 401, 403, 404, 422) ends
the request with that error at once.

A ``Retry-After`` starts a cooldown: on a 429 it covers every deployment of that
provider (rate limits belong to the account, not to one region), on a 5xx only the
deployment that sent it. The request moves on to another deployment meanwhile; only
when nothing at all is usable does it sleep until the soonest cooldown ends, and
only if that fits its deadline.

For a stream, an attempt succeeds once the first body bytes arrived: before that,
failing over is invisible to the caller; after it, the gateway owns the stream and
can only end it with an error event (see ``gateway.chat``).

Hedging (non-streaming only, per tier): when the first attempt has not answered
after the model's observed p95 in that region, a second attempt starts at the next
deployment in failover order; the first good answer wins and the other is
cancelled. ``Outcome.hedged`` is set when the loser was still running (it was sent,
so it is billed, and the gateway counts it in cost).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tiergate.balance import Balancer, Target
from tiergate.config import Hedging, Retry
from tiergate.errors import (
    NoDeploymentAvailable,
    StreamInterrupted,
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatus,
)
from tiergate.health import Health
from tiergate.upstream import Deadline, iter_chunks

logger = logging.getLogger(__name__)

BodyFor = Callable[[Target], bytes]

# Retry-After assumed for a 429 that gives none.
DEFAULT_RATE_LIMIT_S = 1.0


@dataclass(slots=True)
class Outcome:
    """The attempt that answered. For a stream, ``response`` is still open and
    ``first_chunk`` holds the bytes that committed it; otherwise ``body`` is set."""

    target: Target
    attempts: int
    tried: list[str]
    started: float
    first_byte: float
    body: bytes = b""
    # The parsed non-streaming answer (checked to be a JSON object).
    answer: dict[str, Any] | None = None
    first_chunk: bytes = b""
    rest: AsyncGenerator[bytes, None] | None = None
    hedged: bool = False
    extra_attempts: list[Target] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _RequestDeadline:
    """The caller's end of the request, in ``time.monotonic()`` seconds."""

    end: float

    def remaining(self) -> float:
        return self.end - time.monotonic()


@dataclass(slots=True)
class _Run:
    """What one request's attempts have done so far."""

    models: tuple[str, ...]
    region: str
    deadline: _RequestDeadline
    tried: list[str] = field(default_factory=list)
    # deployment id -> attempts sent to it by this request
    used: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    last_model: str | None = None
    # Deployments not retried by this request: a refused connection means down, not
    # busy, and a rejected key stays rejected; a backoff would only delay failover.
    refused: set[str] = field(default_factory=set)
    waited: bool = False


class Attempter:
    """Runs a request's attempts; one instance per gateway."""

    def __init__(
        self,
        balancer: Balancer,
        health: Health,
        retry: Retry,
        hedging: Hedging,
        *,
        on_retry: Callable[[str], None] | None = None,
        on_fallback: Callable[[str, str], None] | None = None,
        rng: random.Random | None = None,
    ):
        self._balancer = balancer
        self._health = health
        self._retry = retry
        self._hedging = hedging
        self._on_retry = on_retry
        self._on_fallback = on_fallback
        self._rng = rng or random.Random()

    async def run(
        self,
        models: tuple[str, ...],
        region: str,
        body_for: BodyFor,
        end: float,
        *,
        stream: bool,
        hedge: bool = False,
    ) -> Outcome:
        """The first good answer, or ``NoDeploymentAvailable`` listing what was tried.

        A non-retriable ``UpstreamStatus`` propagates as is, for the gateway to pass
        the provider's 4xx through to the caller.
        """
        run = _Run(models, region, _RequestDeadline(end))
        budget = {model: self._retry.max_retries + 1 for model in models}

        while run.deadline.remaining() > 0:
            for model in models:
                outcome = await self._run_model(
                    run, model, budget, body_for, stream, hedge
                )
                if outcome is not None:
                    outcome.attempts = run.attempts
                    outcome.tried = run.tried
                    return outcome
                if run.deadline.remaining() <= 0:
                    break
            if not any(budget.values()) or not await self._wait_for_cooldown(run):
                break

        raise self._exhausted(run)

    async def _run_model(
        self,
        run: _Run,
        model: str,
        budget: dict[str, int],
        body_for: BodyFor,
        stream: bool,
        hedge: bool,
    ) -> Outcome | None:
        """Attempts at ``model`` until one answers, its budget is spent or none of
        its deployments is usable now (``None`` in the last two cases)."""
        while budget[model] > 0 and run.deadline.remaining() > 0:
            target = await self._next_target(run, model)
            if target is None:
                return None
            budget[model] -= 1
            self._count_attempt(run, target)

            if hedge and not stream and run.attempts == 1:
                outcome = await self._hedged(run, target, body_for)
            else:
                outcome = await self._attempt(run, target, body_for, stream)
            if outcome is not None:
                return outcome
        return None

    async def _next_target(self, run: _Run, model: str) -> Target | None:
        """The first usable deployment of ``model`` this request has not tried, else
        the least-tried one after a backoff; claimed (``Health.acquire``) for the
        attempt. ``None`` when nothing is usable or the deadline passed."""
        targets = list(self._balancer.targets((model,), run.region))
        for target in targets:
            if not run.used.get(target.upstream.id) and self._health.acquire(
                target.upstream.id
            ):
                return target

        retries = sorted(targets, key=lambda t: run.used.get(t.upstream.id, 0))
        for target in retries:
            dep_id = target.upstream.id
            if dep_id in run.refused or not self._health.usable(dep_id):
                continue
            await self._backoff(run.used.get(dep_id, 0), run.deadline)
            # Claimed only after the sleep, so a cancelled request never holds a
            # half-open breaker's single probe.
            if run.deadline.remaining() > 0 and self._health.acquire(dep_id):
                return target
            return None
        return None

    def _count_attempt(self, run: _Run, target: Target) -> None:
        dep_id = target.upstream.id
        run.used[dep_id] = run.used.get(dep_id, 0) + 1
        if run.last_model is not None and target.model != run.last_model:
            self._notify_fallback(run.last_model, target.model)
        run.last_model = target.model
        if run.attempts > 0 and self._on_retry is not None:
            self._on_retry(dep_id)
        run.attempts += 1

    async def _attempt(
        self, run: _Run, target: Target, body_for: BodyFor, stream: bool
    ) -> Outcome | None:
        """One attempt; a retriable failure is recorded and gives ``None``."""
        try:
            return await self._one(target, body_for, run.deadline, stream)
        except UpstreamStatus as error:
            if error.upstream_status in CREDENTIAL_STATUSES:
                # Our key for this provider is wrong, not the caller's request: the
                # deployment counts as failed and is not tried again by this
                # request, and another provider may well answer.
                self._failed(run, target, error)
                run.refused.add(target.upstream.id)
                return None
            if not error.retriable:
                self._health.release(target.upstream.id)
                raise
            self._failed(run, target, error)
        except UpstreamError as error:
            self._failed(run, target, error)
        return None

    async def _one(
        self, target: Target, body_for: BodyFor, request: _RequestDeadline, stream: bool
    ) -> Outcome:
        """Send to one deployment. Raises ``UpstreamError``; on anything else
        (cancellation included) the deployment is released with no verdict."""
        try:
            return await self._send(target, body_for, request, stream)
        except UpstreamError:
            raise
        except BaseException:
            self._health.release(target.upstream.id)
            raise

    async def _send(
        self, target: Target, body_for: BodyFor, request: _RequestDeadline, stream: bool
    ) -> Outcome:
        upstream = target.upstream
        deadline = Deadline.for_attempt(request.end, upstream.timeouts)
        started = time.monotonic()
        # upstream.send makes aiohttp hold the request's exact end (no rounding).
        response = await upstream.send(body_for(target), deadline)
        if not stream:
            body = await upstream.read_all(response, deadline)

        if not stream:
            answer = _parse_answer(upstream.id, body)
            now = time.monotonic()
            self._health.success(upstream.id, (now - started) * 1000)
            self._health.observe_latency(
                target.model, upstream.region, False, (now - started) * 1000
            )
            return Outcome(target, 0, [], started, now, body=body, answer=answer)

        chunks = iter_chunks(upstream, response, deadline)
        try:
            first = await anext(chunks, b"")
        except BaseException:
            await chunks.aclose()
            raise
        if not first:
            await chunks.aclose()
            raise StreamInterrupted(
                f"{upstream.id}: stream ended before any data", deployment=upstream.id
            )
        now = time.monotonic()
        self._health.success(upstream.id, (now - started) * 1000)
        self._health.observe_latency(
            target.model, upstream.region, True, (now - started) * 1000
        )
        return Outcome(target, 0, [], started, now, first_chunk=first, rest=chunks)

    async def _hedged(
        self, run: _Run, first: Target, body_for: BodyFor
    ) -> Outcome | None:
        """Run ``first``; past the hedge delay with no answer, race a second target.

        Every failure is recorded here; ``None`` means both attempts failed."""
        after_ms = self._health.latency(
            first.model, first.upstream.region, False, self._hedging.percentile
        )
        delay = (
            after_ms if after_ms is not None else self._hedging.default_after_ms
        ) / 1000
        primary = asyncio.ensure_future(self._one(first, body_for, run.deadline, False))
        racing: dict[asyncio.Future[Outcome], Target] = {primary: first}
        try:
            await asyncio.wait({primary}, timeout=min(delay, run.deadline.remaining()))
            if not primary.done():
                second = self._hedge_target(run, first)
                if second is not None:
                    logger.info(
                        "hedging %s after %.0fms -> %s",
                        first.upstream.id,
                        delay * 1000,
                        second.upstream.id,
                    )
                    self._count_attempt(run, second)
                    backup = asyncio.ensure_future(
                        self._one(second, body_for, run.deadline, False)
                    )
                    racing[backup] = second
            return await self._race(run, racing)
        finally:
            # The losers (and everything, when the caller went away): cancelled and
            # awaited, so no upstream request outlives this one.
            for task in racing:
                task.cancel()
            if racing:
                await asyncio.gather(*racing, return_exceptions=True)

    async def _race(
        self, run: _Run, racing: dict[asyncio.Future[Outcome], Target]
    ) -> Outcome | None:
        """The first good answer among ``racing``; the ones still running when it
        comes stay in ``racing`` for the caller to cancel."""
        while racing:
            done, _ = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                target = racing.pop(task)
                error = task.exception()
                if error is None:
                    outcome = task.result()
                    outcome.hedged = bool(racing)
                    outcome.extra_attempts = list(racing.values())
                    return outcome
                if isinstance(error, UpstreamStatus) and not error.retriable:
                    raise error
                if not isinstance(error, UpstreamError):
                    raise error
                self._failed(run, target, error)
        return None

    def _hedge_target(self, run: _Run, current: Target) -> Target | None:
        """The next untried usable deployment in failover order, any model."""
        for model in run.models:
            for target in self._balancer.targets((model,), run.region):
                dep_id = target.upstream.id
                if dep_id == current.upstream.id or run.used.get(dep_id):
                    continue
                if self._health.acquire(dep_id):
                    return target
        return None

    def _failed(self, run: _Run, target: Target, error: UpstreamError) -> None:
        """Note a retriable failure in the request's list and in health."""
        what = (
            str(error.upstream_status)
            if isinstance(error, UpstreamStatus)
            else error.code or "error"
        )
        run.tried.append(f"{target.upstream.id}/{target.model}: {what}")
        dep_id = target.upstream.id
        if not isinstance(error, UpstreamStatus):
            if _refused(error):
                run.refused.add(dep_id)
            self._health.failure(dep_id, error.code or "error")
            return

        retry_after = error.retry_after_s
        if error.upstream_status != 429:
            self._health.failure(dep_id, error.code or "error", retry_after)
            return
        seconds = retry_after if retry_after is not None else DEFAULT_RATE_LIMIT_S
        if seconds <= 0:
            # "Retry-After: 0": nothing to wait for, and no verdict on health.
            self._health.release(dep_id)
            return
        siblings = self._balancer.deployments_of(target.upstream.provider)
        self._health.cool_down(
            [u.id for u in siblings],
            seconds,
            f"429 from {dep_id}, Retry-After {seconds:g}s",
        )
        self._health.failure(dep_id, error.code or "upstream_429", seconds)

    async def _backoff(self, previous_tries: int, deadline: _RequestDeadline) -> None:
        base = self._retry.backoff_base_s * (2 ** max(0, previous_tries - 1))
        delay = min(self._retry.backoff_max_s, base) * (0.5 + self._rng.random() / 2)
        delay = min(delay, max(0.0, deadline.remaining() - 0.01))
        if delay > 0:
            await asyncio.sleep(delay)

    async def _wait_for_cooldown(self, run: _Run) -> bool:
        """With nothing usable now, sleep once until the soonest Retry-After or open
        breaker ends, if that fits the deadline. Returns False when waiting cannot
        help; a request waits at most once, so a provider that keeps answering 429
        gets a clear 503 instead of holding the caller to its deadline."""
        if run.waited:
            return False
        deployments = [
            u.id for model in run.models for u in self._balancer.deployments_for(model)
        ]
        cooling = [self._health.cooldown_remaining(d) for d in deployments]
        pending = [w for w in cooling if w > 0]
        if not pending:
            # Only breakers are open: everything is down, and the caller is better
            # served by a fast 503 than by waiting for a probe.
            return False
        opening = [self._health.open_remaining(d) for d in deployments]
        soonest = min(pending + [w for w in opening if w > 0])
        if soonest >= run.deadline.remaining():
            return False
        run.waited = True
        await asyncio.sleep(soonest)
        return True

    def _cooldowns(self, models: tuple[str, ...]) -> list[float]:
        """Seconds until each deployment of ``models`` may take traffic again."""
        return [
            max(
                self._health.cooldown_remaining(u.id),
                self._health.open_remaining(u.id),
            )
            for model in models
            for u in self._balancer.deployments_for(model)
        ]

    def _exhausted(self, run: _Run) -> NoDeploymentAvailable:
        pending = [c for c in self._cooldowns(run.models) if c > 0]
        what = (
            "; ".join(run.tried)
            if run.tried
            else "no healthy deployment (breakers open or cooling down)"
        )
        late = " (deadline reached)" if run.deadline.remaining() <= 0 else ""
        return NoDeploymentAvailable(
            f"no deployment could serve {', '.join(run.models)}{late}: {what}",
            tried=run.tried,
            retry_after_s=min(pending) if pending else None,
        )

    def _notify_fallback(self, from_model: str, to_model: str) -> None:
        if self._on_fallback is not None:
            self._on_fallback(from_model, to_model)


CREDENTIAL_STATUSES = frozenset({401, 403})


def _parse_answer(dep_id: str, body: bytes) -> dict[str, Any]:
    """The provider's JSON answer; a 200 that is not a JSON object is that
    deployment's failure (a proxy's HTML page, a truncated body), so another
    deployment gets the request."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise UpstreamError(
            f"{dep_id}: answer is not a JSON object",
            deployment=dep_id,
            code="upstream_bad_response",
        )
    return answer


def _refused(error: UpstreamError) -> bool:
    """Whether the connection was refused outright (nothing listens there), as
    opposed to a dropped keep-alive connection, which is worth one more try."""
    if not isinstance(error, UpstreamConnectError):
        return False
    cause = getattr(error.__cause__, "os_error", error.__cause__)
    return isinstance(cause, ConnectionRefusedError)
