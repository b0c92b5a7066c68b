"""Shared fixtures: a live simulated fleet and gateways on loopback.

Everything runs for real in this process's event loop: the fleet's aiohttp sites,
uvicorn serving the gateway, and the official ``openai`` client as the caller.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from openai import AsyncOpenAI

from tiergate.config import Config, parse_config, simulated_providers
from tiergate.gateway.app import build_app
from tiergate.gateway.runtime import Runtime
from tiergate.sim import Fleet

# Simulated latencies run at this fraction of the real figures, so a test request
# takes milliseconds; the drills in `tiergate chaos` use real time.
TIME_SCALE = 0.02


def require_service(kind: str, url_env: str, default: str) -> str:
    """The service URL if it answers; skip (or fail in CI) when it does not."""
    url = os.environ.get(url_env, default)
    host, port = _host_port(url)
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        message = (
            f"{kind} is not reachable at {host}:{port}: start it (see README, "
            f"'Services for the tests') or set {url_env}"
        )
        if os.environ.get("TIERGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


def _host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    default = {"redis": 6379, "postgresql": 5432, "postgres": 5432}.get(parts.scheme, 0)
    return parts.hostname or "127.0.0.1", parts.port or default


@pytest_asyncio.fixture(scope="session")
async def fleet() -> AsyncIterator[Fleet]:
    """The simulated fleet on ephemeral ports, shared by the whole session."""
    async with Fleet(base_port=0, seed=7, time_scale=TIME_SCALE) as running:
        yield running


@pytest_asyncio.fixture(autouse=True)
async def _clean_faults(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """No test leaves a fault switched on for the next one."""
    yield
    if "fleet" in request.fixturenames:
        fleet: Fleet = request.getfixturevalue("fleet")
        await fleet.clear_faults()


@dataclass
class LiveGateway:
    """A gateway served by uvicorn on loopback."""

    url: str
    runtime: Runtime
    server: uvicorn.Server

    def client(self, **kwargs: Any) -> AsyncOpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("api_key", "caller-key")
        return AsyncOpenAI(base_url=f"{self.url}/v1", **kwargs)


def fleet_config(fleet: Fleet, **overrides: Any) -> Config:
    """A config whose providers are the running fleet's endpoints."""
    data: dict[str, Any] = {
        "providers": simulated_providers(endpoints=fleet.endpoints),
        "ledger": {"enabled": False},
    }
    data.update(overrides)
    return parse_config(data, "(test)")


async def start_gateway(config: Config) -> LiveGateway:
    runtime = Runtime(config)
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(runtime),
            host="127.0.0.1",
            port=0,
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
    )
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    live = LiveGateway(f"http://127.0.0.1:{port}", runtime, server)
    live._task = task  # type: ignore[attr-defined]
    return live


async def stop_gateway(live: LiveGateway) -> None:
    live.server.should_exit = True
    await live._task  # type: ignore[attr-defined]


GatewayFactory = Callable[..., Awaitable[LiveGateway]]


@pytest_asyncio.fixture
async def make_gateway(fleet: Fleet) -> AsyncIterator[GatewayFactory]:
    """Start gateways over the fleet with config overrides; all stop afterwards."""
    started: list[LiveGateway] = []

    async def make(config: Config | None = None, **overrides: Any) -> LiveGateway:
        live = await start_gateway(config or fleet_config(fleet, **overrides))
        started.append(live)
        return live

    yield make
    for live in started:
        await stop_gateway(live)


@pytest_asyncio.fixture(scope="session")
async def gateway(fleet: Fleet) -> AsyncIterator[LiveGateway]:
    """One gateway with the default config over the fleet, for read-mostly tests."""
    live = await start_gateway(fleet_config(fleet))
    yield live
    await stop_gateway(live)


@pytest_asyncio.fixture
async def client(gateway: LiveGateway) -> AsyncIterator[AsyncOpenAI]:
    async with gateway.client() as c:
        yield c
