"""Precomputed answers for the zero-latency fleet (the gateway-overhead benchmark).

With ``zero_latency`` the fleet must answer several thousand requests per second on
one core, so plain requests (no tools, no JSON mode, no fault firing) skip reply
planning and serialisation: each (model name, streaming, include_usage, language)
gets its response bytes built once, as a ``bytes %`` template in which only the id,
the timestamp and the token counts change per request.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

from tiergate.catalog import Model
from tiergate.sim.generate import mostly_cjk, prompt_text, prompt_tokens
from tiergate.sim.reply import plan_reply
from tiergate.sim.request import ChatRequest
from tiergate.sim.wire import completion_body, stream_events

# Stand-ins that the serialiser writes where per-request values go; none of them
# can occur in generated text (no digits, no underscores there).
_ID = "chatcmpl-sim-SIMIDSTANDIN"
_CREATED = 1_111_111_111
_PROMPT = 987_654_321

_Key = tuple[str, bool, bool, bool]


class FastReplies:
    """Answer bytes for one endpoint, built on first use per request shape."""

    def __init__(self, provider: str, region: str) -> None:
        self._provider = provider
        self._region = region
        self._templates: dict[_Key, tuple[bytes, int]] = {}

    def render(self, request: ChatRequest, model: Model, seq: int) -> bytes:
        """The full response body for ``request`` (a JSON completion, or the whole
        SSE stream when it asks to stream)."""
        chinese = mostly_cjk(prompt_text(request.messages))
        key = (request.model, request.stream, request.include_usage, chinese)
        found = self._templates.get(key)
        if found is None:
            found = self._templates[key] = self._build(request, model)
        template, completion = found

        tokens_in = prompt_tokens(request.messages)
        values = {
            b"id": b"chatcmpl-sim-%d" % seq,
            b"created": int(time.time()),
            b"prompt": tokens_in,
            b"total": tokens_in + completion,
        }
        return template % values

    def _build(self, request: ChatRequest, model: Model) -> tuple[bytes, int]:
        # a fixed seed: every fast answer of one shape is the same text
        rng = random.Random(0)
        reply = plan_reply(request, model, self._provider, self._region, rng, tiny=True)
        reply = replace(reply, prompt_tokens=_PROMPT)
        if request.stream:
            raw = b"".join(
                data
                for _, data in stream_events(
                    reply, _ID, _CREATED, request.include_usage
                )
            )
        else:
            raw = completion_body(reply, _ID, _CREATED)
        return _as_template(raw, reply.completion_tokens), reply.completion_tokens


def _as_template(raw: bytes, completion: int) -> bytes:
    template = raw.replace(b"%", b"%%")
    template = template.replace(_ID.encode(), b"%(id)b")
    template = template.replace(b"%d" % _CREATED, b"%(created)d")
    template = template.replace(
        b'"total_tokens":%d' % (_PROMPT + completion), b'"total_tokens":%(total)d'
    )
    return template.replace(
        b'"prompt_tokens":%d' % _PROMPT, b'"prompt_tokens":%(prompt)d'
    )
