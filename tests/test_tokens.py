"""Offline token estimates and reading upstream usage."""

from __future__ import annotations

from tiergate.tokens import Usage, estimate_message_tokens, estimate_tokens, parse_usage


def test_english_is_about_one_token_per_word_or_mark() -> None:
    """A plain English sentence costs its words plus punctuation."""
    assert estimate_tokens("The quick brown fox jumps over the lazy dog.") == 10


def test_cjk_is_about_one_token_per_character() -> None:
    """Chinese text costs one token per character, punctuation included."""
    text = "今天天气很好，我们去公园散步吧。"

    assert estimate_tokens(text) == len(text)


def test_cjk_costs_more_per_character_than_english() -> None:
    """Per character, Chinese is estimated several times denser than English."""
    chinese = "请帮我把这段话翻译成英文并解释其中的语法结构"
    english = "Please translate this paragraph into English and explain the grammar"

    per_char_zh = estimate_tokens(chinese) / len(chinese)
    per_char_en = estimate_tokens(english) / len(english)

    assert per_char_zh > 3 * per_char_en


def test_long_words_and_numbers_split_into_pieces() -> None:
    """A 20-letter word and an 8-digit number cost more than one token each."""
    assert estimate_tokens("internationalization") == 3
    assert estimate_tokens("12345678") == 3
    assert estimate_tokens("") == 0


def test_messages_count_framing_text_images_and_tool_calls() -> None:
    """Message overhead, text, an image part and a tool call all add up."""
    plain = [{"role": "user", "content": "hello there"}]
    with_image = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hello there"},
                {"type": "image_url", "image_url": {"url": "data:,", "detail": "low"}},
            ],
        }
    ]
    with_call = [
        *plain,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
        },
    ]

    assert estimate_message_tokens(plain) == 3 + 3 + 1 + 2
    assert estimate_message_tokens(with_image) == estimate_message_tokens(plain) + 85
    assert estimate_message_tokens(with_call) > estimate_message_tokens(plain) + 4


def test_usage_with_details_is_read() -> None:
    """OpenAI-style details give reasoning and cached tokens."""
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 900,
        "total_tokens": 1020,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 700},
    }

    assert parse_usage(usage) == Usage(120, 900, 700, 64)


def test_deepseek_cache_hits_and_malformed_fields() -> None:
    """DeepSeek's prompt_cache_hit_tokens count as cached; junk becomes None."""
    usage = {
        "prompt_tokens": 50,
        "completion_tokens": "x",
        "prompt_cache_hit_tokens": 32,
    }

    assert parse_usage(usage) == Usage(50, None, None, 32)
    assert parse_usage(None) is None
