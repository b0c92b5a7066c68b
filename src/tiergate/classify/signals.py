"""Cheap structural and language signals read straight from a chat completions body.

Everything here is bounded in cost: the full conversation is only measured (lengths),
and the text the intent model and the CJK share look at is a fixed-size sample. Odd
but valid bodies (``None`` content, image-only messages, tool messages, unknown part
types) yield empty text rather than an error, because the classifier must never be
the reason a request fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Signals:
    """What the body says about itself before any model reads the text.

    ``sample`` is the bounded text the intent model reads; ``total_chars`` and
    ``total_utf8`` measure all text in the conversation for the token estimate.
    """

    sample: str
    total_chars: int
    total_utf8: int
    media_parts: int
    needs: frozenset[str]
    response_format: str | None


def read_signals(body: Mapping[str, Any], head: int, tail: int, system: int) -> Signals:
    """Read the signals of ``body``; malformed pieces are skipped, never raised."""
    messages = body.get("messages")
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        messages = ()

    texts: list[tuple[str, str]] = []
    needs: set[str] = set()
    media = 0
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        text, part_needs, parts = _message_text(message)
        needs |= part_needs
        media += parts
        texts.append((role if isinstance(role, str) else "", text))

    needs |= _body_needs(body)
    total_chars = sum(len(text) for _, text in texts)
    total_utf8 = sum(len(text.encode("utf-8", "surrogatepass")) for _, text in texts)
    return Signals(
        sample=_sample(texts, head, tail, system),
        total_chars=total_chars,
        total_utf8=total_utf8,
        media_parts=media,
        needs=frozenset(needs),
        response_format=_response_format(body.get("response_format")),
    )


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
    if isinstance(tools, Sequence) and not isinstance(tools, str | bytes) and tools:
        needs.add("tools")
    modalities = body.get("modalities")
    if isinstance(modalities, Sequence) and "audio" in modalities:
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
    user = next((t for role, t in reversed(texts) if role == "user" and t.strip()), "")
    if not user:
        user = next((t for _, t in reversed(texts) if t.strip()), "")
    if len(user) > head + tail:
        user = user[:head] + "\n" + (user[-tail:] if tail else "")
    sys_text = next((t for role, t in texts if role in ("system", "developer")), "")
    if sys_text and system:
        return sys_text[:system] + "\n" + user
    return user


def cjk_count_estimate(chars: int, utf8_bytes: int) -> int:
    """CJK characters in a text from its length in characters and in UTF-8 bytes.

    CJK characters take 3 bytes and ASCII 1, so (bytes - chars) / 2 counts them
    without scanning the text. Other multi-byte scripts (accented Latin, Cyrillic)
    count as half a CJK character each, which only nudges the token estimate.
    """
    return max(0, (utf8_bytes - chars) // 2)
