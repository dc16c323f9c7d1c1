"""Telegram as people use it, through the fake Bot API: buttons to subscribe and to act on an
alert, pages of topics, mute and unmute, the bot removed from a chat or demoted in a channel,
and admin statistics. Every message the bot sends is checked by the fake's Telegram HTML parser
(nothing may be rejected)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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
)
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram, SentMessage


def buttons(message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback data) of every inline button under a message."""
    markup = message.reply_markup or {}
    return [
        (b["text"], b["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for b in row
        if "callback_data" in b  # not a link button
    ]


def button(message: SentMessage, label_part: str) -> str:
    return next(data for label, data in buttons(message) if label_part in label)


def latest(fake: FakeTelegram, chat: int, contains: str) -> SentMessage:
    return next(m for m in reversed(fake.messages_to(chat)) if contains in m.plain_text)


async def wait_text(fake: FakeTelegram, chat: int, contains: str, count: int = 1) -> None:
    await fake.wait_for_async(
        lambda: sum(contains in t for t in alerts_to(fake, chat)) >= count, timeout=10
    )


async def test_subscribe_with_a_button_from_the_rules_list(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    async with running(app):
        fake.user_sends(USER, "/rules")
        await wait_text(fake, USER, "Topics")
        page = latest(fake, USER, "Topics")
        assert [label for label, _ in buttons(page)] == ["➕ Turkish drones", "➕ Karabakh"]
        fake.user_presses(USER, page, button(page, "Karabakh"))
        await fake.wait_for_async(lambda: bool(fake.edits), timeout=10)
    assert await app.store.subscriptions_of(str(USER)) == ["karabakh"]
    (answer,) = fake.callback_answers
    assert answer.text is not None and "Subscribed to Karabakh" in answer.text
    (edit,) = fake.edits
    assert edit.reply_markup is not None
    labels = [b["text"] for row in edit.reply_markup["inline_keyboard"] for b in row]
    assert labels == ["➕ Turkish drones", "✅ Karabakh"]
    assert fake.rejected == []


async def test_rules_come_in_pages(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram, tmp_path: object
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    many = "".join(
        f"  - {{id: topic-{i:02}, title: Topic {i}, any: [word{i}]}}\n" for i in range(15)
    )
    (app.config.rules_path / "many.yaml").write_text(f"rules:\n{many}", encoding="utf-8")
    await app.reload_rules()
    async with running(app):
        fake.user_sends(USER, "/rules")
        await wait_text(fake, USER, "page 1 of 3")
        first = latest(fake, USER, "page 1 of 3")
        assert len(buttons(first)) == 8 + 1  # eight topics and "next"
        fake.user_presses(USER, first, button(first, "▶"))
        await fake.wait_for_async(lambda: len(fake.edits) == 1, timeout=10)
    edit = fake.edits[0]
    assert edit.plain_text is not None and "page 2 of 3" in edit.plain_text
    assert edit.reply_markup is not None
    labels = [b["text"] for row in edit.reply_markup["inline_keyboard"] for b in row]
    assert labels[0] == "➕ Topic 6" and labels[-2:] == ["◀", "▶"]


async def test_mute_and_unsubscribe_from_under_an_alert(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    stories = [item(1, "x")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    now = datetime.now(UTC)
    await app.store.subscribe(str(USER), "drones", now)
    await app.store.subscribe(str(OTHER_USER), "drones", now)
    await app.store.set_timezone(str(USER), "Asia/Kolkata", now)  # UTC+05:30
    async with running(app):
        await seeded(app)
        stories.append(item(2, "Bayraktar delivered"))
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, USER, "Bayraktar delivered")
        await wait_text(fake, OTHER_USER, "Bayraktar delivered")
        alert = latest(fake, USER, "Bayraktar delivered")
        assert [label for label, _ in buttons(alert)] == ["🔕 Mute this rule 24h", "✖ Unsubscribe"]
        assert buttons(latest(fake, CHANNEL, "Bayraktar")) == [], "no buttons in a channel"
        fake.user_presses(USER, alert, button(alert, "Mute"))
        pressed = datetime.now(UTC)
        other = latest(fake, OTHER_USER, "Bayraktar delivered")
        fake.user_presses(OTHER_USER, other, button(other, "Unsubscribe"))
        await fake.wait_for_async(lambda: len(fake.callback_answers) == 2, timeout=10)
        stories.append(item(3, "Bayraktar again"))
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, CHANNEL, "Bayraktar again")
        fake.user_sends(USER, "/mine")
        await wait_text(fake, USER, "muted until")
        fake.user_sends(USER, "/unmute drones")
        await wait_text(fake, USER, "back on")
        stories.append(item(4, "Bayraktar a third time"))
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, USER, "Bayraktar a third time")
    user_alerts = [t.splitlines()[0] for t in alerts_to(fake, USER) if "🔎" in t]
    assert user_alerts == ["Bayraktar delivered", "Bayraktar a third time"]
    other_alerts = [t.splitlines()[0] for t in alerts_to(fake, OTHER_USER) if "🔎" in t]
    assert other_alerts == ["Bayraktar delivered"]
    answers = {a.user_id: a.text or "" for a in fake.callback_answers}
    assert "muted until" in answers[USER] and "Unsubscribed" in answers[OTHER_USER]
    # The time is shown in the user's zone: 24 hours after the press, in Kolkata.
    shown = re.search(r"muted until (\d{4}-\d\d-\d\d \d\d:\d\d) Asia/Kolkata", answers[USER])
    assert shown, answers[USER]
    local = datetime.strptime(shown[1], "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Kolkata"))
    assert abs(local - (pressed + timedelta(hours=24))) < timedelta(minutes=2)
    removed = [e for e in fake.edits if e.chat_id == OTHER_USER]
    assert removed and removed[-1].reply_markup is not None
    undo = [b["text"] for row in removed[-1].reply_markup["inline_keyboard"] for b in row]
    assert undo == ["↩ Subscribe again"], "after use, only the undo is left"
    assert fake.rejected == []


async def test_mute_all_and_helpful_answers(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    stories = [item(1, "x")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    await app.store.subscribe(str(USER), "karabakh", datetime.now(UTC))
    async with running(app):
        await seeded(app)
        for text in ("/mute", "/mute all soon", "/mute drones 2h", "/mute all 2h", "/mine"):
            fake.user_sends(USER, text)
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) >= 5, timeout=10)
        stored, deliveries = await app.store.story_count(), await app.store.delivery_counts()
        stories.append(item(2, "Nagorno-Karabakh news"))
        feed_server.set_feed("/news.xml", rss(stories))
        for _ in range(1000):  # until the scheduler has polled and stored the new story
            if await app.store.story_count() > stored:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the new story was never polled")
        # Stored with its deliveries in one transaction: the muted chat got none.
        assert await app.store.delivery_counts() == deliveries
        fake.user_sends(USER, "/unmute all")
        await wait_text(fake, USER, "Alerts are back on")
    usage, bad, not_mine, muted_all, mine = alerts_to(fake, USER)[:5]
    assert "/mute rule-id 24h" in usage
    assert "can't read soon as a duration" in bad
    assert "You were not subscribed to drones" in not_mine
    assert "All alerts are muted until" in muted_all
    assert "Everything is muted until" in mine and "karabakh" in mine
    assert not any("Nagorno-Karabakh news" in t for t in alerts_to(fake, USER))


async def test_removed_from_a_group_holds_its_alerts_and_tells_the_admins(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    stories = [item(1, "x")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    async with running(app):
        await seeded(app)
        fake.bot_status_changed(GROUP, "left", by_user_id=USER)
        await wait_text(fake, USER, "removed from Analysts")
        stories.append(item(2, "Bayraktar while away"))
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, CHANNEL, "Bayraktar while away")
        assert not any("while away" in t for t in alerts_to(fake, GROUP))
        fake.bot_status_changed(GROUP, "member", by_user_id=USER)
        await wait_text(fake, GROUP, "Bayraktar while away")
        fake.bot_status_changed(CHANNEL, "member", by_user_id=USER)
        await wait_text(fake, USER, "not an admin of channel @defence_news")
    assert (await app.store.chat_statuses())[str(CHANNEL)] == "blocked"
    assert fake.rejected == []


async def test_admin_statistics(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    stories = [item(1, "x")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    async with running(app):
        await seeded(app)
        stories += [item(2, "Bayraktar one"), item(3, "Akinci two")]
        feed_server.set_feed("/news.xml", rss(stories))
        for _ in range(500):  # until all four alerts are recorded as sent
            if (await app.store.delivery_counts()).get("sent") == 4:
                break
            await asyncio.sleep(0.02)
        fake.user_sends(OTHER_USER, "/stats")
        fake.user_sends(USER, "/stats")
        await wait_text(fake, USER, "Alerts sent")
    stats = latest(fake, USER, "Alerts sent").plain_text
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert "drones: 4" in stats and f"{today}: 4" in stats  # 2 stories x (channel + group)
    assert "only the bot's administrators" in alerts_to(fake, OTHER_USER)[-1]


async def test_a_channel_admin_subscribes_the_channel_from_a_private_chat(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    fake.add_channel(-1003000, "quiet_channel", "Quiet", admins=[USER], bot_is_admin=False)
    stories = [item(1, "x")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    async with running(app):
        await seeded(app)
        fake.user_sends(OTHER_USER, "/subscribe karabakh @defence_news")
        await wait_text(fake, OTHER_USER, "Only an admin of @defence_news")
        fake.user_sends(USER, "/subscribe karabakh @quiet_channel")
        await wait_text(fake, USER, "Make me an admin of @quiet_channel")
        fake.user_sends(USER, "/subscribe karabakh @no_such_channel")
        await wait_text(fake, USER, "can't see the channel @no_such_channel")
        fake.user_sends(USER, "/subscribe karabakh @defence_news")
        await wait_text(fake, USER, "@defence_news now receives Karabakh")
        stories.append(item(2, "Qarabağ talks"))
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, CHANNEL, "Qarabağ talks")
        fake.user_sends(USER, "/unsubscribe karabakh @defence_news")
        await wait_text(fake, USER, "@defence_news no longer receives Karabakh")
    assert await app.store.subscriptions_of(str(CHANNEL)) == []
    assert await app.store.subscriptions_of(str(USER)) == [], "the person is not subscribed"
    assert not any("Qarabağ" in t for t in alerts_to(fake, USER))
    assert fake.rejected == []


async def test_rules_choose_silent_alerts_and_link_previews(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    stories = [item(1, "x")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    (app.config.rules_path / "quiet.yaml").write_text(
        "rules:\n  - {id: quiet, title: Quiet, any: [Lachin], notify: ['-1002000'],"
        " silent: true, link_preview: true}\n",
        encoding="utf-8",
    )
    await app.reload_rules()
    async with running(app):
        await seeded(app)
        stories += [item(2, "Lachin corridor reopens"), item(3, "Bayraktar again")]
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, GROUP, "Lachin corridor")
        await wait_text(fake, GROUP, "Bayraktar again")
    quiet = latest(fake, GROUP, "Lachin corridor")
    loud = latest(fake, GROUP, "Bayraktar again")
    assert quiet.disable_notification and not loud.disable_notification
    assert (quiet.link_preview_options or {}).get("is_disabled") in (False, None)
    assert (loud.link_preview_options or {}).get("is_disabled") is True


async def test_a_private_chat_always_gets_an_answer_a_group_only_for_commands(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    async with running(app):
        fake.user_sends(USER, "/foo")
        await wait_text(fake, USER, "I don't have a command /foo")
        fake.user_sends(USER, "/subscibe karabakh")
        await wait_text(fake, USER, "I don't have a command /subscibe")
        fake.user_sends(USER, "hello, what can you do?")
        await wait_text(fake, USER, "I only understand commands")
        # In a group, commands may be for other bots and talk is not for the bot.
        fake.user_sends(OTHER_USER, "/foo", chat_id=GROUP)
        fake.user_sends(OTHER_USER, "/foo@other_bot", chat_id=GROUP)
        fake.user_sends(OTHER_USER, "/help", chat_id=GROUP)
        await wait_text(fake, GROUP, "Commands")
    foo, typo, hello = alerts_to(fake, USER)
    assert "Send /help" in foo and "Did you mean" not in foo
    assert "Did you mean /subscribe" in typo
    assert "/subscribe rule-id" in hello
    assert len(alerts_to(fake, GROUP)) == 1, alerts_to(fake, GROUP)
    assert fake.rejected == []


async def test_several_topics_in_one_command_and_a_channel_only_by_its_at_name(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    async with running(app):
        fake.user_sends(USER, "/subscribe drones karabakh")  # two topics, not @karabakh
        await wait_text(fake, USER, "Subscribed to Karabakh")
        assert await app.store.subscriptions_of(str(USER)) == ["drones", "karabakh"]
        fake.user_sends(USER, "/subscribe karabakh defence_news")
        await wait_text(fake, USER, "I don't know a topic")
        fake.user_sends(USER, "/subscribe karabakh @one @two")
        await wait_text(fake, USER, "Name one channel at a time")
        fake.user_sends(USER, "/unsubscribe drones,karabakh dornes")
        await wait_text(fake, USER, "You were not subscribed to")
        fake.user_sends(USER, "/mine")
        await wait_text(fake, USER, "don't follow any topic")
    both, again, channels, removed, mine = alerts_to(fake, USER)[:5]
    assert mine.splitlines()[-3:] == [
        "Channels and groups you manage",
        "📣 @defence_news: Turkish drones",
        "📣 -1002000: Turkish drones",
    ], "what the channels the person manages receive"
    assert "Subscribed to <b>Turkish drones</b>" in fake.messages_to(USER)[0].text
    assert both.count("Subscribed to") == 2
    assert "You already follow Karabakh" in again and "defence_news" in again
    assert "name it with @" in again, "the old way to name a channel is explained"
    assert "Unsubscribed from Turkish drones" in removed
    assert "Unsubscribed from Karabakh" in removed
    assert "not subscribed to dornes" in removed
    assert "Name one channel" in channels
    assert await app.store.subscriptions_of(str(USER)) == []
    assert await app.store.subscriptions_of(str(CHANNEL)) == []
    assert fake.rejected == []


async def test_a_topic_no_longer_offered_leaves_mine(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    await app.store.subscribe(str(USER), "iran-drones", datetime.now(UTC))
    await app.store.subscribe(str(USER), "karabakh", datetime.now(UTC))
    async with running(app):
        fake.user_sends(USER, "/mine")
        await wait_text(fake, USER, "You follow")
    (mine,) = alerts_to(fake, USER)
    assert "iran-drones" not in mine and "karabakh: Karabakh" in mine
    assert "?" not in mine


def _labels(fake: FakeTelegram, message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback data) of the buttons now under ``message`` (after edits)."""
    current = fake.get_message(message.chat_id, message.message_id) or {}
    rows = (current.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


async def test_mute_and_unsubscribe_under_an_alert_can_be_undone(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    stories = [item(1, "x")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    await app.store.subscribe(str(USER), "drones", datetime.now(UTC))
    await app.store.subscribe(str(USER), "karabakh", datetime.now(UTC))
    async with running(app):
        await seeded(app)
        stories.append(item(2, "Bayraktar over Nagorno-Karabakh"))
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, USER, "Bayraktar over")
        alert = latest(fake, USER, "Bayraktar over")
        before = _labels(fake, alert)
        assert [label for label, _ in before] == [
            "🔕 Turkish drones 24h",
            "✖ Turkish drones",
            "🔕 Karabakh 24h",
            "✖ Karabakh",
        ]

        async def press(label: str, edits: int) -> list[str]:
            data = next(d for text, d in _labels(fake, alert) if text == label)
            fake.user_presses(USER, alert, data)
            await fake.wait_for_async(lambda: len(fake.edits) >= edits, timeout=10)
            return [text for text, _ in _labels(fake, alert)]

        muted = await press("🔕 Turkish drones 24h", 1)
        assert muted == ["🔔 Unmute Turkish drones", "🔕 Karabakh 24h", "✖ Karabakh"]
        assert "drones" in (await app.store.chat_settings(str(USER), datetime.now(UTC)))[2]
        unmuted = await press("🔔 Unmute Turkish drones", 2)
        assert "drones" not in (await app.store.chat_settings(str(USER), datetime.now(UTC)))[2]
        assert unmuted == [label for label, _ in before], "the undo gives the buttons back"
        gone = await press("✖ Karabakh", 3)
        assert gone[-1] == "↩ Karabakh: subscribe again" and len(gone) == 3
        assert await app.store.subscriptions_of(str(USER)) == ["drones"]
        back = await press("↩ Karabakh: subscribe again", 4)
        assert back == [label for label, _ in before]
        assert await app.store.subscriptions_of(str(USER)) == ["drones", "karabakh"]
    answers = [a.text or "" for a in fake.callback_answers]
    assert "muted until" in answers[0] and "back on" in answers[1]
    assert "Unsubscribed" in answers[2] and "Subscribed" in answers[3]
    assert fake.rejected == []


async def test_people_who_block_the_bot_are_told_to_the_admins_in_one_message(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    people = [2001, 2002, 2003, 2004]
    for person in people:
        fake.add_user(person)
    stories = [item(1, "x")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app(extra="delivery:\n  blocked_notice: 3s\n")
    for person in people:
        await app.store.subscribe(str(person), "karabakh", datetime.now(UTC))
    async with running(app):
        await seeded(app)
        for person in people[:3]:
            fake.block(person)
        stories.append(item(2, "Qarabağ talks"))
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, 2004, "Qarabağ talks")
        await fake.wait_for_async(
            lambda: any("blocked the bot" in t for t in alerts_to(fake, USER)), timeout=15
        )
        stories.append(item(3, "Qarabağ talks go on"))  # held too: no new notice
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, 2004, "talks go on")
        await asyncio.sleep(4)
    notices = [t for t in alerts_to(fake, USER) if "block" in t or "held" in t]
    assert len(notices) == 1, notices
    assert "3 people blocked the bot in the last 3 seconds" in notices[0]
    assert all(str(p) in notices[0] for p in people[:3])
    assert (await app.store.delivery_counts()).get("held") == 6


async def test_the_admin_commands_are_in_the_menu_of_the_admins_only(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    async with running(app):
        pass  # connected: the menus are set
    everyone = [c["command"] for c in fake.commands_for()]
    admin = [c["command"] for c in fake.commands_for({"type": "chat", "chat_id": USER})]
    assert {"subscribe", "mine", "help"} <= set(everyone)
    assert not {"status", "feeds", "stats", "reload"} & set(everyone)
    assert admin[: len(everyone)] == everyone
    assert admin[len(everyone) :] == ["status", "feeds", "stats", "reload"]
    assert fake.commands_for({"type": "chat", "chat_id": OTHER_USER}) == []


async def test_rules_search_and_a_topic_card_with_its_share_link(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x"), item(2, "Shahed strikes reported")]))
    app = await make_app()
    (app.config.rules_path / "more.yaml").write_text(
        "rules:\n"
        "  - id: iran-drones\n    title: Iranian drones\n    any: [Shahed]\n"
        "    description: Shahed and Mohajer drones, their exports and their use\n"
    )
    await app.reloader.reload()
    async with running(app):
        await seeded(app)
        fake.user_sends(USER, "/rules drone")
        await wait_text(fake, USER, "Topics matching")
        fake.user_sends(USER, "/rules drone exports")
        await wait_text(fake, USER, "Topics matching", count=2)
        fake.user_sends(USER, "/rules zeppelin")
        await wait_text(fake, USER, "No topic matches")
        fake.user_sends(USER, "/rule iran-drones")
        await wait_text(fake, USER, "Share it")
        card = latest(fake, USER, "Share it")
        assert [label for label, _ in buttons(card)] == ["➕ Iranian drones"]
        fake.user_presses(USER, card, button(card, "Iranian drones"))
        await fake.wait_for_async(lambda: bool(fake.edits), timeout=10)
    drones, exports, none, text = alerts_to(fake, USER)[:4]
    assert "iran-drones" in drones and "drones: Turkish drones" in drones
    assert "karabakh" in drones, "its category (its file, drones.yaml) matches too"
    assert "iran-drones" in exports and "Turkish drones" not in exports
    assert "No topic matches “zeppelin”" in none
    assert "does not follow it" in text
    assert "Lately (last 3 days):\n• Shahed strikes reported\n" in text, text
    assert "https://t.me/newsbot_test_bot?start=iran-drones" in text
    share = card.reply_markup["inline_keyboard"][1][0]  # type: ignore[index]
    assert share["url"].startswith("https://t.me/share/url?url=https%3A%2F%2Ft.me%2F")
    assert await app.store.subscriptions_of(str(USER)) == ["iran-drones"]
    (edit,) = fake.edits  # the card's buttons now act as an alert's, the share link stays
    assert edit.reply_markup is not None
    labels = [b["text"] for row in edit.reply_markup["inline_keyboard"] for b in row]
    assert labels == ["🔕 Mute this rule 24h", "✖ Unsubscribe", "📤 Share"]
    assert fake.rejected == []


async def test_rules_are_grouped_by_category_or_by_their_file(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    (app.config.rules_path / "more.yaml").write_text(
        "rules:\n"
        "  - {id: iran-drones, title: Iranian drones, any: [Shahed], category: Middle East}\n"
        "  - {id: gaza, title: Gaza, any: [Gaza], category: Middle East}\n"
    )
    await app.reloader.reload()
    async with running(app):
        fake.user_sends(USER, "/rules")
        await wait_text(fake, USER, "Topics")
        fake.user_sends(USER, "/rules middle east")
        await wait_text(fake, USER, "Topics matching")
    page, found = alerts_to(fake, USER)
    assert page.splitlines()[1:] == [
        "drones",
        "▫️ drones: Turkish drones",
        "▫️ karabakh: Karabakh",
        "Middle East",
        "▫️ iran-drones: Iranian drones",
        "▫️ gaza: Gaza",
    ]
    assert "iran-drones" in found and "gaza" in found and "karabakh" not in found
    labels = [label for label, _ in buttons(latest(fake, USER, "page 1"))]
    assert labels == ["➕ Turkish drones", "➕ Karabakh", "➕ Iranian drones", "➕ Gaza"]


async def test_latest_matches_of_a_topic_and_a_search_over_the_last_days(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    stories = [
        item(1, "Old news"),
        item(2, "Bayraktar seen over Shusha"),
        item(3, "Şuşa festival opens"),
        item(4, "Talks on the Zangezur corridor"),
        item(5, 'Akinci "drone" & TB2 <b>bold</b>'),
    ]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    async with running(app):
        await seeded(app)  # stored, though alerted on nothing (the first poll)
        for text in (
            "/latest drones",
            "/latest drones 1",
            "/latest dornes",
            "/search Shusha OR Şuşa",
            '/search "Zangezur corridor"',
            "/search (Shusha OR",
            "/search nothing-like-this",
            "/latest",
        ):
            fake.user_sends(USER, text)
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) >= 8, timeout=15)
    drones, one, typo, shusha, zangezur, broken, nothing, usage = alerts_to(fake, USER)
    assert drones.splitlines()[0] == "Latest on Turkish drones (last 3 days)"
    assert drones.splitlines()[1:] == [
        '• Akinci "drone" & TB2 bold',
        "• Bayraktar seen over Shusha",
    ], "newest first, the title escaped (as stored: feed markup removed)"
    assert one.splitlines()[1:] == ['• Akinci "drone" & TB2 bold']
    assert "Did you mean" in typo and "drones" in typo
    assert sorted(shusha.splitlines()[1:]) == [
        "• Bayraktar seen over Shusha",
        "• Şuşa festival opens",
    ]
    assert zangezur.splitlines()[1:] == ["• Talks on the Zangezur corridor"]
    assert "can't read that query" in broken and "column" in broken
    assert "Nothing found" in nothing
    assert "/latest rule-id" in usage
    links = fake.messages_to(USER)[0].entities
    assert any(e["type"] == "text_link" for e in links)
    assert fake.rejected == []
