"""Checks on a chat completion request before anything is routed.

The gateway relays requests it does not fully understand (providers add fields all
the time), so this checks only what routing and relaying rely on: a JSON object with
a model name and well-formed messages and content parts. Everything else passes
through to the provider untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tiergate.errors import InvalidJSON, InvalidRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset(
    {"text", "image_url", "input_audio", "video_url", "video", "file", "refusal"}
)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request as a dict; raises InvalidJSON or InvalidRequest."""
    if not raw.strip():
        raise InvalidJSON("request body is empty; send a JSON chat completion request")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidJSON(f"request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    check_request(body)
    return body


def check_request(body: Mapping[str, Any]) -> None:
    """Raise InvalidRequest, naming the parameter, when the request is malformed."""
    model = body.get("model")
    if model is None:
        raise InvalidRequest(
            "missing required parameter 'model' "
            "(a catalog model, tier:<name> or 'auto')",
            param="model",
        )
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' must be a non-empty string", param="model")

    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("missing required parameter 'messages'", param="messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    for index, message in enumerate(messages):
        _check_message(message, f"messages[{index}]")

    _check_optional(body)


def _check_message(message: Any, where: str) -> None:
    if not isinstance(message, dict):
        raise InvalidRequest(f"{where} must be an object", param=where)
    role = message.get("role")
    if role not in ROLES:
        raise InvalidRequest(
            f"{where}.role must be one of {', '.join(sorted(ROLES))}, got {role!r}",
            param=f"{where}.role",
        )
    content = message.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequest(
            f"{where}.content must be a string or an array of content parts",
            param=f"{where}.content",
        )
    for index, part in enumerate(content):
        _check_part(part, f"{where}.content[{index}]")


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise InvalidRequest(f"{where} must be an object", param=where)
    kind = part.get("type")
    if kind not in PART_TYPES:
        raise InvalidRequest(
            f"{where}.type must be one of {', '.join(sorted(PART_TYPES))}, "
            f"got {kind!r}",
            param=f"{where}.type",
        )
    if kind == "text" and not isinstance(part.get("text"), str):
        raise InvalidRequest(f"{where}.text must be a string", param=f"{where}.text")
    if kind == "image_url":
        _check_url(part.get("image_url"), f"{where}.image_url")
    if kind == "video_url":
        _check_url(part.get("video_url"), f"{where}.video_url")
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not (
            isinstance(audio, dict)
            and isinstance(audio.get("data"), str)
            and isinstance(audio.get("format"), str)
        ):
            raise InvalidRequest(
                f"{where}.input_audio must be an object with string 'data' "
                "and 'format'",
                param=f"{where}.input_audio",
            )


def _check_url(value: Any, where: str) -> None:
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str) or not url:
        raise InvalidRequest(
            f"{where}.url must be a non-empty string", param=f"{where}.url"
        )


def _check_optional(body: Mapping[str, Any]) -> None:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    for field in ("max_tokens", "max_completion_tokens"):
        value = body.get(field)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InvalidRequest(f"'{field}' must be a positive integer", param=field)
    tools = body.get("tools")
    if tools is not None and (
        not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)
    ):
        raise InvalidRequest("'tools' must be an array of objects", param="tools")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest(
            "'stream_options' must be an object", param="stream_options"
        )
