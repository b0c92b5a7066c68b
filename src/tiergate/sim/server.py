"""The aiohttp application of one simulated provider endpoint.

Each endpoint gets its own application (and so knows its provider and region from
the object that serves it), its own seeded random streams and its own counters; the
fault rules and model names are shared through :class:`FleetShared`. Routes:
``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /healthz``.

Per request the order is: count the arrival, check ``Authorization``, parse, resolve
the model (404 when unknown), apply faults, then answer after the latency model's
time to first token and the model's token rate (both multiplied by ``time_scale``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import time
from dataclasses import dataclass, field

from aiohttp import web

from tiergate.catalog import Model
from tiergate.sim.fast import FastReplies
from tiergate.sim.faults import NO_EFFECTS, Effects, FaultSet, Rejection
from tiergate.sim.latency import (
    TtftDistribution,
    draw_ttft,
    tokens_per_second,
    ttft_distribution,
)
from tiergate.sim.layout import PROVIDER_MODELS
from tiergate.sim.names import ModelNames
from tiergate.sim.reply import Reply, plan_reply
from tiergate.sim.request import ChatRequest, RequestError, parse_chat_request
from tiergate.sim.stats import EndpointStats
from tiergate.sim.wire import (
    SIMULATED_HEADERS,
    completion_body,
    error_body,
    status_error_body,
    stream_events,
)

logger = logging.getLogger(__name__)

JSON_HEADERS = {**SIMULATED_HEADERS, "Content-Type": "application/json"}
SSE_HEADERS = {
    **SIMULATED_HEADERS,
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
}


@dataclass(slots=True)
class FleetShared:
    """What every endpoint of one fleet reads: settings, names and current faults.
    The fleet replaces ``faults`` as a whole, so a request sees one consistent set."""

    names: ModelNames
    seed: int = 0
    zero_latency: bool = False
    time_scale: float = 1.0
    recent_limit: int = 1000
    faults: FaultSet = field(default_factory=FaultSet)


@dataclass(frozen=True, slots=True)
class Pace:
    """When a stream's events are due: the first at ``ttft`` seconds, then
    ``per_token`` seconds for each token sent."""

    ttft: float
    per_token: float


class EndpointService:
    """Serves one provider/region endpoint."""

    def __init__(self, provider: str, region: str, shared: FleetShared) -> None:
        self.provider = provider
        self.region = region
        self.stats = EndpointStats(shared.recent_limit)
        self._shared = shared
        self._rng = random.Random(f"{shared.seed}:{provider}:{region}")
        self._fault_rng = random.Random(f"{shared.seed}:{provider}:{region}:faults")
        self._sequence = itertools.count(1)
        self._ttft: dict[str, TtftDistribution] = {}
        self._fast = FastReplies(provider, region) if shared.zero_latency else None

    def app(self) -> web.Application:
        """A new aiohttp application bound to this endpoint."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/healthz", self.healthz)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "simulated": True,
                "provider": self.provider,
                "region": self.region,
            },
            headers=SIMULATED_HEADERS,
        )

    async def models(self, request: web.Request) -> web.Response:
        """The provider's upstream model names, OpenAI list-shaped."""
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": self.provider}
            for name in PROVIDER_MODELS.get(self.provider, {}).values()
        ]
        return web.json_response(
            {"object": "list", "data": data}, headers=SIMULATED_HEADERS
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/chat/completions``."""
        self.stats.arrived()
        try:
            chat, model = await self._admit(request)
        except RequestError as exc:
            self.stats.answered(None, exc.status)
            return _error_response(exc)

        effects = self._shared.faults.effects(
            self.provider, self.region, model.id, self._fault_rng
        )
        if effects.rejection is not None:
            self.stats.answered(model.id, effects.rejection.status)
            return _rejection_response(effects.rejection)
        if self._fast is not None and effects is NO_EFFECTS and chat.plain:
            self.stats.answered(model.id, 200)
            return self._fast_response(chat, model)
        return await self._answer(request, chat, model, effects)

    async def _admit(self, request: web.Request) -> tuple[ChatRequest, Model]:
        if not _has_bearer(request.headers.get("Authorization")):
            raise RequestError(
                401,
                "missing 'Authorization: Bearer <key>' header (simulated provider)",
                code="invalid_api_key",
            )
        chat = parse_chat_request(await request.read())
        model = self._shared.names.resolve(chat.model)
        if model is None:
            raise RequestError(
                404,
                f"The model '{chat.model}' does not exist (simulated provider "
                f"{self.provider})",
                code="model_not_found",
                param="model",
            )
        return chat, model

    def _fast_response(self, chat: ChatRequest, model: Model) -> web.Response:
        assert self._fast is not None
        body = self._fast.render(chat, model, next(self._sequence))
        headers = SSE_HEADERS if chat.stream else JSON_HEADERS
        return web.Response(body=body, headers=headers)

    async def _answer(
        self, request: web.Request, chat: ChatRequest, model: Model, effects: Effects
    ) -> web.StreamResponse:
        rng = random.Random(self._rng.getrandbits(64))
        ttft = self._ttft_seconds(model, rng) + effects.extra_latency_s
        zero = self._shared.zero_latency
        try:
            reply = plan_reply(chat, model, self.provider, self.region, rng, tiny=zero)
        except RequestError as exc:
            self.stats.answered(model.id, exc.status)
            return _error_response(exc)

        per_token = 0.0 if zero else self._shared.time_scale / tokens_per_second(model)
        per_token *= effects.slow_factor
        if effects.hang_s is not None and (
            effects.hang_after_chunks is None or not chat.stream
        ):
            await _sleep(effects.hang_s)
        if chat.stream:
            pace = Pace(ttft, per_token)
            return await self._stream(request, chat, model, reply, pace, effects)

        await _sleep(ttft + reply.completion_tokens * per_token)
        self.stats.answered(model.id, 200)
        body = completion_body(reply, self._completion_id(), int(time.time()))
        return web.Response(body=body, headers=JSON_HEADERS)

    def _ttft_seconds(self, model: Model, rng: random.Random) -> float:
        if self._shared.zero_latency:
            return 0.0
        distribution = self._ttft.get(model.id)
        if distribution is None:
            distribution = ttft_distribution(model, self.provider, self.region)
            self._ttft[model.id] = distribution
        return draw_ttft(rng, distribution) * self._shared.time_scale

    async def _stream(
        self,
        request: web.Request,
        chat: ChatRequest,
        model: Model,
        reply: Reply,
        pace: Pace,
        effects: Effects,
    ) -> web.StreamResponse:
        """Send ``reply`` as SSE: headers and the first events at ``ttft``, then each
        event when its tokens are due; cut or stall it where a fault says."""
        await _sleep(pace.ttft)
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        self.stats.answered(model.id, 200)

        loop = asyncio.get_running_loop()
        start, due_tokens = loop.time(), 0
        events = stream_events(
            reply, self._completion_id(), int(time.time()), chat.include_usage
        )
        for sent, (tokens, data) in enumerate(events):
            if (
                effects.cut_after_chunks is not None
                and sent >= effects.cut_after_chunks
            ):
                return _cut(request, response)
            if (
                effects.hang_after_chunks is not None
                and sent == effects.hang_after_chunks
            ):
                await _sleep(effects.hang_s or math.inf)
            await _sleep(start + due_tokens * pace.per_token - loop.time())
            await response.write(data)
            due_tokens += tokens
        await response.write_eof()
        return response

    def _completion_id(self) -> str:
        return f"chatcmpl-sim-{self.provider}-{self.region}-{next(self._sequence)}"


def _has_bearer(value: str | None) -> bool:
    return (
        value is not None and value[:7].lower() == "bearer " and bool(value[7:].strip())
    )


def _error_response(exc: RequestError) -> web.Response:
    body = error_body(exc.message, exc.type, exc.code, exc.param)
    return web.Response(status=exc.status, body=body, headers=JSON_HEADERS)


def _rejection_response(rejection: Rejection) -> web.Response:
    headers = dict(JSON_HEADERS)
    if rejection.retry_after is not None:
        headers["Retry-After"] = str(rejection.retry_after)
    body = status_error_body(rejection.status, rejection.message)
    return web.Response(status=rejection.status, body=body, headers=headers)


def _cut(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Close the connection under a stream mid-way, so the chunked body never ends."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return response


async def _sleep(seconds: float) -> None:
    if seconds == math.inf:
        # a hang: only the caller going away (or the fleet stopping) ends it
        await asyncio.get_running_loop().create_future()
    elif seconds > 0:
        await asyncio.sleep(seconds)
