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
    UniqueConstraint("feed", "key", name="uq_stories_feed_key"),
)
Index("ix_stories_last_seen", stories.c.last_seen_at)

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
    Column("muted_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_subscriptions_rule", subscriptions.c.rule_id)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("story_id", Id, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("chat", String(64), nullable=False),
    Column("matched_terms", Text, nullable=False, default="[]"),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("plain", Boolean, nullable=False, default=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("message_id", BigInteger),
    Column("last_error", Text),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    UniqueConstraint("story_id", "rule_id", "chat", name="uq_deliveries_story_rule_chat"),
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_chat", deliveries.c.chat, deliveries.c.status)

SCHEMA_VERSION = 4


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


Migration = Callable[[Connection], Any]
MIGRATIONS: list[tuple[int, Migration]] = [
    # (version, function that brings a database at version-1 to version), in order.
    (2, _v2_feed_moved_url),
    (3, _v3_mute),
    (4, _v4_digests),
]


def create_latest(connection: Connection) -> None:
    """Create every table of a new database at :data:`SCHEMA_VERSION`."""
    metadata.create_all(connection)
    connection.execute(
        schema_migrations.insert(), {"version": SCHEMA_VERSION, "applied_at": datetime.now(UTC)}
    )
