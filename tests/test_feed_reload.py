"""The feed list reloads when config.yaml changes, like the rules, end to end through the fake
Bot API server: a feed added while the bot runs is polled (its first poll only records what it
holds), an invalid edit is refused with its line and the admins told while the last good feeds
keep running, a renamed feed keeps its history (its next story alerts, nothing old is taken for
new), a removed feed is no longer polled; /reload and SIGHUP read it too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e_support import GROUP, USER, MakeApp, alerts_to, item, running, seeded
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram
from tests.test_telegram_ux import wait_text


def feed_lines(feed_server: FeedServer, feeds: dict[str, str]) -> str:
    return "".join(
        f"  - name: {name}\n    url: {feed_server.url(path)}\n" for name, path in feeds.items()
    )


def rewrite_feeds(path: Path, lines: str) -> None:
    head = path.read_text(encoding="utf-8").split("feeds:\n", 1)[0]
    path.write_text(f"{head}feeds:\n{lines}", encoding="utf-8")


def append_bad_feed(path: Path, url: str) -> int:
    """Append a feed with an invalid interval; returns the line of the error."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text + f"  - name: c\n    url: {url}\n    interval: often\n", encoding="utf-8")
    return len(path.read_text(encoding="utf-8").splitlines())


async def test_the_feed_list_reloads_like_the_rules(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    a_items = [item(1, "Old news at A")]
    b_items = [item(2, "Old news at B"), item(3, "Bayraktar story kept from before")]
    feed_server.set_feed("/a.xml", rss(a_items))
    feed_server.set_feed("/b.xml", rss(b_items))
    app = await make_app(feeds={"a": "/a.xml"})
    path = Path(app.config.source)
    async with running(app):
        await seeded(app, "a")
        # Added while running: polled within seconds, its old stories only recorded.
        rewrite_feeds(path, feed_lines(feed_server, {"a": "/a.xml", "b": "/b.xml"}))
        await seeded(app, "b")
        b_items.insert(0, item(4, "Bayraktar TB3 lands on the carrier"))
        feed_server.set_feed("/b.xml", rss(b_items))
        await fake.wait_for_async(lambda: len(alerts_to(fake, GROUP)) == 1, timeout=10)

        # An invalid edit: refused with its line, the admins told once, the feeds kept.
        line = append_bad_feed(path, feed_server.url("/c.xml"))
        await wait_text(fake, USER, "Feed list change refused")
        notice = next(t for t in alerts_to(fake, USER) if "Feed list change refused" in t)
        assert f"config.yaml:{line}:" in notice and "interval" in notice, notice
        a_items.insert(0, item(5, "Akinci flies over A"))
        feed_server.set_feed("/a.xml", rss(a_items))
        await fake.wait_for_async(lambda: len(alerts_to(fake, GROUP)) == 2, timeout=10)
        assert sorted(app.specs) == ["a", "b"]

        # Renamed (the same URL): its next story alerts; nothing old repeats.
        rewrite_feeds(path, feed_lines(feed_server, {"a": "/a.xml", "bravo": "/b.xml"}))
        for _ in range(500):
            if sorted(app.specs) == ["a", "bravo"]:
                break
            await asyncio.sleep(0.01)
        assert sorted(app.specs) == ["a", "bravo"]
        b_items.insert(0, item(6, "Bayraktar Kizilelma flies in formation"))
        feed_server.set_feed("/b.xml", rss(b_items))
        await fake.wait_for_async(lambda: len(alerts_to(fake, GROUP)) == 3, timeout=10)
        assert "Kizilelma" in alerts_to(fake, GROUP)[-1]

        # Removed: no longer polled.
        rewrite_feeds(path, feed_lines(feed_server, {"bravo": "/b.xml"}))
        for _ in range(500):
            if sorted(app.specs) == ["bravo"]:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.5)  # a poll of it under way ends
        before = len(feed_server.responses("/a.xml"))
        await asyncio.sleep(2.5)
        assert len(feed_server.responses("/a.xml")) == before
    assert sorted(app.specs) == ["bravo"]
    stored = {s.feed for s in await app.store.recent_stories(app.started_at.replace(year=2000))}
    assert stored == {"a", "bravo"}, stored  # b's stories now carry its new name
    texts = alerts_to(fake, GROUP)
    assert len(texts) == 3 and not any("kept from before" in t for t in texts)
    assert sum("Feed list change refused" in t for t in alerts_to(fake, USER)) == 1
    assert fake.rejected == []


async def test_reload_reads_the_feed_list_too(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/a.xml", rss([item(1, "Old news at A")]))
    feed_server.set_feed("/b.xml", rss([item(2, "Old news at B")]))
    app = await make_app(feeds={"a": "/a.xml"})
    rewrite_feeds(Path(app.config.source), feed_lines(feed_server, {"a": "/a.xml", "b": "/b.xml"}))
    report = await app.reload_rules()
    assert "Feeds reloaded: 2 in force (1 added)." in report, report
    assert sorted(app.specs) == ["a", "b"]
    assert {r.outcome for r in await app.run_once()} == {"seeded"}


async def test_a_feed_renamed_while_the_bot_was_stopped_keeps_its_history(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    """Had the renamed feed started over, its first poll would only record what it holds,
    and the story that came meanwhile would never be sent."""
    items = [item(1, "Old news")]
    feed_server.set_feed("/b.xml", rss(items))
    app = await make_app(feeds={"b": "/b.xml"})
    await app.run_once()
    await app.close()
    items.insert(0, item(2, "Bayraktar Kizilelma flies in formation"))
    feed_server.set_feed("/b.xml", rss(items))
    again = await make_app(feeds={"bravo": "/b.xml"})
    results = await again.run_once()
    assert [(r.feed, r.outcome, r.new_stories) for r in results] == [("bravo", "new", 1)]
    assert ["Kizilelma" in t for t in alerts_to(fake, GROUP)] == [True]
