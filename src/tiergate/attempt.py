"""Attempts: deadlines, retries with backoff, failover, hedging, stream pre-commit.

``Attempter.run`` walks the balancer's targets until one answers. A retriable
failure (connect error, timeout, 429, 5xx, 529) moves the request to the next
target at once; only when a deployment is tried a second time does the attempt
wait, with jittered exponential backoff, and never past the caller's deadline.
A non-retriable status (400, 401, 403, 404, 422) ends the request with that error.

For a stream, an attempt succeeds once the first body bytes arrived: before that,
failing over is invisible to the caller; after it, the gateway owns the stream and
can only end it with an error event (see ``gateway.relay``).

Hedging (non-streaming only, per tier): when the first attempt has not answered
after the model's observed p95 in that region, a second attempt starts at the next
target; the first good answer wins and the other is cancelled. Both are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field

from tiergate.balance import Balancer, Target
from tiergate.config import Hedging, Retry
from tiergate.errors import (
    NoDeploymentAvailable,
    StreamInterrupted,
    UpstreamError,
    UpstreamStatus,
)
from tiergate.health import Health
from tiergate.upstream import Deadline, iter_chunks

logger = logging.getLogger(__name__)

BodyFor = Callable[[Target], bytes]


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
        deadline = _RequestDeadline(end)
        tried: list[str] = []
        used: dict[str, int] = {}
        attempts = 0
        max_attempts = self._retry.max_retries + 1
        last_model: str | None = None

        while attempts < max_attempts:
            progressed = False
            targets = self._balancer.targets(models, region)
            for target in targets:
                if attempts >= max_attempts or deadline.remaining() <= 0:
                    break
                dep_id = target.upstream.id
                if not self._health.acquire(dep_id):
                    continue
                if used.get(dep_id):
                    await self._backoff(used[dep_id], deadline)
                    if deadline.remaining() <= 0:
                        self._health.release(dep_id)
                        break
                used[dep_id] = used.get(dep_id, 0) + 1
                if last_model is not None and target.model != last_model:
                    self._notify_fallback(last_model, target.model)
                last_model = target.model
                if attempts > 0 and self._on_retry is not None:
                    self._on_retry(dep_id)
                attempts += 1
                progressed = True

                try:
                    if hedge and not stream and attempts == 1:
                        outcome = await self._hedged(
                            target, targets, body_for, deadline, tried, used
                        )
                    else:
                        outcome = await self._one(target, body_for, deadline, stream)
                except UpstreamStatus as error:
                    if not error.retriable:
                        self._health.release(dep_id)
                        raise
                    tried.append(f"{dep_id}/{target.model}: {error.upstream_status}")
                    self._record_failure(target, error)
                except UpstreamError as error:
                    tried.append(f"{dep_id}/{target.model}: {error.code}")
                    self._record_failure(target, error)
                else:
                    outcome.attempts = attempts + len(outcome.extra_attempts)
                    outcome.tried = tried
                    return outcome

            if deadline.remaining() <= 0 or attempts >= max_attempts:
                break
            if not progressed and not await self._wait_for_cooldown(models, deadline):
                break

        raise self._exhausted(models, tried, deadline)

    async def _one(
        self, target: Target, body_for: BodyFor, request: _RequestDeadline, stream: bool
    ) -> Outcome:
        upstream = target.upstream
        deadline = Deadline.for_attempt(request.end, upstream.timeouts)
        started = time.monotonic()
        try:
            response = await upstream.send(body_for(target), deadline)
        except asyncio.CancelledError:
            self._health.release(upstream.id)
            raise

        if not stream:
            try:
                body = await upstream.read_all(response, deadline)
            except asyncio.CancelledError:
                self._health.release(upstream.id)
                raise
            now = time.monotonic()
            self._health.success(upstream.id, (now - started) * 1000)
            self._health.observe_latency(
                target.model, upstream.region, False, (now - started) * 1000
            )
            return Outcome(target, 0, [], started, now, body=body)

        chunks = iter_chunks(upstream, response, deadline)
        try:
            first = await anext(chunks, b"")
        except asyncio.CancelledError:
            await chunks.aclose()
            self._health.release(upstream.id)
            raise
        except UpstreamError:
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
        self,
        first: Target,
        targets: Iterator[Target],
        body_for: BodyFor,
        deadline: _RequestDeadline,
        tried: list[str],
        used: dict[str, int],
    ) -> Outcome:
        """Run ``first``; past the hedge delay with no answer, race a second target."""
        after_ms = self._health.latency(
            first.model, first.upstream.region, False, self._hedging.percentile
        )
        delay = (
            after_ms if after_ms is not None else self._hedging.default_after_ms
        ) / 1000
        primary = asyncio.ensure_future(self._one(first, body_for, deadline, False))
        done, _ = await asyncio.wait(
            {primary}, timeout=min(delay, deadline.remaining())
        )
        if done:
            return primary.result()

        second = self._next_usable(targets, first, used)
        if second is None:
            return await primary
        logger.info(
            "hedging %s after %.0fms -> %s",
            first.upstream.id,
            delay * 1000,
            second.upstream.id,
        )
        backup = asyncio.ensure_future(self._one(second, body_for, deadline, False))
        racing = {primary: first, backup: second}
        error: UpstreamError | None = None

        while racing:
            done, _ = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                target = racing.pop(task)
                if task.exception() is None:
                    for loser, loser_target in racing.items():
                        loser.cancel()
                        with contextlib.suppress(asyncio.CancelledError, UpstreamError):
                            await loser
                        self._health.release(loser_target.upstream.id)
                    outcome = task.result()
                    outcome.hedged = True
                    outcome.extra_attempts = [first if target is second else second]
                    return outcome
                exc = task.exception()
                if isinstance(exc, UpstreamStatus) and not exc.retriable:
                    for loser in racing:
                        loser.cancel()
                    raise exc
                if isinstance(exc, UpstreamError):
                    tried.append(f"{target.upstream.id}/{target.model}: {exc.code}")
                    self._record_failure(target, exc)
                    error = exc
                else:
                    raise exc  # type: ignore[misc]
        assert error is not None
        raise error

    def _next_usable(
        self, targets: Iterator[Target], current: Target, used: dict[str, int]
    ) -> Target | None:
        for target in targets:
            dep_id = target.upstream.id
            if dep_id == current.upstream.id or used.get(dep_id):
                continue
            if self._health.acquire(dep_id):
                used[dep_id] = 1
                return target
        return None

    def _record_failure(self, target: Target, error: UpstreamError) -> None:
        retry_after = error.retry_after_s if isinstance(error, UpstreamStatus) else None
        if isinstance(error, UpstreamStatus) and error.upstream_status == 429:
            retry_after = retry_after if retry_after is not None else 1.0
        self._health.failure(target.upstream.id, error.code or "error", retry_after)

    async def _backoff(self, previous_tries: int, deadline: _RequestDeadline) -> None:
        base = self._retry.backoff_base_s * (2 ** (previous_tries - 1))
        delay = min(self._retry.backoff_max_s, base) * (0.5 + self._rng.random() / 2)
        delay = min(delay, max(0.0, deadline.remaining() - 0.01))
        if delay > 0:
            await asyncio.sleep(delay)

    async def _wait_for_cooldown(
        self, models: tuple[str, ...], deadline: _RequestDeadline
    ) -> bool:
        """With nothing usable now, sleep until the soonest Retry-After ends, if that
        fits the deadline. Returns False when waiting cannot help."""
        waits = [
            self._health.cooldown_remaining(u.id)
            for model in models
            for u in self._balancer.deployments_for(model)
        ]
        pending = [w for w in waits if w > 0]
        if not pending:
            return False
        soonest = min(pending)
        if soonest >= deadline.remaining():
            return False
        await asyncio.sleep(soonest)
        return True

    def _exhausted(
        self, models: tuple[str, ...], tried: list[str], deadline: _RequestDeadline
    ) -> NoDeploymentAvailable:
        cooldowns = [
            self._health.cooldown_remaining(u.id)
            for model in models
            for u in self._balancer.deployments_for(model)
        ]
        pending = [c for c in cooldowns if c > 0]
        what = (
            "; ".join(tried)
            if tried
            else "no healthy deployment (breakers open or cooling down)"
        )
        late = " (deadline reached)" if deadline.remaining() <= 0 else ""
        return NoDeploymentAvailable(
            f"no deployment could serve {', '.join(models)}{late}: {what}",
            tried=tried,
            retry_after_s=min(pending) if pending else None,
        )

    def _notify_fallback(self, from_model: str, to_model: str) -> None:
        if self._on_fallback is not None:
            self._on_fallback(from_model, to_model)
