"""Edge cases found by trying the gateway as a new user: each gets a clear 4xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import GatewayFactory
from tiergate.ledger import open_store
from tiergate.sim import Fleet, layout

HELLO = [{"role": "user", "content": "hello"}]
BODY = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}'


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "text/plain"}, 415),
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
        ({"content-type": "application/json", "content-encoding": "gzip"}, 415),
        ({"content-type": "application/json; charset=utf-8"}, 200),
    ],
)
async def test_only_uncompressed_json_bodies(
    make_gateway: GatewayFactory, headers: dict[str, str], status: int
) -> None:
    """Form, text and compressed bodies are refused with 415 in OpenAI's format."""
    live = await make_gateway()
    got, body = await _post(f"{live.url}/v1/chat/completions", BODY, headers)
    assert got == status
    if status != 200:
        assert body["error"]["code"] == "unsupported_media_type"


async def test_trailing_slash_is_a_json_404(make_gateway: GatewayFactory) -> None:
    """No redirect a POSTing client would not follow: a 404 with an error body."""
    live = await make_gateway()
    got, body = await _post(
        f"{live.url}/v1/chat/completions/", BODY, {"content-type": "application/json"}
    )
    assert got == 404 and "error" in body


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e309", "nan", "-5"])
async def test_non_finite_timeout_header_is_400(
    make_gateway: GatewayFactory, value: str
) -> None:
    """x-tiergate-timeout-ms must be a positive finite number."""
    live = await make_gateway()
    async with live.client() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="auto",
                messages=HELLO,
                extra_headers={"x-tiergate-timeout-ms": value},
            )
    assert "x-tiergate-timeout-ms" in caught.value.body["message"]


async def test_provider_echoing_the_key_is_redacted(
    fleet: Fleet, make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider 4xx that quotes the gateway's key reaches the caller without it."""
    secret = "sk-live-0123456789abcdef"
    monkeypatch.setenv("DEEPSEEK_TEST_KEY", secret)
    endpoint = fleet.endpoint("deepseek", "us-east")
    providers = {
        "deepseek": {
            "api_key_env": "DEEPSEEK_TEST_KEY",
            "deployments": [
                {
                    "base_url": endpoint.base_url,
                    "region": "us-east",
                    "models": layout.PROVIDER_MODELS["deepseek"],
                }
            ],
        }
    }
    await fleet.set_faults(
        [
            {
                "kind": "error",
                "status": 400,
                "provider": "deepseek",
                "message": f"invalid request (auth was Bearer {secret})",
            }
        ]
    )
    live = await make_gateway(providers=providers)
    async with live.client() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="deepseek-v4-flash", messages=HELLO
            )
    assert secret not in str(caught.value.body)
    assert "[redacted]" in str(caught.value.body)


async def test_ledger_records_the_status_the_caller_saw(
    fleet: Fleet, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """A provider's 422 passed through is a 422 in the ledger, with its deployment."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    await fleet.set_faults([{"kind": "error", "status": 422, "model": "deepseek-v3.2"}])
    live = await make_gateway(ledger={"url": url})
    async with live.client() as client:
        with pytest.raises(openai.UnprocessableEntityError):
            await client.chat.completions.create(model="deepseek-v3.2", messages=HELLO)
    assert live.runtime.ledger is not None
    await live.runtime.ledger.flush()

    store = open_store(url)
    await store.open()
    rows = await store.fetch()
    await store.close()
    assert [(r.status, r.deployment is not None) for r in rows] == [(422, True)]


async def test_null_stream_options_is_no_usage(make_gateway: GatewayFactory) -> None:
    """stream_options: null streams like no options at all (no usage chunk)."""
    live = await make_gateway()
    body = (
        b'{"model": "deepseek-v4-flash", "stream": true, "stream_options": null,'
        b' "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}'
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{live.url}/v1/chat/completions",
            data=body,
            headers={"content-type": "application/json"},
        ) as response,
    ):
        text = (await response.read()).decode()
    assert response.status == 200
    assert text.rstrip().endswith("data: [DONE]")
    assert '"usage"' not in text
