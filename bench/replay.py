"""Duplicate alerts, through the bot: a labelled day of real headlines replayed hour by hour
from loopback feeds (one per outlet) into the bot, which sends to a person following one broad
rule through the fake Bot API server. Counted: the messages that person got, against the
labelled stories among the headlines the rule matched (the target: one message per story,
within 3% either way).

The bot runs in this process on its defaults (SQLite, clustering on); only Telegram's pacing
is lifted (the fake server accepts any rate), so that a day takes seconds. Used by
``python -m bench clustering``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

if TYPE_CHECKING:
    from bench.clustering import Labelled

PERSON = 5001
ROUND = timedelta(hours=1)
FEED_ITEMS = 50
"""Items an outlet's feed carries (its latest)."""
BROAD_RULE = """
rules:
  - id: world
    title: Conflicts and the region
    any: [drone*, missile*, ukrain*, russia*, iran*, israel*, gaza, turk*, azerbaijan*,
          armenia*, kyiv, moscow, strike*, war]
    notify: ["5001"]
"""
TARGET_SPREAD = 0.03


@dataclass(frozen=True, slots=True)
class Replay:
    headlines: int
    matched: int
    """Headlines the broad rule matched (deliveries made)."""
    stories: int
    """Labelled stories among them."""
    messages: int
    """Messages the person got."""
    edits: int
    seconds: float

    @property
    def ratio(self) -> float:
        return self.messages / self.stories if self.stories else 0.0


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def replay(day: Sequence[Labelled], *, use_semantic: bool) -> Replay:
    return asyncio.run(_replay(day, use_semantic=use_semantic))


async def _replay(day: Sequence[Labelled], *, use_semantic: bool) -> Replay:
    import time

    from bench.botrun import TOKEN
    from bot.app import App, Options
    from bot.config import Config
    from bot.core.pacing import Limits
    from bot.storage import schema
    from tests.fakes.feed_server import FeedServer
    from tests.fakes.feedgen import Item as FeedItem
    from tests.fakes.feedgen import rss
    from tests.fakes.telegram_api import FakeTelegram

    by_outlet: dict[str, list[Labelled]] = defaultdict(list)
    for x in day:
        by_outlet[x.item.source or "unknown"].append(x)
    outlets = sorted(by_outlet)
    label = {x.item.link: x.story for x in day}
    start = min(x.item.at for x in day).replace(minute=0, second=0, microsecond=0)
    end = max(x.item.at for x in day)
    clock = _Clock(start - timedelta(minutes=1))
    began = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FeedServer() as feeds,
        FakeTelegram(token=TOKEN) as fake,
    ):
        fake.add_user(PERSON, "Reader")
        work = Path(tmp)
        (work / "rules").mkdir()
        (work / "rules" / "world.yaml").write_text(BROAD_RULE, encoding="utf-8")
        paths = {o: f"/{n}.xml" for n, o in enumerate(outlets)}

        def publish(upto: datetime) -> None:
            for outlet in outlets:
                shown = [x for x in by_outlet[outlet] if x.item.at <= upto][-FEED_ITEMS:]
                entries = [
                    FeedItem(title=x.item.title, link=x.item.link or "", published=x.item.at)
                    for x in reversed(shown)
                ]
                placeholder = FeedItem(
                    title=f"{outlet} front page", link=f"https://{outlet}/", published=start
                )
                feeds.set_feed(paths[outlet], rss([*entries, placeholder], title=outlet))

        config = Config.model_validate(
            {
                "telegram": {"token": fake.token, "api_url": fake.base_url, "poll_timeout": "1s"},
                "storage": {"url": f"sqlite:///{work / 'newsbot.db'}"},
                "rules_dir": str(work / "rules"),
                "log_level": "WARNING",
                "delivery": {"burst": 10_000},
                "clustering": {"semantic": use_semantic},
                "feeds": [{"name": o, "url": feeds.url(paths[o]), "title": o} for o in outlets],
            }
        ).model_copy(update={"base_dir": work})
        app = await App.create(config, Options(parse_workers=1, drain_budget=60, clock=clock))
        try:
            app.pacer.limits = Limits(
                per_chat_interval=0.0, group_per_minute=10**9, global_per_second=10**9
            )
            publish(start - timedelta(hours=1))  # the first poll records what is there
            await app.run_once()
            at = start
            while at <= end + ROUND:
                at += ROUND
                clock.at = at
                publish(at)
                await app.run_once()
            clock.at = at + timedelta(hours=1)  # owed edits come due
            await app.run_once()
            d, st = schema.deliveries, schema.stories
            async with app.store._engine.connect() as conn:
                rows = await conn.execute(
                    select(st.c.link)
                    .join(d, d.c.story_id == st.c.id)
                    .where(d.c.chat == str(PERSON))
                )
                links = [r.link for r in rows]
        finally:
            await app.close()
        messages = len(fake.messages_to(PERSON))
        edits = sum(1 for e in fake.edits if e.chat_id == PERSON)
    stories = {label[link] for link in links if link in label}
    return Replay(
        headlines=len(day),
        matched=len(links),
        stories=len(stories),
        messages=messages,
        edits=edits,
        seconds=time.perf_counter() - began,
    )
