"""Generated content: prompt token estimates, answer lengths, schema-shaped values."""

from __future__ import annotations

import random
import statistics

from tiergate.sim.generate import (
    IMAGE_PART_TOKENS,
    draw_output_tokens,
    mostly_cjk,
    prompt_tokens,
    text_tokens,
    value_for_schema,
)


def test_latin_text_counts_about_four_characters_per_token() -> None:
    """A 40-character ASCII text is estimated at 10 tokens."""
    assert text_tokens("a" * 40) == 10


def test_cjk_text_counts_one_token_per_character() -> None:
    """Each Chinese character counts as one token, the Latin rest per 4 characters."""
    assert text_tokens("你好世界") == 4
    assert text_tokens("你好 abcd") == 2 + 2


def test_image_parts_add_a_fixed_token_cost() -> None:
    """An image part adds ~85 tokens to the prompt estimate."""
    text_only = [{"role": "user", "content": [{"type": "text", "text": "describe"}]}]
    with_image = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "describe"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
            ],
        }
    ]
    assert prompt_tokens(with_image) - prompt_tokens(text_only) == IMAGE_PART_TOKENS


def test_mostly_cjk_detects_chinese_prompts() -> None:
    """A Chinese sentence with a Latin word is mostly CJK; English is not."""
    assert mostly_cjk("请用 Python 写一个排序函数")
    assert not mostly_cjk("Write a sorting function in Python, 谢谢")


def test_output_lengths_are_clipped_lognormal_around_sixty() -> None:
    """Drawn lengths stay within 8..400 and their median is near 60 tokens."""
    rng = random.Random(3)
    lengths = [draw_output_tokens(rng) for _ in range(20_000)]
    assert min(lengths) >= 8
    assert max(lengths) <= 400
    assert 54 <= statistics.median(lengths) <= 66


def test_values_follow_the_json_schema() -> None:
    """Objects get every property with its type, enums pick a member, ranges hold."""
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "exact": {"type": "boolean"},
        },
        "required": ["city"],
    }
    value = value_for_schema(schema, random.Random(0))
    assert set(value) == {"city", "days", "unit", "tags", "exact"}
    assert isinstance(value["city"], str)
    assert 1 <= value["days"] <= 7
    assert value["unit"] in ("c", "f")
    assert all(isinstance(tag, str) for tag in value["tags"])
    assert isinstance(value["exact"], bool)
