"""The featurizer shared by training and serving, and the CJK share of a text.

Text becomes terms: word tokens (runs of letters; a run of digits folds to ``0``; each
CJK character and each punctuation mark is a token of its own), the bigrams of
adjacent tokens (so a CJK run yields character bigrams) and the first and last two
tokens marked as such (an instruction usually opens or closes a prompt). A
vocabulary fixed at training maps terms to weight rows; a term outside it is
dropped. Counts are sublinear (``1 + log count``, in steps of 1/256) and scaled to
unit L2 norm over the terms in the vocabulary, in training exactly as in serving.

Everything here is regular expressions, str/bytes methods and dicts, with no numpy:
the terms of a short prompt cost ~10 microseconds, and the cost is bounded by the
caller's sample size (head/tail/system characters), never by the prompt size.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from functools import cache
from itertools import chain, pairwise

# CJK here is U+3000..U+9FFF (CJK punctuation, kana, extension A, the unified
# ideographs) and U+F000..U+FFFF (compatibility ideographs, vertical and full-width
# forms; also some private-use code points and specials, rare in prompts). These
# are exactly the characters whose UTF-8 form starts with byte E3..E9 or EF, which
# lets the share be counted with bytes.count instead of a per-character scan. Kana
# counting as CJK only matters for Japanese text.
_CJK_CLASS = "\u3000-\u9fff\uf000-\uffff"
_CJK_LEAD_BYTES = tuple(bytes([b]) for b in (*range(0xE3, 0xEA), 0xEF))
# A CJK run | a run of other letters | a run of digits | any other single visible
# character (punctuation, ``_``, symbols). CJK runs are split into characters.
_RUN = re.compile(rf"[{_CJK_CLASS}]+|[^\W\d_{_CJK_CLASS}]+|\d+|\S")
_ASCII_TOKEN = re.compile(r"[a-z]+|[0-9]+|\S")
_ASCII_DIGITS = re.compile(r"[0-9]+")
EDGE_TOKENS = 2
# At most this many tokens from the start and from the end of a text are read.
HEAD_TOKENS = 480
TAIL_TOKENS = 160
SUBLINEAR_STEPS = 256

Term = str | tuple[str, str]


def cjk_share(text: str) -> float:
    """Share of CJK characters (see ``_CJK_CLASS``) among non-space characters."""
    if text.isascii():
        return 0.0
    visible = sum(map(len, text.split()))
    if visible <= 0:
        return 0.0
    data = text.encode("utf-8", "surrogatepass")
    return sum(map(data.count, _CJK_LEAD_BYTES)) / visible


def tokens(text: str) -> list[str]:
    """Lower-cased tokens of ``text``: each CJK character, each run of other
    letters, each run of digits (folded to ``0``) and each other visible character.

    The value of a number says nothing about intent; that a text has numbers does.
    ASCII text (most prompts) takes a faster route to the same tokens: no token
    spans whitespace, so a word of letters alone is a token as it stands, and only
    the other words go through an ASCII pattern.
    """
    low = text.lower()
    if not low.isascii():
        return _general_tokens(low)
    out: list[str] = []
    for word in low.split():
        if word.isalpha():
            out.append(word)
        else:
            out += _ASCII_TOKEN.findall(_ASCII_DIGITS.sub("0", word))
    return out


def _general_tokens(low: str) -> list[str]:
    """Tokens of lower-cased ``low`` by the general pattern (any script)."""
    out: list[str] = []
    for run in _RUN.findall(low):
        first = run[0]
        if "\u3000" <= first <= "\u9fff" or "\uf000" <= first <= "\uffff":
            out += run  # a CJK run: one token per character
        elif first.isdecimal():
            out.append("0")
        else:
            out.append(run)
    return out


def general_tokens(text: str) -> list[str]:
    """:func:`tokens` by the general route alone: the reference the ASCII route is
    tested against."""
    return _general_tokens(text.lower())


def terms(text: str) -> list[Term]:
    """Every term of ``text`` with repeats: tokens, bigrams and edge tokens.

    A bigram is a pair of tokens; an edge token is a pair with an empty side
    (``("", first)``, ``(last, "")``), which no bigram can be since tokens are never
    empty. Pairs stay tuples, not joined strings, because building a tuple is
    cheaper than building a string and hashing one reuses its strings' hashes.
    """
    return list(iter_terms(text))


def iter_terms(text: str) -> Iterator[Term]:
    """:func:`terms` as an iterator, so serving can look terms up without first
    building the list."""
    toks = tokens(text)
    if len(toks) > HEAD_TOKENS + TAIL_TOKENS:
        # Bounds the cost by tokens as the sample bounds it by characters: CJK text
        # has about one token per character, four times as many as English.
        toks = toks[:HEAD_TOKENS] + toks[-TAIL_TOKENS:]
    return chain(
        toks,
        pairwise(toks),
        [("", t) for t in toks[:EDGE_TOKENS]],
        [(t, "") for t in toks[-EDGE_TOKENS:]],
    )


def term_text(term: Term) -> str:
    """The stored form of ``term``: a token as is, a pair joined by one space."""
    return term if isinstance(term, str) else " ".join(term)


def text_term(text: str) -> Term:
    """The term stored as ``text`` (inverse of :func:`term_text`)."""
    if " " not in text:
        return text
    left, right = text.split(" ")
    return (left, right)


@cache  # pure; counts are bounded by the sample size, and so is the cache
def sublinear_steps(count: int) -> int:
    """``log(count)`` in steps of ``1/SUBLINEAR_STEPS`` (0 for a term seen once).

    The value is rounded so that serving can weigh a row by an integer (see
    ``intent.IntentModel.scores``); training uses the same rounded value.
    """
    return round(SUBLINEAR_STEPS * math.log(count)) if count > 1 else 0


def sublinear(count: int) -> float:
    """The value of a term seen ``count`` times, before normalisation:
    ``1 + log(count)``, rounded as :func:`sublinear_steps` rounds it."""
    return 1.0 + sublinear_steps(count) / SUBLINEAR_STEPS


def featurize(
    text: str, vocabulary: Mapping[Term, int]
) -> tuple[list[int], list[float]]:
    """Sparse feature vector of ``text``: term indices and their values.

    Values are :func:`sublinear` counts scaled to unit L2 norm over the terms found
    in ``vocabulary`` (others are dropped); a text with none gives empty lists,
    which a linear model scores as its bias. Training builds its matrix with this
    function; serving computes the same dot products without materialising the
    vector (``intent.IntentModel.scores``), and a test holds the two equal.
    """
    counts = Counter(i for i in map(vocabulary.get, terms(text)) if i is not None)
    if not counts:
        return [], []
    values = [sublinear(c) for c in counts.values()]
    norm = math.sqrt(math.fsum(v * v for v in values))
    return list(counts), [v / norm for v in values]
