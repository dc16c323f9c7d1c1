"""Which stories from different outlets report the same news: online clustering in arrival
order, within a time window. Pure: the caller gives every item its time.

An item joins an earlier story when one of three signals says so, cheapest first:

1. the same canonical URL (tracking parameters, AMP and mobile hosts, fragments stripped);
2. nearly the same text (a wire copy reprinted with small edits);
3. a small logistic model over what the item shares with each candidate story: the
   idf-weighted cosine of their word stems with the story's most similar member, word-set
   overlap and time apart
   (rarity from the window and a background table of 71,718 news headlines, ``bot/data``);
   with the ``semantic`` extra, also the embeddings' cosine with the best member and with the
   story's mean. The weights were fitted on one hand-labelled day of real headlines
   (``tests/data/clustering``, ``python -m bench clustering --fit``) and the threshold set for
   precision: a wrong merge hides a story, a missed one costs a message.

Candidates are the earlier items sharing a stem (the rarest stems first, at most
``max_candidates``), except those giving other numbers (:func:`numbers_differ`). Without
embeddings the words must be shared, so stories are clustered within a language.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.core.text import fold_word, fold_words

TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|ocid|cmpid|cmp|icid|ncid|"
    r"at_medium|at_campaign|at_\w+|traffic_source|src|source|ref|ref_src|rss|feed|"
    r"taid|guccounter|guce_\w+|soc_src|soc_trk|smid|smtyp|_ga|igshid|xtor|ito|in|"
    r"sr_share|share|s|spm|from|output)$",
    re.IGNORECASE,
)
MOBILE_HOST = re.compile(r"^(www\d*|m|mobile|amp|touch|amp-\w+)\.", re.IGNORECASE)

_STOPWORDS = """
    a an the and or but of in on at to for from by with as is are was were be been being it
    its this that these those he she they we you his her their our your not no yes has have had
    do does did will would can could may might must shall should into over after before about
    against between during under up down out off than then so if while who whom which what when
    where why how all any both each few more most other some such only own same too very just
    also now new says said say after amid over vs via per
    и в во на с со по к о об от до за из у не что это как а
    но или для при же ли бы то
    ve ile bir bu da de için mi mı mu mü çok daha en gibi olan
    və ilə bir bu da də üçün ki"""
STOPWORDS = frozenset(fold_word(w) for w in _STOPWORDS.split())


def canonical_url(url: str | None) -> str | None:
    """The URL two copies of one article share: no scheme, no ``www.``/``m.``/``amp.``, no
    tracking parameters, no fragment, no trailing ``/amp`` or slash. None for no URL."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip().lower()
    host = (parts.hostname or "").lower()
    while MOBILE_HOST.match(host):
        host = MOBILE_HOST.sub("", host, count=1)
    path = re.sub(r"/amp/?$|\.amp$|/amp(?=/)", "", parts.path) or "/"
    path = path.rstrip("/") or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = sorted((k, v) for k, v in query if not TRACKING_PARAMS.match(k))
    return urlunsplit(("", host, path, urlencode(kept), "")).lstrip("/")


def content_words(text: str) -> tuple[str, ...]:
    """The folded words of ``text`` that carry meaning: no stop words, no one-letter words."""
    return tuple(w for w in fold_words(text) if len(w) > 1 and w not in STOPWORDS)


def stem(word: str) -> str:
    """A crude, language-blind stem: the first six letters (``ukraine``/``ukrainian``,
    ``Karabağ``/``Karabağın``); digits kept whole."""
    return word if word.isdigit() else word[:6]


@dataclass(frozen=True, slots=True)
class Item:
    """What clustering looks at in one story."""

    id: str
    title: str
    at: datetime
    summary: str = ""
    link: str | None = None
    source: str = ""
    vector: tuple[float, ...] | None = None
    """A unit-length sentence embedding of the title, when the semantic extra is installed."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Where one item went, and why."""

    id: str
    story: str
    """The id of the story's first item: equal values, same story."""
    joined: str | None
    """The member it was found most like, when it joined a story."""
    reason: str
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class Model:
    """Logistic weights over the features of (new item, candidate story) (see
    :data:`FEATURES`) and the probability at which the item joins the story."""

    bias: float
    weights: tuple[float, ...]
    threshold: float
    near_duplicate: float = 0.8
    """Word-set overlap (Jaccard over titles and summaries) that alone makes a reprint."""
    semantic: bool = False
    """Whether the last weights are for the embeddings (see :data:`SEMANTIC`)."""

    def probability(self, features: tuple[float, ...]) -> float:
        z = self.bias + sum(w * f for w, f in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


FEATURES = (
    "best_cosine",
    "best_jaccard",
    "hours_apart",
)
"""Lexical evidence that an item belongs to a story: the idf-weighted cosine of its stems
with the story's most similar member, the best word-set overlap, and hours since the story's
last item. (A cosine with the story's pooled stems, and counts of rare stems shared and not
shared, scored no better on the tuning day and merged more on new data; they were dropped.)"""
SEMANTIC = ("best_embedding", "story_embedding")
"""With embeddings: the cosine with the most similar member and with the story's mean."""

LEXICAL_MODEL = Model(
    bias=-7.545,
    weights=(13.283, 3.939, -0.253),
    threshold=0.45,
)
"""Fitted by ``python -m bench clustering --fit`` on the tuning day (2026-06-16); the
threshold is the best BCubed F1 there with precision at 0.96 or more."""
SEMANTIC_MODEL = Model(
    bias=-58.305,
    weights=(9.497, -3.704, -0.217, 21.278, 38.522),
    threshold=0.70,
    semantic=True,
)
"""The same, with the embeddings of the ``semantic`` extra."""
DEFAULT_MODEL = LEXICAL_MODEL


@dataclass(frozen=True, slots=True)
class WordStats:
    """How many headlines of a background corpus carry each stem: tells a rare word from a
    common one before the window has seen many stories."""

    documents: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Entry:
    item: Item
    story: _Story
    stems: frozenset[str]
    words: frozenset[str]
    url: str | None
    norm: float = 1.0
    """Length of its idf-weighted stem vector, when it came."""
    numbers: frozenset[str] = frozenset()
    """The numbers it gives (see :func:`numbers_differ`)."""


@dataclass(slots=True)
class _Story:
    id: str
    members: list[_Entry] = field(default_factory=list)
    vector: list[float] | None = None
    """The sum of the members' embeddings."""
    last_at: datetime | None = None

    def add(self, entry: _Entry) -> None:
        self.members.append(entry)
        v = entry.item.vector
        if v is not None:
            if self.vector is None:
                self.vector = list(v)
            else:
                self.vector = [a + b for a, b in zip(self.vector, v, strict=True)]
        at = entry.item.at
        self.last_at = at if self.last_at is None else max(self.last_at, at)

    def remove(self, entry: _Entry) -> None:
        self.members.remove(entry)
        v = entry.item.vector
        if v is not None and self.vector is not None:
            self.vector = [a - b for a, b in zip(self.vector, v, strict=True)]


@dataclass
class Clusterer:
    """Assigns each item, in arrival order, to a story. Memory is bounded by the window:
    items older than ``window`` before the newest are forgotten."""

    window: timedelta = timedelta(hours=48)
    model: Model = DEFAULT_MODEL
    background: WordStats = field(default_factory=WordStats)
    max_candidates: int = 30
    """Earlier items weighed in full for one new item (the most similar by the index)."""
    scan_limit: int = 200
    """Latest items looked at per stem: a word in thousands of items decides nothing alone."""
    _entries: deque[_Entry] = field(default_factory=deque)
    _by_stem: defaultdict[str, deque[_Entry]] = field(default_factory=lambda: defaultdict(deque))
    _by_url: dict[str, _Entry] = field(default_factory=dict)
    _stories: dict[str, _Story] = field(default_factory=dict)
    _df: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, item: Item) -> Decision:
        """Place one item; returns the story it belongs to and why."""
        self._forget(item.at - self.window)
        text = f"{item.title} {item.summary}"
        words = frozenset(content_words(text))
        stems = frozenset(stem(w) for w in words)
        url = canonical_url(item.link)
        numbers = numbers_in(text)
        decision = self._place(item, words, stems, url, numbers)
        self._remember(item, decision.story, stems, words, url, numbers)
        return decision

    def restore(self, item: Item, story: str) -> None:
        """Put back an item placed before (after a restart), with the story it was given."""
        self._forget(item.at - self.window)
        text = f"{item.title} {item.summary}"
        words = frozenset(content_words(text))
        stems = frozenset(stem(w) for w in words)
        self._remember(item, story, stems, words, canonical_url(item.link), numbers_in(text))

    def _remember(
        self,
        item: Item,
        story_id: str,
        stems: frozenset[str],
        words: frozenset[str],
        url: str | None,
        numbers: frozenset[str] = frozenset(),
    ) -> None:
        story = self._stories.get(story_id)
        if story is None:
            story = self._stories[story_id] = _Story(story_id)
        norm = math.sqrt(sum(self.idf(s) ** 2 for s in stems)) or 1.0
        entry = _Entry(item, story, stems, words, url, norm, numbers)
        story.add(entry)
        self._entries.append(entry)
        for s in stems:
            self._by_stem[s].append(entry)
            self._df[s] += 1
        if url is not None:
            self._by_url.setdefault(url, entry)

    def _place(
        self,
        item: Item,
        words: frozenset[str],
        stems: frozenset[str],
        url: str | None,
        numbers: frozenset[str] = frozenset(),
    ) -> Decision:
        if url is not None and (same := self._by_url.get(url)) is not None:
            return Decision(item.id, same.story.id, same.item.id, f"same article URL {url}", 1.0)
        found = self.candidates(stems)
        members = [m for m in found if not numbers_differ(numbers, m.numbers)]
        for other in members:
            jaccard = _jaccard(words, other.words)
            if jaccard >= self.model.near_duplicate and len(words) >= 4:
                return Decision(
                    item.id,
                    other.story.id,
                    other.item.id,
                    f"near-duplicate text ({jaccard:.0%} of words shared)",
                    1.0,
                )
        best: tuple[float, _Story, _Entry, str] | None = None
        for story, member, features in self.story_features(item, stems, members):
            p = self.model.probability(features)
            if best is None or p > best[0]:
                best = (p, story, member, _explain(features))
        if best is None:
            if found:
                other = found[0]
                given = ", ".join(sorted(other.numbers))
                return Decision(
                    item.id,
                    item.id,
                    None,
                    f"new story: {other.item.id} gives other numbers ({given})",
                )
            return Decision(item.id, item.id, None, "new story: no earlier item shares a word")
        p, story, member, why = best
        if p >= self.model.threshold:
            return Decision(item.id, story.id, member.item.id, f"similar: p={p:.2f}, {why}", p)
        return Decision(
            item.id,
            item.id,
            None,
            f"new story: closest {story.id} p={p:.2f} < {self.model.threshold:.2f} ({why})",
            p,
        )

    def candidates(self, stems: Iterable[str]) -> list[_Entry]:
        """The earlier items most like one with these stems: scored through the stem index
        (the latest ``scan_limit`` items per stem), the best ``max_candidates`` by cosine."""
        dots: dict[int, float] = {}
        entries: dict[int, _Entry] = {}
        for s in stems:
            bucket = self._by_stem.get(s)
            if not bucket:
                continue
            w2 = self.idf(s) ** 2
            for k, entry in enumerate(reversed(bucket)):
                if k >= self.scan_limit:
                    break
                key = id(entry)
                if key in dots:
                    dots[key] += w2
                else:
                    dots[key] = w2
                    entries[key] = entry
        best = heapq.nlargest(
            self.max_candidates, dots, key=lambda key: dots[key] / entries[key].norm
        )
        return [entries[key] for key in best]

    def idf(self, s: str) -> float:
        """How rare a stem is in the window and the background (smoothed)."""
        n = len(self._entries) + self.background.documents + 20
        df = self._df.get(s, 0) + self.background.counts.get(s, 0)
        return math.log((n + 1) / (df + 1))

    def story_features(
        self, item: Item, stems: frozenset[str], members: Iterable[_Entry]
    ) -> list[tuple[_Story, _Entry, tuple[float, ...]]]:
        """The model's inputs for each candidate story (see :data:`FEATURES`), with the
        story's member most like the item."""
        known: dict[str, float] = {}

        def idf(s: str) -> float:  # the same stems recur across candidates: look up once
            value = known.get(s)
            if value is None:
                value = known[s] = self.idf(s)
            return value

        weights = {s: idf(s) for s in stems}
        own = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        by_story: dict[str, list[_Entry]] = {}
        for m in members:
            by_story.setdefault(m.story.id, []).append(m)
        out = []
        for group in by_story.values():
            story = group[0].story
            best_cos, best_member = -1.0, group[0]
            best_jac = 0.0
            for m in group:
                cos = _cosine(weights, own, m)
                if cos > best_cos:
                    best_cos, best_member = cos, m
                best_jac = max(best_jac, _jaccard(stems, m.stems))
            last = story.last_at or best_member.item.at
            hours = abs((item.at - last).total_seconds()) / 3600
            features: tuple[float, ...] = (
                best_cos,
                best_jac,
                hours,
            )
            if self.model.semantic:
                features = (*features, *_semantic(item, group, story))
            out.append((story, best_member, features))
        return out

    def _forget(self, before: datetime) -> None:
        while self._entries and self._entries[0].item.at < before:
            old = self._entries.popleft()
            for s in old.stems:
                bucket = self._by_stem.get(s)
                if bucket and bucket[0] is old:  # buckets are in arrival order too
                    bucket.popleft()
                    if not bucket:
                        del self._by_stem[s]
                self._df[s] -= 1
                if self._df[s] <= 0:
                    del self._df[s]
            if old.url is not None and self._by_url.get(old.url) is old:
                del self._by_url[old.url]
            old.story.remove(old)
            if not old.story.members:
                self._stories.pop(old.story.id, None)


def _cosine(weights: Mapping[str, float], own: float, other: _Entry) -> float:
    dot = sum(weights[s] ** 2 for s in other.stems if s in weights)
    return dot / (own * other.norm)


def _semantic(item: Item, group: list[_Entry], story: _Story) -> tuple[float, float]:
    v = item.vector
    if v is None:
        return (0.0, 0.0)
    best = max(
        (sum(a * b for a, b in zip(v, m.item.vector, strict=True)) for m in group if m.item.vector),
        default=0.0,
    )
    mean = 0.0
    if story.vector is not None:
        norm = math.sqrt(sum(x * x for x in story.vector)) or 1.0
        mean = sum(a * b for a, b in zip(v, story.vector, strict=True)) / norm
    return (best, mean)


_SPELLED = {
    word: str(n)
    for n, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000"}


def numbers_in(text: str) -> frozenset[str]:
    """The numbers ``text`` gives (``5``, ``2027``, English ``five``; not names such as
    ``TB2``)."""
    return frozenset(_SPELLED.get(w, w) for w in fold_words(text) if w.isdigit() or w in _SPELLED)


def numbers_differ(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two items that both give numbers and share none report different facts ("strike
    kills 5" and "strike kills 12", "Story 1" and "Story 6"): never merged, however alike
    their words, unless they are the same article (URL)."""
    return bool(a) and bool(b) and a.isdisjoint(b)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _explain(features: tuple[float, ...]) -> str:
    names = (*FEATURES, *SEMANTIC)[: len(features)]
    return ", ".join(f"{name} {value:.2f}" for name, value in zip(names, features, strict=True))


def cluster_all(items: Iterable[Item], model: Model = DEFAULT_MODEL) -> list[Decision]:
    """Cluster ``items`` in order, as the bot would; one decision per item."""
    clusterer = Clusterer(model=model)
    return [clusterer.add(item) for item in items]
