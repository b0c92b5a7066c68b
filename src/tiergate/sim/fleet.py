"""The simulated provider fleet: every provider x region endpoint in one process.

:class:`Fleet` serves one aiohttp application per endpoint, each on its own TCP site,
plus the admin application (:mod:`tiergate.sim.admin`) on another. Ports come from
:func:`tiergate.sim.layout.endpoints`; ``base_port=0`` binds every site to an
ephemeral port instead, and :attr:`Fleet.endpoints` reports the ports actually bound.

Faults are switched with :meth:`Fleet.set_faults` (or the admin API). A
``region_down`` rule closes the listening socket of each endpoint it covers and drops
its open connections (in-flight requests included), so callers see connection
errors; when the rule goes away the endpoint listens again on the same port.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from aiohttp import web

from tiergate.catalog import Catalog, load_default_catalog
from tiergate.sim import layout
from tiergate.sim.admin import admin_app
from tiergate.sim.faults import FaultRule, FaultSet, parse_rules
from tiergate.sim.layout import Endpoint
from tiergate.sim.names import ModelNames
from tiergate.sim.server import EndpointService, FleetShared

logger = logging.getLogger(__name__)

# How long stopping waits for in-flight requests before cancelling them.
SHUTDOWN_GRACE_S = 0.5


@dataclass(slots=True)
class _Site:
    """One endpoint's service, runner and (while it is up) listening site."""

    endpoint: Endpoint
    service: EndpointService
    runner: web.AppRunner
    site: web.TCPSite | None = None


def _runner(app: web.Application) -> web.AppRunner:
    # handler_cancellation: a caller that goes away (or a dropped region) ends its
    # handler, so hung and streaming requests do not outlive their connection
    return web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=SHUTDOWN_GRACE_S,
    )


class Fleet:
    """Simulated OpenAI-compatible providers on loopback, with fault controls.

    Usage: ``async with Fleet(base_port=0, time_scale=0.01) as fleet: ...``. Starting
    fails with ``OSError`` when a fixed port is taken.
    """

    def __init__(
        self,
        host: str = layout.DEFAULT_HOST,
        base_port: int = layout.DEFAULT_BASE_PORT,
        seed: int = 0,
        zero_latency: bool = False,
        time_scale: float = 1.0,
        *,
        catalog: Catalog | None = None,
        recent_limit: int = 1000,
    ) -> None:
        if time_scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {time_scale}")
        last = base_port + len(layout.PROVIDERS) * len(layout.REGIONS) - 1
        if base_port != 0 and not (base_port >= 2 and last <= 65535):
            raise ValueError(
                f"base port {base_port} puts the fleet on ports "
                f"{base_port - 1}..{last}; "
                "give 0 (ephemeral ports) or a port from 2 to "
                f"{65536 - len(layout.PROVIDERS) * len(layout.REGIONS)}"
            )
        self._host = host
        self._base_port = base_port
        names = ModelNames(catalog if catalog is not None else load_default_catalog())
        self._shared = FleetShared(names, seed, zero_latency, time_scale, recent_limit)
        self._sites: list[_Site] = []
        self._admin: web.AppRunner | None = None
        self._admin_port = 0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind every endpoint and the admin API; raises ``OSError`` if a port is
        taken (the sites already bound are closed again) and ``RuntimeError`` if the
        fleet is already running."""
        if self._sites:
            raise RuntimeError("this simulated fleet is already running")
        try:
            for planned in self._planned_endpoints():
                self._sites.append(await self._start_endpoint(planned))
            await self._start_admin()
        except BaseException:
            await self.stop()
            raise
        logger.info(
            "simulated fleet started",
            extra={"endpoints": len(self._sites), "admin_url": self.admin_url},
        )

    async def stop(self) -> None:
        """Close every site and connection; in-flight requests are cancelled after
        a short grace period."""
        for served in self._sites:
            await served.runner.cleanup()
        self._sites.clear()
        if self._admin is not None:
            await self._admin.cleanup()
            self._admin = None

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every endpoint with the port it is bound to."""
        return [served.endpoint for served in self._sites]

    def endpoint(self, provider: str, region: str) -> Endpoint:
        """The endpoint of ``provider`` in ``region``; ``KeyError`` if there is none."""
        return self._site(provider, region).endpoint

    @property
    def admin_url(self) -> str:
        return f"http://{self._host}:{self._admin_port}"

    @property
    def faults(self) -> list[FaultRule]:
        return list(self._shared.faults.rules)

    def faults_json(self) -> list[dict[str, Any]]:
        return self._shared.faults.as_json()

    async def set_faults(self, rules: Any) -> list[FaultRule]:
        """Replace the active fault rules (rule objects or their JSON form) and bring
        endpoints down or up to match; raises ``FaultError`` on a bad rule, leaving
        the previous rules in force."""
        parsed = parse_rules(rules, self._shared.names)
        async with self._lock:
            self._shared.faults = FaultSet(parsed)
            await self._sync_up_down()
        logger.info("simulated faults set", extra={"faults": self.faults_json()})
        return self.faults

    async def add_faults(self, rules: Any) -> list[FaultRule]:
        """Add rules to the active ones (same errors as :meth:`set_faults`)."""
        parsed = parse_rules(rules, self._shared.names)
        return await self.set_faults([*self._shared.faults.rules, *parsed])

    async def clear_faults(self) -> None:
        """Remove every fault rule; endpoints that were down listen again."""
        await self.set_faults([])

    def stats(self) -> dict[str, Any]:
        """Request counters per endpoint name (``deepseek-us-east``...) and in total."""
        endpoints = {
            served.endpoint.name: {
                "provider": served.endpoint.provider,
                "region": served.endpoint.region,
                "port": served.endpoint.port,
                "up": served.site is not None,
                **served.service.stats.snapshot(),
            }
            for served in self._sites
        }
        total = sum(entry["requests"] for entry in endpoints.values())
        return {"simulated": True, "total_requests": total, "endpoints": endpoints}

    def reset_stats(self) -> None:
        for served in self._sites:
            served.service.stats.reset()

    def describe(self) -> list[dict[str, Any]]:
        """Every endpoint as JSON: name, provider, region, base URL, up or down."""
        return [
            {
                "name": served.endpoint.name,
                "provider": served.endpoint.provider,
                "region": served.endpoint.region,
                "base_url": served.endpoint.base_url,
                "up": served.site is not None,
                "simulated": True,
            }
            for served in self._sites
        ]

    def _planned_endpoints(self) -> list[Endpoint]:
        planned = layout.endpoints(self._host, self._base_port or 0)
        if self._base_port == 0:
            planned = [replace(endpoint, port=0) for endpoint in planned]
        return planned

    async def _start_endpoint(self, planned: Endpoint) -> _Site:
        service = EndpointService(planned.provider, planned.region, self._shared)
        runner = _runner(service.app())
        await runner.setup()
        site = web.TCPSite(runner, planned.host, planned.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        port = runner.addresses[0][1]
        return _Site(replace(planned, port=port), service, runner, site)

    async def _start_admin(self) -> None:
        port = self._base_port + layout.ADMIN_PORT_OFFSET if self._base_port else 0
        self._admin = _runner(admin_app(self))
        await self._admin.setup()
        await web.TCPSite(self._admin, self._host, port).start()
        self._admin_port = self._admin.addresses[0][1]

    def _site(self, provider: str, region: str) -> _Site:
        for served in self._sites:
            if (
                served.endpoint.provider == provider
                and served.endpoint.region == region
            ):
                return served
        raise KeyError(f"no simulated endpoint for {provider}/{region}")

    async def _sync_up_down(self) -> None:
        for served in self._sites:
            down = self._shared.faults.down(
                served.endpoint.provider, served.endpoint.region
            )
            if down and served.site is not None:
                await _take_down(served)
            elif not down and served.site is None:
                await _bring_up(served)


async def _take_down(served: _Site) -> None:
    assert served.site is not None
    await served.site.stop()
    served.site = None
    # a closed listener alone leaves keep-alive connections serving; drop them too
    server = served.runner.server
    for handler in server.connections if server is not None else []:
        handler.force_close()
    logger.info("simulated endpoint down", extra={"endpoint": served.endpoint.name})


async def _bring_up(served: _Site) -> None:
    site = web.TCPSite(served.runner, served.endpoint.host, served.endpoint.port)
    await site.start()
    served.site = site
    logger.info("simulated endpoint up", extra={"endpoint": served.endpoint.name})


async def run_fleet(
    host: str = layout.DEFAULT_HOST,
    base_port: int = layout.DEFAULT_BASE_PORT,
    seed: int = 0,
    zero_latency: bool = False,
    time_scale: float = 1.0,
    *,
    on_ready: Callable[[Fleet], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run a fleet until ``stop`` is set or the process gets SIGINT/SIGTERM.

    ``on_ready`` is called once every endpoint listens (the CLI prints its table
    there). Raises ``OSError`` when a port is taken.
    """
    stop = stop if stop is not None else asyncio.Event()
    async with Fleet(host, base_port, seed, zero_latency, time_scale) as fleet:
        if on_ready is not None:
            on_ready(fleet)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
