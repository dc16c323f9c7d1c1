"""Story text for benchmarks: real headlines from the shared corpus when present, else synthetic.

The shared corpus (``../shared/corpus/headlines.jsonl.gz``: JSON lines with title, summary, ...)
belongs to the outlets; it is read in place and never copied into the project. On a machine
without it (CI on a fresh checkout) a synthetic corpus is generated from a built-in vocabulary
with a Zipf-like word distribution, capitalized names, and Turkish, Azerbaijani and Russian
words, so that every benchmark still runs. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from bench.report import ROOT

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "headlines.jsonl.gz"
STORY_LENGTH = 1500

Record = tuple[str, str]
"""(title, summary) of one corpus item."""


@dataclass(frozen=True, slots=True)
class Corpus:
    description: str
    records: list[Record]
    real: bool


@dataclass(frozen=True, slots=True)
class StoryText:
    title: str
    body: str

    @property
    def length(self) -> int:
        return len(self.title) + 1 + len(self.body)


def load(path: Path | None = None, *, synthetic: bool = False, seed: int = 1) -> Corpus:
    """The real corpus at ``path`` (default: the shared one) if it exists and ``synthetic`` is
    false, else a synthetic corpus generated with ``seed``."""
    path = path or DEFAULT_CORPUS
    if not synthetic and path.is_file():
        records: list[Record] = []
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                item = json.loads(line)
                title = " ".join(str(item.get("title") or "").split())
                summary = " ".join(str(item.get("summary") or "").split())
                if title or summary:
                    records.append((title, summary))
        return Corpus(f"real headlines: {path} ({len(records):,} records)", records, True)
    records = synthetic_records(seed)
    why = "--synthetic" if synthetic else f"{path} not found"
    return Corpus(f"synthetic ({why}; {len(records):,} records, seed {seed})", records, False)


def stories(corpus: Corpus, count: int, seed: int, length: int = STORY_LENGTH) -> list[StoryText]:
    """``count`` stories of about ``length`` characters: a record's title and summary, then the
    summaries of the records that follow it in the corpus (their titles where the summary is
    empty) until the story is long enough, cut at a word boundary. Starts are drawn with
    ``seed``; stories may overlap when ``count`` is large."""
    rng = random.Random(seed)
    records = corpus.records
    n = len(records)
    out: list[StoryText] = []
    for _ in range(count):
        i = rng.randrange(n)
        title, summary = records[i]
        budget = length - len(title) - 1
        parts = [summary] if summary else []
        size = len(summary)
        j = i + 1
        while size < budget:
            t, s = records[j % n]
            piece = s or t
            parts.append(piece)
            size += len(piece) + 1
            j += 1
        body = " ".join(parts)
        if len(body) > budget:
            cut = body.rfind(" ", 0, budget + 1)
            body = body[: cut if cut > budget // 2 else budget]
        out.append(StoryText(title, body))
    return out


# -- synthetic corpus ------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    return text.split()


_COMMON = _split(
    """the of to and in a for on that is with as by at from it was has are be have
said will after over new not more his its but who were this their they been up about than
would also out one two into year years government people could when police last first against
other there some what all can may president minister country state officials week told state
million while since during under before military security forces attack talks deal trade
market prices oil energy power court election vote party leaders war peace border troops
report health economy bank budget crisis support plan water climate city region capital
north south east west international foreign defence ministry agency statement sources"""
)

_NAMES = _split(
    """Azerbaijan Armenia Turkey Russia Ukraine Georgia Iran Israel Gaza China India
Pakistan Europe Brussels Washington Moscow Kyiv Ankara Baku Yerevan Tbilisi Tehran Beijing
Biden Trump Putin Zelensky Erdogan Aliyev Pashinyan Macron Scholz Merz Starmer Netanyahu Modi
Bayraktar Akinci Karabakh Lachin Shusha Stepanakert Reuters Pentagon Kremlin Boeing NATO UN
EU US UK IMF OPEC Hamas Hezbollah Taliban Houthi Wagner Gazprom Rosneft SOCAR Airbus"""
)

_FOREIGN = _split(
    """Erdoğan Əliyev Bakı Karabağ Şuşa Gəncə Xankəndi Ağdam Füzuli İstanbul İzmir Türkiye
Kılıçdaroğlu Akıncı hükümet savunma bakanlığı açıklama saldırı barış görüşme ordu sınır
dövlət müdafiə nazirliyi prezident ərazi hərbi sülh danışıqlar Москва Киев Путин Зеленский
Россия Украина Азербайджан Армения беспилотник война правительство санкции переговоры армия
граница министр заявил ракета удар"""
)

_SYLLABLES = _split(
    """ka ra mo li ne ta vo ri su pe lo da ga mi ko ze no be fa tu ar el in on us
st tr pr gr dr ch sh th qu ğa şe çi ö ü ə ı ya yə"""
)

_PUNCT = (",", ",", ",", ":", " -", ";")


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    pseudo: set[str] = set()
    while len(pseudo) < 12_000:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 5)))
        if len(word) >= 4:
            pseudo.add(word.capitalize() if rng.random() < 0.2 else word)
    tail = sorted(pseudo)
    rng.shuffle(tail)
    names = _NAMES + _FOREIGN
    rng.shuffle(names)
    # Common words first (most frequent), names spread through the head of the tail.
    words = list(_COMMON)
    for k, name in enumerate(names):
        words.append(name)
        words.extend(tail[k * 20 : k * 20 + 20])
    words.extend(tail[len(names) * 20 :])
    weights = [1.0 / (rank + 3) ** 1.05 for rank in range(len(words))]
    return words, list(accumulate(weights))


def _sentence(rng: random.Random, words: Sequence[str], cum: Sequence[float], n: int) -> str:
    picked = rng.choices(words, cum_weights=cum, k=n)
    out = []
    for k, word in enumerate(picked):
        out.append(word[:1].upper() + word[1:] if k == 0 else word)
        if 0 < k < n - 1 and rng.random() < 0.06:
            out[-1] += rng.choice(_PUNCT)
    return " ".join(out)


def synthetic_records(seed: int, count: int = 30_000) -> list[Record]:
    rng = random.Random(seed)
    words, cum = _vocabulary(rng)
    records: list[Record] = []
    for _ in range(count):
        title = _sentence(rng, words, cum, rng.randint(6, 14))
        sentences = [
            _sentence(rng, words, cum, rng.randint(8, 22)) for _ in range(rng.randint(1, 3))
        ]
        summary = ". ".join(sentences) + "." if rng.random() < 0.8 else ""
        records.append((title, summary))
    return records


_WORD_RE = re.compile(r"[^\W\d_]+")


def words(text: str) -> list[str]:
    """The letter-only words of ``text`` as written (no digits; apostrophes split)."""
    return _WORD_RE.findall(text)
