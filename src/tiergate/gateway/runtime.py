"""Everything a running gateway holds, built once from the config.

The runtime wires the layers together (classifier -> policy -> balancer -> attempter
-> upstreams, and the ledger and metrics on the way out) and owns their lifetimes:
``start()`` opens connection pools and the ledger writer, ``close()`` flushes the
ledger and closes the pools. Nothing here is built at import time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from typing import Any

import orjson

from tiergate.attempt import Attempter
from tiergate.balance import Balancer, Target
from tiergate.classify.llm import LLMClassifier
from tiergate.classify.pipeline import Classifier
from tiergate.config import Config, KeyPolicy
from tiergate.errors import AuthError, NoDeploymentAvailable
from tiergate.health import BreakerState, Health
from tiergate.ledger import LedgerWriter, RequestRecord, open_store
from tiergate.metrics import Metrics
from tiergate.policy import Policy
from tiergate.probe import Prober
from tiergate.state import SharedHealth
from tiergate.upstream import Upstream

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("tiergate.access")


class Runtime:
    """The gateway's long-lived objects. One per process (or per test)."""

    def __init__(self, config: Config, *, classifier: Classifier | None = None):
        self.config = config
        self.catalog = config.build_catalog()
        self.classifier = classifier or Classifier(config.classifier)
        self.upstreams = [
            Upstream(name, p, d, config.timeouts) for name, p, d in config.deployments()
        ]
        self.metrics = Metrics(self.catalog)
        self.health = Health(
            config.breaker,
            {u.id: u.region for u in self.upstreams},
            on_change=self._breaker_changed,
        )
        self.balancer = Balancer(self.upstreams, self.health, config.nearest)
        self.policy = Policy(config, self.catalog, self.balancer.served_models)
        self.attempter = Attempter(
            self.balancer,
            self.health,
            config.retry,
            config.hedging,
            on_retry=self.metrics.retry,
            on_fallback=self.metrics.fallback,
        )
        self.ledger: LedgerWriter | None = None
        if config.ledger.enabled:
            self.ledger = LedgerWriter(
                open_store(config.ledger.url),
                batch_size=config.ledger.batch_size,
                flush_interval_s=config.ledger.flush_interval_s,
                queue_max=config.ledger.queue_max,
            )
            self.metrics.watch_ledger(self.ledger)
        self.prober = Prober(self.health, self.upstreams, config.breaker)
        # What start() got running, so close() after a failed start is safe.
        self._started: set[str] = set()
        self.shared: SharedHealth | None = None
        if config.state.backend == "redis":
            self.shared = SharedHealth(
                config.state.redis_url,
                self.health,
                [u.id for u in self.upstreams],
                prefix=config.state.prefix,
                interval_s=config.state.sync_interval_s,
            )
        self.llm_classifier: LLMClassifier | None = None
        if config.classifier.llm.enabled:
            self.llm_classifier = LLMClassifier(
                config.classifier, self.complete_internal
            )
        self._keys = {_digest(os.environ[k.key_env]): k for k in config.auth.keys}
        self.simulated = any(u.simulated for u in self.upstreams)

    async def start(self) -> None:
        """Open pools, the ledger and shared state. Raises when the ledger store or
        Redis (with ``state.backend: redis``) cannot be reached."""
        for upstream in self.upstreams:
            await upstream.start()
        self.prober.start()
        if self.ledger is not None:
            await self.ledger.start()
            self._started.add("ledger")
        if self.shared is not None:
            await self.shared.start()
            self._started.add("shared")
        for upstream in self.upstreams:
            self.metrics.set_breaker(upstream.id, BreakerState.CLOSED.value)

    async def close(self) -> None:
        """Flush the ledger first (nothing completed may be lost), then the pools."""
        await self.prober.stop()
        if self.shared is not None and "shared" in self._started:
            await self.shared.close()
        if self.ledger is not None and "ledger" in self._started:
            await self.ledger.close()
        for upstream in self.upstreams:
            await upstream.close()

    def authenticate(self, authorization: str | None) -> KeyPolicy | None:
        """The caller's key policy; ``None`` when the gateway has no keys configured.
        Raises AuthError for a missing or unknown key (the key is never echoed)."""
        if not self._keys:
            return None
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
        presented = _digest(authorization[7:].strip())
        for digest, policy in self._keys.items():
            if hmac.compare_digest(digest, presented):
                return policy
        raise AuthError("unknown API key")

    async def complete_internal(
        self, model: str, messages: list[dict[str, Any]], timeout_s: float
    ) -> str:
        """Answer text of a short chat completion the gateway sends on its own
        behalf (the LLM classifier), through the same pools, breakers and failover
        as caller traffic. Raises ``TiergateError`` subclasses on failure."""
        body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": 8}

        def build(target: Target) -> bytes:
            return orjson.dumps({**body, "model": target.upstream_model})

        end = time.monotonic() + timeout_s
        try:
            outcome = await self.attempter.run(
                (model,), self.config.region, build, end, stream=False
            )
        except NoDeploymentAvailable as error:
            if time.monotonic() >= end:
                raise TimeoutError(
                    f"{model} did not answer in {timeout_s:.3f}s"
                ) from error
            raise
        answer = orjson.loads(outcome.body)
        content = answer["choices"][0]["message"].get("content")
        return content if isinstance(content, str) else ""

    def record(self, record: RequestRecord) -> None:
        """Hand the finished request to the ledger and metrics (never blocks)."""
        if self.ledger is not None:
            self.ledger.record(record)
        self.metrics.observe(record)
        if self.config.access_log:
            access_logger.info(
                "%s %s %s %s %d %.1fms",
                record.request_id,
                record.tier,
                record.model,
                record.deployment,
                record.status,
                record.latency_ms,
                extra={"request_id": record.request_id, "status": record.status},
            )

    def _breaker_changed(self, dep_id: str, state: BreakerState) -> None:
        self.metrics.set_breaker(dep_id, state.value)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()
