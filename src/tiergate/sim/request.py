"""Parse and minimally validate a chat completions request body.

The simulator is deliberately lenient (like real providers, it ignores fields it does
not use) but rejects what a provider would reject outright, so that the gateway's
error translation is exercised: invalid JSON, a missing or empty ``messages``, a
missing ``model``, a bad ``max_tokens`` or a ``tool_choice`` naming no given tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


class RequestError(Exception):
    """A request the simulated provider refuses, with its OpenAI-style error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """The parts of a chat completions request the simulator acts on."""

    model: str
    messages: list[Any]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None

    @property
    def plain(self) -> bool:
        """True when the answer is free text (no tools, no JSON mode)."""
        return not self.tools and self.response_format is None


def parse_chat_request(raw: bytes) -> ChatRequest:
    """The request in ``raw``; raises :class:`RequestError` (400) when it is not one."""
    body = _json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(
            400, "'model' is required and must be a string", param="model"
        )

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(
            400,
            "'messages' is required and must be a non-empty array",
            param="messages",
        )
    if not all(isinstance(message, dict) for message in messages):
        raise RequestError(
            400, "every entry of 'messages' must be an object", param="messages"
        )

    return ChatRequest(
        model=model,
        messages=messages,
        stream=body.get("stream") is True,
        include_usage=_include_usage(body),
        max_tokens=_max_tokens(body),
        tools=_function_tools(body.get("tools")),
        tool_choice=body.get("tool_choice"),
        response_format=_response_format(body.get("response_format")),
    )


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RequestError(400, "request body must be a JSON object")
    return body


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _max_tokens(body: dict[str, Any]) -> int | None:
    for field in ("max_completion_tokens", "max_tokens"):
        value = body.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError(
                400, f"'{field}' must be a positive integer", param=field
            )
        return value
    return None


def _function_tools(tools: Any) -> tuple[dict[str, Any], ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise RequestError(400, "'tools' must be an array", param="tools")
    found = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RequestError(400, "every tool needs function.name", param="tools")
        found.append(function)
    return tuple(found)


def _response_format(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or value.get("type") in (None, "text"):
        return None
    if value["type"] not in ("json_object", "json_schema"):
        raise RequestError(
            400, "'response_format.type' must be text, json_object or json_schema"
        )
    return value
