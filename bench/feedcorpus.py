"""A generated corpus of news feeds for the poll and parse benchmarks.

Each feed is an RSS 2.0 (most) or Atom 1.0 document of 50 to 200 items and 50 to 250 KB, built
from real headlines and summaries (:mod:`bench.corpus`; synthetic text when the shared corpus is
absent), so titles and summaries are realistic and a quarter of them carry non-ASCII text.
Summaries are HTML, escaped inside the XML as most publishers do: paragraphs, links, the odd
image, entities. Feeds differ in how they can be cached, like real hosts: some send an ``ETag``
and a ``Last-Modified``, some only ``Last-Modified``, some neither (every poll gets the whole
body); some are gzip-compressed; a few declare an RSS ``<ttl>``.

:meth:`FeedCorpus.change` makes a chosen fraction of the feeds publish: one to five new items on
top, as many old ones dropped at the bottom, new validators. Everything is deterministic for a
seed. Items are kept as rendered XML fragments, so a change costs one join, not a rebuild.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape as html_escape
from xml.sax.saxutils import escape as xml_escape

from bench import corpus as corpora

MIN_ITEMS, MAX_ITEMS = 50, 200
MIN_KB, MAX_KB = 50, 250
VALIDATORS = ("etag", "last-modified", "none")
"""How a feed's host supports conditional GET: ETag and Last-Modified, Last-Modified only, or
nothing at all."""
VALIDATOR_WEIGHTS = (0.5, 0.2, 0.3)
GZIP_SHARE = 0.5
BLOCK = 100
"""Changes are spread evenly over blocks of this many feeds (see :meth:`FeedCorpus.change`)."""
ATOM_SHARE = 0.2
TTL_SHARE = 0.1
EPOCH = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
"""The generated world's clock: items are dated back from here, changes move it forward."""
_ITEM_OVERHEAD = 420
"""Bytes of an item that are not its summary (tags, title, link, guid, date, category)."""
_TOPICS = ("world", "politics", "defence", "economy", "caucasus", "europe", "energy", "tech")


@dataclass
class Feed:
    """One generated feed: its items as XML fragments, newest first, and how it is served."""

    index: int
    kind: str
    """``rss`` or ``atom``."""
    validators: str
    """One of :data:`VALIDATORS`."""
    gzip: bool
    ttl: int | None
    summary_chars: int
    items: list[str] = field(default_factory=list)
    version: int = 0
    """Bumped at every change: the feed's Last-Modified moves with it."""
    next_item: int = 0

    @property
    def path(self) -> str:
        return f"/feeds/{self.index}.xml"

    @property
    def name(self) -> str:
        return f"feed-{self.index:05d}"

    def modified(self) -> datetime:
        return EPOCH + timedelta(minutes=self.version)


class FeedCorpus:
    """``count`` feeds generated with ``seed`` from ``text`` (default: :func:`corpora.load`)."""

    def __init__(self, count: int, seed: int = 1, text: corpora.Corpus | None = None) -> None:
        self.seed = seed
        self.text = text or corpora.load(seed=seed)
        rng = random.Random(seed)
        self.feeds: list[Feed] = []
        for index in range(count):
            # Aimed inside the range, so that the estimate below may miss by a little.
            size = rng.randint(MIN_KB + 4, MAX_KB - 4) * 1024
            # At least ~700 bytes per item, so that a small feed's items still have summaries.
            items = rng.randint(MIN_ITEMS, max(MIN_ITEMS, min(MAX_ITEMS, size // 700)))
            kind = "atom" if rng.random() < ATOM_SHARE else "rss"
            # Escaping the summary's HTML for XML (&lt;p&gt;) adds about a fifth to its size.
            chars = max(80, int((size / items - _ITEM_OVERHEAD) / 1.2))
            feed = Feed(
                index=index,
                kind=kind,
                validators=rng.choices(VALIDATORS, VALIDATOR_WEIGHTS)[0],
                gzip=rng.random() < GZIP_SHARE,
                ttl=rng.choice((15, 30, 60))
                if kind == "rss" and rng.random() < TTL_SHARE
                else None,
                summary_chars=chars,
            )
            self.feeds.append(feed)
            feed.items = self._new_items(feed, items, EPOCH)
            for _ in range(5):
                actual = len(self.body(index))
                if MIN_KB * 1024 <= actual <= MAX_KB * 1024:
                    break
                # The estimate of markup and escaping missed: scale the summaries and redo.
                feed.summary_chars = max(40, int(feed.summary_chars * size / actual))
                feed.next_item = 0
                feed.items = self._new_items(feed, items, EPOCH)

    def __len__(self) -> int:
        return len(self.feeds)

    # -- rendering -----------------------------------------------------------------------

    def _new_items(self, feed: Feed, count: int, newest: datetime) -> list[str]:
        """``count`` new items for ``feed``, newest first, the newest dated ``newest``."""
        start = feed.next_item
        feed.next_item += count
        rng = random.Random(f"{self.seed}/{feed.index}/{start}")
        texts = corpora.stories(self.text, count, rng.randrange(2**31), feed.summary_chars)
        items = []
        for k, text in enumerate(texts):
            number = start + count - 1 - k  # newest first: the highest number on top
            when = newest - timedelta(minutes=17 * k + rng.randrange(17))
            items.append(self._item(feed, number, text, when, rng))
        return items

    @staticmethod
    def _summary_html(body: str, rng: random.Random) -> str:
        words = html_escape(body).split(" ")
        paragraphs: list[str] = []
        step = max(12, len(words) // rng.randint(1, 4))
        for start in range(0, len(words), step):
            chunk = words[start : start + step]
            if len(chunk) > 6 and rng.random() < 0.4:
                at = rng.randrange(1, len(chunk) - 3)
                anchor = " ".join(chunk[at : at + 2])
                slug = rng.randrange(10**6)
                chunk[at : at + 2] = [
                    f'<a href="https://news.example.org/related/{slug}">{anchor}</a>'
                ]
            paragraphs.append("<p>" + " ".join(chunk) + "</p>")
        if rng.random() < 0.3:
            paragraphs.insert(
                0,
                f'<img src="https://cdn.example.org/img/{rng.randrange(10**6)}.jpg" '
                'alt="photo" width="640" height="360"/>',
            )
        return "".join(paragraphs)

    def _item(
        self, feed: Feed, number: int, text: corpora.StoryText, when: datetime, rng: random.Random
    ) -> str:
        link = f"https://news{feed.index % 97}.example.org/{feed.name}/story-{number}.html"
        title = xml_escape(text.title or text.body[:80])
        summary = xml_escape(self._summary_html(text.body, rng))
        topic = rng.choice(_TOPICS)
        if feed.kind == "atom":
            stamp = when.isoformat().replace("+00:00", "Z")
            return (
                f'<entry><title type="text">{title}</title>'
                f'<link rel="alternate" href="{link}"/>'
                f"<id>tag:example.org,2026:{feed.name}/{number}</id>"
                f"<published>{stamp}</published><updated>{stamp}</updated>"
                f"<author><name>Desk {topic}</name></author>"
                f'<category term="{topic}"/>'
                f'<summary type="html">{summary}</summary></entry>\n'
            )
        return (
            f"<item><title>{title}</title><link>{link}</link>"
            f'<guid isPermaLink="false">{feed.name}-{number}</guid>'
            f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
            f"<category>{topic}</category>"
            f"<description>{summary}</description></item>\n"
        )

    def body(self, index: int) -> bytes:
        """The feed document as it is now."""
        feed = self.feeds[index]
        items = "".join(feed.items)
        title = f"Generated news {feed.index}"
        home = f"https://news{feed.index % 97}.example.org/{feed.name}/"
        if feed.kind == "atom":
            updated = feed.modified().isoformat().replace("+00:00", "Z")
            text = (
                '<?xml version="1.0" encoding="utf-8"?>\n'
                '<feed xmlns="http://www.w3.org/2005/Atom">'
                f'<title>{title}</title><link rel="alternate" href="{home}"/>'
                f"<id>{home}</id><updated>{updated}</updated>\n{items}</feed>\n"
            )
        else:
            ttl = f"<ttl>{feed.ttl}</ttl>" if feed.ttl else ""
            text = (
                '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                f"<title>{title}</title><link>{home}</link>"
                f"<description>Stories from generated desk {feed.index}</description>"
                f"<language>en</language>{ttl}"
                f"<lastBuildDate>{format_datetime(feed.modified(), usegmt=True)}</lastBuildDate>\n"
                f"{items}</channel></rss>\n"
            )
        return text.encode("utf-8")

    # -- changes -------------------------------------------------------------------------

    def change(self, fraction: float, round_seed: int) -> list[int]:
        """Make ``fraction`` of the feeds (chosen with ``round_seed``) publish 1 to 5 new
        stories; returns the indices of the feeds that changed.

        The choice is stratified by blocks of :data:`BLOCK` feeds (that fraction of each block),
        so that the first ``k * BLOCK`` feeds, on which a slow baseline may be measured, see
        exactly the same share of changes as the whole corpus."""
        rng = random.Random(f"{self.seed}/change/{round_seed}")
        chosen: list[int] = []
        for start in range(0, len(self.feeds), BLOCK):
            block = range(start, min(start + BLOCK, len(self.feeds)))
            chosen.extend(sorted(rng.sample(block, round(len(block) * fraction))))
        for index in chosen:
            feed = self.feeds[index]
            feed.version += 1
            new = self._new_items(feed, rng.randint(1, 5), feed.modified())
            feed.items = new + feed.items[: len(feed.items) - len(new)]
        return chosen

    def snapshot(self) -> list[tuple[list[str], int, int]]:
        """The feeds' current contents, to :meth:`restore` later (items are shared, not
        copied: they are immutable strings)."""
        return [(list(f.items), f.version, f.next_item) for f in self.feeds]

    def restore(self, saved: list[tuple[list[str], int, int]]) -> None:
        for feed, (items, version, next_item) in zip(self.feeds, saved, strict=True):
            feed.items, feed.version, feed.next_item = list(items), version, next_item


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest()[:20] + '"'
