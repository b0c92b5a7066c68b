"""Build the intent model from the shared prompt sets, reproducibly.

Only permissively licensed sources are trained on (MIT, Apache-2.0, CC BY): gsm8k,
humaneval, cmath, vicuna_bench, self_instruct, arena_hard, the text of the LLaVA
vision questions, plus the project's own hand-written prompts in
``classify/data/authored_prompts.jsonl``. belle_eval (research-only), cmmlu (NC-SA)
and leval (GPL) are read for evaluation only and never enter the model.

Labels come from documented rules (docs/classifier.md), never by hand per row. The
split is per source with a fixed seed, so the same data gives the same model file.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tiergate.classify.features import (
    Term,
    featurize,
    term_text,
    terms,
    text_term,
)
from tiergate.classify.intent import IntentModel
from tiergate.classify.settings import INTENTS, ClassifierSettings

logger = logging.getLogger(__name__)

SEED = 20240601
HELDOUT_SHARE = 0.2
C_REGULARIZATION = 0.5
# A term must occur in this many training prompts to enter the vocabulary: a term
# seen once is mostly noise (a name, a number's neighbour) and only grows the file.
MIN_DOCUMENT_FREQUENCY = 2
VISION_TRAIN_SAMPLE = 300  # per large vision source; they only teach "short question"
VISION_EVAL_SAMPLE = 200
# A 1x1 PNG: the eval rows of vision sources carry an image part as a real one would.
PLACEHOLDER_IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
    "nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled prompt: where it came from, its text and its intent."""

    source: str
    text: str
    intent: str


# -- labelling rules -----------------------------------------------------------------

_VICUNA = {"coding": "code", "math": "reasoning", "fermi": "reasoning"}
_SEED_CODE = {
    "write_comments_in_python", "complete_python_code", "code_todo", "text_to_sql",
    "regular_expression_generation", "htlm_task", "python_code_generation",
    "python_sorting", "code_for_bitcoin_price", "program_for_summation",
    "javascript_date_and_time", "python_leetcode", "code_syntax_error",
}  # fmt: skip
_SEED_REASONING = {
    "fun_math_question", "find_subset_of_numbers_with_target_sum", "perfect_numbers",
    "solving_equation", "math_word_problem_with_reasoning", "solving_math_problem",
    "word_math_with_algebra", "solve_equation_system", "syllogism", "chess_puzzle",
    "measurement_conversion", "temperature_conversion", "numerical_question_answering",
}  # fmt: skip
_APP_CODE = {"Leetcode", "StackOverflow", "GeeksforGeeks", "w3schools", "Github"}
_APP_REASONING = {"Wolfram alpha", "Sudoku", "(Wolfram alpha)?"}
_SUMMARY = re.compile(r"\bsummar|\bextract\b|\btl;?dr\b", re.I)
_CLASSIFY = re.compile(
    r"\b(classify|categori[sz]e|is (it|this) (spam|toxic|positive|negative)|"
    r"sentiment|which category)\b",
    re.I,
)
_CODE_WORDS = re.compile(
    r"```|\b(python|javascript|typescript|java|c\+\+|rust|golang|sql|bash|code|"
    r"function|script|program|regex|api|html|css|docker|kubernetes|compile)\b",
    re.I,
)
_ARENA_CODE = re.compile(
    r"python|code|coding|sql|docker|kubernetes|javascript|typescript|java\b|kotlin|"
    r"rust|php|c\+\+|css|html|react|django|flask|laravel|node|api|scripting|regex|"
    r"linux|nix|bash|awk|sed|vba|excel|pandas|pytorch|jax|cuda|hlsl|wpf|tkinter|"
    r"gradio|streamlit|shiny|swift|roblox|android|web|bot|development|programming|"
    r"algorithm|linked list|array|string|data structures|testing|mocking|assembly|"
    r"hdl|gis|ffmpeg|databricks|spark|vb6|odoo|symfony|monads|lambda calculus|"
    r"tailwind|next\.js|sap|redis|network|ssh|cron|xss|matplotlib|visualization|"
    r"yolo|huggingface|llm|rnn|transformers|autoencoder|compression|encoding",
    re.I,
)
_ARENA_REASONING = re.compile(
    r"math|algebra|number theory|probabilit|statistic|proving|irrationality|real "
    r"analysis|geometry|dice|puzzle|speed problems|investment growth|"
    r"consecutive draws|sample size|standard deviation|calculations|circular motion",
    re.I,
)


def label_seed_task(row: dict[str, Any]) -> str:
    """self_instruct seed task: by task ``name``, then ``is_classification``."""
    name = row["name"]
    if name in _SEED_CODE:
        return "code"
    if name in _SEED_REASONING:
        return "reasoning"
    if row.get("is_classification"):
        return "classify"
    return "summarize" if "summar" in name or "extract" in name else "chat"


def label_user_task(row: dict[str, Any]) -> str:
    """self_instruct user-oriented task: by ``motivation_app``, then keywords."""
    app, instruction = row["motivation_app"], row["instruction"]
    if app in _APP_CODE:
        return "code"
    if app in _APP_REASONING:
        return "reasoning"
    if _CLASSIFY.search(instruction):
        return "classify"
    return "summarize" if _SUMMARY.search(instruction) else "chat"


def label_arena(row: dict[str, Any]) -> str:
    """arena_hard: by topic ``cluster``; code words in a math-cluster prompt win."""
    cluster, text = row["cluster"], row["turns"][0]["content"]
    if _ARENA_REASONING.search(cluster):
        return "code" if _CODE_WORDS.search(text) else "reasoning"
    return "code" if _ARENA_CODE.search(cluster) else "chat"


# -- permissive sources (trained on) -------------------------------------------------


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _with_input(instruction: str, instances: list[dict[str, Any]]) -> str:
    extra = instances[0].get("input", "") if instances else ""
    return f"{instruction}\n\n{extra}".strip() if extra else instruction


_HUMANEVAL_WRAPPERS = (
    "Complete this function:\n\n{p}",
    "{p}",
    "Implement the following Python function.\n\n{p}",
    "Write the body of this function:\n```python\n{p}```",
)


def load_trainable(data_dir: Path) -> dict[str, list[Example]]:
    """Every permissively licensed source present in ``data_dir``, by source name.

    A missing source is skipped with a warning, so a small data dir still trains.
    """
    loaders: dict[str, Callable[[], Iterator[Example]]] = {
        "gsm8k": lambda: (
            Example("gsm8k", r["question"], "reasoning")
            for r in _jsonl(data_dir / "gsm8k/test.jsonl")
        ),
        "cmath": lambda: (
            Example("cmath", r["question"], "reasoning")
            for r in _jsonl(data_dir / "cmath/test.jsonl")
        ),
        "humaneval": lambda: (
            Example(
                "humaneval", _HUMANEVAL_WRAPPERS[i % 4].format(p=r["prompt"]), "code"
            )
            for i, r in enumerate(_jsonl(data_dir / "humaneval/HumanEval.jsonl.gz"))
        ),
        "vicuna_bench": lambda: (
            Example("vicuna_bench", r["turns"][0], _VICUNA.get(r["category"], "chat"))
            for r in _jsonl(data_dir / "vicuna_bench/question.jsonl")
        ),
        "self_instruct_seed": lambda: (
            Example(
                "self_instruct_seed",
                _with_input(r["instruction"], r["instances"]),
                label_seed_task(r),
            )
            for r in _jsonl(data_dir / "self_instruct/seed_tasks.jsonl")
        ),
        "self_instruct_user": lambda: (
            Example(
                "self_instruct_user",
                _with_input(r["instruction"], r["instances"]),
                label_user_task(r),
            )
            for r in _jsonl(data_dir / "self_instruct/user_oriented_instructions.jsonl")
        ),
        "arena_hard": lambda: (
            Example("arena_hard", r["turns"][0]["content"], label_arena(r))
            for r in _jsonl(data_dir / "arena_hard/question.jsonl")
        ),
    }
    sources: dict[str, list[Example]] = {}
    for name, load in loaders.items():
        try:
            sources[name] = [e for e in load() if e.text.strip()]
        except FileNotFoundError as exc:
            logger.warning("training source %s missing: %s", name, exc.filename)
    return sources


def vision_questions(data_dir: Path) -> dict[str, list[str]]:
    """First lines of the LLaVA-bundled vision questions (LLaVA's answer-format lines
    and TextVQA's OCR hints come after the first line and are dropped)."""
    files = {
        "llava_bench_coco": "llava_bench_coco/qa90_questions.jsonl",
        "vizwiz": "vizwiz/llava_test.jsonl",
        "textvqa": "textvqa/llava_textvqa_val_v051_ocr.jsonl",
    }
    found: dict[str, list[str]] = {}
    for name, rel in files.items():
        path = data_dir / rel
        if path.exists():
            found[name] = [
                q for r in _jsonl(path) if (q := r["text"].split("\n")[0].strip())
            ]
    return found


def authored_examples() -> list[Example]:
    """The project's own hand-written prompts (Apache-2.0 with the project)."""
    ref = resources.files("tiergate.classify") / "data" / "authored_prompts.jsonl"
    rows = [json.loads(line) for line in ref.read_text("utf-8").splitlines() if line]
    return [Example("authored", r["text"], r["intent"]) for r in rows]


# -- eval-only sources (never trained on) --------------------------------------------

_BELLE_TIERS = {"math": "reasoning", "classification": "classify"}
_CMMLU_REASONING = {
    "college_mathematics", "high_school_mathematics", "elementary_mathematics",
    "college_actuarial_science", "high_school_physics", "college_medical_statistics",
    "logical",
}  # fmt: skip


def belle_rows(data_dir: Path) -> list[dict[str, Any]]:
    """belle_eval as eval rows: math -> reasoning, classification -> classify, rest
    (code included) -> default. Research-only licence: evaluation, never training."""
    path = data_dir / "belle_eval/eval_set.json"
    if not path.exists():
        return []
    return [
        {
            "prompt": r["question"],
            "tier": _BELLE_TIERS.get(r["class"].replace("\u00a0", " "), "default"),
            "source": "belle_eval",
            "class": r["class"].replace("\u00a0", " "),
        }
        for r in _jsonl(path)
    ]


def cmmlu_rows(data_dir: Path) -> list[dict[str, Any]]:
    """cmmlu as eval rows: math/physics/statistics/logic subjects -> reasoning, the
    rest -> default. NC-SA licence: evaluation, never training."""
    folder = data_dir / "cmmlu/test"
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.csv")) if folder.exists() else []:
        with path.open(encoding="utf-8") as handle:
            for r in csv.DictReader(handle):
                options = "\n".join(f"{k}. {r[k]}" for k in "ABCD")
                rows.append(
                    {
                        "prompt": f"{r['Question']}\n{options}",
                        "tier": "reasoning"
                        if path.stem in _CMMLU_REASONING
                        else "default",
                        "source": "cmmlu",
                        "class": path.stem,
                    }
                )
    return rows


# -- split, fit, write ---------------------------------------------------------------


def split(
    examples: list[Example], seed: int = SEED
) -> tuple[list[Example], list[Example]]:
    """Shuffle one source with ``seed`` and hold out HELDOUT_SHARE of it."""
    order = list(examples)
    random.Random(f"{seed}:{examples[0].source if examples else ''}").shuffle(order)
    cut = max(1, round(len(order) * HELDOUT_SHARE)) if len(order) > 1 else 0
    return order[cut:], order[:cut]


def sample_text(text: str, settings: ClassifierSettings) -> str:
    """``text`` cut to its head and tail as the serving path cuts a user message."""
    if len(text) > settings.head_chars + settings.tail_chars:
        tail = text[-settings.tail_chars :] if settings.tail_chars else ""
        return text[: settings.head_chars] + "\n" + tail
    return text


def vocabulary(texts: Iterable[str]) -> tuple[str, ...]:
    """Terms (stored form) found in at least MIN_DOCUMENT_FREQUENCY of ``texts``,
    sorted so that the same data gives the same file."""
    frequency: Counter[Term] = Counter()
    for text in texts:
        frequency.update(set(terms(text)))
    kept = (term_text(t) for t, n in frequency.items() if n >= MIN_DOCUMENT_FREQUENCY)
    return tuple(sorted(kept))


def matrix(texts: Iterable[str], index: dict[Term, int]) -> Any:
    """Sparse feature matrix of ``texts`` over ``index``, built by the serving
    featurizer itself."""
    from scipy.sparse import csr_matrix

    indptr, indices, values = [0], [], []
    for text in texts:
        ids, vals = featurize(text, index)
        indices += ids
        values += vals
        indptr.append(len(indices))
    return csr_matrix(
        (
            np.array(values, dtype=np.float64),
            np.array(indices, dtype=np.int64),
            np.array(indptr, dtype=np.int64),
        ),
        shape=(len(indptr) - 1, len(index)),
    )


def fit(
    train: list[Example], settings: ClassifierSettings, meta: dict[str, Any]
) -> IntentModel:
    """Fit a multinomial logistic regression (balanced classes) to ``train``."""
    from sklearn.linear_model import LogisticRegression

    labels = tuple(label for label in INTENTS if any(e.intent == label for e in train))
    texts = [sample_text(e.text, settings) for e in train]
    terms_ = vocabulary(texts)
    x = matrix(texts, {text_term(t): i for i, t in enumerate(terms_)})
    y = np.array([labels.index(e.intent) for e in train])
    clf = LogisticRegression(
        C=C_REGULARIZATION, max_iter=3000, class_weight="balanced", tol=1e-4
    )
    clf.fit(x, y)
    weights = np.asarray(clf.coef_.T, dtype=np.float32)
    bias = np.asarray(clf.intercept_, dtype=np.float32)
    if len(labels) == 2:  # sklearn gives one column for two classes
        weights = np.hstack([-weights / 2, weights / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2], dtype=np.float32)
    return IntentModel.from_float(labels, terms_, weights, bias, meta)


def eval_row(example: Example, settings: ClassifierSettings) -> dict[str, Any]:
    """An eval-file row for ``example``: its prompt and the tier it should get."""
    return {
        "prompt": example.text,
        "tier": settings.intent_tiers[example.intent],
        "intent": example.intent,
        "source": example.source,
    }


def vision_row(source: str, question: str) -> dict[str, Any]:
    """An eval row for a vision question, carrying an image part like the real one."""
    content = [
        {"type": "text", "text": question},
        {"type": "image_url", "image_url": {"url": PLACEHOLDER_IMAGE}},
    ]
    return {
        "messages": [{"role": "user", "content": content}],
        "tier": "vision",
        "source": source,
    }


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as UTF-8 JSON lines; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build wrote: the model file and the eval files next to the report."""

    model_path: Path
    files: dict[str, Path]
    counts: dict[str, dict[str, int]]


def build(
    data_dir: Path,
    out: Path,
    report_dir: Path,
    settings: ClassifierSettings | None = None,
    use_authored: bool = True,
    hold_out: Sequence[str] = (),
) -> BuildResult:
    """Train the intent model from ``data_dir`` and write it to ``out``.

    Also writes, under ``report_dir``: ``heldout.jsonl`` (the held-out split of the
    trained-on sources), ``heldout_vision.jsonl`` (held-out vision questions with an
    image part), ``unseen_belle.jsonl`` / ``unseen_cmmlu.jsonl`` (sources never
    trained on, when present) and ``train.jsonl``. Each source named in
    ``hold_out`` is left out of training entirely and all its rows go to
    ``unseen_<source>.jsonl``. Raises ValueError when ``data_dir`` holds no usable
    source or ``hold_out`` names an unknown one.
    """
    settings = settings or ClassifierSettings()
    sources = load_trainable(data_dir)
    unknown = sorted(set(hold_out) - set(sources))
    if unknown:
        raise ValueError(
            f"cannot hold out {', '.join(unknown)}: known sources are "
            f"{', '.join(sorted(sources))}"
        )
    held_sources = {name: sources.pop(name) for name in hold_out}
    train: list[Example] = []
    heldout: list[Example] = []
    counts: dict[str, dict[str, int]] = {}
    for name, examples in sorted(sources.items()):
        part_train, part_held = split(examples)
        train += part_train
        heldout += part_held
        counts[name] = {"train": len(part_train), "heldout": len(part_held)}

    vision_eval: list[dict[str, Any]] = []
    for name, questions in sorted(vision_questions(data_dir).items()):
        as_examples = [Example(name, q, "chat") for q in questions]
        part_train, part_held = split(as_examples)
        part_train = part_train[:VISION_TRAIN_SAMPLE]
        part_held = part_held[:VISION_EVAL_SAMPLE]
        train += part_train
        vision_eval += [vision_row(name, e.text) for e in part_held]
        counts[name] = {"train": len(part_train), "heldout": len(part_held)}

    if not train:
        raise ValueError(f"no training source found under {data_dir}")
    if use_authored:
        authored = authored_examples()
        train += authored
        counts["authored"] = {"train": len(authored), "heldout": 0}

    meta = {
        "seed": SEED,
        "held_out_sources": sorted(held_sources),
        "heldout_share": HELDOUT_SHARE,
        "C": C_REGULARIZATION,
        "features": "word/CJK-char tokens, bigrams, 2 edge tokens; sublinear, L2",
        "min_document_frequency": MIN_DOCUMENT_FREQUENCY,
        "sources": counts,
        "train_rows": len(train),
        "head_chars": settings.head_chars,
        "tail_chars": settings.tail_chars,
    }
    model = fit(train, settings, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)

    files = {
        "train": report_dir / "train.jsonl",
        "heldout": report_dir / "heldout.jsonl",
        "heldout_vision": report_dir / "heldout_vision.jsonl",
    }
    write_jsonl(files["train"], (eval_row(e, settings) for e in train))
    write_jsonl(files["heldout"], (eval_row(e, settings) for e in heldout))
    write_jsonl(files["heldout_vision"], vision_eval)
    unseen = [
        (f"unseen_{name}", [eval_row(e, settings) for e in examples])
        for name, examples in sorted(held_sources.items())
    ]
    unseen += [
        ("unseen_belle", belle_rows(data_dir)),
        ("unseen_cmmlu", cmmlu_rows(data_dir)),
    ]
    for name, rows in unseen:
        if rows:
            files[name] = report_dir / f"{name}.jsonl"
            write_jsonl(files[name], rows)
    return BuildResult(model_path=out, files=files, counts=counts)
