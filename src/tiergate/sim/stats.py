"""Per-endpoint request counters of the simulated fleet.

Chaos drills read these to check where traffic went and when: the count of chat
requests that reached an endpoint, per catalog model and per answered status, and the
arrival times (``time.time()``) of the last ``recent_limit`` requests. Memory stays
bounded: models are catalog ids (unknown names share one key) and the timestamps
live in a fixed-size deque.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

UNKNOWN_MODEL = "<unknown>"


class EndpointStats:
    """Counters of one endpoint; cheap enough to update on every request."""

    __slots__ = ("by_model", "by_status", "recent", "requests")

    def __init__(self, recent_limit: int) -> None:
        self.requests = 0
        self.by_model: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.recent: deque[float] = deque(maxlen=recent_limit)

    def arrived(self) -> None:
        """Count a chat request as it arrives, before anything can reject it."""
        self.requests += 1
        self.recent.append(time.time())

    def answered(self, model_id: str | None, status: int) -> None:
        """Count the status a request is answered with (not counted for hangs and
        dropped connections, which never get one)."""
        self.by_model[model_id or UNKNOWN_MODEL] += 1
        self.by_status[status] += 1

    def reset(self) -> None:
        self.requests = 0
        self.by_model.clear()
        self.by_status.clear()
        self.recent.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_model": dict(self.by_model),
            "by_status": {
                str(status): count for status, count in self.by_status.items()
            },
            "recent": list(self.recent),
        }
