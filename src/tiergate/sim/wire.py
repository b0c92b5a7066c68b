"""OpenAI wire shapes of simulated answers: completions, SSE chunks, error bodies.

Bodies are exactly OpenAI-shaped (no extra ``simulated`` field that a strict client
could trip on); the simulation shows in the text marker, in ``system_fingerprint``
and in the ``x-simulated`` response header the server adds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from tiergate.sim.reply import Reply

SYSTEM_FINGERPRINT = "tiergate-sim"
CHUNK_TOKENS = 3
DONE_EVENT = b"data: [DONE]\n\n"
SIMULATED_HEADERS = {"x-simulated": "true"}

# OpenAI error ``type`` and ``code`` per HTTP status, for fault-injected errors.
ERROR_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout_error", "timeout"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
    529: ("overloaded_error", "overloaded"),
}


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> bytes:
    """An OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def status_error_body(status: int, message: str) -> bytes:
    """An error body whose type and code fit ``status`` (server_error by default)."""
    type_, code = ERROR_KINDS.get(status, ("server_error", f"http_{status}"))
    return error_body(message, type_, code)


def usage(reply: Reply) -> dict[str, Any]:
    """The ``usage`` object of ``reply``; reasoning tokens are part of completion."""
    completion = reply.completion_tokens
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": reply.prompt_tokens + completion,
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
    }


def completion_body(reply: Reply, completion_id: str, created: int) -> bytes:
    """The non-streaming ``chat.completion`` body of ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.reasoning:
        message["reasoning_content"] = "".join(reply.reasoning)
    if reply.tool_call is not None:
        message["tool_calls"] = [_tool_call_object(reply)]
    body = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": reply.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": usage(reply),
    }
    return orjson.dumps(body)


def _tool_call_object(reply: Reply) -> dict[str, Any]:
    assert reply.tool_call is not None
    call = reply.tool_call
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


class ChunkWriter:
    """Builds the SSE events of one streamed completion."""

    def __init__(self, reply: Reply, completion_id: str, created: int) -> None:
        self._reply = reply
        self._head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": reply.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def event(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        return _sse({**self._head, "choices": [choice]})

    def usage_event(self) -> bytes:
        return _sse({**self._head, "choices": [], "usage": usage(self._reply)})


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def stream_events(
    reply: Reply, completion_id: str, created: int, include_usage: bool
) -> Iterator[tuple[int, bytes]]:
    """The SSE events of ``reply`` as (tokens carried, event bytes), ending with
    ``data: [DONE]``. The first event carries the role and no tokens."""
    writer = ChunkWriter(reply, completion_id, created)
    yield 0, writer.event(_role_delta(reply))

    for group in _groups(reply.reasoning):
        yield (
            len(group),
            writer.event({"content": None, "reasoning_content": "".join(group)}),
        )
    for group in _groups(reply.content):
        delta: dict[str, Any] = {"content": "".join(group)}
        if reply.reasoning:
            delta["reasoning_content"] = None
        yield len(group), writer.event(delta)
    if reply.tool_call is not None:
        yield from _tool_call_events(reply, writer)

    yield 0, writer.event({}, reply.finish_reason)
    if include_usage:
        yield 0, writer.usage_event()
    yield 0, DONE_EVENT


def _role_delta(reply: Reply) -> dict[str, Any]:
    if reply.reasoning:
        return {"role": "assistant", "content": None, "reasoning_content": ""}
    if reply.tool_call is not None:
        return {"role": "assistant", "content": None}
    return {"role": "assistant", "content": ""}


def _tool_call_events(reply: Reply, writer: ChunkWriter) -> Iterator[tuple[int, bytes]]:
    assert reply.tool_call is not None
    call = reply.tool_call
    opening = {
        "index": 0,
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }
    yield 0, writer.event({"tool_calls": [opening]})
    for group in _groups(call.pieces):
        fragment = {"index": 0, "function": {"arguments": "".join(group)}}
        yield len(group), writer.event({"tool_calls": [fragment]})


def _groups(pieces: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for start in range(0, len(pieces), CHUNK_TOKENS):
        yield pieces[start : start + CHUNK_TOKENS]
