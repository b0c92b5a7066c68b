"""The shipped intent model on real-looking prompts (tiers asserted, not internals)."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from tests.classify.conftest import user
from tiergate.classify.intent import IntentModel, IntentModelError
from tiergate.classify.pipeline import Classifier

CASES = {
    "default": [
        "How can I improve my time management skills?",
        "Write a short cover letter for a junior data analyst position.",
        "Summarize the following article in three bullet points: The city council "
        "voted to expand the bike lane network over the next two years.",
        'def fizzbuzz(n):\n    """Return Fizz, Buzz or FizzBuzz for n."""\n',
        "How do I configure nginx as a reverse proxy for a Docker container?",
        "帮我写一篇关于春天的短文。",
    ],
    "reasoning": [
        "A train leaves at 3 pm going 60 mph and another at 4 pm going 80 mph. "
        "When does the second catch up?",
        "Natalia sold clips to 48 of her friends in April, and then she sold half as "
        "many clips in May. How many clips did she sell altogether?",
        "一个长方形的长是8厘米，宽是5厘米，它的面积是多少平方厘米？",
    ],
    "classify": [
        "Classify the sentiment of this review as positive or negative: The food "
        "was cold and the waiter was rude.",
        "Is this email spam? Answer yes or no. 'You won a free cruise, click now!'",
        "判断下面这条评论是正面还是负面：物流很快，质量也很好。",
    ],
}


@pytest.mark.parametrize(
    ("tier", "prompt"), [(tier, p) for tier, prompts in CASES.items() for p in prompts]
)
def test_prompt_gets_its_tier(classifier: Classifier, tier: str, prompt: str) -> None:
    """Typical prompts of each intent land on the intent's tier."""
    got = classifier.classify(user(prompt))
    assert got.tier == tier, got.reason


@pytest.mark.xfail(
    strict=True,
    reason="known weakness: English symbolic algebra is rare in the training data "
    "and lands on default (docs/classifier.md); strict, so a fix shows up here",
)
def test_symbolic_algebra_is_reasoning(classifier: Classifier) -> None:
    """English symbolic algebra should land on reasoning (today it does not)."""
    got = classifier.classify(
        user("Solve the system of equations: 2x + 3y = 12 and x - y = 1.")
    )
    assert got.tier == "reasoning", got.reason


def test_shipped_model_labels_and_size() -> None:
    """The shipped model knows the five intents and records how it was trained."""
    model = IntentModel.load()
    assert set(model.labels) == {"chat", "summarize", "code", "reasoning", "classify"}
    assert model.meta["seed"] and model.meta["train_rows"] > 1000
    assert 5_000 < len(model.vocabulary) < 100_000


def test_shipped_model_file_is_small_and_pickle_free() -> None:
    """The model file stays under 2 MB and loads with pickle refused."""
    ref = resources.files("tiergate.classify") / "model" / "intent.npz"
    with resources.as_file(ref) as path:
        assert path.stat().st_size < 2_000_000
        with np.load(path, allow_pickle=False) as data:
            assert set(data.files) == {"weights", "bias", "vocabulary", "meta"}
            assert data["weights"].dtype == np.int16


def test_unusable_model_file_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Loading a file that is not a model raises IntentModelError naming it."""
    bad = tmp_path / "intent.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(IntentModelError, match=r"intent\.npz"):
        IntentModel.load(bad)
