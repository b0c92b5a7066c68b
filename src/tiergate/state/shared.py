"""Sharing breaker openings and Retry-After cooldowns through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tiergate.health import Health

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("open", "cooldown")


class SharedHealth:
    """Publishes this replica's health events and applies the other replicas'.

    Keys are ``<prefix>:<kind>:<deployment>`` holding the Unix time the state ends,
    with a matching expiry, so stale keys vanish by themselves. Values are wall-clock
    times: replicas on different machines need clocks in sync to well under a
    second (NTP gives that), or a cooldown ends early or late by the skew.
    """

    def __init__(
        self,
        url: str,
        health: Health,
        deployments: Sequence[str],
        *,
        prefix: str = "tiergate",
        interval_s: float = 0.25,
    ):
        self._client = aioredis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self._health = health
        self._deployments = list(deployments)
        self._prefix = prefix
        self._interval = interval_s
        self._keys = [
            self._key(kind, dep) for dep in self._deployments for kind in KINDS
        ]
        self._pending: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, float] = {}
        self._failing = False
        self.published = 0
        self.applied = 0

    def _key(self, kind: str, dep: str) -> str:
        return f"{self._prefix}:{kind}:{dep}"

    async def start(self) -> None:
        """Check Redis answers, hook into ``health`` and start the sync loop.

        Raises ``RedisError`` when Redis cannot be reached at start: a replica told
        to share state should not silently run without it.
        """
        await self._client.ping()
        self._health.on_event = self.publish
        await self.sync_once()
        self._task = asyncio.create_task(self._run(), name="tiergate-shared-health")

    async def close(self) -> None:
        self._health.on_event = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._client.aclose()

    def publish(self, dep_id: str, kind: str, seconds: float) -> None:
        """Share one event (called by ``Health``, on the event loop, never blocks)."""
        if seconds <= 0:
            return
        until = time.time() + seconds
        key = self._key(kind, dep_id)
        self._seen[key] = until
        task = asyncio.get_running_loop().create_task(self._set(key, until, seconds))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _set(self, key: str, until: float, seconds: float) -> None:
        try:
            # GT-like rule by hand: never shorten a state another replica set longer.
            current = await self._client.get(key)
            if current is not None and float(current) >= until:
                return
            await self._client.set(key, repr(until), px=max(1, int(seconds * 1000)))
            self.published += 1
        except RedisError:
            logger.warning("could not publish %s to Redis", key, exc_info=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.sync_once()

    async def sync_once(self) -> None:
        """Read every shared key and apply the ones this replica has not seen."""
        try:
            values = await self._client.mget(self._keys)
        except RedisError:
            if not self._failing:
                logger.warning("shared health: Redis unreachable", exc_info=True)
            self._failing = True
            return
        if self._failing:
            logger.warning("shared health: Redis reachable again")
        self._failing = False

        now = time.time()
        for key, raw in zip(self._keys, values, strict=True):
            if raw is None:
                continue
            until = float(raw)
            if until <= now or self._seen.get(key, 0.0) >= until:
                continue
            self._seen[key] = until
            _, kind, dep = key.rsplit(":", 2)
            self._health.apply_remote(dep, kind, until - now)
            self.applied += 1
