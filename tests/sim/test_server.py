"""One simulated endpoint speaking the OpenAI protocol to the official client."""

from __future__ import annotations

import json
import time

import aiohttp
import openai
import pytest

from tiergate.sim import Fleet

from .support import TEST_TIME_SCALE, ClientFactory

HELLO = [{"role": "user", "content": "Say hello to the gateway team."}]
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {
                "type": "object",
                "properties": {"zone": {"type": "string"}},
            },
        },
    },
]


def _words_after_marker(text: str, marker: str) -> int:
    assert text.startswith(marker)
    return len(text[len(marker) :].split())


async def test_non_streaming_answer_is_simulated_and_counted(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """A completion names the model and endpoint, and its usage counts what it sent."""
    client = make_client(fleet.endpoint("deepseek", "us-east"))
    raw = await client.chat.completions.with_raw_response.create(
        model="deepseek-v4-flash", messages=HELLO
    )
    completion = raw.parse()

    assert raw.headers["x-simulated"] == "true"
    assert completion.system_fingerprint == "tiergate-sim"
    assert completion.id.startswith("chatcmpl-sim-")
    assert completion.model == "deepseek-v4-flash"
    text = completion.choices[0].message.content or ""
    marker = "[simulated deepseek-v4-flash @ deepseek/us-east]"
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == 1 + _words_after_marker(text, marker)
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert completion.choices[0].finish_reason == "stop"


async def test_stream_without_usage_ends_with_finish_reason(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """A stream opens with the role, carries content deltas and closes with stop."""
    client = make_client(fleet.endpoint("alibaba", "apac"))
    stream = await client.chat.completions.create(
        model="qwen3-32b", messages=HELLO, stream=True
    )
    chunks = [chunk async for chunk in stream]

    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks[:-1])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text.startswith("[simulated Qwen/Qwen3-32B @ alibaba/apac] ")
    assert len(chunks) > 3


async def test_stream_with_include_usage_ends_with_a_usage_chunk(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """include_usage adds a last chunk with no choices whose usage matches the text."""
    client = make_client(fleet.endpoint("zhipu", "eu-west"))
    stream = await client.chat.completions.create(
        model="glm-5",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert chunks[-2].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    marker = "[simulated glm-5 @ zhipu/eu-west]"
    assert last.usage.completion_tokens == 1 + _words_after_marker(text, marker)


async def test_max_tokens_caps_the_answer(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """max_tokens=5 gives exactly 5 completion tokens and finish_reason length."""
    client = make_client(fleet.endpoint("moonshot", "us-east"))
    completion = await client.chat.completions.create(
        model="glm-4-9b", messages=HELLO, max_tokens=5
    )
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 5
    assert completion.choices[0].finish_reason == "length"


async def test_tool_call_answers_with_schema_arguments(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """With tools, the first function is called with arguments fitting its schema."""
    client = make_client(fleet.endpoint("deepseek", "eu-west"))
    completion = await client.chat.completions.create(
        model="deepseek-v4-flash",
        messages=[{"role": "user", "content": "Weather in Hangzhou?"}],
        tools=WEATHER_TOOLS,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    assert calls[0].id.startswith("call_sim_")
    assert calls[0].function.name == "get_weather"
    arguments = json.loads(calls[0].function.arguments)
    assert isinstance(arguments["city"], str)
    assert 1 <= arguments["days"] <= 7


async def test_named_tool_choice_and_none(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """A named tool_choice calls that function; tool_choice none answers in text."""
    client = make_client(fleet.endpoint("deepseek", "eu-west"))
    named = await client.chat.completions.create(
        model="deepseek-v4-flash",
        messages=HELLO,
        tools=WEATHER_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = named.choices[0].message.tool_calls or []
    assert [call.function.name for call in calls] == ["get_time"]

    plain = await client.chat.completions.create(
        model="deepseek-v4-flash",
        messages=HELLO,
        tools=WEATHER_TOOLS,
        tool_choice="none",
    )
    assert plain.choices[0].message.tool_calls is None
    assert (plain.choices[0].message.content or "").startswith("[simulated ")


async def test_streamed_tool_call_arrives_in_pieces(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """A streamed tool call sends id and name first, then the arguments in pieces."""
    client = make_client(fleet.endpoint("moonshot", "apac"))
    stream = await client.chat.completions.create(
        model="kimi-k2.5", messages=HELLO, tools=WEATHER_TOOLS[:1], stream=True
    )
    chunks = [chunk async for chunk in stream]

    deltas = [d for c in chunks for d in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id is not None and deltas[0].id.startswith("call_sim_")
    assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
    pieces = [d.function.arguments or "" for d in deltas if d.function is not None]
    assert len([piece for piece in pieces if piece]) > 1
    assert isinstance(json.loads("".join(pieces))["city"], str)
    assert all(d.index == 0 for d in deltas)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_reasoner_returns_reasoning_content(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """deepseek-reasoner answers with reasoning_content counted as reasoning tokens."""
    client = make_client(fleet.endpoint("deepseek", "apac"))
    completion = await client.chat.completions.create(
        model="deepseek-reasoner", messages=HELLO
    )
    message = completion.choices[0].message
    reasoning = (message.model_extra or {})["reasoning_content"]
    marker = "[simulated reasoning of deepseek-r1]"
    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    reasoning_tokens = usage.completion_tokens_details.reasoning_tokens
    assert reasoning_tokens == 1 + _words_after_marker(reasoning, marker)
    assert (message.content or "").startswith("[simulated deepseek-r1 @ deepseek/apac]")


async def test_streamed_reasoning_comes_before_content(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """A reasoner's stream sends reasoning_content deltas, then content deltas."""
    client = make_client(fleet.endpoint("deepseek", "apac"))
    stream = await client.chat.completions.create(
        model="deepseek-reasoner", messages=HELLO, stream=True
    )
    kinds = []
    async for chunk in stream:
        delta = chunk.choices[0].delta
        if (delta.model_extra or {}).get("reasoning_content"):
            kinds.append("reasoning")
        elif delta.content:
            kinds.append("content")
    assert kinds[0] == "reasoning"
    assert "content" in kinds
    assert kinds.index("content") > max(
        i for i, k in enumerate(kinds) if k == "reasoning"
    )


async def test_json_mode_content_is_json(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """json_object gives parseable JSON; json_schema gives an object of that shape."""
    client = make_client(fleet.endpoint("zhipu", "apac"))
    loose = await client.chat.completions.create(
        model="glm-5", messages=HELLO, response_format={"type": "json_object"}
    )
    assert json.loads(loose.choices[0].message.content or "")["simulated"].startswith(
        "[simulated glm-5"
    )

    schema = {
        "type": "object",
        "properties": {"score": {"type": "integer"}, "label": {"enum": ["a", "b"]}},
        "required": ["score", "label"],
    }
    shaped = await client.chat.completions.create(
        model="glm-5",
        messages=HELLO,
        stream=False,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "grade", "schema": schema},
        },
    )
    value = json.loads(shaped.choices[0].message.content or "")
    assert isinstance(value["score"], int)
    assert value["label"] in ("a", "b")


async def test_chinese_prompt_gets_a_chinese_answer(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """A mostly-CJK prompt is answered in Chinese characters, counted one per token."""
    client = make_client(fleet.endpoint("zhipu", "us-east"))
    completion = await client.chat.completions.create(
        model="glm-5",
        messages=[{"role": "user", "content": "请用三句话介绍一下杭州。"}],
    )
    text = completion.choices[0].message.content or ""
    marker = "[simulated glm-5 @ zhipu/us-east] "
    assert text.startswith(marker)
    body = text[len(marker) :]
    hanzi = [char for char in body if "\u4e00" <= char <= "\u9fff"]
    assert len(hanzi) >= len(body) * 0.8
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 1 + len(hanzi)


@pytest.mark.parametrize(
    ("name", "catalog_id"),
    [("Qwen3-32B", "Qwen/Qwen3-32B"), ("QWEN/qwen3-32b", "Qwen/Qwen3-32B")],
)
async def test_model_names_resolve_case_insensitively(
    fleet: Fleet, make_client: ClientFactory, name: str, catalog_id: str
) -> None:
    """Catalog ids with or without the org prefix resolve in any letter case."""
    client = make_client(fleet.endpoint("siliconflow", "eu-west"))
    completion = await client.chat.completions.create(model=name, messages=HELLO)
    assert completion.model == name
    content = completion.choices[0].message.content or ""
    assert content.startswith(f"[simulated {catalog_id} @ siliconflow/eu-west]")


async def test_unknown_model_is_a_404(fleet: Fleet, make_client: ClientFactory) -> None:
    """An unknown model name gets 404 with an OpenAI error body."""
    client = make_client(fleet.endpoint("deepseek", "us-east"))
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-9-imaginary", messages=HELLO)
    assert caught.value.code == "model_not_found"
    assert caught.value.type == "invalid_request_error"
    assert "gpt-9-imaginary" in caught.value.message


async def test_missing_messages_is_a_400(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """A request without messages gets 400 naming the field."""
    client = make_client(fleet.endpoint("deepseek", "us-east"))
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="deepseek-v4-flash", messages=[])
    assert caught.value.param == "messages"


async def test_missing_authorization_is_a_401(fleet: Fleet) -> None:
    """A request with no Authorization header gets 401 in OpenAI's error format."""
    url = fleet.endpoint("moonshot", "eu-west").base_url + "/chat/completions"
    body = {"model": "kimi-k2.5", "messages": HELLO}
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        payload = await resp.json()
    assert resp.status == 401
    assert set(payload["error"]) >= {"message", "type", "code"}
    assert payload["error"]["code"] == "invalid_api_key"


async def test_invalid_json_is_a_400(fleet: Fleet) -> None:
    """A body that is not JSON gets 400, not a server error."""
    url = fleet.endpoint("moonshot", "eu-west").base_url + "/chat/completions"
    headers = {"Authorization": "Bearer sk-anything"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=b"{not json", headers=headers) as resp,
    ):
        payload = await resp.json()
    assert resp.status == 400
    assert "JSON" in payload["error"]["message"]


async def test_models_lists_the_provider_names(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """GET /v1/models lists the provider's upstream model names."""
    client = make_client(fleet.endpoint("deepseek", "us-east"))
    listed = {model.id async for model in client.models.list()}
    assert "deepseek-reasoner" in listed
    assert "deepseek-v4-flash" in listed


async def test_non_streaming_takes_at_least_the_generation_time(
    fleet: Fleet, make_client: ClientFactory
) -> None:
    """An answer of N tokens at 60 tok/s takes at least N/60 s times the time scale."""
    client = make_client(fleet.endpoint("deepseek", "us-east"))
    started = time.perf_counter()
    completion = await client.chat.completions.create(
        model="deepseek-v4-flash", messages=HELLO, max_tokens=300
    )
    elapsed = time.perf_counter() - started
    assert completion.usage is not None
    assert elapsed >= completion.usage.completion_tokens / 60 * TEST_TIME_SCALE
