"""The featurizer shared by training and serving, and the CJK share."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from tiergate.classify.features import (
    cjk_share,
    featurize,
    general_tokens,
    term_text,
    terms,
    text_term,
    tokens,
)
from tiergate.classify.intent import WEIGHT_SCALE, IntentModel


def authored_texts() -> list[str]:
    """The project's own prompts: English, Chinese, code and mixed text."""
    ref = resources.files("tiergate.classify") / "data" / "authored_prompts.jsonl"
    return [json.loads(line)["text"] for line in ref.read_text("utf-8").splitlines()]


ODD_TEXTS = [
    "",
    "   \n\t ",
    "x_1 = f(42)+3.14e-2; // done!!",
    "A\x1cB\x1fC\x00D",
    "snake_case_name and CamelCase, 2024-06-01T10:00Z",
    "请解释一下 Kubernetes 里的 Pod，２０２３年 3.14 元",
    "naïve café 😀 𠀀abc ｈｅｌｌｏ",
]


def test_tokens_fold_digits_and_split_cjk() -> None:
    """Digits fold to 0, CJK splits per character, punctuation stands alone."""
    assert tokens("Add 12 and 7.5, please!") == [
        "add", "0", "and", "0", ".", "0", ",", "please", "!",
    ]  # fmt: skip
    assert tokens("请用Python写123") == ["请", "用", "python", "写", "0"]


@pytest.mark.parametrize(
    "text", ODD_TEXTS + [t for t in authored_texts() if t.isascii()]
)
def test_ascii_route_matches_general_route(text: str) -> None:
    """The fast ASCII tokenizer gives exactly the general pattern's tokens."""
    assert tokens(text) == general_tokens(text)


def test_terms_round_trip_through_stored_form() -> None:
    """Every term survives its stored text form (the model file's vocabulary)."""
    for text in ODD_TEXTS + authored_texts()[:50]:
        for term in terms(text):
            assert "\n" not in term_text(term)
            assert text_term(term_text(term)) == term


@pytest.mark.parametrize(
    ("text", "share"),
    [
        ("hello world", 0.0),
        ("天气很好", 1.0),
        ("天气 ok", 0.5),
        ("你好，世界！", 1.0),  # full-width punctuation counts as CJK
        ("café 中", 0.2),
        ("", 0.0),
    ],
)
def test_cjk_share(text: str, share: float) -> None:
    """CJK share counts CJK characters among non-space characters."""
    assert cjk_share(text) == pytest.approx(share)


def test_cjk_share_matches_per_character_count() -> None:
    """The byte-count shortcut equals a per-character count over real prompts."""
    for text in ODD_TEXTS + authored_texts():
        visible = [c for c in text if not c.isspace()]
        cjk = [
            c for c in visible if "\u3000" <= c <= "\u9fff" or "\uf000" <= c <= "\uffff"
        ]
        expected = len(cjk) / len(visible) if visible else 0.0
        assert cjk_share(text) == pytest.approx(expected)


def test_serving_scores_equal_training_vector() -> None:
    """Packed-int scores equal bias + featurize(text) . weights (training's view)."""
    model = IntentModel.load()
    index = {text_term(t): i for i, t in enumerate(model.vocabulary)}
    ref = resources.files("tiergate.classify") / "model" / "intent.npz"
    with resources.as_file(ref) as path, np.load(path) as data:
        weights = data["weights"].astype(np.float64) / WEIGHT_SCALE
        bias = data["bias"].astype(np.float64)
    for text in ODD_TEXTS + authored_texts()[::7]:
        ids, values = featurize(text, index)
        expected = bias + (np.array(values) @ weights[ids] if ids else 0.0)
        assert model.scores(text) == pytest.approx(expected.tolist(), abs=1e-9)


def test_featurizer_and_signals_do_not_import_numpy() -> None:
    """signals() reads only regex/str code: its modules work without numpy loaded."""
    code = (
        "import sys\n"
        "from tiergate.classify import features, signals\n"
        "body = {'messages': [{'role': 'user', 'content': '你好 hello 42'}]}\n"
        "sig = signals.read_signals(body, 1200, 400, 200)\n"
        "assert features.cjk_share(sig.sample) > 0 and features.terms(sig.sample)\n"
        "assert 'numpy' not in sys.modules, 'numpy imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
