"""Synthetic alert rules drawn from a corpus's own vocabulary, the kind analysts write.

Word frequencies are collected from the corpus; terms are then drawn with a fixed seed in a
realistic mix (:data:`KINDS`, :data:`WEIGHTS`): mostly mid- and low-frequency words (the 1,000
most frequent words are never terms alone) and capitalized names, about a quarter two-word
phrases taken from adjacent words of the corpus, a tenth trailing wildcards (the stem of a
low-frequency word, at least four letters, and ``*``) and a few exact-case acronyms (``=NATO``).
Each rule is an ``any`` list of 3 to 8 such terms. On the real headlines, a 1,500-character story
matches about 1.3% of the rules.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate, pairwise

from bench.corpus import Corpus, words
from bot.core.rules import Rule

STOP_RANK = 1000
"""The most frequent words, never used as terms on their own."""
MID_RANK = 5000
"""Words ranked STOP_RANK..MID_RANK are mid-frequency; below that, low-frequency."""
MIN_COUNT = 3
"""A word must occur this often in the corpus to become a term."""
PHRASE_STOP_RANK = 200
"""A two-word phrase has no word among this many most frequent ones ("of the")."""
MIN_STEM = 4
"""Letters before a wildcard's ``*``, at least."""
PHRASE_SAMPLE = 30_000
"""Records sampled for two-word phrases (counting every bigram of a large corpus is slow)."""

KINDS = ("phrase", "wildcard", "exact", "name", "mid word", "low word")
WEIGHTS = (0.25, 0.10, 0.03, 0.30, 0.08, 0.24)


@dataclass
class Vocabulary:
    mid: list[str] = field(default_factory=list)
    low: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    acronyms: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    stems: list[str] = field(default_factory=list)
    """Wildcard prefixes (without the ``*``): stems of low-frequency words."""
    distinct: int = 0


def vocabulary(corpus: Corpus, seed: int) -> Vocabulary:
    counts: Counter[str] = Counter()
    capitalized: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    acronyms: Counter[str] = Counter()
    for title, summary in corpus.records:
        for text in (title, summary):
            for word in words(text):
                if len(word) < 2:
                    continue
                key = word.lower()
                counts[key] += 1
                if word.isupper() and len(word) <= 5:
                    acronyms[word] += 1
                if word[0].isupper():
                    capitalized[key] += 1
                    forms.setdefault(key, Counter())[word] += 1
    ranked = [w for w, _ in counts.most_common()]
    stop = set(ranked[:PHRASE_STOP_RANK])
    vocab = Vocabulary(distinct=len(ranked))
    for rank, key in enumerate(ranked[STOP_RANK:], STOP_RANK):
        n = counts[key]
        if n < MIN_COUNT:
            break
        if capitalized[key] >= 0.9 * n and key in forms:
            vocab.names.append(forms[key].most_common(1)[0][0])
            continue
        if len(key) < 3 or capitalized[key] > 0.5 * n:
            continue
        (vocab.mid if rank < MID_RANK else vocab.low).append(key)
    vocab.stems = _stems(
        counts, vocab.low, counts[ranked[MID_RANK]] if len(ranked) > MID_RANK else 0
    )
    vocab.acronyms = [
        w for w, n in acronyms.most_common() if n >= MIN_COUNT and len(w) >= 2 and w.isalpha()
    ]
    # Two-word phrases: adjacent letter-only words, seen at least twice, not of stop words.
    rng = random.Random(seed)
    records = corpus.records
    sample = records if len(records) <= PHRASE_SAMPLE else rng.sample(records, PHRASE_SAMPLE)
    bigrams: Counter[tuple[str, str]] = Counter()
    for title, summary in sample:
        for text in (title, summary):
            pieces = text.split()
            for a, b in pairwise(pieces):
                if len(a) > 1 and len(b) > 1 and a.isalpha() and b.isalpha():
                    bigrams[a, b] += 1
    vocab.phrases = [
        f"{a} {b}"
        for (a, b), n in bigrams.most_common()
        if n >= 2 and a.lower() not in stop and b.lower() not in stop
    ]
    return vocab


_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s", "")


def _stems(counts: Counter[str], low: list[str], ceiling: int) -> list[str]:
    """Prefixes an analyst would put a ``*`` on: a low-frequency word without its inflection
    (``sanctions`` -> ``sanction*``), at least MIN_STEM letters, whose whole family of words
    is still no more frequent than ``ceiling`` (so not ``over*`` from ``overrun``)."""
    keys = sorted(counts)
    cumulative = list(accumulate(counts[k] for k in keys))

    def family(prefix: str) -> int:
        lo = bisect_left(keys, prefix)
        hi = bisect_left(keys, prefix + "\U0010ffff")
        return (cumulative[hi - 1] if hi else 0) - (cumulative[lo - 1] if lo else 0)

    stems: dict[str, None] = {}
    for word in low:
        suffix = next(x for x in _SUFFIXES if word.endswith(x))
        stem = word[: len(word) - len(suffix)] if suffix else word
        if len(stem) >= MIN_STEM and family(stem) <= ceiling:
            stems[stem] = None
    return list(stems)


def _draw(kind: str, vocab: Vocabulary, rng: random.Random) -> str | None:
    if kind == "phrase" and vocab.phrases:
        return rng.choice(vocab.phrases)
    if kind == "wildcard" and vocab.stems:
        return rng.choice(vocab.stems) + "*"
    if kind == "exact" and vocab.acronyms:
        return "=" + rng.choice(vocab.acronyms)
    if kind == "name" and vocab.names:
        return rng.choice(vocab.names)
    if kind == "mid word" and vocab.mid:
        return rng.choice(vocab.mid)
    if kind == "low word" and vocab.low:
        return rng.choice(vocab.low)
    return None


def term_kind(term: str) -> str:
    if term.startswith("="):
        return "exact"
    if term.endswith("*"):
        return "wildcard"
    if " " in term:
        return "phrase"
    return "name" if term[0].isupper() else "word"


def rules(vocab: Vocabulary, count: int, seed: int) -> list[Rule]:
    """``count`` rules ``r0``, ``r1``... each with an ``any`` list of 3 to 8 distinct terms."""
    rng = random.Random(seed)
    pools = [k for k, w in zip(KINDS, WEIGHTS, strict=True) if _draw(k, vocab, rng) is not None]
    if not pools:
        raise ValueError("the corpus has too few words to draw rule terms from")
    weights = [w for k, w in zip(KINDS, WEIGHTS, strict=True) if k in pools]
    out: list[Rule] = []
    for i in range(count):
        want = rng.randint(3, 8)
        terms: dict[str, None] = {}
        while len(terms) < want:
            term = _draw(rng.choices(pools, weights)[0], vocab, rng)
            if term is not None:
                terms[term] = None
        any_terms = tuple(terms)
        title = f"Bench rule {i}: {any_terms[0].lstrip('=')}"
        out.append(Rule(id=f"r{i}", title=title, any=any_terms))
    return out
