"""Active health probe: test deployments whose breaker is open, without a caller.

Without it, an open breaker is tested by the one real request a half-open breaker
lets through, which can only happen once ``breaker.open_s`` has passed and costs that
caller a failed attempt when the deployment is still down. With
``breaker.probe_interval_s`` set, a background task sends, every interval, a
one-token chat request to each deployment whose breaker is open or half-open; a
success closes the breaker at once (traffic then ramps back as after any close), a
failure keeps it open. Recovery after an outage is then bounded by the interval
rather than by the open period.

The probe asks for one output token of the deployment's first model, so against a
real provider it costs a fraction of a cent per probe; it only runs for deployments
that are already failing. It is off unless ``probe_interval_s`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson

from tiergate.config import Breaker
from tiergate.errors import UpstreamError, UpstreamStatus
from tiergate.health import Health
from tiergate.upstream import Deadline, Upstream

logger = logging.getLogger(__name__)

PROBE_MESSAGE = "health probe from tiergate: answer with one word"


class Prober:
    """The background probe task of one gateway (``start`` / ``stop``)."""

    def __init__(self, health: Health, upstreams: list[Upstream], settings: Breaker):
        self._health = health
        self._upstreams = [u for u in upstreams if u.models]
        self._interval = settings.probe_interval_s
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self._interval is not None

    def start(self) -> None:
        """Start probing in the running loop; does nothing when disabled."""
        if self._interval is None or self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def probe_once(self) -> dict[str, bool]:
        """Probe every deployment that needs it, concurrently; deployment id ->
        whether it answered."""
        due = [u for u in self._upstreams if self._health.begin_probe(u.id)]
        if not due:
            return {}
        results = await asyncio.gather(*(self._probe(u) for u in due))
        return {u.id: ok for u, ok in zip(due, results, strict=True)}

    async def _loop(self) -> None:
        assert self._interval is not None
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.probe_once()
            except Exception:
                # A bug here must not stop probing for good; the next round retries.
                logger.exception("health probe round failed")

    async def _probe(self, upstream: Upstream) -> bool:
        """One probe; its verdict goes to health like any attempt's."""
        model = next(iter(upstream.models.values()))
        body = orjson.dumps(
            {
                "model": model,
                "messages": [{"role": "user", "content": PROBE_MESSAGE}],
                "max_tokens": 1,
                "stream": False,
            }
        )
        timeouts = upstream.timeouts
        limit = timeouts.connect_s + timeouts.first_byte_s
        deadline = Deadline.for_attempt(time.monotonic() + limit, timeouts)
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                response = await upstream.send(body, deadline)
                await upstream.read_all(response, deadline)
        except UpstreamStatus as error:
            if not error.retriable:
                # Reachable but refusing this probe (a 4xx): no verdict either way;
                # the next real request through the half-open breaker decides.
                self._health.release(upstream.id)
                return False
            self._verdict_failed(upstream, error.code or "error", error.retry_after_s)
            return False
        except UpstreamError as error:
            self._verdict_failed(upstream, error.code or "error", None)
            return False
        except TimeoutError:
            self._verdict_failed(upstream, "probe_timeout", None)
            return False
        except BaseException:
            self._health.release(upstream.id)
            raise
        self._health.success(upstream.id, (time.monotonic() - started) * 1000)
        logger.info(
            "probe of %s succeeded", upstream.id, extra={"deployment": upstream.id}
        )
        return True

    def _verdict_failed(
        self, upstream: Upstream, error: str, retry_after_s: float | None
    ) -> None:
        logger.debug("probe of %s failed: %s", upstream.id, error)
        self._health.failure(upstream.id, f"probe: {error}", retry_after_s)
