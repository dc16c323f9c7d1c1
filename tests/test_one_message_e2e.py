"""One message per story, end to end on SQLite and PostgreSQL, through the fake Bot API:
overlapping rules reach a chat as one message naming them all, whether the chat follows them by
subscription or by ``notify``; mutes, quiet hours and urgent rules decide per rule; chats the
bot cannot reach get every story once they are back, after a restart too; a channel named by
``@username`` and a migrated group keep one identity; alerts show the chat's local time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.app import App
from bot.core.digest import QuietHours
from tests.e2e_support import (
    CHANNEL,
    GROUP,
    OTHER_USER,
    USER,
    Clock,
    MakeApp,
    alerts_to,
    item,
    running,
)
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram

MORE_RULES = """
rules:
  - id: ucav
    title: Armed drones
    any: [drones, UCAV]
    notify: ["-1002000"]
  - id: strikes
    title: Strikes
    any: [strike, strikes]
    priority: urgent
"""


async def with_more_rules(app: App) -> None:
    (app.config.rules_path / "more.yaml").write_text(MORE_RULES, encoding="utf-8")
    assert "reloaded" in (await app.reload_rules()).lower()


def rule_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("🔎")]


async def test_a_story_matching_three_rules_is_one_message_per_chat(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    items = [item(1, "Old news")]
    feed_server.set_feed("/news.xml", rss(items))
    app = await make_app(clock=clock)
    await with_more_rules(app)
    now = clock()
    # The group follows drones and ucav by notify, karabakh by subscription; a person
    # follows one of the rules; another follows two, with quiet hours now and one urgent.
    await app.store.subscribe(str(GROUP), "karabakh", now)
    await app.store.subscribe(str(USER), "drones", now)
    await app.store.subscribe(str(OTHER_USER), "karabakh", now)
    await app.store.subscribe(str(OTHER_USER), "strikes", now)
    await app.store.set_quiet(str(OTHER_USER), QuietHours(time(11), time(14)), now)
    assert [r.outcome for r in await app.run_once()] == ["seeded"]

    items.append(item(2, "Akinci drones strike near Nagorno-Karabakh"))
    feed_server.set_feed("/news.xml", rss(items))
    await app.run_once()
    (group,) = alerts_to(fake, GROUP)
    assert sorted(rule_lines(group)) == [
        "🔎 Armed drones: drones",
        "🔎 Karabakh: Nagorno-Karabakh",
        "🔎 Turkish drones: Akinci",
    ]
    assert len(rule_lines(group)) == 3
    (person,) = alerts_to(fake, USER)
    assert rule_lines(person) == ["🔎 Turkish drones: Akinci"]
    (channel,) = alerts_to(fake, CHANNEL)
    assert rule_lines(channel) == ["🔎 Turkish drones: Akinci"]
    # Quiet hours hold karabakh, but strikes is urgent: one message at once naming both...
    (night,) = alerts_to(fake, OTHER_USER)
    assert sorted(rule_lines(night)) == ["🔎 Karabakh: Nagorno-Karabakh", "🔎 Strikes: strike"]
    # ...and nothing again when the quiet hours end.
    clock.set(datetime(2026, 11, 24, 14, 1, tzinfo=UTC))
    await app.run_once()
    assert len(alerts_to(fake, OTHER_USER)) == 1
    counts = await app.store.delivery_counts()
    assert counts == {"sent": 4}, counts

    # The group mutes one of the three rules: the next story names the other two.
    await app.store.mute(str(GROUP), "karabakh", clock() + timedelta(hours=24), clock())
    items.append(item(3, "Bayraktar drones over Karabakh again"))
    feed_server.set_feed("/news.xml", rss(items))
    await app.run_once()
    latest = alerts_to(fake, GROUP)[-1]
    assert "Bayraktar drones over Karabakh again" in latest
    assert sorted(rule_lines(latest)) == ["🔎 Armed drones: drones", "🔎 Turkish drones: Bayraktar"]
    assert len(alerts_to(fake, GROUP)) == 2
    assert fake.rejected == []


async def test_chats_that_could_not_be_reached_get_every_story_once_back_after_a_restart(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    items = [item(1, "Old news")]
    feed_server.set_feed("/news.xml", rss(items))
    app = await make_app()
    await app.store.subscribe(str(USER), "karabakh", datetime.now(UTC))
    await app.store.subscribe(str(GROUP), "karabakh", datetime.now(UTC))
    async with running(app):
        await app.poll("news")  # seeds
        fake.block(USER)  # the user blocks the bot
        fake.bot_status_changed(CHANNEL, "member", by_user_id=USER)  # demoted in the channel
        fake.bot_status_changed(GROUP, "left", by_user_id=USER)  # removed from the group
        for _ in range(200):  # the bot learns of all three from Telegram
            statuses = await app.store.chat_statuses()
            if all(statuses.get(str(c)) == "blocked" for c in (CHANNEL, GROUP)):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(statuses)
        for n, title in ((2, "Bayraktar over Nagorno-Karabakh"), (3, "Qarabağ: Akinci seen")):
            items.append(item(n, title))
            feed_server.set_feed("/news.xml", rss(items))
            assert (await app.poll("news")).outcome == "new"
            app.sender.wake()
            await asyncio.sleep(0.5)
        assert not [m for m in alerts_to(fake, USER) if "Bayraktar" in m or "Qarabağ" in m]
        assert alerts_to(fake, CHANNEL) == [] and alerts_to(fake, GROUP) == []
    counts = await app.store.delivery_counts()
    assert counts == {"held": 6}, counts  # 2 stories x (user, channel by @name, group)
    await app.close()

    restarted = await make_app()  # held through a restart
    async with running(restarted):
        fake.unblock(USER)
        fake.user_sends(USER, "/start")
        fake.bot_status_changed(CHANNEL, "administrator", by_user_id=USER)
        fake.bot_added_to_group(GROUP, USER)
        for chat in (USER, CHANNEL, GROUP):
            await fake.wait_for_async(
                lambda chat=chat: (
                    len(  # type: ignore[misc]
                        [t for t in alerts_to(fake, chat) if "Bayraktar" in t or "Qarabağ" in t]
                    )
                    == 2
                ),
                timeout=15,
            )
        await asyncio.sleep(1)
    for chat in (USER, CHANNEL, GROUP):
        got = [t.splitlines()[0] for t in alerts_to(fake, chat) if "Bayraktar" in t or "Qar" in t]
        assert got == ["Bayraktar over Nagorno-Karabakh", "Qarabağ: Akinci seen"], (chat, got)
    assert (await restarted.store.delivery_counts()) == {"sent": 6}
    # Alerts and the reply to /start share one pacer: no limit is exceeded.
    assert not any(fake.limit_violations().values()), fake.limit_violations()


async def test_a_migrated_group_keeps_its_settings_and_alerts_show_local_time(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    basic, upgraded = -5000, -1005000
    fake.add_group(basic, "Basic desk", supergroup=False, admins=[USER])
    items = [item(1, "Old news")]
    feed_server.set_feed("/news.xml", rss(items))
    app = await make_app()
    now = datetime.now(UTC)
    await app.store.subscribe(str(basic), "karabakh", now)
    await app.store.set_timezone(str(basic), "Europe/Berlin", now)
    # Quiet hours that never hold this test's alert, whatever the hour it runs at.
    berlin = now.astimezone(ZoneInfo("Europe/Berlin"))
    quiet = QuietHours(time((berlin.hour + 6) % 24), time((berlin.hour + 7) % 24))
    await app.store.set_quiet(str(basic), quiet, now)
    await app.run_once()
    fake.migrate_group(basic, upgraded)
    items.append(item(2, "Talks on Nagorno-Karabakh"))  # published 10:02 UTC
    feed_server.set_feed("/news.xml", rss(items))
    await app.run_once()
    (alert,) = alerts_to(fake, upgraded)
    assert "2026-11-24 11:02 Europe/Berlin" in alert  # the chat's zone, not UTC
    prefs = (await app.store.chat_prefs([str(upgraded)]))[str(upgraded)]
    assert prefs.tz_name == "Europe/Berlin"
    assert prefs.quiet == quiet
    assert await app.store.subscriptions_of(str(upgraded)) == ["karabakh"]
