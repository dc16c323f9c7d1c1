"""A topic removed from the rule files is announced to its subscribers once, in their language,
and leaves their lists; /mine also lists the channels and groups a person manages with what
they receive. Through the fake Bot API, and the once-only decision on two stores sharing one
database, as two instances would."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

from bot.storage.store import Store
from bot.telegram import i18n, texts
from tests.e2e_support import GROUP, OTHER_USER, USER, MakeApp, alerts_to, item, running, seeded
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram
from tests.test_telegram_ux import latest, wait_text

ONLY_DRONES = textwrap.dedent(
    """
    rules:
      - id: drones
        title: Turkish drones
        any: [Bayraktar, "TB2", Akinci]
        notify: ["@defence_news", "-1002000"]
    """
)


async def test_a_removed_topic_is_announced_once_and_leaves_the_lists(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    fake.add_user(OTHER_USER, "Boris", language_code="ru")
    feed_server.set_feed("/news.xml", rss([item(1, "x")]))
    app = await make_app()
    now = datetime.now(UTC)
    for chat, rule in ((USER, "karabakh"), (USER, "drones"), (OTHER_USER, "karabakh")):
        await app.store.subscribe(str(chat), rule, now)
    async with running(app):
        await seeded(app)
        fake.user_sends(OTHER_USER, "/help")  # the bot learns Boris reads Russian
        await fake.wait_for_async(lambda: len(fake.messages_to(OTHER_USER)) == 1, timeout=10)
        (app.config.rules_path / "drones.yaml").write_text(ONLY_DRONES, encoding="utf-8")
        await app.reload_rules()
        assert app.announcing is not None
        await app.announcing  # the reload answers first; the notices follow
        before = len(fake.messages_to(USER)), len(fake.messages_to(OTHER_USER))
        await app.reload_rules()  # the same rules again: nobody is told twice
        if app.announcing is not None:
            await app.announcing
        after = len(fake.messages_to(USER)), len(fake.messages_to(OTHER_USER))
        # A forum topic's own settings are no chat of their own for /mine to ask about.
        await app.store.set_timezone(f"{GROUP}/5", "Europe/Istanbul", now)
        fake.user_sends(USER, "/mine")
        await wait_text(fake, USER, "You follow")
    assert before == after == (1, 2)
    (told,) = alerts_to(fake, USER)[:1]
    assert told == (
        "🗑 The topic Karabakh (karabakh) is no longer offered: its alerts have stopped. "
        "/rules lists the topics there are."
    )
    ru = i18n.catalogue("ru")[texts.RULE_REMOVED].format(title="Karabakh", id="karabakh")
    assert fake.messages_to(OTHER_USER)[1].text == ru
    mine = latest(fake, USER, "You follow").plain_text
    assert mine.splitlines() == [
        "You follow",
        "✅ drones: Turkish drones",
        "",
        "Channels and groups you manage",
        "📣 @defence_news: Turkish drones",
        "📣 -1002000: Turkish drones",
    ]
    assert await app.store.subscriptions_of(str(OTHER_USER)) == ["karabakh"], "kept, unused"
    assert fake.rejected == []


async def test_a_gone_rule_is_announced_by_one_instance_and_again_after_it_came_back(
    db_url: str,
) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    one, two = await Store.open(db_url), await Store.open(db_url)
    try:
        await one.subscribe("1001", "karabakh", now)
        await one.subscribe("1002", "karabakh", now)
        await one.subscribe("1001", "drones", now)
        assert await one.gone_rules({"karabakh", "drones"}, now) == {}
        assert await one.gone_rules({"drones"}, now) == {"karabakh": ["1001", "1002"]}
        assert await two.gone_rules({"drones"}, now) == {}, "the other instance says nothing"
        assert await one.gone_rules({"drones"}, now + timedelta(hours=1)) == {}
        # Back in force, then removed again: announced again.
        assert await two.gone_rules({"drones", "karabakh"}, now) == {}
        assert await two.gone_rules({"drones"}, now) == {"karabakh": ["1001", "1002"]}
    finally:
        await one.close()
        await two.close()
