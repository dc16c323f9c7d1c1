"""The database schema, as SQLAlchemy Core tables, and the ordered list of migrations.

``SCHEMA_VERSION`` names the schema these tables describe. A new database is created at that
version directly; an existing one is brought forward by running, in order, every migration newer
than the version recorded in ``schema_migrations``, each in its own transaction. Adding a column
therefore means: change the table here, bump ``SCHEMA_VERSION``, and append a migration that
alters existing databases the same way (tests check that both paths give the same schema).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

feeds = Table(
    "feeds",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("url", Text, nullable=False),
    Column("moved_url", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("seeded", Boolean, nullable=False, default=False),
    Column("last_polled_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("next_poll_at", UTCDateTime),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The poll under way (see bot.storage.coordination): who polls the feed, the claim's
    # token (state writes compare it), and when the lease runs out unless renewed.
    Column("lease_holder", String(64)),
    Column("lease_token", String(32)),
    Column("lease_until", UTCDateTime),
)

stories = Table(
    "stories",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("feed", String(100), nullable=False),
    Column("key", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("link", Text),
    Column("summary", Text, nullable=False, default=""),
    Column("published_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    # The story this item reports, as "feed/key" of its first item (see
    # bot.core.clustering); NULL for items no rule matched (they are not clustered).
    Column("cluster", String(200)),
    UniqueConstraint("feed", "key", name="uq_stories_feed_key"),
)
Index("ix_stories_last_seen", stories.c.last_seen_at)
Index("ix_stories_cluster", stories.c.cluster)

chats = Table(
    "chats",
    metadata,
    Column("chat", String(64), primary_key=True),
    Column("kind", String(16), nullable=False, default="unknown"),
    Column("title", Text),
    Column("status", String(16), nullable=False, default="active"),
    Column("status_reason", Text),
    Column("muted_until", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    # IANA time zone name for quiet hours and digest times; NULL means UTC.
    Column("timezone", String(64)),
    # Quiet hours as minutes after local midnight; NULL: none.
    Column("quiet_start", Integer),
    Column("quiet_end", Integer),
    # The language the chat chose with /language (NULL: none chosen), and the Telegram
    # language_code its person last wrote with (private chats; NULL: not known).
    Column("language", String(16)),
    Column("user_language", String(16)),
    # False: every outlet's version of a story is an alert of its own (/settings); NULL or
    # True: later versions are added to the message already sent.
    Column("group_stories", Boolean),
)

digest_prefs = Table(
    "digest_prefs",
    metadata,
    Column("chat", String(64), primary_key=True),
    # A rule id, or "*" for every rule that reaches the chat.
    Column("rule_id", String(64), primary_key=True),
    Column("period", String(16), nullable=False),
    # For daily digests: minutes after local midnight.
    Column("at_minute", Integer),
    Column("updated_at", UTCDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("chat", String(64), primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_subscriptions_rule", subscriptions.c.rule_id)

mutes = Table(
    "mutes",
    metadata,
    # A rule muted for a chat (by subscription or by a rule's notify list) until a time.
    Column("chat", String(64), primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("muted_until", UTCDateTime, nullable=False),
)

chat_aliases = Table(
    "chat_aliases",
    metadata,
    # Another name of a chat: "@username", or the old id of a group that became a supergroup.
    Column("alias", String(64), primary_key=True),
    Column("chat", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    # One message of one story to one chat (see bot.core.outbox for its states).
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("story_id", Id, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("chat", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("digest", Boolean, nullable=False, default=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("plain", Boolean, nullable=False, default=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("message_id", BigInteger),
    Column("last_error", Text),
    UniqueConstraint("story_id", "chat", name="uq_deliveries_story_chat"),
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_chat", deliveries.c.chat, deliveries.c.status)

delivery_rules = Table(
    "delivery_rules",
    metadata,
    # The rules a delivery's message names, with the story's terms that matched each.
    Column(
        "delivery_id",
        Id,
        ForeignKey("deliveries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("rule_id", String(64), primary_key=True),
    Column("terms", Text, nullable=False, default="[]"),
    Column("priority", Integer, nullable=False, default=0),
    # Position of the rule in its message (the first one is the message's main rule).
    Column("position", Integer, nullable=False, default=0),
)
Index("ix_delivery_rules_rule", delivery_rules.c.rule_id)

instances = Table(
    "instances",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64)),
    Column("expires_at", UTCDateTime),
    Column("acquired_at", UTCDateTime),
    Column("takeovers", Integer, nullable=False, default=0),
)

handled_updates = Table(
    "handled_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("holder", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
)

inbox_updates = Table(
    "inbox_updates",
    metadata,
    # Updates received by webhook (by any instance), for the leader to handle.
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

admin_notices = Table(
    "admin_notices",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("source", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

watches = Table(
    "watches",
    metadata,
    # A personal watch: a query a chat saved for itself (see bot.core.watches for its states).
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("chat", String(64), nullable=False),
    Column("query", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Numbers are never reused (a forgotten draft's button must not confirm a newer one).
    sqlite_autoincrement=True,
)
Index("ix_watches_chat", watches.c.chat)
Index("ix_watches_updated", watches.c.updated_at)

gone_rules = Table(
    "gone_rules",
    metadata,
    # A rule chats subscribed to that the rules in force no longer have, and when its
    # subscribers were told (once: whoever inserts the row tells them).
    Column("rule_id", String(64), primary_key=True),
    Column("gone_at", UTCDateTime, nullable=False),
)

message_edits = Table(
    "message_edits",
    metadata,
    # A sent alert that later versions of its story joined (deliveries in state "joined"
    # carrying its message id): the message is edited to list them, at most once per
    # bot.core.storylines.EditPolicy.every.
    Column("chat", String(64), primary_key=True),
    Column("message_id", BigInteger, primary_key=True, autoincrement=False),
    Column("head_id", Id, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    # When the next edit is due (NULL: none owed); a sender claiming it pushes it forward.
    Column("due_at", UTCDateTime),
    Column("joined_at", UTCDateTime, nullable=False),
    Column("edited_at", UTCDateTime),
    Column("edits", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    # Other outlets the message lists as last sent or edited.
    Column("listed", Integer, nullable=False, default=0),
)
Index("ix_message_edits_due", message_edits.c.due_at)

SCHEMA_VERSION = 8


def _v2_feed_moved_url(connection: Connection) -> None:
    """Version 2: feeds remember where they permanently moved (301/308)."""
    _add_column(connection, "feeds", "moved_url", Text())


def _add_column(connection: Connection, table: str, column: str, kind: Any) -> None:
    """ALTER TABLE ... ADD COLUMN with the type as this dialect spells it for a new install."""
    spelled = kind.compile(dialect=connection.dialect)
    connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {spelled}"))


def _v3_mute(connection: Connection) -> None:
    """Version 3: subscriptions and whole chats can be muted until a time."""
    _add_column(connection, "subscriptions", "muted_until", UTCDateTime())
    _add_column(connection, "chats", "muted_until", UTCDateTime())


def _v4_digests(connection: Connection) -> None:
    """Version 4: chats have a time zone and quiet hours, chats choose digests, and
    deliveries carry their rule's priority."""
    _add_column(connection, "chats", "timezone", String(64))
    _add_column(connection, "chats", "quiet_start", Integer())
    _add_column(connection, "chats", "quiet_end", Integer())
    connection.execute(
        text("ALTER TABLE deliveries ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
    )
    digest_prefs.create(connection)


_V4_STATUS = {"digest": "waiting", "dropped": "cancelled"}


def _v5_one_message_per_story(connection: Connection) -> None:
    """Version 5: a delivery is one message of one story to one chat, naming every rule that
    matched (``delivery_rules``); delivery states are those of :mod:`bot.core.outbox`; rule
    mutes apply to any rule reaching a chat (``mutes``); chats have aliases."""
    dialect = connection.dialect.name
    for table in (mutes, chat_aliases):
        table.create(connection)
    connection.execute(
        text(
            "INSERT INTO mutes (chat, rule_id, muted_until) SELECT chat, rule_id, muted_until "
            "FROM subscriptions WHERE muted_until IS NOT NULL"
        )
    )
    connection.execute(text("ALTER TABLE subscriptions DROP COLUMN muted_until"))
    old = connection.execute(
        text(
            "SELECT id, story_id, rule_id, chat, matched_terms, status, attempts, plain, "
            "next_attempt_at, created_at, sent_at, message_id, last_error, priority "
            "FROM deliveries ORDER BY id"
        ).columns(
            next_attempt_at=UTCDateTime,
            created_at=UTCDateTime,
            sent_at=UTCDateTime,
            plain=Boolean,
        )
    ).all()
    # Rows of one (story, chat) become one delivery: the first one's, or a sent one's.
    groups: dict[tuple[Any, str], list[Any]] = {}
    for row in old:
        groups.setdefault((row.story_id, row.chat), []).append(row)
    kept, rule_rows = [], []
    for rows in groups.values():
        main = next((r for r in rows if r.status == "sent"), rows[0])
        kept.append(
            {
                "id": main.id,
                "story_id": main.story_id,
                "chat": main.chat,
                "status": _V4_STATUS.get(main.status, main.status),
                "digest": main.status == "digest",
                "priority": max(r.priority for r in rows),
                "attempts": main.attempts,
                "plain": bool(main.plain),
                "next_attempt_at": main.next_attempt_at,
                "created_at": main.created_at,
                "sent_at": main.sent_at,
                "message_id": main.message_id,
                "last_error": main.last_error,
            }
        )
        for position, r in enumerate(rows):
            rule_rows.append(
                {
                    "delivery_id": main.id,
                    "rule_id": r.rule_id,
                    "terms": r.matched_terms,
                    "priority": r.priority,
                    "position": position,
                }
            )
    for name in ("ix_deliveries_due", "ix_deliveries_chat"):
        connection.execute(text(f"DROP INDEX {name}"))
    if dialect == "sqlite":
        # SQLite cannot drop a column of a UNIQUE constraint: the table is rebuilt.
        connection.execute(text("DROP TABLE deliveries"))
        deliveries.create(connection)
    else:
        connection.execute(text("DELETE FROM deliveries"))
        connection.execute(
            text("ALTER TABLE deliveries DROP CONSTRAINT uq_deliveries_story_rule_chat")
        )
        for column in ("rule_id", "matched_terms"):
            connection.execute(text(f"ALTER TABLE deliveries DROP COLUMN {column}"))
        _add_column(connection, "deliveries", "digest", Boolean())
        connection.execute(
            text(
                "ALTER TABLE deliveries ADD CONSTRAINT uq_deliveries_story_chat "
                "UNIQUE (story_id, chat)"
            )
        )
        connection.execute(text("ALTER TABLE deliveries ALTER COLUMN digest SET NOT NULL"))
        connection.execute(text("ALTER TABLE deliveries ALTER COLUMN priority DROP DEFAULT"))
        for index in deliveries.indexes:
            index.create(connection)
    delivery_rules.create(connection)
    if kept:
        connection.execute(deliveries.insert(), kept)
    if rule_rows:
        connection.execute(delivery_rules.insert(), rule_rows)


def _v6_instances(connection: Connection) -> None:
    """Version 6: several instances share the database: feed polls are leased, one instance
    holds the Telegram lease, updates are handled once (webhook updates wait in an inbox),
    admin notices are queued."""
    _add_column(connection, "feeds", "lease_holder", String(64))
    _add_column(connection, "feeds", "lease_token", String(32))
    _add_column(connection, "feeds", "lease_until", UTCDateTime())
    for table in (instances, leases, handled_updates, inbox_updates, admin_notices):
        table.create(connection)


def _v7_languages(connection: Connection) -> None:
    """Version 7: chats read the bot in a language of their own and keep personal watches;
    removed rules are announced once."""
    _add_column(connection, "chats", "language", String(16))
    _add_column(connection, "chats", "user_language", String(16))
    watches.create(connection)
    gone_rules.create(connection)


def _v8_story_clusters(connection: Connection) -> None:
    """Version 8: matched stories carry the story (cluster) they report; later versions of a
    story join the message already sent, which is edited to list them; chats can turn that
    grouping off."""
    _add_column(connection, "stories", "cluster", String(200))
    connection.execute(text("CREATE INDEX ix_stories_cluster ON stories (cluster)"))
    _add_column(connection, "chats", "group_stories", Boolean())
    message_edits.create(connection)


Migration = Callable[[Connection], Any]
MIGRATIONS: list[tuple[int, Migration]] = [
    # (version, function that brings a database at version-1 to version), in order.
    (2, _v2_feed_moved_url),
    (3, _v3_mute),
    (4, _v4_digests),
    (5, _v5_one_message_per_story),
    (6, _v6_instances),
    (7, _v7_languages),
    (8, _v8_story_clusters),
]


def create_latest(connection: Connection) -> None:
    """Create every table of a new database at :data:`SCHEMA_VERSION`."""
    metadata.create_all(connection)
    connection.execute(
        schema_migrations.insert(), {"version": SCHEMA_VERSION, "applied_at": datetime.now(UTC)}
    )
