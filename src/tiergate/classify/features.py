"""The hashing featurizer shared by training and serving.

Text becomes hashed character n-grams (1 to 4 characters) with sublinear counts and
L2 norm. Our own hash (a polynomial over code points, then multiply-shift) is computed
with numpy over the whole text at once, so featurizing 1,600 characters costs tens of
microseconds, and the same text hashes to the same buckets in every process and on
every platform (Python's ``hash`` is salted per process, so it cannot be used).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

N_FEATURES_BITS = 18
NGRAM_MIN = 1
NGRAM_MAX = 4

_PRIME = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
# Added per n-gram size, so "ab" and a 1-gram hashing alike do not collide by design.
_SALT = tuple(np.uint64(n * 0x9E3779B97F4A7C15 % (1 << 64)) for n in range(8))

Codes = npt.NDArray[np.uint64]


def code_points(text: str) -> Codes:
    """Lower-cased code points of ``text`` with digits folded to ``0``.

    The value of a number says nothing about intent; that a text has numbers does.
    Whitespace runs are folded to one space so layout does not move the features.
    """
    folded = " " + " ".join(text.lower().split()) + " "
    raw = np.frombuffer(folded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    codes = raw.astype(np.uint64)
    codes[(codes >= 48) & (codes <= 57)] = 48
    return codes


def cjk_share(codes: Codes) -> float:
    """Share of CJK ideographs and CJK punctuation among the non-space characters."""
    visible = codes[codes != 32]
    if visible.size == 0:
        return 0.0
    # U+3000..U+9FFF spans CJK punctuation, kana, extension A and the unified
    # ideographs; kana counting as CJK only matters for Japanese text.
    wide = visible >= 0x3000
    if not wide.any():
        return 0.0
    cjk = (visible <= 0x9FFF) | ((visible >= 0xF900) & (visible <= 0xFFEF))
    return float(np.count_nonzero(wide & cjk)) / float(visible.size)


def hashed_ngrams(codes: Codes, bits: int = N_FEATURES_BITS) -> npt.NDArray[np.int64]:
    """Bucket index of every character n-gram of ``codes`` (with repeats)."""
    size = codes.size
    parts: list[npt.NDArray[np.uint64]] = []
    rolling = np.zeros(size, dtype=np.uint64)
    for n in range(1, NGRAM_MAX + 1):
        if size < n:
            break
        # rolling[i] holds the hash of codes[i : i + n] after this step.
        rolling = rolling[: size - n + 1] * _PRIME + codes[n - 1 :]
        if n >= NGRAM_MIN:
            parts.append(rolling + _SALT[n])
    if not parts:
        return np.zeros(0, dtype=np.int64)
    # Multiply-shift: the top ``bits`` bits of an odd-constant product.
    return ((np.concatenate(parts) * _MIX1) >> np.uint64(64 - bits)).astype(np.int64)


def featurize(
    codes: Codes, bits: int = N_FEATURES_BITS
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Sparse feature vector of ``codes``: sorted bucket indices and their values.

    Values are ``1 + log(count)`` scaled to unit L2 norm; an empty text gives empty
    arrays, which the linear model scores as its intercept alone.
    """
    buckets = hashed_ngrams(codes, bits)
    if buckets.size == 0:
        return buckets, np.zeros(0, dtype=np.float32)
    index, counts = np.unique(buckets, return_counts=True)
    values = (1.0 + np.log(counts)).astype(np.float32)
    values /= np.float32(np.sqrt(np.dot(values, values)))
    return index, values
