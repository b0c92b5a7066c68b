"""``POST /v1/chat/completions``: the request path, start to end.

read body -> validate -> authenticate -> classify -> policy -> attempts -> relay ->
record. This endpoint is a plain ASGI callable rather than a framework handler,
because it needs two things frameworks hide: a watch on the connection, so that a
caller who goes away cancels the upstream request at once, and byte-level control
of the streamed answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from tiergate.attempt import Outcome
from tiergate.balance import Target
from tiergate.cost import request_cost
from tiergate.errors import (
    BodyTooLarge,
    InvalidRequest,
    NoDeploymentAvailable,
    StreamInterrupted,
    TiergateError,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamStatus,
)
from tiergate.gateway.relay import StreamRelay, error_event
from tiergate.gateway.runtime import Runtime
from tiergate.gateway.validate import parse_body
from tiergate.ledger import RequestRecord
from tiergate.policy import Decision, Overrides, classify_for
from tiergate.tokens import estimate_message_tokens, estimate_tokens, parse_usage

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CLIENT_CLOSED = 499
_JSON = (b"content-type", b"application/json")
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


@dataclass(slots=True)
class _Request:
    """What one request has learned so far; becomes its ledger record."""

    request_id: str
    received_at: float
    started: float
    body: dict[str, Any] | None = None
    decision: Decision | None = None
    outcome: Outcome | None = None
    key_id: str | None = None
    stream: bool = False
    disconnected: bool = False
    response_started: bool = False
    # Set just before the last body message: uvicorn then reports "disconnect" to
    # a pending receive(), which must not be mistaken for the caller leaving.
    finishing: bool = False
    first_sent: float | None = None
    completed: float | None = None
    tokens: Tokens | None = None
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts of the answer, from the provider's usage or estimated."""

    input: int | None
    output: int | None
    reasoning: int | None = None
    cached: int | None = None
    estimated: bool = False


class ChatCompletions:
    """The ASGI app behind ``POST /v1/chat/completions``."""

    def __init__(self, runtime: Runtime):
        self.rt = runtime
        self._limit = runtime.config.limits.max_body_bytes
        # Request ids: a random per-process prefix and a counter, unique across
        # replicas and far cheaper than a uuid4 per request.
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)
        self._regions = set(runtime.config.regions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        req = _Request(
            request_id=headers.get("x-request-id")
            or f"{self._id_prefix}{next(self._ids):010x}",
            received_at=time.time(),
            started=time.monotonic(),
        )
        status = 200
        error: TiergateError | None = None
        watcher: asyncio.Task[None] | None = None
        try:
            _check_media(headers)
            raw = await _read_body(receive, headers, self._limit)
            watcher = asyncio.get_running_loop().create_task(
                _watch_disconnect(receive, req, asyncio.current_task())
            )
            status = await self._serve(raw, headers, req, send)
        except TiergateError as exc:
            error = exc
            status = exc.status
            if not req.response_started:
                status = await _send_error(send, exc, req)
        except asyncio.CancelledError:
            if not req.disconnected:
                raise
            status = CLIENT_CLOSED
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            if watcher is not None:
                watcher.cancel()
        self._record(req, status, error)

    async def _serve(
        self, raw: bytes, headers: dict[str, str], req: _Request, send: Send
    ) -> int:
        body = req.body = parse_body(raw)
        key = self.rt.authenticate(headers.get("authorization"))
        req.key_id = key.id if key is not None else None
        overrides = Overrides.from_headers(headers)
        region = overrides.region or self.rt.config.region
        if region not in self._regions:
            raise InvalidRequest(
                f"x-tiergate-region {region!r} is not one of {sorted(self._regions)}",
                param="x-tiergate-region",
            )
        req.stream = body.get("stream") is True

        classification = classify_for(self.rt.classifier, body, overrides)
        llm = self.rt.llm_classifier
        if llm is not None and classification.intent is not None:
            classification = await llm.classify(body, classification)
        health = self.rt.health
        stream = req.stream
        decision = req.decision = self.rt.policy.decide(
            body,
            classification,
            overrides,
            key,
            region,
            lambda model, r: health.latency(model, r, stream, 99.0),
        )

        # A caller may shorten the operator's deadline, never lengthen it.
        timeout_s = self.rt.config.timeouts.total_s
        if overrides.timeout_ms is not None:
            timeout_s = min(timeout_s, overrides.timeout_ms / 1000)
        tier = self.rt.config.tiers.get(decision.tier)
        outcome = req.outcome = await self.rt.attempter.run(
            decision.models,
            region,
            _body_builder(body, req.stream),
            req.started + timeout_s,
            stream=req.stream,
            hedge=bool(tier and tier.hedge),
        )
        if req.stream:
            return await self._relay(outcome, req, send)
        return await self._respond(outcome, req, send)

    async def _respond(self, outcome: Outcome, req: _Request, send: Send) -> int:
        answer = outcome.answer or {}
        usage = answer.get("usage")
        req.tokens = _tokens(usage, req, lambda: _answer_text(answer))
        req.cost = _cost(req, self.rt)

        headers = self._result_headers(req)
        if req.cost is not None:
            headers.append((b"x-tiergate-cost-usd", f"{req.cost:.8f}".encode()))
        headers.append(_JSON)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        req.response_started = True
        req.finishing = True
        await send({"type": "http.response.body", "body": outcome.body})
        req.completed = time.monotonic()
        return 200

    async def _relay(self, outcome: Outcome, req: _Request, send: Send) -> int:
        options = (req.body or {}).get("stream_options") or {}
        wants_usage = bool(options.get("include_usage"))
        relay = StreamRelay(strip_usage=not wants_usage)
        headers = self._result_headers(req) + _SSE
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        req.response_started = True

        status = 200
        rest = outcome.rest
        assert rest is not None
        try:
            tail = await self._forward(relay, outcome, req, send)
        except UpstreamError as exc:
            tail = relay.flush() + error_event(
                f"the upstream stream from {outcome.target.upstream.id} broke before "
                f"the answer was complete ({exc.code}); the answer above is truncated",
                exc.code or "stream_interrupted",
            )
            status = exc.status
            self.rt.health.failure(outcome.target.upstream.id, exc.code or "stream")
            await rest.aclose()
        except BaseException:
            # The caller left (or the task is being torn down): drop the provider's
            # stream now rather than whenever the generator is collected.
            await rest.aclose()
            raise
        req.finishing = True
        await send({"type": "http.response.body", "body": tail, "more_body": False})
        req.completed = time.monotonic()
        if req.first_sent is None:
            req.first_sent = req.completed
        if relay.done:
            await _drain(rest)

        req.tokens = _tokens(relay.usage, req, relay.text)
        req.cost = _cost(req, self.rt)
        return status

    async def _forward(
        self, relay: StreamRelay, outcome: Outcome, req: _Request, send: Send
    ) -> bytes:
        """Send events as they come until ``[DONE]``; returns the last bytes, which
        go out with the end of the response. Sending the end as soon as ``[DONE]``
        is seen saves the caller waiting for the provider's end of body."""
        assert outcome.rest is not None
        pending = relay.feed(outcome.first_chunk)
        while not relay.done:
            if pending:
                await send(
                    {"type": "http.response.body", "body": pending, "more_body": True}
                )
                if req.first_sent is None:
                    req.first_sent = time.monotonic()
            chunk = await anext(outcome.rest, None)
            if chunk is None:
                tail = relay.flush()
                if not relay.complete:
                    raise StreamInterrupted(
                        f"{outcome.target.upstream.id}: stream ended without [DONE]",
                        deployment=outcome.target.upstream.id,
                    )
                return tail
            pending = relay.feed(chunk)
        return pending + relay.flush()

    def _result_headers(self, req: _Request) -> list[tuple[bytes, bytes]]:
        assert req.decision is not None and req.outcome is not None
        target = req.outcome.target
        headers = [
            (b"x-request-id", req.request_id.encode()),
            (b"x-tiergate-tier", req.decision.tier.encode()),
            (b"x-tiergate-model", target.model.encode()),
            (b"x-tiergate-deployment", target.upstream.id.encode()),
            (b"x-tiergate-region", target.upstream.region.encode()),
            (b"x-tiergate-provider", target.upstream.provider.encode()),
            (b"x-tiergate-attempts", str(req.outcome.attempts).encode()),
            (b"x-tiergate-reason", _ascii(req.decision.reason)),
        ]
        if target.upstream.simulated:
            headers.append((b"x-tiergate-simulated", b"true"))
        if req.outcome.hedged:
            headers.append((b"x-tiergate-hedged", b"true"))
        return headers

    def _record(self, req: _Request, status: int, error: TiergateError | None) -> None:
        now_mono = req.completed or time.monotonic()
        outcome, decision = req.outcome, req.decision
        record = RequestRecord(
            request_id=req.request_id,
            received_at=req.received_at,
            done_at=req.received_at + (now_mono - req.started),
            status=status,
            key_id=req.key_id,
            stream=req.stream,
            latency_ms=(now_mono - req.started) * 1000,
            error_type=_error_type(error, status),
        )
        if decision is not None:
            record.tier = decision.tier
            record.reason = decision.reason
            record.model = decision.models[0] if outcome is None else None
        if isinstance(error, NoDeploymentAvailable):
            record.tried = list(error.tried)
            record.attempts = len(error.tried)
        elif isinstance(error, UpstreamError):
            record.deployment = error.deployment
            record.attempts = max(record.attempts, 1)
        if outcome is not None:
            _fill_outcome(record, req, outcome, self.rt)
        self.rt.record(record)


def _tokens(usage: Any, req: _Request, text: Callable[[], str]) -> Tokens:
    """Tokens from the provider's usage; estimated from the text when it sent none."""
    parsed = parse_usage(usage)
    if parsed is not None and parsed.output_tokens is not None:
        return Tokens(
            parsed.input_tokens,
            parsed.output_tokens,
            parsed.reasoning_tokens,
            parsed.cached_tokens,
        )
    messages = (req.body or {}).get("messages") or []
    return Tokens(
        estimate_message_tokens(messages), estimate_tokens(text()), estimated=True
    )


def _cost(req: _Request, rt: Runtime) -> float | None:
    if req.outcome is None or req.tokens is None:
        return None
    t = req.tokens
    cost = request_cost(
        rt.catalog.get(req.outcome.target.model), t.input, t.output, t.reasoning
    )
    if cost is not None and req.outcome.hedged:
        # The cancelled hedge was billed too. Its usage is unknown, so it is counted
        # like the answer that won; the record marks its tokens as estimated.
        cost *= 2
    return cost


def _fill_outcome(
    record: RequestRecord, req: _Request, outcome: Outcome, rt: Runtime
) -> None:
    target = outcome.target
    record.model = target.model
    record.provider = target.upstream.provider
    record.deployment = target.upstream.id
    record.region = target.upstream.region
    record.attempts = outcome.attempts
    record.tried = list(outcome.tried)
    record.simulated = target.upstream.simulated
    record.first_byte_at = req.received_at + (outcome.first_byte - req.started)
    if req.first_sent is not None:
        record.ttft_ms = (req.first_sent - req.started) * 1000
    if req.tokens is not None:
        t = req.tokens
        record.input_tokens = t.input
        record.output_tokens = t.output
        record.reasoning_tokens = t.reasoning
        record.cached_tokens = t.cached
        record.tokens_estimated = t.estimated or outcome.hedged
        record.cost_usd = req.cost


def _answer_text(answer: Any) -> str:
    pieces: list[str] = []
    if isinstance(answer, dict):
        for choice in answer.get("choices") or ():
            message = choice.get("message") or {} if isinstance(choice, dict) else {}
            for key in ("content", "reasoning_content"):
                if isinstance(message.get(key), str):
                    pieces.append(message[key])
            for call in message.get("tool_calls") or ():
                args = (call.get("function") or {}).get("arguments")
                if isinstance(args, str):
                    pieces.append(args)
    return "".join(pieces)


def _body_builder(body: dict[str, Any], stream: bool) -> Callable[[Target], bytes]:
    """The upstream body for a target: the caller's request with the provider's
    model name, and (for streams) usage requested so the answer can be priced."""
    cache: dict[str, bytes] = {}
    base = dict(body)
    if stream:
        options = base.get("stream_options")
        base["stream_options"] = {**(options or {}), "include_usage": True}

    def build(target: Target) -> bytes:
        encoded = cache.get(target.upstream_model)
        if encoded is None:
            base["model"] = target.upstream_model
            encoded = cache[target.upstream_model] = orjson.dumps(base)
        return encoded

    return build


def _headers(scope: Scope) -> dict[str, str]:
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    given = headers.get("x-request-id")
    if given is not None and not (
        len(given) <= 128 and given.isascii() and given.isprintable()
    ):
        del headers["x-request-id"]
    return headers


def _check_media(headers: dict[str, str]) -> None:
    """Only JSON, uncompressed. Refusing form and text bodies also keeps a browser
    page from posting to an open local gateway with a 'simple' cross-site request."""
    kind = headers.get("content-type")
    if kind is not None:
        media = kind.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaType(
                f"content-type {media!r} is not supported; send application/json"
            )
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(
            f"content-encoding {encoding!r} is not supported; send it uncompressed"
        )


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole request body; BodyTooLarge as soon as it passes ``limit``."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(
            f"request body of {int(declared)} bytes exceeds "
            f"limits.max_body_bytes ({limit})"
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds limits.max_body_bytes ({limit})")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _drain(rest: AsyncGenerator[bytes, None]) -> None:
    """Read the provider's body to its end after ``[DONE]`` so its keep-alive
    connection goes back to the pool. The end is almost always in the same read; a
    provider that stalls there is cut off by the stream's idle limit."""
    try:
        async for _ in rest:
            pass
    except UpstreamError:
        pass
    finally:
        await rest.aclose()


async def _watch_disconnect(
    receive: Receive, req: _Request, task: asyncio.Task[Any] | None
) -> None:
    """Cancel the request's task when the caller goes away, so the upstream request
    is dropped at once instead of running to its end."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if req.finishing:
                return
            req.disconnected = True
            if task is not None:
                task.cancel()
            return


async def _send_error(send: Send, error: TiergateError, req: _Request) -> int:
    """Send ``error`` in OpenAI's format; returns the status sent."""
    if isinstance(error, UpstreamStatus) and not error.retriable:
        status, body = _passthrough(error)
    else:
        status, body = error.status, error.to_bytes()
    headers = [_JSON, (b"x-request-id", req.request_id.encode())]
    headers += [(k.encode(), v.encode()) for k, v in error.headers().items()]
    if req.decision is not None:
        headers.append((b"x-tiergate-tier", req.decision.tier.encode()))
        headers.append((b"x-tiergate-reason", _ascii(req.decision.reason)))
    with contextlib.suppress(OSError):
        await send(
            {"type": "http.response.start", "status": status, "headers": headers}
        )
        req.finishing = True
        await send({"type": "http.response.body", "body": body})
    return status


def _passthrough(error: UpstreamStatus) -> tuple[int, bytes]:
    """A provider's own 4xx goes to the caller as it was, except a rejection of the
    gateway's credentials, which is the operator's problem, not the caller's."""
    if error.upstream_status in (401, 403):
        wrapped = UpstreamError(
            f"deployment {error.deployment} rejected the gateway's credentials "
            f"({error.upstream_status}); check its api_key_env",
            deployment=error.deployment,
            code="upstream_auth_failed",
        )
        return 502, wrapped.to_bytes()
    try:
        parsed = orjson.loads(error.raw_body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        return error.upstream_status, error.raw_body
    wrapped = UpstreamError(
        f"deployment {error.deployment} answered {error.upstream_status}",
        deployment=error.deployment,
        code=f"upstream_{error.upstream_status}",
    )
    return error.upstream_status, wrapped.to_bytes()


def _error_type(error: TiergateError | None, status: int) -> str | None:
    if error is not None:
        return error.code or type(error).__name__
    if status == CLIENT_CLOSED:
        return "client_closed"
    if status >= 400:
        return "stream_interrupted"
    return None


def _ascii(text: str) -> bytes:
    return text.encode("ascii", "replace")[:512]
