"""End to end through the real wiring: the App built from a config file, polling a loopback feed
server and talking to a loopback fake of the Telegram Bot API (python-telegram-bot pointed at it
with its base URL). Nothing of ours is mocked. Fixtures and helpers: tests/e2e_support.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e_support import (
    CHANNEL,
    GROUP,
    OTHER_USER,
    USER,
    MakeApp,
    alerts_to,
    item,
    running,
    seeded,
    until,
)
from tests.fakes.feed_server import Delay, FeedServer, Garbage, Status
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram


async def test_first_poll_seeds_then_new_matches_reach_every_target_exactly_once(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    items = [item(1, "Bayraktar TB2 shown at an air show")]  # matches, but already there
    feed_server.set_feed("/news.xml", rss(items))
    app = await make_app()
    await app.store.subscribe(str(USER), "drones", datetime.now(UTC))
    results = await app.run_once()
    assert [r.outcome for r in results] == ["seeded"]
    assert fake.sent == [], "the first poll of a feed alerts on nothing"

    items += [item(2, "Azerbaijan buys more Akinci drones"), item(3, "Weather in Baku")]
    feed_server.set_feed("/news.xml", rss(items))
    results = await app.run_once()
    assert [(r.outcome, r.new_stories, r.deliveries) for r in results] == [("new", 2, 3)]
    for chat in (CHANNEL, GROUP, USER):
        texts = alerts_to(fake, chat)
        assert len(texts) == 1, (chat, texts)
        assert "Azerbaijan buys more Akinci drones" in texts[0]
        assert "Akinci" in texts[0] and "Turkish drones" in texts[0]
    assert alerts_to(fake, OTHER_USER) == []
    assert not any("Weather" in m.plain_text for m in fake.sent), "non-matching story sent"

    before = len(fake.sent)
    await app.run_once()
    assert len(fake.sent) == before, "a story is alerted once"
    assert fake.rejected == []


async def test_restart_sends_nothing_again_and_unchanged_feeds_are_not_parsed(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "Old news")]))
    feed_server.set_feed("/plain.xml", rss([item(1, "Old news")]), etag=False, last_modified=False)
    feeds = {"news": "/news.xml", "plain": "/plain.xml"}
    app = await make_app(feeds=feeds)
    await app.run_once()
    # Two different stories (the same one in both feeds would be one message: one story).
    for n, path in enumerate(feeds.values(), start=2):
        feed_server.set_feed(
            path,
            rss([item(1, "Old news"), item(n, f"Bayraktar TB3 flies mission {n}")]),
            etag=path == "/news.xml",
            last_modified=path == "/news.xml",
        )
    await app.run_once()
    delivered = len(fake.sent)
    assert delivered == 4  # 2 feeds x (channel + group)
    await app.close()

    restarted = await make_app(feeds=feeds)
    results = {r.feed: r.outcome for r in await restarted.run_once()}
    assert results == {"news": "not_modified", "plain": "unchanged"}
    assert restarted.parser.parsed == 0, "a 304 or an identical body is never parsed"
    assert feed_server.responses("/news.xml")[-1] == 304
    assert len(fake.sent) == delivered, "a restart re-sends nothing"


async def test_failing_feeds_do_not_stop_the_others(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    good = [item(1, "Quiet day")]
    feed_server.set_feed("/good.xml", rss(good))
    for path, behavior in {
        "/slow.xml": Delay(30),
        "/broken.xml": Status(500),
        "/garbage.xml": Garbage(size=2000),
    }.items():
        feed_server.set_feed(path, rss(good))
        feed_server.set_behavior(path, behavior)
    app = await make_app(
        feeds={
            "slow": "/slow.xml",
            "broken": "/broken.xml",
            "garbage": "/garbage.xml",
            "good": "/good.xml",
        }
    )
    async with running(app):
        await seeded(app, "good")
        await until(app, lambda state: state.consecutive_failures > 0, "slow", "broken", "garbage")
        good.append(item(2, "Bayraktar spotted over the border"))
        feed_server.set_feed("/good.xml", rss(good))
        await fake.wait_for_async(lambda: len(fake.messages_to(CHANNEL)) == 1, timeout=10)
    states = await app.store.feed_states()
    assert states["good"].consecutive_failures == 0 and states["good"].last_error is None
    assert "timed out" in (states["slow"].last_error or "")
    assert "HTTP 500" in (states["broken"].last_error or "")
    assert "not a feed" in (states["garbage"].last_error or "")
    for name in ("slow", "broken", "garbage"):
        assert states[name].consecutive_failures >= 1, name
        assert states[name].next_poll_at is not None


async def test_subscribe_and_unsubscribe_from_telegram_change_who_gets_alerts(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    items = [item(1, "Nothing yet")]
    feed_server.set_feed("/news.xml", rss(items))
    app = await make_app()
    async with running(app):
        await seeded(app)
        fake.user_sends(USER, "/subscribe karabakh")
        await fake.wait_for_async(
            lambda: any("Subscribed" in t for t in alerts_to(fake, USER)), timeout=10
        )
        items.append(item(2, "Talks on Nagorno-Karabakh resume"))
        feed_server.set_feed("/news.xml", rss(items))
        await fake.wait_for_async(
            lambda: any("Talks on Nagorno-Karabakh" in t for t in alerts_to(fake, USER)),
            timeout=10,
        )
        fake.user_sends(USER, "/unsubscribe karabakh")
        await fake.wait_for_async(
            lambda: any("Unsubscribed" in t for t in alerts_to(fake, USER)), timeout=10
        )
        fake.user_sends(OTHER_USER, "/subscribe karabakh")
        await fake.wait_for_async(
            lambda: any("Subscribed" in t for t in alerts_to(fake, OTHER_USER)), timeout=10
        )
        items.append(item(3, "Qarabağ reconstruction news"))
        feed_server.set_feed("/news.xml", rss(items))
        await fake.wait_for_async(
            lambda: any("Qarabağ reconstruction" in t for t in alerts_to(fake, OTHER_USER)),
            timeout=10,
        )
        await asyncio.sleep(1)
    user_alerts = [t for t in alerts_to(fake, USER) if "🔎" in t]
    assert len(user_alerts) == 1 and "Talks on Nagorno-Karabakh" in user_alerts[0]
    assert fake.rejected == []


async def test_commands_answer_helpfully(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    async with running(app):
        for text in (
            "/start",
            "/help",
            "/rules",
            "/subscribe dornes",
            "/subscribe",
            "/mine",
            "/subscribe drones",
            "/subscribe drones",
            "/mine",
        ):
            fake.user_sends(USER, text)
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) >= 9, timeout=10)
    answers = alerts_to(fake, USER)
    assert "Hello" in answers[0]
    assert "/subscribe" in answers[1]
    assert "drones" in answers[2] and "karabakh" in answers[2]
    assert "Did you mean drones?" in answers[3]
    assert "Which topic?" in answers[4]
    assert "don't follow any topic" in answers[5]
    assert "Subscribed to Turkish drones" in answers[6]
    assert "already follow" in answers[7]
    assert "drones" in answers[8]
    commands = [c["command"] for c in fake.commands or []]
    assert {"start", "subscribe", "unsubscribe", "rules", "mine", "help"} <= set(commands)
    assert fake.rejected == []


async def test_deep_link_start_subscribes(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    async with running(app):
        fake.user_sends(USER, "/start karabakh")
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) >= 1, timeout=10)
    assert "Subscribed to Karabakh" in alerts_to(fake, USER)[0]
    assert await app.store.subscriptions_of(str(USER)) == ["karabakh"]


async def test_group_members_who_are_not_admins_cannot_subscribe_the_group(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    async with running(app):
        fake.user_sends(OTHER_USER, "/subscribe karabakh", chat_id=GROUP)
        await fake.wait_for_async(lambda: len(fake.messages_to(GROUP)) >= 1, timeout=10)
        fake.user_sends(USER, "/subscribe@newsbot_test_bot karabakh", chat_id=GROUP)
        await fake.wait_for_async(lambda: len(fake.messages_to(GROUP)) >= 2, timeout=10)
    refused, accepted = alerts_to(fake, GROUP)
    assert "Only the group's admins" in refused
    assert "Subscribed" in accepted
    assert await app.store.subscriptions_of(str(GROUP)) == ["karabakh"]


async def test_rule_edits_apply_live_and_invalid_edits_keep_the_last_good_rules(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram, tmp_path: Path
) -> None:
    items = [item(1, "Quiet")]
    feed_server.set_feed("/news.xml", rss(items))
    app = await make_app()
    rule_file = tmp_path / "rules" / "drones.yaml"
    async with running(app):
        await seeded(app)
        # A valid edit: a new rule appears, with the channel as its target.
        rule_file.write_text(
            rule_file.read_text(encoding="utf-8")
            + "  - id: shahed\n    title: Shahed drones\n    query: 'Shahed*'\n"
            + "    notify: ['@defence_news']\n",
            encoding="utf-8",
        )
        await fake.wait_for_async(lambda: "shahed" in app.rules.by_id, timeout=10)
        items.append(item(2, "Shahed-136 production expands"))
        feed_server.set_feed("/news.xml", rss(items))
        await fake.wait_for_async(
            lambda: any("Shahed-136" in t for t in alerts_to(fake, CHANNEL)), timeout=10
        )
        # An invalid edit: refused, the admin is told where, and the old rules keep working.
        rule_file.write_text(
            rule_file.read_text(encoding="utf-8").replace("'Shahed*'", "'Shahed* and drones'"),
            encoding="utf-8",
        )
        await fake.wait_for_async(
            lambda: any("refused" in t for t in alerts_to(fake, USER)), timeout=10
        )
        notice = next(t for t in alerts_to(fake, USER) if "refused" in t)
        assert f"{rule_file}:" in notice and "'and' is not an operator" in notice
        assert "shahed" in app.rules.by_id and app.rules_error is not None
        items.append(item(3, "Shahed drones shot down"))
        feed_server.set_feed("/news.xml", rss(items))
        await fake.wait_for_async(
            lambda: any("Shahed drones shot down" in t for t in alerts_to(fake, CHANNEL)),
            timeout=10,
        )
        # /reload is for admins only; the admin gets the report.
        fake.user_sends(OTHER_USER, "/reload")
        fake.user_sends(USER, "/reload")
        await fake.wait_for_async(
            lambda: (
                any("only the bot's administrators" in t for t in alerts_to(fake, OTHER_USER))
                and any("Rules not reloaded" in t for t in alerts_to(fake, USER))
            ),
            timeout=10,
        )
        # Fixing the file clears the error.
        rule_file.write_text(
            rule_file.read_text(encoding="utf-8").replace("'Shahed* and drones'", "'Shahed*'"),
            encoding="utf-8",
        )
        await fake.wait_for_async(lambda: app.rules_error is None, timeout=10)
    assert len([t for t in alerts_to(fake, USER) if "refused" in t]) == 1, "told once per error"
    assert fake.rejected == []


async def test_admins_see_status_and_feed_health_others_are_refused(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    feed_server.set_feed("/broken.xml", rss([item(1, "x")]))
    feed_server.set_behavior("/broken.xml", Status(500))
    app = await make_app(feeds={"news": "/news.xml", "broken": "/broken.xml"})
    async with running(app):
        await until(app, lambda state: state.last_polled_at is not None)
        for command in ("/status", "/feeds"):
            fake.user_sends(OTHER_USER, command)
            fake.user_sends(USER, command)
        await fake.wait_for_async(
            lambda: len(fake.messages_to(USER)) >= 2 and len(fake.messages_to(OTHER_USER)) >= 2,
            timeout=10,
        )
    status, feeds = alerts_to(fake, USER)
    assert "Feeds: 2 (1 ok, 1 failing" in status and "Rules: 2 in force" in status
    assert "Queue: 0 pending" in status and "⚠ broken: failing, HTTP 500" in status
    # Cards for a phone, trouble first, no wide table.
    lines = feeds.splitlines()
    assert lines[0] == "⚠️ broken: failing" and "HTTP 500" in feeds
    assert "✅ news: ok" in lines and max(len(line) for line in lines) <= 80
    assert all("only the bot's administrators" in t for t in alerts_to(fake, OTHER_USER))
    assert fake.rejected == []


async def test_an_update_served_again_is_answered_once(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    """Telegram serves an update again when its confirming offset never came (the instance
    that handled it died, and another took over): the update ledger answers it once."""
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    async with running(app):
        fake.user_sends(USER, "/help")
        update_id = fake.last_update_id
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) == 1, timeout=10)
        fake.redeliver(update_id)
        fake.user_sends(USER, "/mine")  # a later update: the served-again one came before it
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) >= 2, timeout=10)
        await asyncio.sleep(1)
    answers = alerts_to(fake, USER)
    assert len(answers) == 2, answers
    assert answers[0].startswith("Commands") and "follow" in answers[1]
