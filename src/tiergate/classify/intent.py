"""The trained intent model: a linear classifier over hashed character n-grams.

The artifact is one ``.npz`` file holding the weight matrix (float16), the biases and
a JSON header (labels, featurizer parameters, provenance). Loading it needs numpy and
nothing else: no pickle, so a model file cannot run code, and no scikit-learn at
serving time. ``tiergate classifier train`` writes it; see docs/classifier.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tiergate.classify.features import Codes, featurize

FORMAT = "tiergate-intent/1"
SHIPPED_MODEL = "intent.npz"


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
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        bits: int,
        meta: dict[str, Any],
    ) -> None:
        if weights.shape != (1 << bits, len(labels)) or bias.shape != (len(labels),):
            raise IntentModelError(
                f"weights {weights.shape} / bias {bias.shape} do not fit "
                f"{len(labels)} labels and 2**{bits} features"
            )
        self.labels = labels
        self.bits = bits
        self.meta = meta
        self._weights = weights
        self._bias = bias

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
        except (OSError, ValueError, KeyError) as exc:
            where = path or f"tiergate/classify/model/{SHIPPED_MODEL}"
            raise IntentModelError(f"cannot load intent model {where}: {exc}") from exc

    @classmethod
    def _from_arrays(cls, data: dict[str, Any]) -> IntentModel:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != FORMAT:
            raise IntentModelError(f"unknown model format {meta.get('format')!r}")
        return cls(
            labels=tuple(meta["labels"]),
            weights=np.ascontiguousarray(data["weights"], dtype=np.float32),
            bias=np.asarray(data["bias"], dtype=np.float32),
            bits=int(meta["bits"]),
            meta=meta,
        )

    def save(self, path: str | Path) -> None:
        """Write the model file (compressed; weights stored as float16)."""
        meta = dict(self.meta, format=FORMAT, labels=list(self.labels), bits=self.bits)
        np.savez_compressed(
            Path(path),
            weights=self._weights.astype(np.float16),
            bias=self._bias,
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )

    def predict(self, codes: Codes) -> Intent:
        """Intent of the text whose code points are ``codes`` (see features)."""
        probabilities = self.probabilities(codes)
        best = int(np.argmax(probabilities))
        return Intent(
            label=self.labels[best],
            confidence=float(probabilities[best]),
            probabilities={
                label: float(p)
                for label, p in zip(self.labels, probabilities, strict=True)
            },
        )

    def probabilities(self, codes: Codes) -> npt.NDArray[np.float32]:
        """Softmax probabilities over ``labels`` for the text of ``codes``."""
        index, values = featurize(codes, self.bits)
        scores = (
            self._bias + values @ self._weights[index] if index.size else self._bias
        )
        scores = scores - scores.max()
        exp = np.exp(scores)
        return exp / exp.sum()  # type: ignore[no-any-return]
