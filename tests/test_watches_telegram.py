"""Personal watches as people use them, through the fake Bot API: /watch previews the stored
stories a query finds and asks to confirm; the watch then alerts its chat, in the same one
message as the topics the chat follows; /watches lists, pauses, resumes, edits, deletes (with
undo) and, for admins, exports; the per-chat limit holds even against two previews confirmed
one after the other."""

from __future__ import annotations

import asyncio

from bot.app import App
from bot.core.watches import WatchState
from tests.e2e_support import OTHER_USER, USER, MakeApp, alerts_to, item, running, seeded
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import Item, rss
from tests.fakes.telegram_api import FakeTelegram
from tests.test_telegram_ux import button, buttons, latest, wait_text


async def polled(app: App, stored: int) -> None:
    """Until the scheduler has stored more than ``stored`` stories (and their deliveries)."""
    for _ in range(1000):
        if await app.store.story_count() > stored:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the new story was never polled")


async def publish(app: App, feed_server: FeedServer, stories: list[Item], new: Item) -> None:
    stored = await app.store.story_count()
    stories.append(new)
    feed_server.set_feed("/news.xml", rss(stories))
    await polled(app, stored)


async def test_a_watch_from_preview_to_alerts_paused_edited_deleted_and_restored(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    stories = [item(1, "Shusha festival opens"), item(2, "Weather report")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    await app.store.subscribe(str(USER), "drones", app.clock())
    async with running(app):
        await seeded(app)
        fake.user_sends(USER, "/watch Shusha   OR Şuşa")
        await wait_text(fake, USER, "Alert this chat")
        preview = latest(fake, USER, "Alert this chat")
        assert "Shusha OR Şuşa" in preview.plain_text
        assert "found 1 stories" in preview.plain_text
        assert "Shusha festival opens" in preview.plain_text
        assert "Weather" not in preview.plain_text
        assert [label for label, _ in buttons(preview)] == ["✅ Watch it", "✖ Cancel"]
        fake.user_presses(USER, preview, button(preview, "Watch it"))
        await fake.wait_for_async(lambda: len(fake.edits) == 1, timeout=10)
        (watch,) = await app.store.watches_of(str(USER))
        assert fake.edits[0].plain_text == (
            f"👁 Watching Shusha OR Şuşa as watch {watch.id}. /watches lists yours."
        )

        # A story matching a followed topic and the watch: one message naming both.
        await publish(app, feed_server, stories, item(3, "Bayraktar drones seen over Şuşa"))
        await wait_text(fake, USER, "seen over Şuşa")
        alert = latest(fake, USER, "seen over Şuşa")
        assert sum("seen over Şuşa" in t for t in alerts_to(fake, USER)) == 1
        assert "🔎 Turkish drones" in alert.plain_text
        assert "🔎 👁 Shusha OR Şuşa" in alert.plain_text
        labels = [label for label, _ in buttons(alert)]
        assert labels == ["🔕 Turkish drones 24h", "✖ Turkish drones", "🔕 👁 Shusha OR Şuşa 24h"]
        assert not any("Şuşa" in t for t in alerts_to(fake, OTHER_USER))

        # Paused from the list's button: nothing arrives; resumed by command: alerts again.
        fake.user_sends(USER, "/watches")
        await wait_text(fake, USER, "Watches of this chat")
        listing = latest(fake, USER, "Watches of this chat")
        assert f"👁 {watch.id} Shusha OR Şuşa" in listing.plain_text
        fake.user_presses(USER, listing, button(listing, "⏸"))
        await fake.wait_for_async(lambda: len(fake.edits) == 2, timeout=10)
        assert fake.callback_answers[-1].text == f"⏸ Watch {watch.id} is paused."
        assert f"⏸ {watch.id} Shusha OR Şuşa" in (fake.edits[-1].plain_text or "")
        await publish(app, feed_server, stories, item(4, "Shusha while paused"))
        fake.user_sends(USER, f"/watches resume {watch.id}")
        await wait_text(fake, USER, "is back on")
        await publish(app, feed_server, stories, item(5, "Shusha once resumed"))
        await wait_text(fake, USER, "Shusha once resumed")

        # Edited: the new query alerts, the old one no longer does.
        fake.user_sends(USER, f"/watches edit {watch.id} Zangezur corridor")
        await wait_text(fake, USER, "now looks for")
        await publish(app, feed_server, stories, item(6, "Shusha after the edit"))
        await publish(app, feed_server, stories, item(7, "Zangezur corridor talks"))
        await wait_text(fake, USER, "Zangezur corridor talks")

        # Deleted, then restored with the undo button.
        fake.user_sends(USER, f"/watches delete {watch.id}")
        await wait_text(fake, USER, "is deleted")
        deleted = latest(fake, USER, "is deleted")
        await publish(app, feed_server, stories, item(8, "Zangezur while deleted"))
        fake.user_presses(USER, deleted, button(deleted, "Restore"))
        await fake.wait_for_async(lambda: len(fake.callback_answers) == 3, timeout=10)
        await publish(app, feed_server, stories, item(9, "Zangezur corridor restored"))
        await wait_text(fake, USER, "Zangezur corridor restored")

        # Its latest matches on demand, by its number.
        fake.user_sends(USER, f"/latest {watch.id}")
        await wait_text(fake, USER, "Latest on 👁 Zangezur corridor")
        fake.user_sends(OTHER_USER, f"/latest watch:{watch.id}")
        await wait_text(fake, OTHER_USER, f"has no watch {watch.id}")

        # Exported by an admin; another person can neither export nor touch it.
        fake.user_sends(USER, f"/watches export {watch.id}")
        await wait_text(fake, USER, "as a shared rule")
        fake.user_sends(OTHER_USER, f"/watches export {watch.id}")
        fake.user_sends(OTHER_USER, f"/watches pause {watch.id}")
        await wait_text(fake, OTHER_USER, f"has no watch {watch.id}", count=2)
        await wait_text(fake, OTHER_USER, "only the bot's administrators")
    headlines = [t.splitlines()[0] for t in alerts_to(fake, USER) if "🔎" in t]
    assert headlines == [
        "Bayraktar drones seen over Şuşa",
        "Shusha once resumed",
        "Zangezur corridor talks",
        "Zangezur corridor restored",
    ]
    found = latest(fake, USER, "Latest on").plain_text.splitlines()[1:]
    assert found == ["• Zangezur corridor restored", "• Zangezur corridor talks"]
    export = latest(fake, USER, "as a shared rule")
    assert f"- id: watch-{watch.id}" in export.plain_text
    assert 'query: "Zangezur corridor"' in export.plain_text
    assert any("only the bot's administrators" in t for t in alerts_to(fake, OTHER_USER))
    (kept,) = await app.store.watches_of(str(USER))
    assert (kept.query, kept.state.value) == ("Zangezur corridor", "active")
    assert fake.rejected == []


async def test_watch_errors_duplicates_and_the_limit(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app(telegram_extra="  watches_per_chat: 1\n")
    async with running(app):
        await seeded(app)
        for text in ("/watch", "/watch Shusha AND (", "/watch NOT drone"):
            fake.user_sends(USER, text)
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) >= 3, timeout=10)
        usage, broken, negative = alerts_to(fake, USER)[:3]
        # Two previews, confirmed one after the other: the second meets the limit.
        fake.user_sends(USER, "/watch Shusha")
        fake.user_sends(USER, "/watch Zangezur")
        await wait_text(fake, USER, "Alert this chat", count=2)
        first = latest(fake, USER, "Shusha")
        second = latest(fake, USER, "Zangezur")
        assert "Nothing in the last 3 days matches it yet" in first.plain_text
        fake.user_presses(USER, first, button(first, "Watch it"))
        await fake.wait_for_async(lambda: len(fake.callback_answers) == 1, timeout=10)
        fake.user_presses(USER, second, button(second, "Watch it"))
        await fake.wait_for_async(lambda: len(fake.callback_answers) == 2, timeout=10)
        fake.user_sends(USER, "/watch Shusha")
        await wait_text(fake, USER, "already watches")
        fake.user_sends(USER, "/watch Karabakh")
        await wait_text(fake, USER, "the most this bot allows")
        fake.user_sends(USER, "/watches pause 999")
        await wait_text(fake, USER, "has no watch 999")
        fake.user_sends(USER, "/watches frobnicate 1")
        await wait_text(fake, USER, "for the list")
    assert "Watch what?" in usage
    assert "can't read that query" in broken and "column" in broken
    assert "can't read that query" in negative and "only NOT" in negative
    refused = fake.callback_answers[1]
    assert refused.show_alert and "the most this bot allows" in (refused.text or "")
    watches = await app.store.watches_of(str(USER))
    assert [w.query for w in watches] == ["Shusha"]
    assert fake.rejected == []


async def test_watches_can_be_turned_off(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app(telegram_extra="  watches_per_chat: 0\n")
    async with running(app):
        fake.user_sends(USER, "/watch Shusha")
        await wait_text(fake, USER, "turned off")
    assert await app.store.watches_of(str(USER)) == []


async def test_many_watches_are_listed_in_pages(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app(telegram_extra="  watches_per_chat: 100\n")
    now = app.clock()
    numbers = []
    for n in range(25):
        draft = await app.store.draft_watch(str(USER), f"town{n} OR " + "x" * 400, now)
        numbers.append((await app.store.set_watch(draft.id, WatchState.ACTIVE, now)).id)
    async with running(app):
        fake.user_sends(USER, "/watches")
        await wait_text(fake, USER, "Watches of this chat")
        first = latest(fake, USER, "Watches of this chat")
        fake.user_presses(USER, first, button(first, "▶"))
        await fake.wait_for_async(lambda: len(fake.edits) == 1, timeout=10)
        second = fake.edits[0]
        assert second.reply_markup is not None
        data = [b["callback_data"] for row in second.reply_markup["inline_keyboard"] for b in row]
        pause = next(d for d in data if d.startswith(f"w:p:{numbers[12]}:"))
        fake.user_presses(USER, first, pause)
        await fake.wait_for_async(lambda: len(fake.edits) == 2, timeout=10)
    assert "(25 of at most 100)" in first.plain_text
    assert [label for label, _ in buttons(first)][-1] == "▶"
    assert len(first.text) < 4096 and len(buttons(first)) == 2 * 10 + 1
    assert f"👁 {numbers[10]} town10" in (second.plain_text or "")
    assert f"👁 {numbers[9]} town9" not in (second.plain_text or "")
    after = fake.edits[1].plain_text or ""
    assert f"⏸ {numbers[12]} town12" in after, "the pause keeps the list on its page"
    assert f"👁 {numbers[10]} town10" in after
    assert fake.rejected == []
