"""Shared fixtures: one classifier with the shipped model for the whole session."""

from __future__ import annotations

import pytest

from tiergate.classify.pipeline import Classifier
from tiergate.classify.settings import ClassifierSettings


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """The classifier as the gateway builds it: default settings, shipped model."""
    return Classifier(ClassifierSettings())


def user(content: object) -> dict[str, object]:
    """A request body with one user message."""
    return {"model": "auto", "messages": [{"role": "user", "content": content}]}
