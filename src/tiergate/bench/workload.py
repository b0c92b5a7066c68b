"""The demo workload: real prompts shipped inside the package, ready to send.

``scripts/build_workload.py`` samples the rows from the permissively licensed sources
of ``shared/data/prompts`` (MIT: gsm8k, humaneval; CC BY 4.0: cmath, and the VizWiz
and TextVQA questions; Apache-2.0: vicuna_bench, arena_hard, self_instruct and the
LLaVA-bench COCO questions). Nothing under a non-commercial, research-only or GPL
licence is used. ``docs/workload.md`` gives the mix and how each row was made.

Three files under ``bench/data`` make up the workload:

- ``workload.jsonl.gz``: the rows, in replay order. Text rows carry ``messages``;
  vision rows carry ``prompt`` and the name of an ``image``; long-document rows carry
  ``document_parts`` (indices into the passages) and an ``instruction``.
- ``passages.jsonl.gz``: arena-hard and self-instruct prompts that long documents are
  concatenated from, so that their text is shipped once.
- ``images.jsonl.gz``: small generated pictures (PNG and JPEG). The vision sources
  name photos that are not included, so these stand in for them.

Loading is cached: the rows are immutable and shared by every caller.
"""

from __future__ import annotations

import base64
import gzip
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

DATA_PACKAGE = "tiergate.bench"
DATA_DIR = "data"

# What the brief's tier table expects for each kind of prompt.
LABEL_TIERS: dict[str, str] = {
    "chat": "default",
    "code": "default",
    "reasoning": "reasoning",
    "vision": "vision",
    "long_context": "heavy",
}


class WorkloadError(RuntimeError):
    """The shipped workload files are missing or inconsistent (a broken install)."""


@dataclass(frozen=True, slots=True)
class WorkloadRow:
    """One request of the workload.

    ``label`` is the kind of prompt (chat, code, reasoning, vision, long_context) as
    the source labels it; ``expected_tier`` is the brief's tier for that kind.
    ``messages`` is ready for ``chat.completions.create``; treat it as read-only, it
    is shared between callers.
    """

    id: str
    source: str
    label: str
    lang: str
    has_image: bool
    messages: list[dict[str, Any]]

    @property
    def expected_tier(self) -> str:
        return LABEL_TIERS[self.label]

    @property
    def input_chars(self) -> int:
        """Characters of text in the messages (images not counted)."""
        return sum(len(text) for text in _texts(self.messages))


def _texts(messages: Iterable[dict[str, Any]]) -> Iterator[str]:
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            yield content
            continue
        for part in content:
            if part.get("type") == "text":
                yield part["text"]


def _read(name: str) -> list[dict[str, Any]]:
    """The rows of one gzipped JSON Lines file of the data package."""
    try:
        raw = resources.files(DATA_PACKAGE).joinpath(DATA_DIR, name).read_bytes()
    except FileNotFoundError as exc:
        raise WorkloadError(
            f"workload file {name!r} is missing from {DATA_PACKAGE}/{DATA_DIR}; "
            "reinstall tiergate or run scripts/build_workload.py"
        ) from exc
    return [orjson.loads(line) for line in gzip.decompress(raw).splitlines() if line]


@cache
def load_images() -> dict[str, str]:
    """The stand-in pictures as ``data:`` URLs, by name."""
    return {
        row["name"]: f"data:{row['mime']};base64,{row['data']}"
        for row in _read("images.jsonl.gz")
    }


def image_bytes(data_url: str) -> bytes:
    """The decoded bytes of a ``data:<mime>;base64,<data>`` URL."""
    _, _, data = data_url.partition(";base64,")
    return base64.b64decode(data, validate=True)


def _vision_messages(row: dict[str, Any], images: dict[str, str]) -> list[Any]:
    parts = [
        {"type": "text", "text": row["prompt"]},
        {"type": "image_url", "image_url": {"url": images[row["image"]]}},
    ]
    return [{"role": "user", "content": parts}]


def _document_messages(row: dict[str, Any], passages: list[str]) -> list[Any]:
    """A long document built from passages, numbered as sections, then the task."""
    sections = [
        f"## Section {number}\n\n{passages[index]}"
        for number, index in enumerate(row["document_parts"], start=1)
    ]
    text = "\n\n".join(sections) + "\n\n---\n\n" + row["instruction"]
    return [{"role": "user", "content": text}]


def _messages(
    row: dict[str, Any], images: dict[str, str], passages: list[str]
) -> list[Any]:
    if "messages" in row:
        return list(row["messages"])
    if "image" in row:
        return _vision_messages(row, images)
    return _document_messages(row, passages)


@cache
def load_workload() -> tuple[WorkloadRow, ...]:
    """Every row of the shipped workload, in replay order.

    Raises ``WorkloadError`` when a data file is missing or a row references an
    image or passage that is not there.
    """
    images = load_images()
    passages = [row["text"] for row in _read("passages.jsonl.gz")]
    try:
        return tuple(
            WorkloadRow(
                id=row["id"],
                source=row["source"],
                label=row["label"],
                lang=row["lang"],
                has_image=row["has_image"],
                messages=_messages(row, images, passages),
            )
            for row in _read("workload.jsonl.gz")
        )
    except (KeyError, IndexError) as exc:
        raise WorkloadError(f"workload row is inconsistent: {exc!r}") from exc


def mix(rows: Iterable[WorkloadRow]) -> dict[str, float]:
    """Share of rows per label, e.g. ``{"chat": 0.42, ...}``."""
    counts = Counter(row.label for row in rows)
    total = sum(counts.values()) or 1
    return {label: count / total for label, count in counts.most_common()}
