"""Cheap structural and language signals read straight from a chat completions body.

Everything here is bounded in cost: the full conversation is only measured (lengths),
and the text the intent model and the CJK share look at is a fixed-size sample. Odd
but valid bodies (``None`` content, image-only messages, tool messages, unknown part
types) yield empty text rather than an error, because the classifier must never be
the reason a request fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

# OpenAI part types plus the names Qwen/GLM-style providers use for the same media.
_PART_NEEDS: dict[str, str] = {
    "image_url": "vision",
    "image": "vision",
    "input_image": "vision",
    "input_audio": "audio",
    "audio_url": "audio",
    "audio": "audio",
    "video_url": "video",
    "video": "video",
    "input_video": "video",
}
MEDIA_NEEDS: frozenset[str] = frozenset(_PART_NEEDS.values())


class Signals(NamedTuple):
    """What the body says about itself before any model reads the text.

    ``sample`` is the bounded text the intent model reads; ``total_chars`` and
    ``total_utf8`` measure all text in the conversation for the token estimate.
    (A named tuple: it is built on every request, and that is cheaper than a frozen
    dataclass.)
    """

    sample: str
    total_chars: int
    total_utf8: int
    media_parts: int
    needs: frozenset[str]
    response_format: str | None


_NO_NEEDS: frozenset[str] = frozenset()


def read_signals(body: Mapping[str, Any], head: int, tail: int, system: int) -> Signals:
    """Read the signals of ``body``; malformed pieces are skipped, never raised.

    A message whose content is a plain string and that has no tool calls (nearly
    every chat message) takes a short path; anything else goes through
    :func:`_message_text`.
    """
    messages = body.get("messages")
    if type(messages) is not list and (
        not isinstance(messages, Sequence) or isinstance(messages, str | bytes)
    ):
        messages = ()

    texts: list[tuple[str, str]] = []
    needs: set[str] | None = None
    media = total_chars = total_utf8 = 0
    for message in messages:
        if type(message) is not dict and not isinstance(message, Mapping):
            continue
        text = message.get("content")
        if type(text) is not str or message.get("tool_calls") is not None:
            text, part_needs, parts = _message_text(message)
            if part_needs:
                needs = part_needs if needs is None else needs | part_needs
            media += parts
        role = message.get("role")
        texts.append((role if type(role) is str else "", text))
        total_chars += len(text)
        total_utf8 += _utf8_length(text)

    body_needs = _body_needs(body)
    if body_needs:
        needs = body_needs if needs is None else needs | body_needs
    response_format = body.get("response_format")
    return Signals(
        _sample(texts, head, tail, system),
        total_chars,
        total_utf8,
        media,
        frozenset(needs) if needs else _NO_NEEDS,
        _response_format(response_format) if response_format is not None else None,
    )


def _utf8_length(text: str) -> int:
    """UTF-8 length of ``text``; an ASCII string (known to CPython) is not encoded."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _message_text(message: Mapping[str, Any]) -> tuple[str, set[str], int]:
    """Text of one message, the media it carries and how many media parts."""
    content = message.get("content")
    pieces: list[str] = []
    needs: set[str] = set()
    media = 0
    if isinstance(content, str):
        pieces.append(content)
    elif isinstance(content, Sequence) and not isinstance(content, bytes):
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
                continue
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            need = _PART_NEEDS.get(kind) if isinstance(kind, str) else None
            if need is not None:
                needs.add(need)
                media += 1
            text = part.get("text")
            if isinstance(text, str):
                pieces.append(text)

    # Tool-call arguments are part of the input the model must read.
    calls = message.get("tool_calls")
    if isinstance(calls, Sequence) and not isinstance(calls, str | bytes):
        for call in calls:
            function = call.get("function") if isinstance(call, Mapping) else None
            arguments = (
                function.get("arguments") if isinstance(function, Mapping) else None
            )
            if isinstance(arguments, str):
                pieces.append(arguments)
    return "\n".join(pieces), needs, media


def _body_needs(body: Mapping[str, Any]) -> set[str]:
    """Capabilities asked for outside the messages: tools and audio output."""
    needs: set[str] = set()
    tools = body.get("tools") or body.get("functions")
    if tools and isinstance(tools, Sequence) and not isinstance(tools, str | bytes):
        needs.add("tools")
    modalities = body.get("modalities")
    if modalities and isinstance(modalities, Sequence) and "audio" in modalities:
        needs.add("audio")
    return needs


def _response_format(value: Any) -> str | None:
    """The requested response format type (``json_object``, ``json_schema``), if any."""
    if isinstance(value, Mapping):
        kind = value.get("type")
        if isinstance(kind, str) and kind != "text":
            return kind
    return None


def _sample(texts: list[tuple[str, str]], head: int, tail: int, system: int) -> str:
    """Head and tail of the last user message plus the start of the system message.

    A long paste usually carries its instruction at the start ("summarize this:") or
    at the end ("... what is wrong with this code?"), so both ends are kept. When no
    user message has text, the last message with text stands in (e.g. a tool result).
    """
    user = fallback = ""
    for role, text in reversed(texts):
        if text and not text.isspace():
            if role == "user":
                user = text
                break
            fallback = fallback or text
    user = user or fallback
    if len(user) > head + tail:
        user = user[:head] + "\n" + (user[-tail:] if tail else "")
    if not system:
        return user
    for role, text in texts:
        if role in ("system", "developer"):
            return text[:system] + "\n" + user if text else user
    return user


def cjk_count_estimate(chars: int, utf8_bytes: int) -> int:
    """CJK characters in a text from its length in characters and in UTF-8 bytes.

    CJK characters take 3 bytes and ASCII 1, so (bytes - chars) / 2 counts them
    without scanning the text. Other multi-byte scripts (accented Latin, Cyrillic)
    count as half a CJK character each, which only nudges the token estimate.
    """
    return max(0, (utf8_bytes - chars) // 2)
