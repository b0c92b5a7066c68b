"""Constants and types shared by the simulated fleet's tests."""

from __future__ import annotations

from collections.abc import Callable

from openai import AsyncOpenAI

# Small enough that a whole streamed answer takes milliseconds, large enough that
# the pacing still orders events.
TEST_TIME_SCALE = 0.01

ClientFactory = Callable[..., AsyncOpenAI]
