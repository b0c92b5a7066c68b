"""Shared fixtures: a live simulated fleet on ephemeral loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from openai import AsyncOpenAI

from tiergate.sim import Endpoint, Fleet

from .support import TEST_TIME_SCALE, ClientFactory


@pytest_asyncio.fixture(scope="module")
async def fleet() -> AsyncIterator[Fleet]:
    """A fleet shared by the tests of one module; faults must be cleared by users."""
    async with Fleet(base_port=0, time_scale=TEST_TIME_SCALE, seed=0) as running:
        yield running


@pytest_asyncio.fixture
async def fresh_fleet() -> AsyncIterator[Fleet]:
    """A fleet of its own for a test that switches faults on."""
    async with Fleet(base_port=0, time_scale=TEST_TIME_SCALE, seed=0) as running:
        yield running


@pytest_asyncio.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Build official openai clients pointed at an endpoint; all closed afterwards."""
    clients: list[AsyncOpenAI] = []

    def build(endpoint: Endpoint, **options: object) -> AsyncOpenAI:
        settings: dict[str, object] = {"max_retries": 0, "timeout": 10.0}
        settings.update(options)
        client = AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key="sk-sim-test",
            **settings,  # type: ignore[arg-type]
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.close()
