"""The clustering stage of a poll: which story each newly matched item reports, across feeds
and across instances (the decisions are :mod:`bot.core.clustering`'s).

One :class:`~bot.core.clustering.Clusterer` per process holds the window (48 h by default).
It starts from the clustered stories the database holds for the window, and before placing
new items it takes in those other instances stored since (so every instance sees every
outlet's version). A decision is stored with its story in the poll's transaction; after a
restart the same items come back with the same stories. Two instances placing versions of one
story at the same moment may each start it: the chats then get two messages, never a wrong
merge.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot import semantic
from bot.core.clustering import LEXICAL_MODEL, SEMANTIC_MODEL, Clusterer, Item
from bot.core.models import Story
from bot.core.storylines import ClusteredStory
from bot.wordstats import headline_stems

log = logging.getLogger(__name__)

EMBED_PER_CALL = 100
"""Titles embedded for one placement (a poll) or one catch-up: a feed bursting with thousands
of matches, or a start with a full window, is clustered on its words beyond these (URLs and
reprints still merge; the model without embeddings does not merge on them), and never makes
other feeds' polls wait seconds for the embedding model."""
YIELD_EVERY = 50
"""Items placed between two yields to the event loop."""
OVERLAP = 200
"""Stories before the last one taken in that each catch-up reads again: on PostgreSQL a story
id is given when the row is inserted and seen when its transaction commits, so another
instance's story may appear below the last id read."""


class ClusterSource(Protocol):
    async def clustered_stories(
        self, since: datetime, after_id: int = 0, limit: int = 100_000
    ) -> list[ClusteredStory]: ...


def story_ref(story: Story) -> str:
    """How a story names itself as a cluster: ``feed/key``."""
    return f"{story.feed}/{story.key}"


def item_of(story: Story, seen_at: datetime, vector: tuple[float, ...] | None = None) -> Item:
    """What clustering looks at in a story: its published time when it has a believable one
    (not in the future), else when it was first seen."""
    at = story.published if story.published is not None and story.published <= seen_at else None
    return Item(
        id=story_ref(story),
        title=story.title,
        at=at or seen_at,
        summary=story.summary,
        link=story.link,
        source=story.feed,
        vector=vector,
    )


class _Recent:
    """The last ``size`` ids appended, for membership tests."""

    def __init__(self, size: int) -> None:
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self.size = size

    def __contains__(self, value: object) -> bool:
        return value in self._ids

    def append(self, value: int) -> None:
        if value in self._ids:
            return
        self._order.append(value)
        self._ids.add(value)
        if len(self._order) > self.size:
            self._ids.discard(self._order.popleft())


class ClusterStage:
    """Places matched stories in stories (clusters); see the module docstring."""

    def __init__(
        self,
        store: ClusterSource,
        clock: Callable[[], datetime],
        *,
        window: timedelta = timedelta(hours=48),
        use_semantic: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.window = window
        self.embedder = semantic.load() if use_semantic else None
        model = SEMANTIC_MODEL if self.embedder is not None else LEXICAL_MODEL
        self.clusterer = Clusterer(window=window, model=model, background=headline_stems())
        self._last_id = 0
        self._own: set[str] = set()
        """Stories this process placed that it has not yet read back from the store."""
        self._lock = asyncio.Lock()
        self._taken = _Recent(4 * OVERLAP)
        """Ids of the stories read back lately (the overlap is not taken in twice)."""

    @property
    def mode(self) -> str:
        """One line saying how stories are compared."""
        if self.embedder is not None:
            return "story clustering by shared words and title embeddings (semantic extra)"
        return "story clustering by shared words, within a language (no semantic extra)"

    async def catch_up(self) -> int:
        """Take in the clustered stories stored since last time (at start: the window's);
        returns how many."""
        since = self.clock() - self.window
        taken = 0
        after = max(0, self._last_id - OVERLAP)
        while True:
            rows = await self.store.clustered_stories(since, after, limit=10_000)
            if not rows:
                return taken
            fresh = [
                r for r in rows if r.id not in self._taken and story_ref(r.story) not in self._own
            ]
            # The newest are the likeliest candidates: they get the embeddings.
            cut = max(0, len(fresh) - EMBED_PER_CALL)
            vectors = [None] * cut + await self._embed([r.story for r in fresh[cut:]])
            for n, (row, vector) in enumerate(zip(fresh, vectors, strict=True), 1):
                self.clusterer.restore(item_of(row.story, row.seen_at, vector), row.cluster)
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            for row in rows:
                self._own.discard(story_ref(row.story))
                self._taken.append(row.id)
            self._last_id = max(self._last_id, rows[-1].id)
            after = rows[-1].id
            taken += len(fresh)

    async def place(self, stories: Sequence[Story]) -> dict[str, str]:
        """The cluster of each story (by key), in order; each joins the clusterer's window."""
        if not stories:
            return {}
        # Embedded before taking the lock: another feed's placement does not wait for it.
        head = list(stories[:EMBED_PER_CALL])
        vectors = await self._embed(head) + [None] * (len(stories) - len(head))
        async with self._lock:
            await self.catch_up()
            now = self.clock()
            placed: dict[str, str] = {}
            for n, (story, vector) in enumerate(zip(stories, vectors, strict=True), 1):
                decision = self.clusterer.add(item_of(story, now, vector))
                if len(self._own) >= 100_000:  # stories whose polls were never stored
                    self._own.clear()
                self._own.add(decision.id)
                placed[story.key] = decision.story
                if decision.joined is not None:
                    log.debug("story %s joins %s: %s", decision.id, decision.story, decision.reason)
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            return placed

    async def _embed(self, stories: Sequence[Story]) -> list[tuple[float, ...] | None]:
        if self.embedder is None or not stories:
            return [None] * len(stories)
        embedder = self.embedder
        vectors = await asyncio.to_thread(embedder.embed, [s.title for s in stories])
        return list(vectors)
