"""Score a classifier against rows of known tiers: accuracy, per-tier precision and
recall, the confusion matrix and the time each classification took.

Rows are ``{"messages": [...], "tier": ...}`` or ``{"prompt": "...", "tier": ...}``
(a prompt becomes one user message). Times are wall-clock per ``classify`` call,
measured with ``perf_counter_ns`` around the call alone.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tiergate.classify.pipeline import Classifier


class EvalDataError(ValueError):
    """An eval file row lacks ``tier`` or both of ``messages`` and ``prompt``."""


@dataclass(frozen=True, slots=True)
class TierScore:
    """Precision and recall of one tier, with its support (rows labelled so)."""

    precision: float
    recall: float
    support: int


@dataclass(frozen=True, slots=True)
class EvalReport:
    """The outcome of one evaluation run."""

    rows: int
    accuracy: float
    tiers: dict[str, TierScore]
    confusion: dict[str, dict[str, int]]  # expected -> predicted -> count
    p50_ms: float
    p99_ms: float
    max_ms: float
    by_source: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


def body_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The request body an eval row stands for; EvalDataError when it has none."""
    if isinstance(row.get("messages"), list):
        return {"model": "auto", "messages": row["messages"]}
    if isinstance(row.get("prompt"), str):
        return {
            "model": "auto",
            "messages": [{"role": "user", "content": row["prompt"]}],
        }
    raise EvalDataError("eval row needs 'messages' (a list) or 'prompt' (a string)")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines eval file; raises EvalDataError naming the bad line."""
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalDataError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("tier"), str):
                raise EvalDataError(f"{path}:{number}: row needs a string 'tier'")
            body_of(row)
            rows.append(row)
    return rows


def evaluate(classifier: Classifier, rows: Iterable[Mapping[str, Any]]) -> EvalReport:
    """Classify every row and compare with its ``tier``."""
    expected: list[str] = []
    predicted: list[str] = []
    sources: list[str] = []
    times: list[int] = []
    for row in rows:
        body = body_of(row)
        start = time.perf_counter_ns()
        decision = classifier.classify(body)
        times.append(time.perf_counter_ns() - start)
        expected.append(row["tier"])
        predicted.append(decision.tier)
        sources.append(str(row.get("source", "")))
    return _report(expected, predicted, sources, times)


def _report(
    expected: list[str], predicted: list[str], sources: list[str], times: list[int]
) -> EvalReport:
    n = len(expected)
    hits = [e == p for e, p in zip(expected, predicted, strict=True)]
    tiers = sorted(set(expected) | set(predicted))
    pairs = Counter(zip(expected, predicted, strict=True))
    confusion = {e: {p: pairs[(e, p)] for p in tiers} for e in tiers}
    scores = {}
    for tier in tiers:
        tp = pairs[(tier, tier)]
        said = sum(pairs[(e, tier)] for e in tiers)
        real = sum(pairs[(tier, p)] for p in tiers)
        scores[tier] = TierScore(
            precision=tp / said if said else 0.0,
            recall=tp / real if real else 0.0,
            support=real,
        )
    by_source: dict[str, list[bool]] = {}
    for source, hit in zip(sources, hits, strict=True):
        if source:
            by_source.setdefault(source, []).append(hit)
    ms = np.array(times, dtype=np.float64) / 1e6 if times else np.zeros(1)
    return EvalReport(
        rows=n,
        accuracy=sum(hits) / n if n else 0.0,
        tiers=scores,
        confusion=confusion,
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        max_ms=float(ms.max()),
        by_source={s: sum(h) / len(h) for s, h in sorted(by_source.items())},
    )
