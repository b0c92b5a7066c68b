"""Decide what a simulated model answers: text, reasoning, a tool call or JSON.

A :class:`Reply` is the whole answer as one-token pieces, so the server can pace it
and the usage figures are exact counts of what was sent. It is built from the
request, the catalog model and a per-request seeded ``random.Random``; the same
seed gives the same reply.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from tiergate.catalog import Model
from tiergate.sim.generate import (
    draw_output_tokens,
    mostly_cjk,
    prompt_text,
    prompt_tokens,
    split_pieces,
    value_for_schema,
    word_pieces,
)
from tiergate.sim.request import ChatRequest, RequestError

TINY_OUTPUT_TOKENS = 8

# Families whose reasoning models return DeepSeek-style ``reasoning_content``
# (deepseek-r1 and deepseek-v4-pro, kimi-k2.5). Qwen and GLM reasoning models think
# without exposing it in this simulation.
REASONING_CONTENT_FAMILIES = frozenset({"deepseek", "kimi"})


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the simulated model makes; ``pieces`` (one token each) join to
    the JSON arguments."""

    id: str
    name: str
    pieces: tuple[str, ...]

    @property
    def arguments(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete simulated answer; each piece of text is one token."""

    model: str
    content: tuple[str, ...]
    reasoning: tuple[str, ...]
    tool_call: ToolCall | None
    finish_reason: str
    prompt_tokens: int

    @property
    def reasoning_tokens(self) -> int:
        return len(self.reasoning)

    @property
    def completion_tokens(self) -> int:
        tool = len(self.tool_call.pieces) if self.tool_call is not None else 0
        return len(self.content) + len(self.reasoning) + tool

    @property
    def text(self) -> str | None:
        return "".join(self.content) if self.content else None


def emits_reasoning(model: Model) -> bool:
    """True when ``model`` returns its reasoning as ``reasoning_content``."""
    return model.can("reasoning") and model.family in REASONING_CONTENT_FAMILIES


def marker(model: Model, provider: str, region: str) -> str:
    """The prefix that says an answer is simulated, and by whom."""
    return f"[simulated {model.id} @ {provider}/{region}]"


def plan_reply(
    request: ChatRequest,
    model: Model,
    provider: str,
    region: str,
    rng: random.Random,
    *,
    tiny: bool = False,
) -> Reply:
    """The answer ``model`` at ``provider``/``region`` gives to ``request``.

    Raises :class:`RequestError` when ``tool_choice`` names a function that is not
    among the request's tools.
    """
    drawn = TINY_OUTPUT_TOKENS if tiny else draw_output_tokens(rng)
    budget = min(drawn, request.max_tokens) if request.max_tokens else drawn
    reasoning_count = budget // 2 if emits_reasoning(model) else 0
    label = marker(model, provider, region)
    chinese = mostly_cjk(prompt_text(request.messages))

    reasoning = _reasoning_pieces(rng, reasoning_count, model, chinese)
    tool_call = _tool_call(request, rng)
    if tool_call is not None:
        content: tuple[str, ...] = ()
        finish = "tool_calls"
    elif request.response_format is not None:
        content = _json_pieces(request.response_format, rng, label, budget)
        finish = "stop"
    else:
        content = _text_pieces(rng, budget - reasoning_count, label, chinese)
        finish = "length" if budget < drawn else "stop"

    tokens_in = prompt_tokens(request.messages, list(request.tools) or None)
    return Reply(request.model, content, reasoning, tool_call, finish, tokens_in)


def _text_pieces(
    rng: random.Random, count: int, label: str, chinese: bool
) -> tuple[str, ...]:
    head = label + " " if chinese else label
    return (head, *word_pieces(rng, max(0, count - 1), chinese))


def _reasoning_pieces(
    rng: random.Random, count: int, model: Model, chinese: bool
) -> tuple[str, ...]:
    if count == 0:
        return ()
    head = f"[simulated reasoning of {model.id}]" + (" " if chinese else "")
    return (head, *word_pieces(rng, count - 1, chinese))


def _json_pieces(
    response_format: dict[str, Any], rng: random.Random, label: str, budget: int
) -> tuple[str, ...]:
    if response_format["type"] == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        value = value_for_schema(schema or {"type": "object"}, rng)
    else:
        answer = "".join(word_pieces(rng, max(1, budget - 8), chinese=False)).strip()
        value = {"simulated": label, "answer": answer}
    return tuple(split_pieces(orjson.dumps(value).decode()))


def _tool_call(request: ChatRequest, rng: random.Random) -> ToolCall | None:
    function = _chosen_function(request)
    if function is None:
        return None
    arguments = value_for_schema(function.get("parameters") or {"type": "object"}, rng)
    if not isinstance(arguments, dict):
        arguments = {"value": arguments}
    pieces = split_pieces(orjson.dumps(arguments).decode())
    call_id = f"call_sim_{rng.getrandbits(64):016x}"
    return ToolCall(call_id, str(function["name"]), tuple(pieces))


def _chosen_function(request: ChatRequest) -> dict[str, Any] | None:
    """The function to call: the named one, else the first; none when the choice is
    "none" or when, under "auto", the last message is already a tool result (so an
    agent loop against the simulator ends with a text answer)."""
    choice = request.tool_choice
    if not request.tools or choice == "none":
        return None
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        for tool in request.tools:
            if tool["name"] == name:
                return tool
        raise RequestError(
            400,
            f"tool_choice names function {name!r}, not among 'tools'",
            param="tool_choice",
        )
    if choice in (None, "auto") and request.messages[-1].get("role") == "tool":
        return None
    return request.tools[0]
