"""Helpers of the reliability tests: fleet layouts, request counts and small real
upstreams for what the simulated fleet cannot do (an HTTP-date Retry-After, a port
that never accepts, a stream that records when its caller went away)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tiergate.config import simulated_providers
from tiergate.sim import Fleet

# Short deadlines keep failing tests fast; the simulated fleet runs at 2% of real time.
FAST_TIMEOUTS = {"connect_s": 0.5, "first_byte_s": 0.5, "idle_s": 0.5, "total_s": 3.0}
PROMPT = [{"role": "user", "content": "Say something short about rivers."}]


def providers(fleet: Fleet, layout: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The fleet's providers restricted to ``layout`` (provider -> regions), so a
    test controls exactly which deployments exist and in which order they rank."""
    full = simulated_providers(endpoints=fleet.endpoints)
    chosen: dict[str, Any] = {}
    for name, regions in layout.items():
        provider = dict(full[name])
        provider["deployments"] = [
            d for d in provider["deployments"] if d["region"] in regions
        ]
        chosen[name] = provider
    return chosen


def counts(fleet: Fleet) -> dict[str, int]:
    """Chat requests that reached each endpoint so far."""
    return {n: e["requests"] for n, e in fleet.stats()["endpoints"].items()}


def answered(fleet: Fleet, name: str, status: int = 200) -> int:
    """Requests ``name`` answered with ``status`` so far (hangs never count)."""
    by_status = fleet.stats()["endpoints"][name]["by_status"]
    return int(by_status.get(str(status), 0))


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Endpoints that got requests between two ``counts`` calls, and how many."""
    return {n: after[n] - before[n] for n in after if after[n] != before[n]}


def arrivals(fleet: Fleet, since: float) -> list[tuple[float, str]]:
    """(arrival time, endpoint) of every request since ``since`` (epoch s), sorted."""
    found = [
        (at, name)
        for name, entry in fleet.stats()["endpoints"].items()
        for at in entry["recent"]
        if at >= since
    ]
    return sorted(found)


@dataclass
class StubUpstream:
    """A tiny OpenAI-shaped upstream on loopback with scripted behaviour."""

    url: str
    calls: list[float] = field(default_factory=list)
    cancelled: list[float] = field(default_factory=list)


def _completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "stub answer"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


@asynccontextmanager
async def stub_upstream(behaviour: str, **options: Any) -> AsyncIterator[StubUpstream]:
    """Serve ``behaviour`` on an ephemeral port:

    - ``http_date_429``: the first ``options['limited']`` calls get 429 with
      ``Retry-After`` as an HTTP date ``options['after_s']`` seconds ahead; later
      calls are answered normally;
    - ``slow_stream``: an SSE stream sending one event every 50 ms for ``seconds``,
      recording when the handler is cancelled because its caller went away.
    """
    stub = StubUpstream(url="")

    async def chat(request: web.Request) -> web.StreamResponse:
        stub.calls.append(time.time())
        body = await request.json()
        if behaviour == "http_date_429":
            if len(stub.calls) <= options.get("limited", 1):
                when = time.time() + options["after_s"]
                headers = {"Retry-After": email.utils.formatdate(when, usegmt=True)}
                error = {"error": {"message": "stub rate limit", "type": "rate_limit"}}
                return web.json_response(error, status=429, headers=headers)
            return web.json_response(_completion(body["model"]))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for index in range(int(options.get("seconds", 5) / 0.05)):
                chunk = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"content": f"w{index} "},
                            "finish_reason": None,
                        }
                    ],
                }
                await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
                await asyncio.sleep(0.05)
        except (asyncio.CancelledError, ConnectionResetError):
            stub.cancelled.append(time.time())
            raise
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stub.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield stub
    finally:
        await runner.cleanup()


@asynccontextmanager
async def unaccepting_port() -> AsyncIterator[str]:
    """A base URL whose port listens but never accepts: once its tiny backlog is
    full, new connection attempts hang in the handshake (a connect timeout)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
