"""Server-sent events relay: pass the provider's bytes through, learn what we need.

The relay forwards whole SSE events exactly as the provider wrote them. It looks
into an event only when the event carries a ``usage`` object (to price the request
and, when the gateway itself asked for usage, to drop that event the caller did not
ask for). It also notes whether the stream ended properly, with ``[DONE]`` or a
``finish_reason``, so that a cut stream is reported to the caller as an error and
never passes for a complete answer.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_USAGE = re.compile(rb'"usage"\s*:\s*\{')
_FINISH = re.compile(rb'"finish_reason"\s*:\s*"')
_DONE = b"data: [DONE]"
_SEP = b"\n\n"


class StreamRelay:
    """Frames a byte stream into SSE events; one instance per streamed request."""

    __slots__ = ("_events", "_pending", "_strip_usage", "done", "finished", "usage")

    def __init__(self, strip_usage: bool):
        self._strip_usage = strip_usage
        self._pending = b""
        self._events: list[bytes] = []
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.finished = False

    @property
    def complete(self) -> bool:
        """Whether the provider ended the stream as a finished answer."""
        return self.done or self.finished

    def feed(self, chunk: bytes) -> bytes:
        """The complete events in ``chunk`` (plus what was held back) to forward now;
        an unfinished trailing event is kept until its end arrives."""
        data = self._pending + chunk if self._pending else chunk
        if b"\r\n" in data:
            data = data.replace(b"\r\n", b"\n")
        cut = data.rfind(_SEP)
        if cut < 0:
            self._pending = data
            return b""
        ready, self._pending = data[: cut + 2], data[cut + 2 :]
        self._events.append(ready)

        if not self.finished and _FINISH.search(ready):
            self.finished = True
        if not self.done and _DONE in ready:
            self.done = True
        if _USAGE.search(ready):
            return self._take_usage(ready)
        return ready

    def flush(self) -> bytes:
        """Whatever was held back when the stream ends (an event with no blank line
        after it is still an event for the caller's parser)."""
        rest, self._pending = self._pending, b""
        if rest.strip():
            self._events.append(rest)
            if _DONE in rest:
                self.done = True
            return rest + _SEP
        return b""

    def _take_usage(self, ready: bytes) -> bytes:
        kept = []
        for event in ready.split(_SEP):
            if not event:
                continue
            if _USAGE.search(event):
                parsed = _event_json(event)
                if parsed is not None:
                    usage = parsed.get("usage")
                    if isinstance(usage, dict):
                        self.usage = usage
                    if self._strip_usage and not parsed.get("choices"):
                        continue
            kept.append(event + _SEP)
        return b"".join(kept)

    def text(self) -> str:
        """All generated text (content, reasoning and tool arguments), for estimating
        tokens when the provider sent no usage."""
        pieces: list[str] = []
        for block in self._events:
            for event in block.split(_SEP):
                parsed = _event_json(event)
                if parsed is None:
                    continue
                for choice in parsed.get("choices") or ():
                    delta = choice.get("delta") or {}
                    for key in ("content", "reasoning_content"):
                        value = delta.get(key)
                        if isinstance(value, str):
                            pieces.append(value)
                    for call in delta.get("tool_calls") or ():
                        args = (call.get("function") or {}).get("arguments")
                        if isinstance(args, str):
                            pieces.append(args)
        return "".join(pieces)


def _event_json(event: bytes) -> dict[str, Any] | None:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            payload = line[5:].strip()
            if payload and payload != b"[DONE]":
                try:
                    value = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    return None
                return value if isinstance(value, dict) else None
    return None


def error_event(message: str, code: str) -> bytes:
    """An SSE event the ``openai`` client raises as ``APIError`` when it reads it."""
    body = {"error": {"message": message, "type": "upstream_error", "code": code}}
    return b"data: " + orjson.dumps(body) + _SEP
