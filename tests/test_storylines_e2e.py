"""One message per story across outlets, end to end on SQLite and PostgreSQL, through the fake
Bot API server: ten outlets' versions of one story are one message, later edited (within the
limits, in valid HTML) to list the others; different stories on one topic stay apart; a chat
that turns grouping off with /grouping gets each version; a chat that muted the rule gets no
later version; a restart in the middle loses and repeats nothing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from bot.app import App
from bot.core.digest import QuietHours
from tests.e2e_support import CHANNEL, GROUP, USER, Clock, MakeApp, alerts_to, running
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import Item, rss
from tests.fakes.telegram_api import FakeTelegram
from tests.test_telegram_ux import wait_text

START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TITLE = "Turkish Bayraktar TB2 drones strike militant convoy near Idlib, officials say"
# The outlets and their versions of the story: reprints of the wire copy with small edits,
# and two copies of the first outlets' own articles (tracking parameters, a mobile host).
VERSIONS = [
    ("ap", TITLE, "https://apnews.example/article/idlib-drones-123"),
    ("yahoo", TITLE, "https://news.yahoo.example/idlib-drones-strike-0930.html"),
    (
        "reuters",
        "Turkish Bayraktar TB2 drones strike militant convoy near Idlib - officials",
        "https://reuters.example/world/idlib-convoy",
    ),
    ("aljazeera", f"{TITLE} | Al Jazeera", "https://aljazeera.example/news/2026/11/24/idlib"),
    (
        "xinhua",
        "Turkish Bayraktar TB2 drones strike militant convoy near Syria's Idlib, officials say",
        "https://xinhua.example/20261124/idlib",
    ),
    ("dailysabah", TITLE, "https://dailysabah.example/idlib"),
    ("msn", TITLE, "https://msn.example/en-us/news/idlib"),
    (
        "apfeed",
        "Turkish TB2 drones hit militant convoy near Idlib",
        "https://apnews.example/article/idlib-drones-123?utm_source=rss&utm_medium=feed",
    ),
    (
        "reutersmobile",
        "Turkish Bayraktar TB2 drones strike convoy near Idlib",
        "https://m.reuters.example/world/idlib-convoy",
    ),
    ("trt", TITLE, "https://trtworld.example/idlib"),
]
OUTLETS = [name for name, _, _ in VERSIONS]
CHATS = [USER, GROUP, CHANNEL]
CLUSTERING = "clustering:\n  semantic: false\n  edit_after: 0s\n  edit_every: 5m\n"


def old(outlet: str) -> Item:
    return Item(
        title=f"Old news at {outlet}",
        link=f"https://{outlet}.example/old",
        guid=f"{outlet}-old",
        published=START - timedelta(days=1),
    )


def version(index: int, minutes: int = 0) -> Item:
    outlet, title, link = VERSIONS[index]
    return Item(
        title=title, link=link, guid=f"{outlet}-1", published=START + timedelta(minutes=minutes)
    )


def publish(feed_server: FeedServer, outlet: str, *items: Item) -> None:
    feed_server.set_feed(f"/{outlet}.xml", rss([*items, old(outlet)], title=outlet.upper()))


async def seeded_app(
    make_app: MakeApp, feed_server: FeedServer, clock: Clock, extra: str = CLUSTERING
) -> App:
    for outlet in OUTLETS:
        publish(feed_server, outlet)
    app = await make_app(
        feeds={outlet: f"/{outlet}.xml" for outlet in OUTLETS}, clock=clock, extra=extra
    )
    await app.store.subscribe(str(USER), "drones", clock())
    assert {r.outcome for r in await app.run_once()} == {"seeded"}
    return app


def current(fake: FakeTelegram, chat: int) -> list[str]:
    """The texts of the messages in ``chat`` as they are now (after edits)."""
    out = []
    for sent in fake.messages_to(chat):
        message = fake.get_message(chat, sent.message_id)
        assert message is not None
        out.append(str(message.get("text", "")))
    return out


async def test_ten_outlets_one_message_edited_to_list_the_others(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(START + timedelta(minutes=1))
    app = await seeded_app(make_app, feed_server, clock)
    publish(feed_server, "ap", version(0))
    await app.run_once()
    assert len(alerts_to(fake, USER)) == 1
    assert len(alerts_to(fake, GROUP)) == 1  # the rule notifies the group and the channel
    assert len(alerts_to(fake, CHANNEL)) == 1
    assert fake.edits == []

    # Eight more outlets carry it: no new message; one edit of each chat's message.
    for index in range(1, 9):
        publish(feed_server, OUTLETS[index], version(index, minutes=index))
    clock.set(START + timedelta(minutes=10))
    await app.run_once()
    assert len(fake.sent) == 3
    assert sorted(e.chat_id for e in fake.edits) == sorted(CHATS)
    (text,) = current(fake, USER)
    assert TITLE in text
    also = text.splitlines()[-1]
    assert also.startswith("📰 Also reported by ") and also.endswith(" and 3 more"), also
    named = also.removeprefix("📰 Also reported by ").removesuffix(" and 3 more").split(", ")
    assert len(named) == 5 and set(named) <= set(OUTLETS[1:9]), named
    # Each name links to that outlet's version.
    message = fake.get_message(USER, fake.messages_to(USER)[0].message_id)
    assert message is not None
    links = {e["url"] for e in message.get("entities", []) if e["type"] == "text_link"}
    assert {link for name, _, link in VERSIONS if name in named} <= links
    # The alert's buttons survive the edit.
    (edit,) = [e for e in fake.edits if e.chat_id == USER]
    assert edit.reply_markup is not None and "Mute" in str(edit.reply_markup)

    # The tenth outlet comes a minute later: it joins at once, but the message is edited
    # again only five minutes after its last edit.
    publish(feed_server, "trt", version(9, minutes=11))
    clock.set(START + timedelta(minutes=11))
    await app.run_once()
    assert len(fake.edits) == 3
    clock.set(START + timedelta(minutes=14))
    await app.run_once()
    assert len(fake.edits) == 3
    clock.set(START + timedelta(minutes=15, seconds=5))
    await app.run_once()
    assert len(fake.edits) == 6
    (text,) = current(fake, USER)
    assert text.splitlines()[-1].endswith("and 4 more")
    counts = await app.store.delivery_counts()
    assert counts == {"sent": 3, "joined": 27}, counts
    # Nothing else is owed, and nothing more happens.
    clock.set(START + timedelta(hours=1))
    await app.run_once()
    assert len(fake.edits) == 6 and len(fake.sent) == 3
    assert fake.rejected == []


async def test_different_stories_on_one_topic_stay_apart_and_a_muted_rule_stays_muted(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(START + timedelta(minutes=1))
    app = await seeded_app(make_app, feed_server, clock)
    others = [
        Item(
            "Baykar to deliver Akinci drones to Indonesia by 2027",
            "https://reuters.example/akinci-indonesia",
            guid="reuters-2",
            published=START,
        ),
        Item(
            "Bayraktar TB2 drone crashes during training flight in Poland",
            "https://reuters.example/tb2-crash",
            guid="reuters-3",
            published=START,
        ),
    ]
    publish(feed_server, "ap", version(0))
    publish(feed_server, "reuters", *others)
    await app.run_once()
    assert len(alerts_to(fake, USER)) == 3

    # The person mutes the topic; the group does not: a later version reaches only the group.
    await app.store.mute(str(USER), "drones", clock() + timedelta(hours=24), clock())
    publish(feed_server, "yahoo", version(1, minutes=2))
    clock.set(START + timedelta(minutes=5))
    await app.run_once()
    assert sorted(e.chat_id for e in fake.edits) == sorted([GROUP, CHANNEL])
    assert len(alerts_to(fake, USER)) == 3
    assert "Also reported by yahoo" in current(fake, GROUP)[0]
    assert fake.rejected == []


async def test_a_chat_that_turns_grouping_off_gets_each_version(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(START + timedelta(minutes=1))
    app = await seeded_app(make_app, feed_server, clock)
    async with running(app):
        fake.user_sends(USER, "/grouping")
        await wait_text(fake, USER, "/grouping off")
        fake.user_sends(USER, "/grouping off")
        await wait_text(fake, USER, "each outlet")
        fake.user_sends(USER, "/settings")
        await wait_text(fake, USER, "Settings for this chat")
    assert "each sent on its own" in alerts_to(fake, USER)[-1]
    replies = len(alerts_to(fake, USER))
    publish(feed_server, "ap", version(0))
    await app.run_once()
    for index in (1, 2):
        publish(feed_server, OUTLETS[index], version(index, minutes=index))
    clock.set(START + timedelta(minutes=5))
    await app.run_once()
    alerts = alerts_to(fake, USER)[replies:]
    assert len(alerts) == 3, alerts
    assert all("Also reported" not in a for a in alerts)
    # The group keeps grouping: one message, edited.
    assert len(alerts_to(fake, GROUP)) == 1
    assert [e.chat_id for e in fake.edits if e.chat_id == GROUP] == [GROUP]
    assert fake.rejected == []


async def test_a_restart_in_the_middle_loses_and_repeats_nothing(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(START + timedelta(minutes=1))
    late = CLUSTERING.replace("edit_after: 0s", "edit_after: 2m")
    app = await seeded_app(make_app, feed_server, clock, extra=late)
    publish(feed_server, "ap", version(0))
    await app.run_once()
    # Two versions join; the edit is owed but not due yet when the bot stops.
    for index in (1, 2):
        publish(feed_server, OUTLETS[index], version(index, minutes=index))
    clock.set(START + timedelta(minutes=3))
    await app.run_once()
    assert fake.edits == []
    await app.close()

    # A new process on the same database: it knows the story (from the database), so a
    # fourth outlet joins too, and the owed edit is made once, listing all three.
    again = await make_app(
        feeds={outlet: f"/{outlet}.xml" for outlet in OUTLETS}, clock=clock, extra=late
    )
    publish(feed_server, OUTLETS[3], version(3, minutes=4))
    clock.set(START + timedelta(minutes=6))
    await again.run_once()
    assert len(alerts_to(fake, USER)) == 1
    assert sorted(e.chat_id for e in fake.edits) == sorted(CHATS)
    (text,) = current(fake, USER)
    also = text.splitlines()[-1].removeprefix("📰 Also reported by ")
    assert sorted(also.split(", ")) == ["aljazeera", "reuters", "yahoo"]
    clock.set(START + timedelta(hours=1))
    await again.run_once()
    assert len(fake.edits) == 3 and len(fake.sent) == 3
    assert await again.store.delivery_counts() == {"sent": 3, "joined": 9}
    assert fake.rejected == []


class BrokenModel:
    """The embedding model failing (out of memory, a broken install)."""

    def embed(self, texts: object) -> list[tuple[float, ...]]:
        raise RuntimeError("model failed")


async def test_a_failing_clustering_stage_sends_every_version(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(START + timedelta(minutes=1))
    app = await seeded_app(make_app, feed_server, clock, extra=CLUSTERING.replace("false", "true"))
    assert app.clusters is not None
    app.clusters.embedder = BrokenModel()
    publish(feed_server, "ap", version(0))
    publish(feed_server, "yahoo", version(1, minutes=1))
    await app.run_once()
    assert len(alerts_to(fake, USER)) == 2  # unmerged, not lost
    assert fake.rejected == []


async def test_quiet_hours_digest_has_one_line_per_story_with_its_outlets(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    clock = Clock(START + timedelta(minutes=1))
    app = await seeded_app(make_app, feed_server, clock)
    window = QuietHours(time(9), time(11))  # 10:00 UTC is inside
    await app.store.set_quiet(str(USER), window, clock())
    publish(feed_server, "ap", version(0))
    publish(
        feed_server,
        "reuters",
        version(2, minutes=2),
        Item(
            "Baykar to deliver Akinci drones to Indonesia by 2027",
            "https://reuters.example/akinci-indonesia",
            guid="reuters-2",
            published=START,
        ),
    )
    publish(feed_server, "yahoo", version(1, minutes=1))
    await app.run_once()
    assert alerts_to(fake, USER) == []  # held for the end of the quiet hours
    clock.set(START + timedelta(hours=1, minutes=1))
    await app.run_once()
    (digest,) = alerts_to(fake, USER)
    assert digest.startswith("📰 Digest: 2 stories"), digest
    lines = [line for line in digest.splitlines() if line.startswith("•")]
    assert len(lines) == 2, digest
    (wire,) = [line for line in lines if TITLE in line]
    assert "also in" in wire and "yahoo" in wire and "reuters" in wire, wire
    # The group and the channel, not quiet, got the three versions folded into one message.
    assert len(alerts_to(fake, GROUP)) == 2
    assert "Also reported by" in next(t for t in alerts_to(fake, GROUP) if TITLE in t)
    assert await app.store.delivery_counts() == {"sent": 3 * 4}
    assert fake.rejected == []
