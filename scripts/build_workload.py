"""Build the demo workload that ships inside the package.

Samples a realistic request mix from the permissively licensed prompt sources in
``shared/data/prompts`` (see its SOURCES.md) and writes three gzipped JSON Lines files
to ``src/tiergate/bench/data``:

- ``workload.jsonl.gz``: one request per line, in replay order;
- ``passages.jsonl.gz``: the texts that the long "document" requests are built from;
- ``images.jsonl.gz``: small generated pictures that stand in for the photos the
  vision sources name but do not include.

Only MIT, Apache-2.0 and CC BY sources are read: gsm8k, humaneval, cmath, vicuna_bench,
arena_hard, self_instruct and the question texts of llava_bench_coco, vizwiz and
textvqa. cmmlu (CC BY-NC-SA), belle_eval (research only) and leval (GPL-3.0) are
never opened by this script. ``docs/workload.md`` describes the result.

Usage::

    python scripts/build_workload.py [--data-dir ../shared/data/prompts]
        [--out src/tiergate/bench/data] [--seed 0] [--size 1000]

The output depends only on the source files, ``--seed`` and ``--size``.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Share of each bucket in the workload. The brief's reference mix puts 60% on the
# default tier, 10% on reasoning, 15% on vision and 10% on heavy (the classifier's own
# 5% is not caller traffic); reasoning gets a little more here so that the Chinese
# math rows (cmath) are well represented without starving English math.
MIX: dict[str, float] = {
    "chat": 0.42,
    "code": 0.18,
    "reasoning": 0.15,
    "vision": 0.15,
    "long_context": 0.10,
}

# Within the reasoning bucket: English grade-school math, Chinese math, other sources.
REASONING_SPLIT = {"gsm8k": 0.50, "cmath": 0.35, "other": 0.15}
VISION_SPLIT = {"vizwiz": 0.40, "textvqa": 0.35, "llava_bench_coco": 0.25}

# Arena-hard has no labels; a keyword pass over its cluster names separates clear
# code and clear math from the rest (SOURCES.md suggests the same).
CODE_WORDS = re.compile(
    r"python|sql|docker|code|coding|program|javascript|typescript|java\b|rust|c\+\+|"
    r"css|html|django|android|regex|pandas|matplotlib|api|script|kotlin|swift|react|"
    r"vba|excel formula|linux|bash|shell|git|algorithm|array|function|debug|software|"
    r"web dev|flask|node|php|golang|\bgo\b|unity|gdscript|assembly|sap|lisp|haskell|"
    r"scheme|arduino|verilog|torch|keras|tensorflow|numpy|gradio|streamlit|nix",
    re.IGNORECASE,
)
MATH_WORDS = re.compile(
    r"math|probability|algebra|puzzle|number theory|calculat|dice|geometry|"
    r"statistics|riddle|logic|proof|equation",
    re.IGNORECASE,
)
SELF_INSTRUCT_CODE_APPS = {"Leetcode", "StackOverflow", "GeeksforGeeks", "w3schools"}
SELF_INSTRUCT_REASONING_APPS = {"Wolfram alpha", "Sudoku"}
SELF_INSTRUCT_CODE_TASKS = {
    "python_code_generation",
    "text_to_sql",
    "code_syntax_error",
    "python_leetcode",
    "javascript_date_and_time",
    "write_comments_in_python",
    "complete_python_code",
    "code_todo",
    "python_sorting",
    "code_for_bitcoin_price",
    "program_for_summation",
    "regular_expression_generation",
    "htlm_task",
}
SELF_INSTRUCT_REASONING_TASKS = {
    "solving_equation",
    "math_word_problem_with_reasoning",
    "solve_equation_system",
    "word_math_with_algebra",
    "syllogism",
    "chess_puzzle",
    "solving_math_problem",
    "fun_math_question",
    "find_subset_of_numbers_with_target_sum",
}
VICUNA_LABELS = {"coding": "code", "math": "reasoning", "fermi": "reasoning"}

# Instructions appended to the long documents. Written for this project.
LONG_INSTRUCTIONS = (
    "The document above is a log of requests a support team received this week. "
    "Summarise it in ten bullet points, grouping related requests together.",
    "Read the collected requests above. Which three topics come up most often, and "
    "what would a good FAQ entry for each of them say?",
    "Above is a batch of user questions. Classify every section as code, math, "
    "writing or general knowledge and give a one-line reason for each.",
    "Write a one-page briefing for a new team member that explains what the people "
    "who sent the requests above are trying to achieve.",
    "Find the requests in the document above that are ambiguous or underspecified, "
    "quote them, and say what clarifying question you would ask.",
    "Rank the sections of the document above from easiest to hardest to answer and "
    "explain the ranking in a short table.",
)
# Document length in characters: about 25k-40k tokens, above the classifier's default
# heavy threshold (24k estimated tokens at 4 characters a token) and well inside the
# 128K context every catalog model has.
LONG_CHARS = (100_000, 160_000)
IMAGE_COUNT = 32


@dataclass(frozen=True, slots=True)
class Prompt:
    """One candidate request read from a source, before sampling."""

    source: str
    source_id: str
    label: str
    text: str
    lang: str = "en"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSON Lines file, gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def gsm8k(data: Path) -> list[Prompt]:
    return [
        Prompt("gsm8k", str(i), "reasoning", row["question"])
        for i, row in enumerate(read_jsonl(data / "gsm8k/test.jsonl"))
    ]


def cmath(data: Path) -> list[Prompt]:
    return [
        Prompt("cmath", str(i), "reasoning", row["question"], lang="zh")
        for i, row in enumerate(read_jsonl(data / "cmath/test.jsonl"))
    ]


def humaneval(data: Path) -> list[Prompt]:
    return [
        Prompt(
            "humaneval",
            row["task_id"],
            "code",
            "Complete this function:\n\n```python\n" + row["prompt"] + "```",
        )
        for row in read_jsonl(data / "humaneval/HumanEval.jsonl.gz")
    ]


def vicuna(data: Path) -> list[Prompt]:
    return [
        Prompt(
            "vicuna_bench",
            str(row["question_id"]),
            VICUNA_LABELS.get(row["category"], "chat"),
            row["turns"][0],
        )
        for row in read_jsonl(data / "vicuna_bench/question.jsonl")
    ]


def arena_label(cluster: str) -> str:
    if CODE_WORDS.search(cluster):
        return "code"
    if MATH_WORDS.search(cluster):
        return "reasoning"
    return "chat"


def arena_hard(data: Path) -> list[Prompt]:
    return [
        Prompt(
            "arena_hard",
            row["question_id"],
            arena_label(row["cluster"]),
            row["turns"][0]["content"],
        )
        for row in read_jsonl(data / "arena_hard/question.jsonl")
    ]


def instruction_text(row: dict[str, Any]) -> str:
    """Self-instruct's prompt: the instruction plus the first instance's input."""
    extra = str((row.get("instances") or [{}])[0].get("input", "")).strip()
    return str(row["instruction"]) + ("\n\n" + extra if extra else "")


def self_instruct(data: Path) -> list[Prompt]:
    found = []
    for row in read_jsonl(data / "self_instruct/user_oriented_instructions.jsonl"):
        app = row["motivation_app"]
        label = "chat"
        if app in SELF_INSTRUCT_CODE_APPS:
            label = "code"
        elif app in SELF_INSTRUCT_REASONING_APPS:
            label = "reasoning"
        found.append(Prompt("self_instruct", row["id"], label, instruction_text(row)))
    for row in read_jsonl(data / "self_instruct/seed_tasks.jsonl"):
        label = "chat"
        if row["name"] in SELF_INSTRUCT_CODE_TASKS:
            label = "code"
        elif row["name"] in SELF_INSTRUCT_REASONING_TASKS:
            label = "reasoning"
        found.append(Prompt("self_instruct", row["id"], label, instruction_text(row)))
    return found


def vision(data: Path, source: str, relative: str) -> list[Prompt]:
    """Vision questions with LLaVA's appended answer-format lines removed."""
    return [
        Prompt(source, str(row["question_id"]), "vision", row["text"].split("\n")[0])
        for row in read_jsonl(data / relative)
    ]


def vision_sources(data: Path) -> dict[str, list[Prompt]]:
    return {
        "vizwiz": vision(data, "vizwiz", "vizwiz/llava_test.jsonl"),
        "textvqa": vision(data, "textvqa", "textvqa/llava_textvqa_val_v051_ocr.jsonl"),
        "llava_bench_coco": vision(
            data, "llava_bench_coco", "llava_bench_coco/qa90_questions.jsonl"
        ),
    }


def sample(pool: list[Prompt], count: int, rng: random.Random) -> list[Prompt]:
    """``count`` distinct prompts from ``pool`` (all of them when it is smaller)."""
    return rng.sample(pool, min(count, len(pool)))


def split_counts(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Integer counts per key that add up to ``total`` (largest remainder)."""
    raw = {key: total * share for key, share in shares.items()}
    counts = {key: int(value) for key, value in raw.items()}
    by_remainder = sorted(raw, key=lambda key: raw[key] - counts[key], reverse=True)
    for key in by_remainder[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def text_prompts(data: Path, size: int, rng: random.Random) -> list[Prompt]:
    """The chat, code and reasoning rows of the mix."""
    counts = split_counts(size, MIX)
    general = vicuna(data) + arena_hard(data) + self_instruct(data)
    by_label: dict[str, list[Prompt]] = {"chat": [], "code": [], "reasoning": []}
    for prompt in general:
        by_label[prompt.label].append(prompt)

    reasoning = split_counts(counts["reasoning"], REASONING_SPLIT)
    chosen = sample(by_label["chat"], counts["chat"], rng)
    code_half = counts["code"] // 2
    chosen += sample(humaneval(data), code_half, rng)
    chosen += sample(by_label["code"], counts["code"] - code_half, rng)
    chosen += sample(gsm8k(data), reasoning["gsm8k"], rng)
    chosen += sample(cmath(data), reasoning["cmath"], rng)
    chosen += sample(by_label["reasoning"], reasoning["other"], rng)
    return chosen


def vision_prompts(data: Path, size: int, rng: random.Random) -> list[Prompt]:
    counts = split_counts(split_counts(size, MIX)["vision"], VISION_SPLIT)
    pools = vision_sources(data)
    return [p for name, n in counts.items() for p in sample(pools[name], n, rng)]


def passage_pool(data: Path) -> list[Prompt]:
    """Arena-hard and self-instruct texts long enough to read as document sections."""
    pool = arena_hard(data) + self_instruct(data)
    return [prompt for prompt in pool if len(prompt.text) >= 300]


def long_rows(
    pool: list[Prompt], count: int, rng: random.Random
) -> tuple[list[dict[str, Any]], list[Prompt]]:
    """Heavy-tier rows: each references passages that the loader concatenates into one
    long document, followed by an instruction. Returns the rows and the passages they
    use (so only those are shipped)."""
    used: dict[str, int] = {}
    shipped: list[Prompt] = []
    rows = []
    for index in range(count):
        target = rng.randint(*LONG_CHARS)
        parts: list[int] = []
        length = 0
        for prompt in rng.sample(pool, len(pool)):
            if length >= target:
                break
            key = f"{prompt.source}:{prompt.source_id}"
            if key not in used:
                used[key] = len(shipped)
                shipped.append(prompt)
            parts.append(used[key])
            length += len(prompt.text)
        rows.append(
            {
                "id": f"long_doc-{index:03d}",
                "source": "long_doc",
                "label": "long_context",
                "lang": "en",
                "has_image": False,
                "document_parts": parts,
                "instruction": rng.choice(LONG_INSTRUCTIONS),
            }
        )
    return rows, shipped


def text_row(prompt: Prompt) -> dict[str, Any]:
    return {
        "id": f"{prompt.source}-{prompt.source_id}",
        "source": prompt.source,
        "label": prompt.label,
        "lang": prompt.lang,
        "has_image": False,
        "messages": [{"role": "user", "content": prompt.text}],
    }


def vision_row(prompt: Prompt, image: str) -> dict[str, Any]:
    return {
        "id": f"{prompt.source}-{prompt.source_id}",
        "source": prompt.source,
        "label": "vision",
        "lang": prompt.lang,
        "has_image": True,
        "prompt": prompt.text,
        "image": image,
    }


def random_color(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def draw_shapes(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A flat illustration: coloured circles and boxes on a plain background."""
    image = Image.new("RGB", size, random_color(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 8)):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randint(10, size[0] // 2), rng.randint(10, size[1] // 2)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=random_color(rng), outline=(0, 0, 0))
    return image


SIGN_WORDS = ("EXIT", "OPEN", "SALE 50%", "CAFE", "NO PARKING", "PUSH", "BUS 42", "TEA")


def draw_sign(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A sign with a word on it, like the photos TextVQA asks about."""
    image = Image.new("RGB", size, random_color(rng))
    draw = ImageDraw.Draw(image)
    box = (size[0] // 8, size[1] // 4, size[0] * 7 // 8, size[1] * 3 // 4)
    draw.rectangle(box, fill=(250, 250, 240), outline=(20, 20, 20), width=3)
    font = ImageFont.load_default(size=rng.randint(22, 34))
    draw.text(
        (box[0] + 12, box[1] + 12), rng.choice(SIGN_WORDS), fill=(180, 0, 0), font=font
    )
    return image


def draw_photo(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A blurry photo-like picture: a gradient with noise and soft blobs."""
    top, bottom = random_color(rng), random_color(rng)
    image = Image.new("RGB", size)
    for y in range(size[1]):
        mix = y / size[1]
        row = tuple(
            int(a * (1 - mix) + b * mix) for a, b in zip(top, bottom, strict=True)
        )
        image.paste(row, (0, y, size[0], y + 1))
    # Noise from the seeded generator (Pillow's effect_noise is not seedable).
    noise = Image.frombytes("L", size, rng.randbytes(size[0] * size[1])).convert("RGB")
    image = Image.blend(image, noise, 0.25)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 5)):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randint(8, 40)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=random_color(rng))
    return image.filter(ImageFilter.GaussianBlur(1.5))


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=60, optimize=True)
    else:
        image.convert("P", palette=Image.Palette.ADAPTIVE, colors=32).save(
            out, "PNG", optimize=True
        )
    return out.getvalue()


def make_images(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """``count`` distinct small pictures, PNG for drawings and JPEG for photos."""
    painters = ((draw_shapes, "PNG"), (draw_sign, "PNG"), (draw_photo, "JPEG"))
    images = []
    for index in range(count):
        painter, fmt = painters[index % len(painters)]
        size = (rng.choice((256, 288, 320)), rng.choice((192, 216, 240)))
        data = encode(painter(rng, size), fmt)
        images.append(
            {
                "name": f"img-{index:02d}",
                "mime": "image/png" if fmt == "PNG" else "image/jpeg",
                "width": size[0],
                "height": size[1],
                "data": base64.b64encode(data).decode("ascii"),
            }
        )
    return images


def write_jsonl_gz(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows deterministically (mtime 0) and return the file size."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as handle,
    ):
        handle.write(text.encode("utf-8"))
    return path.stat().st_size


def build(data: Path, out: Path, seed: int, size: int) -> None:
    """Sample, assemble and write the three files; print a summary."""
    rng = random.Random(seed)
    texts = text_prompts(data, size, rng)
    visions = vision_prompts(data, size, rng)
    images = make_images(rng, IMAGE_COUNT)
    long_count = split_counts(size, MIX)["long_context"]
    longs, passages = long_rows(passage_pool(data), long_count, rng)

    rows = [text_row(p) for p in texts]
    rows += [vision_row(p, rng.choice(images)["name"]) for p in visions]
    rows += longs
    rng.shuffle(rows)

    out.mkdir(parents=True, exist_ok=True)
    sizes = {
        "workload.jsonl.gz": write_jsonl_gz(out / "workload.jsonl.gz", rows),
        "passages.jsonl.gz": write_jsonl_gz(
            out / "passages.jsonl.gz",
            (
                {"source": p.source, "source_id": p.source_id, "text": p.text}
                for p in passages
            ),
        ),
        "images.jsonl.gz": write_jsonl_gz(out / "images.jsonl.gz", images),
    }
    print(f"{len(rows)} rows; labels {dict(Counter(r['label'] for r in rows))}")
    print(f"sources {dict(Counter(r['source'] for r in rows))}")
    for name, nbytes in sizes.items():
        print(f"{out / name}: {nbytes:,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    repo = Path(__file__).resolve().parent.parent
    parser.add_argument(
        "--data-dir", type=Path, default=repo.parent / "shared/data/prompts"
    )
    parser.add_argument("--out", type=Path, default=repo / "src/tiergate/bench/data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    build(args.data_dir, args.out, args.seed, args.size)


if __name__ == "__main__":
    main()
