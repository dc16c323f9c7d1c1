"""Stories: every item the bot has seen, per feed, so that each is new only once (edge)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.models import Story
from bot.storage import schema as s
from bot.storage.database import Database, chunks


class StoryStore(Database):
    """The stories aggregate."""

    async def unseen_keys(self, feed: str, keys: Iterable[str]) -> set[str]:
        """The story keys among ``keys`` that this feed has not stored yet."""
        wanted = list(dict.fromkeys(keys))
        seen: set[str] = set()
        async with self._tx() as conn:
            for chunk in chunks(wanted):
                result = await conn.execute(
                    select(s.stories.c.key).where(
                        s.stories.c.feed == feed, s.stories.c.key.in_(chunk)
                    )
                )
                seen.update(result.scalars())
        return set(wanted) - seen

    async def _store_stories(
        self,
        conn: AsyncConnection,
        feed: str,
        stories: Sequence[Story],
        new_keys: Iterable[str],
        now: datetime,
        clusters: Mapping[str, str] | None = None,
    ) -> dict[str, int]:
        """Insert the new stories and refresh the last-seen time of the others; returns the
        ids of the stories this call inserted (another instance may have stored some first)."""
        by_key = {story.key: story for story in stories}
        inserted: dict[str, int] = {}
        clusters = clusters or {}
        new_rows = [_story_row(by_key[k], now, clusters.get(k)) for k in new_keys if k in by_key]
        for chunk in chunks(new_rows):
            stmt = self._insert_ignore(s.stories, ["feed", "key"]).values(chunk)
            result = await conn.execute(stmt.returning(s.stories.c.id, s.stories.c.key))
            inserted.update({key: story_id for story_id, key in result.all()})
        old_keys = [k for k in by_key if k not in inserted]
        for chunk in chunks(old_keys):
            await conn.execute(
                update(s.stories)
                .where(s.stories.c.feed == feed, s.stories.c.key.in_(chunk))
                .values(last_seen_at=now)
            )
        return inserted

    @staticmethod
    async def _story_ids(conn: AsyncConnection, feed: str, keys: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in chunks(list(keys)):
            result = await conn.execute(
                select(s.stories.c.key, s.stories.c.id).where(
                    s.stories.c.feed == feed, s.stories.c.key.in_(chunk)
                )
            )
            found.update({row.key: row.id for row in result})
        return found

    async def _prune_stories(self, conn: AsyncConnection, before: datetime) -> int:
        """Forget stories last seen before ``before`` that no delivery refers to."""
        st, d = s.stories, s.deliveries
        gone = await conn.execute(
            delete(st).where(
                st.c.last_seen_at < before, ~exists().where(and_(d.c.story_id == st.c.id))
            )
        )
        return int(gone.rowcount or 0)

    async def recent_stories(self, since: datetime, limit: int = 100_000) -> list[Story]:
        """Stories first seen since ``since``, newest first (title, link and summary only)."""
        st = s.stories
        async with self._tx() as conn:
            rows = await conn.execute(
                select(st.c.feed, st.c.key, st.c.title, st.c.link, st.c.summary, st.c.published_at)
                .where(st.c.first_seen_at >= since)
                .order_by(st.c.first_seen_at.desc(), st.c.id.desc())
                .limit(limit)
            )
            return [story_of(r) for r in rows]

    async def story_count(self) -> int:
        async with self._tx() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(s.stories))).scalar_one()
            )


def _story_row(story: Story, now: datetime, cluster: str | None = None) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "feed": story.feed,
        "key": story.key,
        "title": story.title[:2000],
        "link": story.link,
        "summary": (story.summary or story.content)[:2000],
        "published_at": story.published,
        "first_seen_at": now,
        "last_seen_at": now,
    }


def story_of(row: Any) -> Story:
    """A story as stored: title, link, summary (content is not kept) and published time."""
    return Story(
        feed=row.feed,
        key=row.key,
        title=row.title,
        link=row.link,
        summary=row.summary,
        published=row.published_at,
    )
