"""Storage on a real SQLite file and, when configured, on PostgreSQL: the same code for both."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.exc import StatementError

from bot.core.digest import Digest, QuietHours
from bot.core.errors import StorageError
from bot.core.models import FeedSpec, FeedState, NewDelivery, PollRecord, Story
from bot.core.outbox import DeliveryState
from bot.core.storylines import EditPolicy, Joining
from bot.storage import Store, schema
from tests.builders import delivery

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SPEC = FeedSpec("news", "https://example.invalid/feed", timedelta(minutes=10))


def story(key: str, title: str = "A story") -> Story:
    return Story(feed="news", key=key, title=title, link=f"https://example.invalid/{key}")


def record(
    state: FeedState, stories: list[Story], new: set[str], deliveries: list[NewDelivery]
) -> PollRecord:
    return PollRecord("news", state, stories, frozenset(new), deliveries)


async def test_schema_is_created_at_the_current_version(store: Store) -> None:
    assert await store.schema_version() == schema.SCHEMA_VERSION


async def test_reopening_keeps_data_and_does_not_migrate_again(db_url: str) -> None:
    first = await Store.open(db_url)
    await first.subscribe("42", "drones", NOW)
    await first.close()
    second = await Store.open(db_url)
    try:
        assert await second.subscriptions_of("42") == ["drones"]
        assert await second.schema_version() == schema.SCHEMA_VERSION
    finally:
        await second.close()


async def test_a_database_newer_than_the_code_is_refused(db_url: str) -> None:
    st = await Store.open(db_url)
    async with st._engine.begin() as conn:  # simulate a newer release having run
        await conn.execute(
            text("INSERT INTO schema_migrations (version, applied_at) VALUES (:v, :t)"),
            {"v": schema.SCHEMA_VERSION + 1, "t": NOW.replace(tzinfo=None)},
        )
    await st.close()
    with pytest.raises(StorageError, match="newer than this bot"):
        await Store.open(db_url)


async def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="cannot open database"):
        await Store.open(f"sqlite+aiosqlite:///{blocker}/sub/db.sqlite")


async def test_datetimes_come_back_utc_aware(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.save_feed_state(
        replace(state, last_success_at=NOW, next_poll_at=NOW + timedelta(minutes=5))
    )
    again = (await store.feed_states())["news"]
    assert again.last_success_at == NOW
    assert again.last_success_at is not None and again.last_success_at.tzinfo is not None
    assert again.next_poll_at == NOW + timedelta(minutes=5)


async def test_naive_datetimes_are_rejected(store: Store) -> None:
    await store.sync_feeds([SPEC], NOW)
    # A naive datetime is a programming error: it is not wrapped as a storage failure.
    with pytest.raises(StatementError, match="naive datetime"):
        await store.subscribe("1", "r", datetime(2026, 1, 1))


async def test_sync_feeds_resets_state_when_the_url_changes(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.save_feed_state(replace(state, etag='"abc"', seeded=True, consecutive_failures=3))
    moved = FeedSpec("news", "https://example.invalid/other", SPEC.interval)
    again = (await store.sync_feeds([moved], NOW))["news"]
    assert again.url == moved.url
    assert again.etag is None and again.consecutive_failures == 0
    assert again.seeded, "stories already seen stay seen: a new URL must not re-alert them"


async def test_commit_poll_stores_new_stories_and_their_deliveries_once(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    stories = [story("a"), story("b")]
    assert await store.unseen_keys("news", ["a", "b"]) == {"a", "b"}
    deliveries = [
        delivery("a", "drones", "42", ("Bayraktar",)),
        delivery("a", "drones", "@channel", ("Bayraktar",)),
    ]
    assert await store.commit_poll(record(state, stories, {"a", "b"}, deliveries), NOW) == 2
    assert await store.unseen_keys("news", ["a", "b", "c"]) == {"c"}
    # The same poll committed again (e.g. by a second instance) queues nothing more.
    assert await store.commit_poll(record(state, stories, {"a", "b"}, deliveries), NOW) == 0
    assert await store.pending_count() == 2


async def test_commit_poll_updates_feed_state_in_the_same_transaction(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    new_state = replace(state, etag='"v2"', body_hash="h", seeded=True, last_success_at=NOW)
    await store.commit_poll(record(new_state, [story("a")], {"a"}, []), NOW)
    saved = (await store.feed_states())["news"]
    assert (saved.etag, saved.body_hash, saved.seeded) == ('"v2"', "h", True)


async def test_claim_due_leases_deliveries_until_marked(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.commit_poll(
        record(
            state,
            [story("a", "Title <&>")],
            {"a"},
            [delivery("a", "drones", "42", ("TB2", "Bayraktar"))],
        ),
        NOW,
    )
    claimed = await store.claim_due(NOW, timedelta(seconds=60), 10)
    assert len(claimed) == 1
    alert = claimed[0]
    assert (alert.chat, alert.rule_ids, alert.matched_terms) == (
        "42",
        ("drones",),
        ("TB2", "Bayraktar"),
    )
    assert alert.story.title == "Title <&>"
    # Leased: nobody else gets it while the lease runs...
    assert await store.claim_due(NOW + timedelta(seconds=59), timedelta(seconds=60), 10) == []
    # ...and if the sender died, it comes back when the lease runs out.
    again = await store.claim_due(NOW + timedelta(seconds=61), timedelta(seconds=60), 10)
    assert [a.delivery_id for a in again] == [alert.delivery_id]
    await store.mark_many_sent([alert.delivery_id], 7, NOW)
    assert await store.claim_due(NOW + timedelta(hours=1), timedelta(seconds=60), 10) == []
    assert await store.delivery_counts() == {DeliveryState.SENT: 1}


async def test_retry_release_and_park(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.commit_poll(
        record(
            state,
            [story("a")],
            {"a"},
            [delivery("a", "r", "1", ()), delivery("a", "r", "2", ())],
        ),
        NOW,
    )
    one, two = await store.claim_due(NOW, timedelta(seconds=60), 10)
    await store.retry_later(one.delivery_id, NOW + timedelta(seconds=30), "boom")
    await store.give_back([two.delivery_id], NOW)
    due = await store.claim_due(NOW, timedelta(seconds=60), 10)
    assert [a.delivery_id for a in due] == [two.delivery_id]
    due = await store.claim_due(NOW + timedelta(seconds=31), timedelta(seconds=60), 10)
    assert [(a.delivery_id, a.attempts) for a in due] == [(one.delivery_id, 1)]
    await store.park(one.delivery_id, "gave up", NOW)
    assert (await store.delivery_counts())[DeliveryState.PARKED] == 1


async def test_plain_flag_survives_a_retry(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.commit_poll(record(state, [story("a")], {"a"}, [delivery("a", "r", "1", ())]), NOW)
    (alert,) = await store.claim_due(NOW, timedelta(seconds=60), 10)
    assert not alert.plain
    await store.retry_later(alert.delivery_id, NOW, "can't parse entities", plain=True)
    (again,) = await store.claim_due(NOW, timedelta(seconds=60), 10)
    assert again.plain


async def test_subscriptions(store: Store) -> None:
    assert await store.subscribe("42", "drones", NOW) is True
    assert await store.subscribe("42", "drones", NOW) is False
    await store.subscribe("42", "karabakh", NOW)
    await store.subscribe("-100", "drones", NOW)
    assert await store.subscriptions_of("42") == ["drones", "karabakh"]
    subs = await store.subscribers(["drones", "karabakh", "nothing"])
    assert subs == {"drones": ["-100", "42"], "karabakh": ["42"]}
    assert await store.unsubscribe("42", "drones") is True
    assert await store.unsubscribe("42", "drones") is False
    assert await store.subscriptions_of("42") == ["karabakh"]


async def test_unsubscribing_drops_unsent_alerts_of_that_rule(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.subscribe("42", "drones", NOW)
    await store.commit_poll(
        record(state, [story("a")], {"a"}, [delivery("a", "drones", "42", ())]), NOW
    )
    await store.unsubscribe("42", "drones")
    assert await store.claim_due(NOW, timedelta(seconds=60), 10) == []


async def test_blocked_chat_holds_its_alerts_and_start_resumes_them(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.subscribe("42", "drones", NOW)
    await store.commit_poll(
        record(state, [story("a")], {"a"}, [delivery("a", "drones", "42", ())]), NOW
    )
    await store.set_chat_status("42", "blocked", NOW, reason="Forbidden: bot was blocked")
    assert await store.claim_due(NOW, timedelta(seconds=60), 10) == []
    # Still a subscriber: its new alerts are created, held from the start.
    assert await store.subscribers(["drones"]) == {"drones": ["42"]}
    await store.commit_poll(
        record(state, [story("b")], {"b"}, [delivery("b", "drones", "42", ())]), NOW
    )
    assert await store.delivery_counts() == {DeliveryState.HELD: 2}
    await store.set_chat_status("42", "active", NOW)
    due = await store.claim_due(NOW, timedelta(seconds=60), 10)
    assert [(a.chat, a.story.key) for a in due] == [("42", "a"), ("42", "b")], "oldest first"


async def test_migrated_chat_takes_its_subscriptions_and_unsent_alerts(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.subscribe("-5", "drones", NOW)
    await store.subscribe("-5", "karabakh", NOW)
    await store.subscribe("-1005", "karabakh", NOW)
    await store.set_timezone("-5", "Europe/Berlin", NOW)
    await store.set_quiet("-5", QuietHours(time(23), time(7)), NOW)
    await store.set_digest("-5", "drones", Digest("daily", time(9)), NOW)
    await store.mute("-5", "karabakh", NOW + timedelta(hours=1), NOW)
    await store.commit_poll(
        record(state, [story("a")], {"a"}, [delivery("a", "drones", "-5", ())]), NOW
    )
    await store.merge_chat("-5", "-1005", NOW, reason="migrated")
    assert await store.subscriptions_of("-5") == []
    assert await store.subscriptions_of("-1005") == ["drones", "karabakh"]
    assert [a.chat for a in await store.claim_due(NOW, timedelta(seconds=60), 10)] == ["-1005"]
    prefs = (await store.chat_prefs(["-1005"]))["-1005"]
    assert (prefs.tz_name, prefs.quiet) == ("Europe/Berlin", QuietHours(time(23), time(7)))
    assert prefs.digests == {"drones": Digest("daily", time(9))}
    assert (await store.chat_settings("-1005", NOW))[2] == {"karabakh": NOW + timedelta(hours=1)}
    assert await store.aliases() == {"-5": "-1005"}
    assert (await store.audience(["drones"], NOW)).resolve("-5/7") == "-1005/7"


async def test_prune_forgets_old_stories_but_keeps_those_with_unsent_alerts(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.commit_poll(
        record(
            state,
            [story("old"), story("pending")],
            {"old", "pending"},
            [delivery("pending", "r", "1", ())],
        ),
        NOW - timedelta(days=100),
    )
    await store.commit_poll(record(state, [story("fresh")], {"fresh"}, []), NOW)
    pruned = await store.prune(NOW, timedelta(days=90), timedelta(days=30))
    assert pruned == (1, 0)
    assert await store.unseen_keys("news", ["old", "pending", "fresh"]) == {"old"}
    assert await store.story_count() == 2


async def test_stories_still_in_the_feed_are_not_pruned(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.commit_poll(record(state, [story("a")], {"a"}, []), NOW - timedelta(days=100))
    # Seen again in a later poll: its last-seen time is refreshed.
    await store.commit_poll(record(state, [story("a")], set(), []), NOW - timedelta(days=1))
    assert await store.prune(NOW, timedelta(days=90), timedelta(days=30)) == (0, 0)


async def test_large_polls_are_chunked(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    stories = [story(f"k{i}") for i in range(1500)]
    deliveries = [delivery(f"k{i}", "r", "1", ("x",)) for i in range(1500)]
    queued = await store.commit_poll(
        record(state, stories, {s.key for s in stories}, deliveries), NOW
    )
    assert queued == 1500
    assert await store.unseen_keys("news", [s.key for s in stories]) == set()


async def test_an_upgrade_migrates_an_existing_database_and_keeps_its_data(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = await Store.open(db_url)
    await old.subscribe("42", "drones", NOW)
    await old.close()

    def add_note_column(connection: Connection) -> None:
        connection.execute(text("ALTER TABLE subscriptions ADD COLUMN note TEXT"))

    # The next release: one more schema version with its migration.
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    monkeypatch.setattr(schema, "MIGRATIONS", [(schema.SCHEMA_VERSION, add_note_column)])
    upgraded = await Store.open(db_url)
    try:
        assert await upgraded.schema_version() == schema.SCHEMA_VERSION
        assert await upgraded.subscriptions_of("42") == ["drones"]
        async with upgraded._engine.begin() as conn:
            notes = (await conn.execute(text("SELECT note FROM subscriptions"))).all()
        assert [tuple(row) for row in notes] == [(None,)]
    finally:
        await upgraded.close()
    again = await Store.open(db_url)  # opening once more runs nothing twice
    await again.close()


def _v1_deliveries(connection: Connection) -> None:
    """The deliveries table as schema version 1 had it: one row per (story, rule, chat)."""
    meta = MetaData()
    Table(
        "deliveries",
        meta,
        Column("id", schema.Id, primary_key=True, autoincrement=True),
        Column("story_id", schema.Id, ForeignKey("stories.id"), nullable=False),
        Column("rule_id", String(64), nullable=False),
        Column("chat", String(64), nullable=False),
        Column("matched_terms", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("plain", Boolean, nullable=False),
        Column("next_attempt_at", schema.UTCDateTime, nullable=False),
        Column("created_at", schema.UTCDateTime, nullable=False),
        Column("sent_at", schema.UTCDateTime),
        Column("message_id", BigInteger),
        Column("last_error", Text),
        UniqueConstraint("story_id", "rule_id", "chat", name="uq_deliveries_story_rule_chat"),
    )
    Table("stories", meta, Column("id", schema.Id, primary_key=True))
    meta.tables["deliveries"].create(connection)
    Index("ix_deliveries_due", meta.tables["deliveries"].c.status).create(connection)
    Index("ix_deliveries_chat", meta.tables["deliveries"].c.chat).create(connection)


async def test_version_1_databases_migrate_to_the_schema_of_a_new_install(db_url: str) -> None:
    store = await Store.open(db_url)
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.commit_poll(record(state, [story("a"), story("b")], {"a", "b"}, []), NOW)
    async with store._engine.begin() as conn:
        fresh = await conn.run_sync(_columns)
        # Make it a version-1 database again.
        for table in (
            "message_edits",
            "delivery_rules",
            "deliveries",
            "mutes",
            "chat_aliases",
            "digest_prefs",
            "instances",
            "leases",
            "handled_updates",
            "inbox_updates",
            "admin_notices",
            "watches",
            "gone_rules",
        ):
            await conn.execute(text(f"DROP TABLE {table}"))
        await conn.run_sync(_v1_deliveries)
        for column in ("moved_url", "lease_holder", "lease_token", "lease_until"):
            await conn.execute(text(f"ALTER TABLE feeds DROP COLUMN {column}"))
        await conn.execute(text("ALTER TABLE chats DROP COLUMN muted_until"))
        for column in (
            "timezone",
            "quiet_start",
            "quiet_end",
            "language",
            "user_language",
            "group_stories",
        ):
            await conn.execute(text(f"ALTER TABLE chats DROP COLUMN {column}"))
        await conn.execute(text("DROP INDEX ix_stories_cluster"))
        await conn.execute(text("ALTER TABLE stories DROP COLUMN cluster"))
        await conn.execute(text("DELETE FROM schema_migrations"))
        await conn.execute(
            text("INSERT INTO schema_migrations (version, applied_at) VALUES (1, :t)"),
            {"t": NOW.replace(tzinfo=None)},
        )
        ids = dict((await conn.execute(text("SELECT key, id FROM stories"))).all())
        # Story a matched two rules for chat 42 (two rows then, one message now); story b
        # was sent to chat 43 already.
        rows = [
            (ids["a"], "drones", "42", '["TB2"]', "pending", None),
            (ids["a"], "ucav", "42", '["UCAV"]', "pending", None),
            (ids["b"], "drones", "43", '["TB2"]', "sent", NOW.replace(tzinfo=None)),
        ]
        for story_id, rule, chat, terms, status, sent in rows:
            await conn.execute(
                text(
                    "INSERT INTO deliveries (story_id, rule_id, chat, matched_terms, status, "
                    "attempts, plain, next_attempt_at, created_at, sent_at) VALUES "
                    "(:s, :r, :c, :t, :st, 0, false, :n, :n, :sent)"
                ),
                {
                    "s": story_id,
                    "r": rule,
                    "c": chat,
                    "t": terms,
                    "st": status,
                    "n": NOW.replace(tzinfo=None),
                    "sent": sent,
                },
            )
    await store.close()
    migrated = await Store.open(db_url)
    try:
        async with migrated._engine.begin() as conn:
            assert await conn.run_sync(_columns) == fresh
        assert await migrated.schema_version() == schema.SCHEMA_VERSION
        states = await migrated.sync_feeds([SPEC], NOW)
        assert states["news"].moved_url is None
        assert await migrated.delivery_counts() == {
            DeliveryState.PENDING: 1,
            DeliveryState.SENT: 1,
        }
        (alert,) = await migrated.claim_due(NOW, timedelta(seconds=60), 10)
        assert (alert.chat, alert.rule_ids, alert.matched_terms) == (
            "42",
            ("drones", "ucav"),
            ("TB2", "UCAV"),
        )
    finally:
        await migrated.close()


def _columns(connection: Connection) -> dict[str, list[tuple[str, str, bool]]]:
    inspector = inspect(connection)
    return {
        table: sorted(
            (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
        )
        for table in inspector.get_table_names()
    }


async def test_alerts_held_too_long_are_cancelled_not_kept_forever(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    await store.set_chat_status("42", "blocked", NOW, reason="Forbidden: bot was blocked")
    old = record(state, [story("old")], {"old"}, [delivery("old", "r", "42")])
    await store.commit_poll(old, NOW - timedelta(days=15))
    await store.commit_poll(
        record(state, [story("new")], {"new"}, [delivery("new", "r", "42")]), NOW
    )
    assert await store.delivery_counts() == {DeliveryState.HELD: 2}
    await store.prune(NOW, timedelta(days=90), timedelta(days=30), max_hold=timedelta(days=14))
    assert await store.delivery_counts() == {
        DeliveryState.HELD: 1,
        DeliveryState.CANCELLED: 1,
    }
    await store.set_chat_status("42", "active", NOW)
    assert [a.story.key for a in await store.claim_due(NOW, timedelta(seconds=60), 10)] == ["new"]


async def test_two_merges_of_one_name_at_once_both_succeed(store: Store) -> None:
    """A send resolving ``@desk`` and Telegram's membership update for the same channel merge
    the name at the same moment; on PostgreSQL the second insert of the alias used to fail."""
    await store.subscribe("@desk", "drones", NOW)
    for _ in range(5):
        await asyncio.gather(
            *(store.merge_chat("@desk", "-1001", NOW, reason="resolved") for _ in range(4))
        )
    assert await store.aliases() == {"@desk": "-1001"}
    assert await store.subscriptions_of("-1001") == ["drones"]


async def test_versions_join_a_sent_message_and_its_edits_are_owed_once(store: Store) -> None:
    """A story's versions join the message their chat got for it: the message is owed one
    edit (due after ``after``, claimed with a lease, owed again only if a version joined
    after it was read), and a version from the message's own feed owes none."""
    policy = EditPolicy(after=timedelta(seconds=30), every=timedelta(minutes=5))
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    stories = [story("a", "First"), story("b", "Second"), story("c", "Third")]
    wanted = [delivery(k, "r", "1001") for k in ("a", "b", "c")]
    clusters = {"a": "news/a", "b": "news/a", "c": "news/a"}
    await store.commit_poll(
        replace(record(state, stories, {"a", "b", "c"}, wanted), clusters=clusters), NOW
    )
    first, *others = await store.claim_due(NOW, timedelta(seconds=60), 10)
    assert [a.cluster for a in (first, *others)] == ["news/a"] * 3
    await store.mark_many_sent([first.delivery_id], 77, NOW)
    sent = await store.story_messages({("1001", "news/a"), ("1002", "news/a")}, NOW - policy.window)
    assert list(sent) == [("1001", "news/a")]
    message = sent[("1001", "news/a")]
    assert (message.message_id, message.head_id, message.feed) == (77, first.delivery_id, "news")
    # The same feed again: joined, no edit owed.
    await store.join([Joining(others[0].delivery_id, "1001", message, False)], NOW, policy)
    assert await store.claim_edits(NOW + timedelta(hours=1), timedelta(seconds=60), 10) == []
    # Another outlet, its version held for a digest meanwhile: it joins as part of the
    # message (not of a digest), and an edit is owed 30 s later.
    await store.defer([(others[1].delivery_id, NOW)])
    (waiting,) = await store.claim_digests(NOW, timedelta(seconds=60), 10)
    assert waiting.digest
    await store.join([Joining(others[1].delivery_id, "1001", message, True)], NOW, policy)
    assert await store.claim_edits(NOW + timedelta(seconds=29), timedelta(seconds=60), 10) == []
    later = NOW + timedelta(seconds=31)
    (job,) = await store.claim_edits(later, timedelta(seconds=60), 10)
    assert (job.chat, job.message_id, job.listed) == ("1001", 77, 0)
    assert job.alert.delivery_id == first.delivery_id
    assert [o.delivery_id for o in job.alert.also] == [d.delivery_id for d in others]
    assert job.subscribed == frozenset() and job.muted == frozenset()
    # Leased: not claimed again until the lease runs out.
    assert await store.claim_edits(later, timedelta(seconds=60), 10) == []
    await store.edited("1001", 77, later, later, policy, listed=1)
    assert await store.claim_edits(later + timedelta(hours=1), timedelta(seconds=60), 10) == []
    counts = await store.delivery_counts()
    assert counts == {DeliveryState.SENT: 1, DeliveryState.JOINED: 2}
    # An edit that keeps failing is given up after max_failures.
    await store.join([Joining(others[1].delivery_id, "1001", message, True)], later, policy)
    for n in range(policy.max_failures):
        at = later + timedelta(hours=2 + n)
        (job,) = await store.claim_edits(at, timedelta(seconds=60), 10)
        await store.edit_later("1001", 77, at, policy, failed=True)
    assert await store.claim_edits(later + timedelta(days=1), timedelta(seconds=60), 10) == []
