"""Digests, quiet hours, time zones, priorities and forum topics, end to end: people set them
with commands through the fake Bot API, the real feed server serves new stories, and a
controlled clock decides when held alerts go out. Every message is checked by the fake's
Telegram HTML parser."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.app import App
from tests.e2e_support import GROUP, OTHER_USER, USER, Clock, MakeApp, alerts_to, item, running
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram

FORUM = -1003000


async def command(fake: FakeTelegram, user: int, text: str, answer: str, **where: int) -> str:
    """Send a command as ``user`` and wait for the bot's answer containing ``answer``."""
    chat = where.get("chat_id", user)
    before = len(fake.messages_to(chat))
    fake.user_sends(user, text, **where)
    await fake.wait_for_async(
        lambda: any(answer in m.plain_text for m in fake.messages_to(chat)[before:]), timeout=10
    )
    return next(m.plain_text for m in fake.messages_to(chat)[before:] if answer in m.plain_text)


async def settle(app: App) -> None:
    """Let the sender look at what is due now (it is woken, then given time to send)."""
    app.sender.wake()
    await asyncio.sleep(0.6)


async def new_stories(app: App, feed_server: FeedServer, items: list[object]) -> None:
    feed_server.set_feed("/news.xml", rss(items))  # type: ignore[arg-type]
    result = await app.poll("news")
    assert result.outcome == "new", result


async def test_a_daily_digest_arrives_at_its_local_time_grouped_by_rule(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))  # 13:00 in Istanbul
    old = item(1, "Old story")
    feed_server.set_feed("/news.xml", rss([old]))
    app = await make_app(clock=clock)
    assert (await app.poll("news")).outcome == "seeded"
    async with running(app):
        await command(fake, USER, "/timezone istanbul", "Time zone set to Europe/Istanbul")
        await command(fake, USER, "/subscribe karabakh", "Subscribed")
        await command(fake, USER, "/subscribe drones", "Subscribed")
        reply = await command(fake, USER, "/digest all daily 09:00", "All topics")
        assert "one digest a day at 09:00 (Europe/Istanbul)" in reply
        sent_before = len(fake.messages_to(USER))
        stories = [
            item(2, "Ceasefire holds in Nagorno-Karabakh"),
            item(3, "Bayraktar TB2 exports grow"),
            item(4, "Qarabağ talks resume"),
            old,
        ]
        await new_stories(app, feed_server, stories)
        await settle(app)
        # Held: nothing reaches the person, while the group named by the rule gets its alert.
        assert len(fake.messages_to(USER)) == sent_before
        assert any("Bayraktar" in t for t in alerts_to(fake, GROUP))
        assert (await app.store.delivery_counts()).get("waiting") == 3

        clock.set(datetime(2026, 11, 25, 5, 59, 30, tzinfo=UTC))  # 08:59:30 local
        await settle(app)
        assert len(fake.messages_to(USER)) == sent_before

        clock.set(datetime(2026, 11, 25, 6, 0, 1, tzinfo=UTC))  # 09:00:01 local
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) > sent_before, 10)
        await settle(app)
    (digest,) = fake.messages_to(USER)[sent_before:]
    text = digest.plain_text
    assert text.startswith("📰 Digest: 3 stories")
    assert text.index("Karabakh (2)") < text.index("Ceasefire holds") < text.index("Qarabağ talks")
    assert "Turkish drones (1)" in text and "Bayraktar TB2 exports grow" in text
    assert "Old story" not in text
    assert digest.link_preview_options == {"is_disabled": True}
    counts = await app.store.delivery_counts()
    assert counts.get("waiting", 0) == 0 and counts.get("pending", 0) == 0
    assert fake.rejected == []


async def test_quiet_hours_hold_alerts_until_morning_except_urgent_ones(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(datetime(2026, 11, 24, 22, 30, tzinfo=UTC))
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app(clock=clock)
    (app.config.rules_path / "urgent.yaml").write_text(
        "rules:\n  - {id: breaking, title: Breaking, any: [explosion], priority: urgent}\n",
        encoding="utf-8",
    )
    assert "loaded" in (await app.reload_rules()).lower()
    assert (await app.poll("news")).outcome == "seeded"
    async with running(app):
        await command(fake, USER, "/subscribe drones", "Subscribed")
        await command(fake, USER, "/subscribe breaking", "Subscribed")
        reply = await command(fake, USER, "/quiet 23:00-07:00", "Quiet hours")
        assert "23:00-07:00 (UTC)" in reply and "at 07:00" in reply
        sent_before = len(fake.messages_to(USER))
        clock.set(datetime(2026, 11, 24, 23, 30, tzinfo=UTC))
        await new_stories(
            app,
            feed_server,
            [
                item(2, "Bayraktar Akinci flies at night"),
                item(3, "Explosion reported near the port"),
                item(4, "TB2 seen over the border"),
            ],
        )
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) > sent_before, 10)
        await settle(app)
        night = [m.plain_text for m in fake.messages_to(USER)[sent_before:]]
        assert len(night) == 1 and "Explosion reported" in night[0]  # urgent: at once

        clock.set(datetime(2026, 11, 25, 6, 59, tzinfo=UTC))
        await settle(app)
        assert len(fake.messages_to(USER)) == sent_before + 1

        clock.set(datetime(2026, 11, 25, 7, 0, 1, tzinfo=UTC))
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) > sent_before + 1, 10)
        await settle(app)
    morning = [m.plain_text for m in fake.messages_to(USER)[sent_before + 1 :]]
    assert len(morning) == 1
    assert morning[0].startswith("📰 Digest: 2 stories")
    assert "Bayraktar Akinci flies" in morning[0] and "TB2 seen over" in morning[0]
    assert fake.rejected == []


async def test_turning_a_digest_off_releases_what_it_held(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app(clock=clock)
    assert (await app.poll("news")).outcome == "seeded"
    async with running(app):
        await command(fake, USER, "/subscribe drones", "Subscribed")
        await command(fake, USER, "/digest drones hourly", "Turkish drones")
        await new_stories(app, feed_server, [item(2, "Bayraktar news"), item(3, "Akinci news")])
        await settle(app)
        assert (await app.store.delivery_counts()).get("waiting") == 2
        before = len(fake.messages_to(USER))
        await command(fake, USER, "/digest drones off", "one by one")
        await fake.wait_for_async(
            lambda: sum("news" in t for t in alerts_to(fake, USER)[before:]) >= 2, 10
        )
    arrived = alerts_to(fake, USER)[before:]
    assert any(t.startswith("Bayraktar news") for t in arrived)
    assert any(t.startswith("Akinci news") for t in arrived)
    assert (await app.store.delivery_counts()).get("waiting", 0) == 0


async def test_settings_show_everything_and_mistakes_get_helpful_answers(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app(clock=Clock(datetime(2026, 11, 24, 10, 0, tzinfo=UTC)))
    async with running(app):
        await command(fake, USER, "/subscribe drones", "Subscribed")
        await command(fake, USER, "/subscribe karabakh", "Subscribed")
        muted_in_utc = await command(fake, USER, "/mute karabakh 1h", "muted")
        await command(fake, USER, "/unmute karabakh", "back on")
        await command(fake, USER, "/timezone Europe/Berlin", "Time zone set")
        await command(fake, USER, "/quiet 22:00-06:30", "Quiet hours")
        await command(fake, USER, "/digest karabakh daily 18:30", "Karabakh")
        muted = await command(fake, USER, "/mute drones 2h", "muted")
        mine = await command(fake, USER, "/mine", "drones")
        settings = await command(fake, USER, "/settings", "Settings for this chat")
        unknown_zone = await command(fake, USER, "/timezone Europe/Istambul", "time zone")
        bad_quiet = await command(fake, USER, "/quiet 22-6", "quiet hours")
        bad_period = await command(fake, USER, "/digest drones weekly", "weekly")
        bad_rule = await command(fake, USER, "/digest drone hourly", "drone")
        bad_time = await command(fake, USER, "/digest all daily 25:00", "25:00")
    assert "Time zone: Europe/Berlin" in settings
    assert "Quiet hours: 22:00-06:30" in settings
    assert "Digest for all topics: alerts arrive one by one" in settings
    # Mute times in the chat's own zone: 12:00 UTC is 13:00 in Berlin in November.
    assert "muted until 2026-11-24 11:00 UTC" in muted_in_utc
    assert "muted until 2026-11-24 13:00 Europe/Berlin" in muted
    assert "(🔕 muted until 2026-11-24 13:00 Europe/Berlin)" in mine
    assert "drones: Turkish drones (🔕 muted until 2026-11-24 13:00 Europe/Berlin" in settings
    assert "karabakh: Karabakh (one digest a day at 18:30 (Europe/Berlin))" in settings
    assert "Did you mean Europe/Istanbul," in unknown_zone
    assert "23:00-07:00" in bad_quiet
    assert "off, hourly and daily" in bad_period
    assert "Did you mean drones?" in bad_rule
    assert "08:00" in bad_time
    # Nothing was changed by the refused commands.
    prefs = (await app.store.chat_prefs([str(USER)]))[str(USER)]
    assert prefs.tz_name == "Europe/Berlin"
    assert prefs.digest_for("drones").period == "off"
    commands = [c["command"] for c in fake.commands or []]
    assert {"digest", "quiet", "timezone", "settings"} <= set(commands)
    assert fake.rejected == []


async def test_only_group_admins_change_a_groups_digest_and_quiet_hours(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    async with running(app):
        refused = await command(fake, OTHER_USER, "/quiet 23:00-07:00", "admins", chat_id=GROUP)
        await command(fake, OTHER_USER, "/digest all hourly", "admins", chat_id=GROUP)
        await command(fake, OTHER_USER, "/timezone Asia/Baku", "admins", chat_id=GROUP)
        await command(
            fake, USER, "/digest@newsbot_test_bot all hourly", "All topics", chat_id=GROUP
        )
        settings = await command(fake, OTHER_USER, "/settings", "Settings", chat_id=GROUP)
    assert "Only the group's admins" in refused
    assert "Digest for all topics: one digest at the start of every hour" in settings
    assert "drones: Turkish drones (set by the bot's configuration)" in settings
    prefs = (await app.store.chat_prefs([str(GROUP)]))[str(GROUP)]
    assert prefs.quiet is None and prefs.tz_name == "UTC"
    assert prefs.digest_for("drones").period == "hourly"


async def test_forum_topics_subscribe_and_receive_in_their_own_topic(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    fake.add_group(FORUM, "Desk", supergroup=True, admins=[USER], topics=[7, 9])
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    (app.config.rules_path / "topics.yaml").write_text(
        "rules:\n"
        "  - id: aviation\n    title: Aviation\n    any: [Akinci]\n"
        f"    notify: [{{chat: {FORUM}, topic: 9}}]\n",
        encoding="utf-8",
    )
    assert "loaded" in (await app.reload_rules()).lower()
    assert (await app.poll("news")).outcome == "seeded"
    async with running(app):
        await command(fake, USER, "/subscribe karabakh", "Subscribed", chat_id=FORUM, topic=7)
        await new_stories(
            app,
            feed_server,
            [item(2, "Nagorno-Karabakh talks resume"), item(3, "Akinci delivered")],
        )
        await fake.wait_for_async(
            lambda: sum(m.message_thread_id is not None for m in fake.messages_to(FORUM)) >= 3,
            10,
        )
    assert await app.store.subscriptions_of(f"{FORUM}/7") == ["karabakh"]
    by_topic = {
        m.plain_text.splitlines()[0]: m.message_thread_id
        for m in fake.messages_to(FORUM)
        if "Subscribed" not in m.plain_text
    }
    assert by_topic == {"Nagorno-Karabakh talks resume": 7, "Akinci delivered": 9}
    assert fake.rejected == []


async def test_a_backlog_sends_higher_priority_rules_first(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    (app.config.rules_path / "priority.yaml").write_text(
        "rules:\n"
        "  - {id: routine, title: Routine, any: [routine]}\n"
        "  - {id: flash, title: Flash, any: [flash], priority: high}\n",
        encoding="utf-8",
    )
    assert "loaded" in (await app.reload_rules()).lower()
    await app.poll("news")
    await app.store.subscribe(str(USER), "routine", datetime.now(UTC))
    await app.store.subscribe(str(USER), "flash", datetime.now(UTC))
    stories = [item(n, f"routine item {n}") for n in range(2, 7)] + [item(7, "flash item")]
    async with running(app):
        await new_stories(app, feed_server, stories)
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) >= 6, 20)
    order = [t.splitlines()[0] for t in alerts_to(fake, USER)]
    assert order[0] == "flash item"  # stored last, sent first
    assert sorted(order[1:]) == sorted(f"routine item {n}" for n in range(2, 7))
