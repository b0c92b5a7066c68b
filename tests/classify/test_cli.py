"""``tiergate classifier eval`` and ``train`` through the real CLI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tiergate.cli import app

runner = CliRunner()

EVAL_ROWS: list[dict[str, object]] = [
    {
        "prompt": "Janet has 3 apples and buys 5 more. How many does she have?",
        "tier": "reasoning",
    },
    {"prompt": "Write a haiku about autumn leaves.", "tier": "default"},
    {
        "messages": [
            {
                "role": "user",
                "content": "Is this review positive or negative? "
                "'Great phone, terrible battery.' Answer with one word.",
            }
        ],
        "tier": "classify",
    },
    {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AA"},
                    },
                ],
            }
        ],
        "tier": "vision",
    },
    # A deliberate miss, so accuracy is 4/5 and the confusion matrix has an off cell.
    {"prompt": "Tell me about the history of Rome.", "tier": "heavy"},
]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def test_eval_json_reports_accuracy_and_confusion(tmp_path: Path) -> None:
    """eval --json scores every row: accuracy, per-tier recall, confusion, timing."""
    data = write_jsonl(tmp_path / "rows.jsonl", EVAL_ROWS)
    result = runner.invoke(app, ["classifier", "eval", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == 5
    assert report["accuracy"] == 0.8
    assert report["confusion"]["heavy"]["default"] == 1
    assert report["tiers"]["vision"]["recall"] == 1.0
    assert 0 < report["p50_ms"] <= report["p99_ms"]


def test_eval_prints_tables(tmp_path: Path) -> None:
    """eval without --json prints the headline and the confusion matrix."""
    data = write_jsonl(tmp_path / "rows.jsonl", EVAL_ROWS)
    result = runner.invoke(app, ["classifier", "eval", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "accuracy 80.00%" in result.output
    assert "confusion matrix" in result.output


def test_eval_rejects_row_without_tier(tmp_path: Path) -> None:
    """A row lacking 'tier' is a usage error naming the line, not a traceback."""
    data = write_jsonl(tmp_path / "rows.jsonl", [{"prompt": "hello"}])
    result = runner.invoke(app, ["classifier", "eval", "--data", str(data)])
    assert result.exit_code == 2
    assert "rows.jsonl:1" in result.output


def tiny_data_dir(root: Path) -> Path:
    """A miniature copy of the shared layout with generated prompts."""
    write_jsonl(
        root / "gsm8k/test.jsonl",
        [
            {
                "question": f"Tom has {i} marbles and wins {i + 3} more. How many now?",
                "answer": "#### 1",
            }
            for i in range(30)
        ],
    )
    write_jsonl(
        root / "vicuna_bench/question.jsonl",
        [
            {
                "question_id": i,
                "category": "writing",
                "turns": [f"Write a friendly note number {i} to a neighbour."],
            }
            for i in range(30)
        ],
    )
    (root / "humaneval").mkdir()
    with gzip.open(root / "humaneval/HumanEval.jsonl.gz", "wt") as handle:
        for i in range(20):
            handle.write(
                json.dumps(
                    {
                        "task_id": f"t/{i}",
                        "prompt": f'def f{i}(xs):\n    """Sum xs."""\n',
                    }
                )
                + "\n"
            )
    return root


@pytest.fixture(scope="module")
def two_trainings(
    tmp_path_factory: pytest.TempPathFactory,
) -> list[tuple[Path, Path, str]]:
    """The train command run twice on the same generated data dir."""
    root = tmp_path_factory.mktemp("train")
    data = tiny_data_dir(root / "prompts")
    runs = []
    for run in ("a", "b"):
        out = root / run / "intent.npz"
        result = runner.invoke(
            app,
            [
                "classifier",
                "train",
                "--data-dir",
                str(data),
                "--out",
                str(out),
                "--report-dir",
                str(root / run / "report"),
            ]
            + (["--json"] if run == "b" else []),
        )
        assert result.exit_code == 0, result.output
        runs.append((out, root / run / "report", result.output))
    return runs


def test_train_is_reproducible(two_trainings: list[tuple[Path, Path, str]]) -> None:
    """Two trainings on the same data give the same weights and the same split."""
    (model_a, report_a, _), (model_b, report_b, _) = two_trainings
    with np.load(model_a) as a, np.load(model_b) as b:
        assert np.array_equal(a["weights"], b["weights"])
        assert np.array_equal(a["bias"], b["bias"])
    held_a = (report_a / "heldout.jsonl").read_text()
    assert held_a == (report_b / "heldout.jsonl").read_text()
    assert len(held_a.splitlines()) == 6 + 6 + 4
    metrics = json.loads((report_a / "metrics.json").read_text())
    assert metrics["sources"]["gsm8k"] == {"train": 24, "heldout": 6}


def test_train_prints_summary(two_trainings: list[tuple[Path, Path, str]]) -> None:
    """Without --json, train prints the data table and the held-out accuracy."""
    output = two_trainings[0][2]
    assert "training data" in output and "heldout" in output


def test_trained_model_is_usable_for_eval(
    two_trainings: list[tuple[Path, Path, str]],
) -> None:
    """A freshly trained model file scores its own held-out split with --model."""
    model, report, _ = two_trainings[0]
    result = runner.invoke(
        app,
        [
            "classifier",
            "eval",
            "--data",
            str(report / "heldout.jsonl"),
            "--model",
            str(model),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accuracy"] >= 0.9


def test_train_without_data_is_usage_error(tmp_path: Path) -> None:
    """A data dir holding no source fails as a usage error naming the folder."""
    (tmp_path / "empty").mkdir()
    result = runner.invoke(
        app,
        [
            "classifier",
            "train",
            "--data-dir",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "m.npz"),
            "--report-dir",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2
    assert "no training source" in result.output


def test_train_hold_out_leaves_a_source_out(tmp_path: Path) -> None:
    """--hold-out trains without a source and evaluates on all of its rows."""
    data = tiny_data_dir(tmp_path / "prompts")
    result = runner.invoke(
        app,
        [
            "classifier",
            "train",
            "--data-dir",
            str(data),
            "--hold-out",
            "vicuna_bench",
            "--out",
            str(tmp_path / "m.npz"),
            "--report-dir",
            str(tmp_path / "r"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["held_out_sources"] == ["vicuna_bench"]
    assert "vicuna_bench" not in summary["sources"]
    assert summary["unseen_vicuna_bench"]["rows"] == 30
    train_rows = (tmp_path / "r" / "train.jsonl").read_text()
    assert "neighbour" not in train_rows


def test_train_hold_out_unknown_source_is_usage_error(tmp_path: Path) -> None:
    """Holding out a source the data dir lacks is a usage error naming it."""
    data = tiny_data_dir(tmp_path / "prompts")
    result = runner.invoke(
        app,
        [
            "classifier",
            "train",
            "--data-dir",
            str(data),
            "--hold-out",
            "nosuch",
            "--out",
            str(tmp_path / "m.npz"),
            "--report-dir",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2
    assert "nosuch" in result.output
