"""Bad input gets OpenAI's error body and the right 4xx status, never a 500."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from tests.conftest import GatewayFactory, LiveGateway

OK_MESSAGES = [{"role": "user", "content": "hi"}]


def _body(messages: str, extra: str = "") -> bytes:
    return f'{{"model": "auto", "messages": {messages}{extra}}}'.encode()


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def _request(
    gateway: LiveGateway, method: str, path: str, content: bytes = b""
) -> Answer:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            f"{gateway.url}{path}",
            data=content,
            headers={"content-type": "application/json"},
        ) as response,
    ):
        return Answer(response.status, response.headers.copy(), await response.read())


async def _post(gateway: LiveGateway, content: bytes) -> Answer:
    return await _request(gateway, "POST", "/v1/chat/completions", content)


def _assert_error(response: Answer, status: int, code: str) -> None:
    assert response.status == status
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "invalid_request"),
        (b'{"model": "auto"}', "invalid_request"),
        (b'{"model": "auto", "messages": []}', "invalid_request"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "invalid_request"),
        (
            b'{"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}',
            "invalid_request",
        ),
        (
            _body('[{"role": "user", "content": [{"type": "image_url"}]}]'),
            "invalid_request",
        ),
        (_body('[{"role": "user", "content": [{"type": "pdf"}]}]'), "invalid_request"),
        (
            _body('[{"role": "user", "content": "x"}]', ', "max_tokens": -1'),
            "invalid_request",
        ),
    ],
)
async def test_malformed_requests_get_400(
    gateway: LiveGateway, content: bytes, code: str
) -> None:
    """Each malformed body is a 400 with a message and code."""
    _assert_error(await _post(gateway, content), 400, code)


async def test_unknown_model_is_404(client: AsyncOpenAI) -> None:
    """An unknown model is a 404 model_not_found, surfaced by the openai client."""
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-9", messages=OK_MESSAGES)
    assert caught.value.body["code"] == "model_not_found"
    assert "gpt-9" in caught.value.body["message"]


async def test_unknown_tier_is_404(client: AsyncOpenAI) -> None:
    """tier:<unknown> names the configured tiers in its message."""
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="tier:turbo", messages=OK_MESSAGES)
    assert "reasoning" in caught.value.body["message"]


async def test_body_over_limit_is_413(make_gateway: GatewayFactory) -> None:
    """A body over limits.max_body_bytes is refused with 413 before it is parsed."""
    live = await make_gateway(limits={"max_body_bytes": 1000})
    big = (
        b'{"model": "auto", "messages": [{"role": "user", "content": "'
        + b"a" * 2000
        + b'"}]}'
    )
    _assert_error(await _post(live, big), 413, "request_too_large")


async def test_image_to_model_without_vision_is_400(client: AsyncOpenAI) -> None:
    """A named model without vision never gets an image: 400, not a silent reroute."""
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="deepseek-v4-flash",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,AA=="},
                        }
                    ],
                }
            ],
        )
    assert "vision" in caught.value.body["message"]


async def test_bad_region_header_is_400(client: AsyncOpenAI) -> None:
    """An unknown x-tiergate-region is a 400 naming the valid regions."""
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="auto",
            messages=OK_MESSAGES,
            extra_headers={"x-tiergate-region": "mars"},
        )
    assert "us-east" in caught.value.body["message"]


async def test_unknown_route_and_method(gateway: LiveGateway) -> None:
    """Unknown paths and wrong methods answer in OpenAI's error format."""
    missing = await _request(gateway, "GET", "/v1/nothing")
    wrong = await _request(gateway, "GET", "/v1/chat/completions")
    assert missing.status == 404 and "error" in missing.json()
    assert wrong.status == 405 and "error" in wrong.json()


async def test_non_ascii_passes_byte_for_byte(gateway: LiveGateway) -> None:
    """Non-ASCII text in the answer reaches the caller as the provider sent it."""
    body = (
        '{"model": "glm-5", "messages": [{"role": "user", "content": "长城有多长？"}]}'
    )
    response = await _post(gateway, body.encode())
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    content = response.json()["choices"][0]["message"]["content"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in content)
    assert content.split("] ", 1)[1][:4].encode("utf-8") in response.body
