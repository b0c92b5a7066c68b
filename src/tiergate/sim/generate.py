"""Generated content for simulated answers: token estimates, words, JSON values.

Nothing here pretends to be a language model. Text is pseudo-random words (or
Chinese characters when the prompt is mostly CJK) drawn from a seeded
``random.Random``, and every text answer starts with a ``[simulated ...]`` marker
added by the caller. One generated piece is one token, so a reply's token count is
the number of its pieces.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

# Prompt-side token estimates, close to what OpenAI-style tokenizers give on average.
CHARS_PER_TOKEN = 4
IMAGE_PART_TOKENS = 85
AUDIO_PART_TOKENS = 100
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3

OUTPUT_MEDIAN_TOKENS = 60
OUTPUT_SIGMA = 0.6
OUTPUT_MIN_TOKENS = 8
OUTPUT_MAX_TOKENS = 400

_CJK = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)
_LATIN_LETTER = re.compile(r"[A-Za-z]")

_WORD_TEXT = (
    "the of and to in is that for it as with was on be by this are from at or an "
    "have not which but they you all were can has there their more will one would "
    "system model request latency region token answer stream gateway cost route "
    "simple quick steady small large early later value signal result plan check "
    "data service cache queue shard replica budget limit window tier path node "
    "first next last every other each some many few most such same new old good"
)
_WORDS = tuple(_WORD_TEXT.split())

_HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
    "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自"
    "二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
)


def count_cjk(text: str) -> int:
    """Number of CJK characters (Han, kana, hangul) in ``text``."""
    return 0 if text.isascii() else len(_CJK.findall(text))


def text_tokens(text: str) -> int:
    """Estimated tokens of ``text``: one per CJK character, ~4 characters otherwise."""
    if text.isascii():
        return -(-len(text) // CHARS_PER_TOKEN)
    cjk = count_cjk(text)
    return cjk + -(-(len(text) - cjk) // CHARS_PER_TOKEN)


def _part_tokens(part: Any) -> int:
    if not isinstance(part, Mapping):
        return 0
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        return text_tokens(text) if isinstance(text, str) else 0
    if kind == "input_audio":
        return AUDIO_PART_TOKENS
    # image_url and the video/file parts some providers accept
    return IMAGE_PART_TOKENS


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        return sum(_part_tokens(part) for part in content)
    return 0


def _tool_call_tokens(message: Mapping[str, Any]) -> int:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return 0
    total = 0
    for call in calls:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            total += text_tokens(str(function.get("name", "")))
            total += text_tokens(str(function.get("arguments", "")))
    return total


def prompt_tokens(messages: Iterable[Any], tools: Any = None) -> int:
    """Estimated prompt tokens of a chat request: message text (CJK counted per
    character), ~85 tokens per image part, tool calls and tool definitions."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        if isinstance(message, Mapping):
            total += MESSAGE_OVERHEAD_TOKENS + _content_tokens(message.get("content"))
            total += _tool_call_tokens(message)
    if tools:
        total += text_tokens(orjson.dumps(tools).decode())
    return total


def prompt_text(messages: Iterable[Any]) -> str:
    """The text of the last user message (its text parts joined), or ``""``."""
    last = ""
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                last = content
            elif isinstance(content, list):
                last = " ".join(
                    str(part.get("text", ""))
                    for part in content
                    if isinstance(part, Mapping) and part.get("type") == "text"
                )
    return last


def mostly_cjk(text: str) -> bool:
    """True when CJK characters outnumber Latin letters in ``text``."""
    cjk = count_cjk(text)
    return cjk > 0 and cjk > len(_LATIN_LETTER.findall(text))


def draw_output_tokens(rng: random.Random) -> int:
    """A natural answer length: lognormal around 60 tokens, clipped to 8..400."""
    drawn = rng.lognormvariate(math.log(OUTPUT_MEDIAN_TOKENS), OUTPUT_SIGMA)
    return max(OUTPUT_MIN_TOKENS, min(OUTPUT_MAX_TOKENS, round(drawn)))


def word_pieces(rng: random.Random, count: int, chinese: bool) -> list[str]:
    """``count`` one-token pieces of pseudo-random text, sentences punctuated."""
    if chinese:
        return _hanzi_pieces(rng, count)
    pieces: list[str] = []
    capital = False
    for index in range(count):
        word = rng.choice(_WORDS)
        word = word.capitalize() if capital else word
        capital = index % 12 == 11
        pieces.append(f" {word}." if capital or index == count - 1 else f" {word}")
    return pieces


def _hanzi_pieces(rng: random.Random, count: int) -> list[str]:
    pieces = []
    for index in range(count):
        char = rng.choice(_HANZI)
        if index == count - 1:
            char += "。"
        elif index % 15 == 14:
            char += rng.choice("，。")
        pieces.append(char)
    return pieces


def split_pieces(text: str, size: int = CHARS_PER_TOKEN) -> list[str]:
    """``text`` cut into pieces of ``size`` characters, each counted as a token."""
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]


def value_for_schema(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """A JSON value that satisfies the common subset of JSON Schema in ``schema``:
    type, properties, items, enum, const, anyOf/oneOf (first branch). Keywords
    beyond that (patterns, formats, $ref) are not honoured, so a strict schema
    using them may not be met."""
    if not isinstance(schema, Mapping):
        return _word(rng)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return value_for_schema(schema[key][0], rng, depth)
    return _value_of_type(schema, _schema_type(schema), rng, depth)


def _schema_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), "string")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return str(kind)


def _value_of_type(
    schema: Mapping[str, Any], kind: str, rng: random.Random, depth: int
) -> Any:
    if kind == "object":
        return _object_for_schema(schema, rng, depth)
    if kind == "array":
        if depth > 4:
            return []
        count = max(1, int(schema.get("minItems", 1)))
        return [
            value_for_schema(schema.get("items"), rng, depth + 1) for _ in range(count)
        ]
    if kind == "integer":
        return rng.randint(
            int(schema.get("minimum", 1)), int(schema.get("maximum", 100))
        )
    if kind == "number":
        low, high = (
            float(schema.get("minimum", 0.0)),
            float(schema.get("maximum", 100.0)),
        )
        return round(rng.uniform(low, high), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _word(rng)


def _object_for_schema(
    schema: Mapping[str, Any], rng: random.Random, depth: int
) -> Any:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or depth > 4:
        return {}
    return {
        str(name): value_for_schema(sub, rng, depth + 1)
        for name, sub in properties.items()
    }


def _word(rng: random.Random) -> str:
    return f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}"
