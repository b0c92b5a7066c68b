"""The trained intent model: a linear classifier over a fixed term vocabulary.

The artifact is one ``.npz`` file holding the weight matrix (16-bit fixed point, one
row per vocabulary term), the biases, the vocabulary (one newline-joined string) and
a JSON header (labels, featurizer parameters, provenance). Loading it needs numpy
and nothing else: no pickle, so a model file cannot run code, and no scikit-learn at
serving time. ``tiergate classifier train`` writes it; see docs/classifier.md.

Scoring touches no numpy. Each term's weight row (one 16-bit value per label) is
packed into one Python int, a field of ``_FIELD_BITS`` per label, so the sum over a
text's terms is one C-level ``sum()`` of ints instead of a Python loop over labels;
the fields are wide enough that no sum can carry from one into the next. The
term's index sits above the fields so that two terms with equal weights stay
distinct in a set. The result equals the dot product of ``features.featurize``'s
vector with the weights (a test holds the two equal).
"""

from __future__ import annotations

import json
import logging
import math
import zipfile
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import compress
from operator import eq, mul
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tiergate.classify.features import (
    SUBLINEAR_STEPS,
    Term,
    iter_terms,
    sublinear,
    sublinear_steps,
    text_term,
)

logger = logging.getLogger(__name__)

FORMAT = "tiergate-intent/2"
SHIPPED_MODEL = "intent.npz"
# Weights are stored as round(w * WEIGHT_SCALE) in int16: steps of 1/4096, |w| < 8.
WEIGHT_SCALE = 4096
_OFFSET = 1 << 15  # makes every stored weight a non-negative field value
# Room for sums of 2**40 (terms x multipliers); a sample has a few thousand terms
# and a multiplier is at most SUBLINEAR_STEPS x (1 + log(count)).
_FIELD_BITS = 56


class IntentModelError(Exception):
    """The intent model file is missing, unreadable or of an unknown format."""


@dataclass(frozen=True, slots=True)
class Intent:
    """The model's answer: the best label and the probability of every label."""

    label: str
    confidence: float
    probabilities: dict[str, float]


class IntentModel:
    """Scores text with the linear weights of a model file; immutable once loaded."""

    def __init__(
        self,
        labels: tuple[str, ...],
        vocabulary: tuple[str, ...],
        weights: npt.NDArray[np.int16],
        bias: npt.NDArray[np.float32],
        meta: dict[str, Any],
    ) -> None:
        shape = (len(vocabulary), len(labels))
        if weights.shape != shape or bias.shape != (len(labels),):
            raise IntentModelError(
                f"weights {weights.shape} / bias {bias.shape} do not fit "
                f"{len(labels)} labels and {len(vocabulary)} terms"
            )
        self.labels = labels
        self.vocabulary = vocabulary
        self.meta = meta
        self._weights = weights.astype(np.int16)
        self._bias = bias.astype(np.float32)
        self._bias_list = [float(b) for b in bias]
        self._packed = self._pack(weights)
        self._field_mask = (1 << _FIELD_BITS) - 1

    def _pack(self, weights: npt.NDArray[np.int16]) -> dict[Term, int]:
        """Term -> its index and offset weight row packed into one int."""
        shift = _FIELD_BITS * len(self.labels)
        packed: dict[Term, int] = {}
        for index, (text, row) in enumerate(
            zip(self.vocabulary, weights.tolist(), strict=True)
        ):
            value = index << shift
            for j, q in enumerate(row):
                value |= (q + _OFFSET) << (_FIELD_BITS * j)
            packed[text_term(text)] = value
        return packed

    @classmethod
    def from_float(
        cls,
        labels: tuple[str, ...],
        vocabulary: tuple[str, ...],
        weights: npt.NDArray[np.floating[Any]],
        bias: npt.NDArray[np.floating[Any]],
        meta: dict[str, Any],
    ) -> IntentModel:
        """A model from trained float weights, rounded to the stored fixed point.

        Weights beyond the int16 range are clipped (with a warning): at the
        regularisation used they stay far below it.
        """
        scaled = np.rint(np.asarray(weights, dtype=np.float64) * WEIGHT_SCALE)
        limit = np.iinfo(np.int16).max
        if np.abs(scaled).max(initial=0) > limit:
            logger.warning(
                "clipping intent weights beyond +-%.2f", limit / WEIGHT_SCALE
            )
        quantized = np.clip(scaled, -limit, limit).astype(np.int16)
        return cls(labels, vocabulary, quantized, np.asarray(bias, np.float32), meta)

    @classmethod
    def load(cls, path: str | Path | None = None) -> IntentModel:
        """Load a model file, or the one shipped in the package when ``path`` is None.

        Raises :class:`IntentModelError` naming the file when it cannot be used.
        """
        try:
            if path is None:
                ref = resources.files("tiergate.classify") / "model" / SHIPPED_MODEL
                with resources.as_file(ref) as real, np.load(real) as data:
                    return cls._from_arrays(dict(data))
            with np.load(Path(path)) as data:
                return cls._from_arrays(dict(data))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            where = path or f"tiergate/classify/model/{SHIPPED_MODEL}"
            raise IntentModelError(f"cannot load intent model {where}: {exc}") from exc

    @classmethod
    def _from_arrays(cls, data: dict[str, Any]) -> IntentModel:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != FORMAT:
            raise IntentModelError(f"unknown model format {meta.get('format')!r}")
        vocabulary = str(data["vocabulary"])
        return cls(
            labels=tuple(meta["labels"]),
            vocabulary=tuple(vocabulary.split("\n")) if vocabulary else (),
            weights=np.asarray(data["weights"], dtype=np.int16),
            bias=np.asarray(data["bias"], dtype=np.float32),
            meta=meta,
        )

    def save(self, path: str | Path) -> None:
        """Write the model file (compressed)."""
        meta = dict(
            self.meta, format=FORMAT, labels=list(self.labels), scale=WEIGHT_SCALE
        )
        np.savez_compressed(
            Path(path),
            weights=self._weights,
            bias=self._bias,
            vocabulary=np.array("\n".join(self.vocabulary)),
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )

    def predict(self, text: str) -> Intent:
        """Intent of ``text`` (the sample the pipeline reads, see signals)."""
        probabilities = self.probabilities(text)
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return Intent(
            label=self.labels[best],
            confidence=probabilities[best],
            probabilities=dict(zip(self.labels, probabilities, strict=True)),
        )

    def probabilities(self, text: str) -> list[float]:
        """Softmax probabilities over ``labels`` for ``text``, in label order."""
        scores = self.scores(text)
        top = max(scores)
        exp = [math.exp(s - top) for s in scores]
        total = math.fsum(exp)
        return [e / total for e in exp]

    def scores(self, text: str) -> list[float]:
        """Bias plus the dot product of ``featurize(text)`` with each label's weights.

        A term seen ``c`` times has value ``(STEPS + k) / STEPS`` with integer
        ``k = sublinear_steps(c)``, so the whole weighted sum is one sum of packed
        ints times integers: ``STEPS x`` the distinct terms, plus ``k x`` each
        repeated one. Repeats are found by sorting the packed ints (equal
        neighbours), all in C; no Python step runs per term.
        """
        known = list(filter(None, map(self._packed.get, iter_terms(text))))
        unique = set(known)
        count = len(unique)
        if not count:
            return list(self._bias_list)
        total = sum(unique) * SUBLINEAR_STEPS
        multipliers = count * SUBLINEAR_STEPS
        square = float(count)
        if len(known) > count:
            known.sort()
            more = Counter(compress(known[1:], map(eq, known, known[1:])))
            steps = list(map(_extra_steps, more.values()))
            total += sum(map(mul, more, steps))
            multipliers += sum(steps)
            square += sum(map(_extra_square, more.values()))
        mask, offset = self._field_mask, multipliers * _OFFSET
        scale = 1.0 / (WEIGHT_SCALE * SUBLINEAR_STEPS * math.sqrt(square))
        return [
            b + (((total >> (_FIELD_BITS * j)) & mask) - offset) * scale
            for j, b in enumerate(self._bias_list)
        ]


# Pure functions, memoised so that ``map`` over them stays in C for counts seen
# before; the counts are bounded by the sample size, and so is each cache.
@cache
def _extra_steps(more: int) -> int:
    """``sublinear_steps`` of a term seen ``more`` times beyond the first."""
    return sublinear_steps(more + 1)


@cache
def _extra_square(more: int) -> float:
    """What a term seen ``more`` extra times adds to the squared norm beyond 1."""
    return sublinear(more + 1) ** 2 - 1.0
