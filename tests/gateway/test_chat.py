"""The gateway end to end: the official openai client -> gateway -> simulated fleet."""

from __future__ import annotations

import base64
import io

import aiohttp
import pytest
from openai import AsyncOpenAI
from PIL import Image

from tests.conftest import LiveGateway


def _png_data_url() -> str:
    image = Image.new("RGB", (32, 24), (200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


async def test_non_streaming_answer_and_headers(client: AsyncOpenAI) -> None:
    """A plain request is answered by a catalog model with the tiergate headers set."""
    raw = await client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {"role": "user", "content": "Write a short note thanking a colleague."}
        ],
        max_tokens=30,
    )
    completion = raw.parse()

    assert completion.choices[0].message.content.startswith("[simulated ")
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert raw.headers["x-tiergate-tier"] == "default"
    assert raw.headers["x-tiergate-model"] == "deepseek-v4-flash"
    assert raw.headers["x-tiergate-region"] == "us-east"
    assert raw.headers["x-tiergate-deployment"].endswith("-us-east")
    assert raw.headers["x-tiergate-simulated"] == "true"
    assert len(raw.headers["x-request-id"]) >= 16
    assert raw.headers["x-tiergate-reason"]
    cost = float(raw.headers["x-tiergate-cost-usd"])
    assert cost == pytest.approx(completion.usage.completion_tokens * 0.25 / 1e6)


async def test_streaming_without_usage_hides_the_usage_chunk(
    client: AsyncOpenAI,
) -> None:
    """A stream with no usage asked for carries none, though the gateway priced it."""
    stream = await client.chat.completions.create(
        model="deepseek-v4-flash",
        messages=[{"role": "user", "content": "Tell me about the sea."}],
        max_tokens=40,
        stream=True,
    )
    chunks = [chunk async for chunk in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[simulated deepseek-v4-flash")
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


async def test_streaming_with_include_usage(client: AsyncOpenAI) -> None:
    """include_usage gives a final usage chunk with no choices, as OpenAI does."""
    stream = await client.chat.completions.create(
        model="Qwen/Qwen3-32B",
        messages=[{"role": "user", "content": "Summarise the water cycle."}],
        max_tokens=25,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert 0 < chunks[-1].usage.completion_tokens <= 25


async def test_tool_calls_are_relayed(client: AsyncOpenAI) -> None:
    """Tools go through and the provider's tool call comes back unchanged."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    completion = await client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=tools,
    )

    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert "city" in call.function.arguments


async def test_streamed_tool_calls(client: AsyncOpenAI) -> None:
    """Tool call deltas arrive in a stream and reassemble into one call."""
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    stream = await client.chat.completions.create(
        model="kimi-k2.5",
        messages=[{"role": "user", "content": "look it up"}],
        tools=tools,
        stream=True,
    )
    names = [
        call.function.name
        async for chunk in stream
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or ()
        if call.function and call.function.name
    ]
    assert names == ["lookup"]


async def test_image_part_goes_to_vision(client: AsyncOpenAI) -> None:
    """An image part routes to a vision model of the vision tier."""
    raw = await client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": _png_data_url()}},
                ],
            }
        ],
        max_tokens=20,
    )
    assert raw.headers["x-tiergate-tier"] == "vision"
    assert raw.headers["x-tiergate-model"] == "Qwen/Qwen3-Omni-30B"
    assert "vision" in raw.headers["x-tiergate-reason"]


async def test_chinese_round_trip(client: AsyncOpenAI) -> None:
    """Chinese text reaches a Chinese-strong model and comes back as Chinese."""
    raw = await client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "请用中文介绍一下长城的历史。"}],
        max_tokens=30,
    )
    completion = raw.parse()

    assert raw.headers["x-tiergate-model"] == "glm-5"
    content = completion.choices[0].message.content
    assert any("\u4e00" <= ch <= "\u9fff" for ch in content)


async def test_reasoning_content_is_relayed(client: AsyncOpenAI) -> None:
    """DeepSeek-style reasoning_content passes through the gateway unchanged."""
    completion = await client.chat.completions.create(
        model="deepseek-r1",
        messages=[{"role": "user", "content": "Is 91 prime?"}],
        max_tokens=40,
    )
    extra = completion.choices[0].message.model_extra or {}
    assert (
        isinstance(extra.get("reasoning_content"), str) and extra["reasoning_content"]
    )


async def test_tier_model_and_region_header(gateway: LiveGateway) -> None:
    """model tier:<name> picks the tier; x-tiergate-region picks the region."""
    async with gateway.client() as c:
        raw = await c.chat.completions.with_raw_response.create(
            model="tier:reasoning",
            messages=[{"role": "user", "content": "plan a trip"}],
            max_tokens=10,
            extra_headers={"x-tiergate-region": "apac"},
        )
    assert raw.headers["x-tiergate-tier"] == "reasoning"
    assert raw.headers["x-tiergate-model"] == "kimi-k2.5"
    assert raw.headers["x-tiergate-region"] == "apac"


async def test_models_endpoint_lists_served_models_with_prices(
    client: AsyncOpenAI,
) -> None:
    """/v1/models lists the models the config serves, priced; unknown is null."""
    page = await client.models.list()
    by_id = {m.id: m for m in page.data}

    assert by_id["deepseek-v4-flash"].model_extra["tiergate"]["price_out_per_m"] == 0.25
    assert by_id["glm-4.6v"].model_extra["tiergate"]["price_out_per_m"] is None
    assert "tier:vision" in by_id and "auto" in by_id
    assert len([m for m in page.data if "/" in m.id or "-" in m.id]) >= 16


async def test_healthz(gateway: LiveGateway) -> None:
    """/healthz answers ok and says the fleet is simulated."""
    async with aiohttp.ClientSession() as http, http.get(f"{gateway.url}/healthz") as r:
        assert await r.json() == {"status": "ok", "simulated": True}
