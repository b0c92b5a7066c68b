"""Token counts: read from an upstream's ``usage`` object, or estimated offline.

An upstream that reports usage is the authority; the gateway estimates only when a
provider sends none (some streaming endpoints without ``include_usage``, errors cut
mid-stream) and then flags the record ``tokens_estimated=True``.

The estimate needs no tokenizer download (tiktoken fetches its encodings at run time,
which this product may not do). It is calibrated on the usual BPE behaviour of the
OpenAI-compatible models in the catalog: one token per CJK character (Chinese,
Japanese kana, Korean hangul), one per short Latin word or punctuation mark, long
words and digit runs split into pieces. Expect it within about 20% of a real
tokenizer on ordinary prose; it is meant for cost figures, not for context-window
decisions near the limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# CJK ideographs (incl. extension A and compatibility), kana, hangul, CJK and
# full-width punctuation: each such character is about one token.
_CJK = (
    "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
)
_PIECE = re.compile(rf"[{_CJK}]|\d+|[^\W\d_{_CJK}]+|[^\w\s{_CJK}]|_+")
_WORD_CHARS_PER_TOKEN = 8
_DIGITS_PER_TOKEN = 3

# Per-message framing as in OpenAI's chat format: role and separators per message,
# and the priming of the assistant's reply once per request.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_REPLY = 3
# Image and audio parts cannot be measured from their bytes without decoding them;
# these are OpenAI's figures for one low-detail / one high-detail 1024x1024 image,
# and a rough figure for a short audio clip.
_IMAGE_TOKENS_LOW = 85
_IMAGE_TOKENS_HIGH = 765
_AUDIO_TOKENS = 200


def estimate_tokens(text: str) -> int:
    """An offline estimate of how many tokens ``text`` costs; 0 for empty text."""
    total = 0
    for match in _PIECE.finditer(text):
        piece = match.group()
        if piece[0].isdigit():
            total += math.ceil(len(piece) / _DIGITS_PER_TOKEN)
        elif len(piece) > _WORD_CHARS_PER_TOKEN:
            total += math.ceil(len(piece) / _WORD_CHARS_PER_TOKEN)
        else:
            total += 1
    return total


def estimate_message_tokens(
    messages: Iterable[Mapping[str, Any]],
    tools: Iterable[Mapping[str, Any]] | None = None,
) -> int:
    """The estimated prompt tokens of an OpenAI ``messages`` list (and ``tools``).

    Content may be a string or a list of parts; image and audio parts count a fixed
    figure each. Tool calls and tool definitions count as their JSON text. Unknown
    part types count nothing rather than failing: an estimate must never break a
    request that the upstream already answered.
    """
    total = _TOKENS_PER_REPLY
    for message in messages:
        total += _TOKENS_PER_MESSAGE + estimate_tokens(str(message.get("role", "")))
        total += _content_tokens(message.get("content"))
        for call in message.get("tool_calls") or ():
            total += estimate_tokens(orjson.dumps(call).decode())
    for tool in tools or ():
        total += estimate_tokens(orjson.dumps(tool).decode())
    return total


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return estimate_tokens(content)
    if not isinstance(content, list):
        return 0
    return sum(_part_tokens(part) for part in content if isinstance(part, Mapping))


def _part_tokens(part: Mapping[str, Any]) -> int:
    kind = part.get("type")
    if kind == "text":
        return estimate_tokens(str(part.get("text", "")))
    if kind == "image_url":
        image = part.get("image_url")
        low = isinstance(image, Mapping) and image.get("detail") == "low"
        return _IMAGE_TOKENS_LOW if low else _IMAGE_TOKENS_HIGH
    if kind in ("input_audio", "audio_url", "video_url"):
        return _AUDIO_TOKENS
    return 0


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one answer. ``output_tokens`` includes reasoning tokens.

    That is the OpenAI and DeepSeek convention: ``completion_tokens`` counts the
    reasoning (``completion_tokens_details.reasoning_tokens``) as well as the visible
    answer, so ``reasoning_tokens`` is a breakdown, never an addition.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None


def parse_usage(usage: Mapping[str, Any] | None) -> Usage | None:
    """Read an OpenAI-style ``usage`` object; ``None`` when there is none.

    Understands ``prompt_tokens_details.cached_tokens`` (OpenAI, Qwen, Kimi) and
    DeepSeek's ``prompt_cache_hit_tokens``. Malformed fields become ``None`` instead
    of raising, since usage arrives after the answer was already sent.
    """
    if not isinstance(usage, Mapping):
        return None
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    cached = _field(prompt_details, "cached_tokens")
    if cached is None:
        cached = _field(usage, "prompt_cache_hit_tokens")
    return Usage(
        input_tokens=_field(usage, "prompt_tokens"),
        output_tokens=_field(usage, "completion_tokens"),
        reasoning_tokens=_field(completion_details, "reasoning_tokens"),
        cached_tokens=cached,
    )


def _field(container: Any, name: str) -> int | None:
    if not isinstance(container, Mapping):
        return None
    value = container.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value
