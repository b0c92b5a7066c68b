"""The shipped demo workload: mix, fields, images, licences, reproducibility."""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image

from tiergate.bench.workload import (
    LABEL_TIERS,
    image_bytes,
    load_images,
    load_workload,
    mix,
)
from tiergate.classify.settings import ClassifierSettings

REPO = Path(__file__).resolve().parents[2]
SHARED_PROMPTS = REPO.parent / "shared" / "data" / "prompts"
PERMISSIVE = {
    "gsm8k",
    "humaneval",
    "cmath",
    "vicuna_bench",
    "arena_hard",
    "self_instruct",
    "llava_bench_coco",
    "vizwiz",
    "textvqa",
    "long_doc",
}
DATA_FILES = ("workload.jsonl.gz", "passages.jsonl.gz", "images.jsonl.gz")


def _image_urls(row):  # type: ignore[no-untyped-def]
    return [
        part["image_url"]["url"]
        for message in row.messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]


def test_workload_has_the_brief_mix() -> None:
    """Rows load from the package with the brief's tier mix (about 60/15/15/10 %)."""
    rows = load_workload()
    tiers = Counter(row.expected_tier for row in rows)
    total = len(rows)

    assert total >= 500
    assert 0.55 <= tiers["default"] / total <= 0.65
    assert 0.10 <= tiers["reasoning"] / total <= 0.20
    assert 0.12 <= tiers["vision"] / total <= 0.18
    assert 0.08 <= tiers["heavy"] / total <= 0.12
    assert abs(sum(mix(rows).values()) - 1.0) < 1e-9


def test_rows_have_the_documented_fields() -> None:
    """Every row has an id, a known source and label, and non-empty user messages."""
    rows = load_workload()

    assert len({row.id for row in rows}) == len(rows)
    for row in rows:
        assert row.source in PERMISSIVE
        assert row.label in LABEL_TIERS
        assert row.lang in ("en", "zh")
        assert row.messages[-1]["role"] == "user"
        assert row.input_chars > 0
        assert row.has_image == (row.label == "vision")


def test_only_permissive_sources_are_shipped() -> None:
    """No row comes from cmmlu, belle_eval or leval (non-commercial / GPL)."""
    sources = {row.source for row in load_workload()}

    assert sources <= PERMISSIVE
    assert not sources & {"cmmlu", "belle_eval", "leval"}


def test_vision_rows_carry_decodable_image_data_urls() -> None:
    """Each vision row has one data: URL that Pillow decodes as a small PNG or JPEG."""
    vision = [row for row in load_workload() if row.has_image]
    seen = set()

    for row in vision:
        (url,) = _image_urls(row)
        assert url.startswith(("data:image/png;base64,", "data:image/jpeg;base64,"))
        data = image_bytes(url)
        assert 200 < len(data) < 20_000
        image = Image.open(io.BytesIO(data))
        image.verify()
        assert image.format in ("PNG", "JPEG")
        seen.add(url)
    assert len(seen) >= 20
    assert len(load_images()) >= 24


def test_vision_questions_have_llava_suffixes_stripped() -> None:
    """Vision prompts are the original question, without LLaVA's format lines."""
    for row in load_workload():
        if not row.has_image:
            continue
        (text,) = [p["text"] for p in row.messages[0]["content"] if p["type"] == "text"]
        assert "\n" not in text
        assert "single word or phrase" not in text
        assert "Reference OCR token" not in text


def test_chinese_rows_are_mostly_cjk() -> None:
    """The cmath rows are Chinese text and make up a visible share of the workload."""
    rows = [row for row in load_workload() if row.lang == "zh"]
    ratios = []

    for row in rows:
        text = row.messages[0]["content"]
        ratios.append(sum("\u4e00" <= ch <= "\u9fff" for ch in text) / len(text))
    assert len(rows) >= 0.04 * len(load_workload())
    assert min(ratios) > 0
    assert sorted(ratios)[len(ratios) // 4] > 0.5


def test_long_documents_reach_the_heavy_threshold() -> None:
    """Every heavy row's estimated tokens exceed the classifier's heavy threshold."""
    settings = ClassifierSettings()
    heavy = [row for row in load_workload() if row.expected_tier == "heavy"]

    assert heavy
    for row in heavy:
        tokens = row.input_chars / settings.chars_per_token
        assert settings.heavy_input_tokens <= tokens < 100_000


def test_humaneval_rows_are_wrapped_as_a_chat_request() -> None:
    """HumanEval prompts are sent as 'Complete this function:' plus the code."""
    rows = [row for row in load_workload() if row.source == "humaneval"]

    assert rows
    assert all(
        r.messages[0]["content"].startswith("Complete this function:") for r in rows
    )


def test_shipped_data_is_small() -> None:
    """The three data files together stay under 400 KB."""
    folder = resources.files("tiergate.bench").joinpath("data")
    sizes = [len(folder.joinpath(name).read_bytes()) for name in DATA_FILES]

    assert sum(sizes) < 400_000


@pytest.mark.skipif(not SHARED_PROMPTS.is_dir(), reason="needs ../shared/data/prompts")
def test_build_script_reproduces_the_shipped_files(tmp_path: Path) -> None:
    """build_workload.py with the default seed rebuilds the files byte for byte."""
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_workload.py"),
            "--data-dir",
            str(SHARED_PROMPTS),
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    folder = resources.files("tiergate.bench").joinpath("data")

    for name in DATA_FILES:
        assert (tmp_path / name).read_bytes() == folder.joinpath(name).read_bytes()
