"""The sender against the fake Bot API: every Telegram answer leads to the right outcome, and no
alert is lost or doubled. Real store (SQLite file / PostgreSQL), real python-telegram-bot."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from telegram import Bot

from bot.core.digest import ALL_RULES, Digest
from bot.core.models import FeedSpec, PollRecord, Story
from bot.core.outbox import DeliveryState
from bot.sender import Sender, SendPolicy
from bot.storage import Store
from bot.telegram.messenger import TelegramMessenger
from tests.builders import delivery
from tests.fakes.telegram_api import FakeTelegram

ADMIN = 900
USERS = [1001, 1002, 1003]
GROUP = -1005
SPEC = FeedSpec("news", "https://example.invalid/feed", timedelta(minutes=10))


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def fake(telegram: FakeTelegram) -> FakeTelegram:
    telegram.add_user(ADMIN, "Admin")
    for user in USERS:
        telegram.add_user(user)
    telegram.add_group(GROUP, "Desk", members=USERS)
    return telegram


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as b:
        yield b


@pytest.fixture
def sender(store: Store, bot: Bot) -> Sender:
    policy = SendPolicy(
        lease=timedelta(seconds=30),
        retry_base=0.05,
        retry_cap=0.2,
        max_attempts=4,
        maybe_sent_delay=0.2,
    )
    return Sender(store=store, messenger=TelegramMessenger(bot, [ADMIN]), clock=now, policy=policy)


async def queue(
    store: Store,
    chats: list[int],
    stories: int = 1,
    title: str = "Bayraktar <TB2> & more",
    prefix: str = "k",
) -> None:
    state = (await store.sync_feeds([SPEC], now()))["news"]
    items = [
        Story(
            "news",
            f"{prefix}{i}",
            f"{title} {i}",
            f"https://example.invalid/{i}",
            summary="Summary",
        )
        for i in range(stories)
    ]
    deliveries = [
        delivery(s.key, "drones", str(chat), ("Bayraktar",)) for s in items for chat in chats
    ]
    await store.commit_poll(
        PollRecord("news", state, items, frozenset(s.key for s in items), deliveries), now()
    )


async def drain(sender: Sender, seconds: float = 10) -> None:
    """Run the sender until nothing is pending or ``seconds`` pass."""
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop, idle=0.05))
    for _ in range(int(seconds / 0.05)):
        await asyncio.sleep(0.05)
        if await sender.store.pending_count() == 0:  # type: ignore[attr-defined]
            break
    stop.set()
    await task


async def test_each_alert_is_sent_once_as_valid_html(
    store: Store, sender: Sender, fake: FakeTelegram
) -> None:
    await queue(store, USERS, stories=3)
    await drain(sender)
    for user in USERS:
        messages = fake.messages_to(user)
        assert [m.plain_text.splitlines()[0] for m in messages] == [
            f"Bayraktar <TB2> & more {i}" for i in range(3)
        ]
        assert all(m.parse_mode == "HTML" for m in messages)
    assert fake.rejected == []
    assert await store.delivery_counts() == {"sent": 9}
    assert fake.limit_violations() == {"per_chat": 0, "per_group": 0, "global": 0}


async def test_rate_limit_pauses_and_retries_without_losing(
    store: Store, sender: Sender, fake: FakeTelegram
) -> None:
    fake.fail_next("sendMessage", kind=("retry_after", 1))
    await queue(store, [USERS[0]])
    await drain(sender)
    assert len(fake.messages_to(USERS[0])) == 1
    assert sender.stats.rate_limited == 1
    attempts = list(fake.calls("sendMessage"))
    assert attempts[1].time - attempts[0].time >= 0.95, "waited retry_after before resending"


async def test_blocked_user_is_held_not_retried(
    store: Store, sender: Sender, fake: FakeTelegram
) -> None:
    fake.block(USERS[0])
    await queue(store, [USERS[0], USERS[1]], stories=2)
    await drain(sender, seconds=3)
    assert fake.messages_to(USERS[1]) and len(fake.messages_to(USERS[1])) == 2
    assert len(fake.calls("sendMessage")) == 2 + 1 + 1  # 2 sent, 1 refused, 1 summary
    assert (await store.chat_statuses())[str(USERS[0])] == "blocked"
    assert (await store.delivery_counts()).get("held") == 2
    # A person who blocked the bot is told in a summary: due after an hour, or, as here, when
    # the sender stops (gathered blocks are not lost with a restart).
    (summary,) = fake.messages_to(ADMIN)
    assert "1 person blocked the bot" in summary.plain_text
    assert str(USERS[0]) in summary.plain_text and sender.blocked.chats == []
    # The user comes back (/start marks the chat active): the held alerts go out.
    fake.unblock(USERS[0])
    await store.set_chat_status(str(USERS[0]), "active", now())
    await drain(sender)
    assert len(fake.messages_to(USERS[0])) == 2


async def test_migrated_group_is_followed(store: Store, sender: Sender, fake: FakeTelegram) -> None:
    await store.subscribe(str(GROUP), "drones", now())
    fake.migrate_group(GROUP, -1009005)
    await queue(store, [GROUP])
    await drain(sender)
    assert len(fake.messages_to(-1009005)) == 1
    assert await store.subscriptions_of("-1009005") == ["drones"]
    assert await store.subscriptions_of(str(GROUP)) == []


async def test_formatting_rejection_falls_back_to_plain_text(
    store: Store, sender: Sender, fake: FakeTelegram
) -> None:
    fake.fail_next("sendMessage", kind=("bad_request", "Bad Request: can't parse entities"))
    await queue(store, [USERS[0]])
    await drain(sender)
    (message,) = fake.messages_to(USERS[0])
    assert message.parse_mode is None
    assert message.text.startswith("Bayraktar <TB2> & more 0")


async def test_server_errors_are_retried_then_parked_and_admins_told(
    store: Store, sender: Sender, fake: FakeTelegram
) -> None:
    fake.fail_next("sendMessage", chat_id=USERS[0], times=2, kind="server_error")
    fake.fail_next("sendMessage", chat_id=USERS[1], times=10, kind="drop")
    await queue(store, [USERS[0], USERS[1]])
    await drain(sender)
    assert len(fake.messages_to(USERS[0])) == 1, "delivered after two failures"
    assert fake.messages_to(USERS[1]) == []
    counts = await store.delivery_counts()
    assert counts == {"sent": 1, "parked": 1}
    assert "parked" in fake.messages_to(ADMIN)[0].plain_text


async def test_a_busy_chat_does_not_starve_the_others(
    store: Store, sender: Sender, fake: FakeTelegram
) -> None:
    await queue(store, [USERS[0]], stories=5)  # five alerts to one person: 1 per second
    await queue(store, [USERS[1], USERS[2]], stories=1, title="Other", prefix="other")
    await drain(sender)
    first_user0 = fake.messages_to(USERS[0])[0].time
    others = [fake.messages_to(u)[0].time for u in USERS[1:]]
    assert all(t - first_user0 < 0.5 for t in others), "others waited behind the busy chat"
    times = [m.time for m in fake.messages_to(USERS[0])]
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(times))
    assert fake.limit_violations()["per_chat"] == 0


# -- digests ----------------------------------------------------------------------------------


async def hold_all_for_digest(store: Store, chat: int) -> None:
    """The chat asked for hourly digests; the sender holds its alerts, then the hour comes."""
    await store.set_digest(str(chat), ALL_RULES, Digest("hourly"), now())


@pytest.mark.parametrize(
    "fault",
    [
        ("retry_after", 1),
        "server_error",
        "drop",
        ("bad_request", "Bad Request: can't parse entities: unsupported start tag"),
    ],
    ids=["429", "500", "dropped", "rejected-html"],
)
async def test_a_digest_that_fails_is_sent_again_whole_and_once(
    store: Store, fake: FakeTelegram, bot: Bot, fault: object
) -> None:
    user = USERS[0]
    await hold_all_for_digest(store, user)
    clock = [now()]
    policy = SendPolicy(
        lease=timedelta(seconds=30),
        retry_base=0.05,
        retry_cap=0.2,
        max_attempts=4,
        maybe_sent_delay=0.2,
    )
    sender = Sender(
        store=store,
        messenger=TelegramMessenger(bot, [ADMIN]),
        clock=lambda: clock[0],
        policy=policy,
    )
    await queue(store, [user], stories=40, title="Akinci & <TB3> 🚁")
    clock[0] = now()
    for _ in range(2):  # a chat has at most 25 alerts in a batch (the others take turns)
        await sender.send_due()
    assert (await store.delivery_counts()) == {DeliveryState.WAITING: 40}
    assert fake.messages_to(user) == []

    clock[0] = clock[0] + timedelta(hours=1, minutes=1)  # the hour has come
    fake.fail_next(chat_id=user, kind=fault)  # type: ignore[arg-type]
    for _ in range(20):
        await sender.send_due()
        if (await store.delivery_counts()).get(DeliveryState.WAITING, 0) == 0:
            break
        clock[0] = clock[0] + timedelta(seconds=2)
        await asyncio.sleep(0.05)
    assert (await store.delivery_counts()) == {"sent": 40}
    texts = [m.plain_text for m in fake.messages_to(user)]
    assert texts and all(t.startswith("📰 Digest: 40 stories") for t in texts)
    for i in range(40):  # every story in exactly one part
        assert sum(f"Akinci & <TB3> 🚁 {i} " in t for t in texts) == 1
    if fault != ("bad_request", "Bad Request: can't parse entities: unsupported start tag"):
        assert all(m.parse_mode == "HTML" for m in fake.messages_to(user))


async def test_a_digest_to_a_user_who_blocked_the_bot_is_held_until_they_return(
    store: Store, fake: FakeTelegram, bot: Bot
) -> None:
    user = USERS[1]
    await hold_all_for_digest(store, user)
    await queue(store, [user], stories=3)
    clock = [now()]
    sender = Sender(store=store, messenger=TelegramMessenger(bot, [ADMIN]), clock=lambda: clock[0])
    await sender.send_due()
    assert (await store.delivery_counts()) == {DeliveryState.WAITING: 3}
    fake.block(user)
    clock[0] += timedelta(hours=1, minutes=1)
    await sender.send_due()
    assert (await store.delivery_counts()) == {"held": 3}  # not retried against a 403
    summary = sender.blocked.take(clock[0] + timedelta(hours=1))
    assert summary is not None and str(user) in summary and "alerts are held" in summary
    fake.unblock(user)
    await store.set_chat_status(str(user), "active", clock[0])  # they sent /start
    await sender.send_due()  # the digest was due while they were away: it goes out now
    assert (await store.delivery_counts()) == {"sent": 3}
    (digest,) = fake.messages_to(user)
    assert digest.plain_text.startswith("📰 Digest: 3 stories")


async def test_a_chat_named_by_username_is_resolved_to_its_id_on_first_use(
    store: Store, sender: Sender, fake: FakeTelegram
) -> None:
    channel = fake.add_channel(-1007007, "desk_news", admins=[ADMIN])
    await store.set_timezone("@desk_news", "Asia/Baku", now())  # set under the name
    state = (await store.sync_feeds([SPEC], now()))["news"]
    items = [Story("news", "named", "Bayraktar seen", "https://example.invalid/n")]
    await store.commit_poll(
        PollRecord(
            "news", state, items, frozenset({"named"}), [delivery("named", "drones", "@desk_news")]
        ),
        now(),
    )
    await drain(sender)
    (message,) = fake.messages_to(channel)
    assert message.plain_text.startswith("Bayraktar seen")
    assert await store.aliases() == {"@desk_news": str(channel)}
    prefs = (await store.chat_prefs([str(channel)]))[str(channel)]
    assert prefs.tz_name == "Asia/Baku", "the name's settings moved to the id"
    assert (await store.delivery_counts()) == {"sent": 1}
