"""The bot's settings, validated from ``config.yaml``.

Every section has defaults, so a file listing only feeds is valid. Secrets come from the
environment through ``${VAR}`` interpolation (see :mod:`bot.yamlfile`) and are never echoed in
error messages. Relative paths (the rules directory, the SQLite file) are resolved against the
directory of the config file, so the bot behaves the same from any working directory.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core.errors import ConfigError, Problem
from bot.core.models import FeedSpec
from bot.core.schedule import PollPolicy, SeedPolicy
from bot.core.storylines import EditPolicy
from bot.settings import ByteSize, Duration, problems_from
from bot.yamlfile import Located, load

DEFAULT_API_URL = "https://api.telegram.org/bot"
USER_AGENT = "newsbot/0.1 (+https://github.com/newsbot/newsbot; RSS monitoring bot)"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    if urlsplit(value).scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""A URL with the http or https scheme."""


def _listen(value: str) -> str:
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535 or any(c.isspace() for c in host):
        raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:9108, or :9108)")
    return value


Listen = Annotated[str, AfterValidator(_listen)]
"""``host:port`` to listen on; an empty host means every interface."""


def listen_address(listen: str) -> tuple[str, int]:
    """The (host, port) of a :data:`Listen` value."""
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)  # noqa: S104 - an empty host means every interface


class WebhookSettings(_Model):
    """Receive updates by webhook instead of long polling (see bot.telegram.webhook)."""

    url: HttpUrl
    """The public https URL Telegram posts to (a load balancer in front of the instances)."""
    listen: Listen
    """``host:port`` each instance listens on for it."""
    secret_token: str = Field(pattern=r"^[A-Za-z0-9_-]{1,256}$")
    """Sent by Telegram with every request, checked on every request (1-256 characters:
    letters, digits, ``_`` and ``-``); keep it in the environment."""

    def address(self) -> tuple[str, int]:
        return listen_address(self.listen)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    def __repr__(self) -> str:
        return f"WebhookSettings(url={self.url!r}, listen={self.listen!r}, secret_token=***)"


class TelegramSettings(_Model):
    token: str | None = None
    """The bot token from @BotFather; empty means console mode (alerts printed, not sent)."""
    api_url: HttpUrl = DEFAULT_API_URL
    """Bot API base URL; the token is appended (or replaces ``{token}``)."""
    admins: tuple[int, ...] = ()
    """User ids allowed to use admin commands and told about problems."""
    poll_timeout: Duration = timedelta(seconds=30)
    """Long-polling time-out for getUpdates."""
    request_timeout: Duration = timedelta(seconds=10)
    """Time allowed for one Bot API request (connect, send, read)."""
    send_timeout: Duration = timedelta(seconds=30)
    """How long to wait for Telegram's answer to a sent message: longer than other calls, as
    a message whose answer never comes may have been delivered, and is sent again."""
    webhook: WebhookSettings | None = None
    """Unset: the leader long-polls getUpdates. Set: every instance receives by webhook."""
    watches_per_chat: int = Field(20, ge=0, le=1000)
    """Personal watches (/watch) a chat may keep; 0 turns /watch off."""
    language: str = Field("en", pattern=r"^[a-z]{2}$")
    """The language of chats that chose none and whose person's Telegram language the bot
    does not speak (``en``, ``ru``, ``tr`` or ``az``; another code means English)."""

    @field_validator("token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if value is not None and not isinstance(value, str):
            raise ValueError("must be a string (quote it in YAML)")
        return value

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        # Never include the value in the message: it is a secret.
        if value is not None and (":" not in value or " " in value.strip()):
            raise ValueError("does not look like a bot token from @BotFather (id:secret)")
        return value.strip() if value else value

    def __repr__(self) -> str:  # keep the token out of any accidental repr in logs
        return (
            f"TelegramSettings(api_url={self.api_url!r}, admins={self.admins!r}, token=***, "
            f"webhook={self.webhook!r})"
        )


class StorageSettings(_Model):
    url: str = "sqlite:///data/newsbot.db"
    """SQLAlchemy URL: ``sqlite:///path`` (default) or ``postgresql://user@host/db``."""
    story_retention: Duration = timedelta(days=90)
    """How long a story no longer present in its feed is remembered (to not alert twice)."""
    delivery_retention: Duration = timedelta(days=30)
    """How long sent deliveries are kept for statistics."""
    outage_notice: Duration = timedelta(minutes=1)
    """Admins are told when the database has been unavailable this long, and when it is back."""


class DeliverySettings(_Model):
    """How alerts are sent (see bot.sender)."""

    max_attempts: int = Field(8, ge=1, le=100)
    """Network or server failures tolerated before an alert is parked and the admins told."""
    retry_base: Duration = timedelta(seconds=2)
    retry_cap: Duration = timedelta(minutes=10)
    lease: Duration = timedelta(seconds=60)
    """How long a sender owns an alert it is sending; a crashed sender's alerts are retried
    after this."""
    concurrency: int = Field(8, ge=1, le=64)
    maybe_sent_delay: Duration = timedelta(seconds=60)
    """A message whose answer was lost (it may have been delivered) is resent no sooner."""
    blocked_notice: Duration = timedelta(hours=1)
    """People who blocked the bot are told to the admins in one message per this period
    (a group or channel that removed the bot, at once)."""
    burst: int = Field(20, ge=1, le=10_000)
    """Alerts one poll of one feed sends a chat one by one; beyond that they arrive
    together, as one digest with their count."""


class PollingSettings(_Model):
    interval: Duration = timedelta(minutes=10)
    jitter: float = Field(0.1, ge=0, le=0.5)
    timeout: Duration = timedelta(seconds=30)
    """Total time allowed for one fetch."""
    connect_timeout: Duration = timedelta(seconds=10)
    max_body: ByteSize = 10 * 2**20
    """Bodies larger than this (after decompression) are abandoned."""
    max_redirects: int = Field(5, ge=0, le=20)
    allow_private_redirects: bool = False
    """Follow a redirect to a loopback, private or link-local address on another host or
    port (off: a public feed cannot send the bot into the local network)."""
    concurrency: int = Field(32, ge=1, le=500)
    """Feeds fetched at once. Mostly the polls wait on the network, so this is what bounds a
    round of many feeds: 2,000 feeds of 200 ms each take 40 s at 10, 13 s at 32."""
    per_host: int = Field(4, ge=1, le=500)
    """Polls of feeds on one host (and port) at once."""
    slow_share: float = Field(0.25, gt=0, le=1)
    """Share of the concurrent polls that feeds slow at their last poll may hold."""
    slow_after: Duration = timedelta(seconds=10)
    """A poll taking this long makes its feed a slow one until a poll of it is quick again."""
    max_backoff: Duration = timedelta(hours=6)
    user_agent: str = USER_AGENT
    min_interval: Duration = timedelta(minutes=1)
    """No feed is polled more often than this (configured intervals included)."""
    adaptive: bool = True
    """Poll quiet feeds less often and busy ones more often, within min_interval and
    max_interval (see bot.core.schedule)."""
    max_interval: Duration | None = None
    """Adaptive polling stretches a quiet feed's interval up to this (or up to the feed's
    own interval, when that is longer). Unset: never beyond the feed's own interval, so busy
    feeds are polled sooner and no feed later than configured."""

    @model_validator(mode="after")
    def _bounds(self) -> PollingSettings:
        if self.max_interval is not None and self.min_interval > self.max_interval:
            raise ValueError("min_interval must not be longer than max_interval")
        return self

    def policy(self) -> PollPolicy:
        return PollPolicy(
            jitter=self.jitter,
            max_backoff=self.max_backoff,
            adaptive=self.adaptive,
            min_interval=self.min_interval,
            max_interval=self.max_interval,
        )


class FirstPollSettings(_Model):
    """What a newly added feed alerts on (see :class:`SeedPolicy`)."""

    alert_newest: int = Field(0, ge=0)
    alert_max_age: Duration | None = None

    def policy(self) -> SeedPolicy:
        return SeedPolicy(newest=self.alert_newest, max_age=self.alert_max_age)


class FeedSettings(_Model):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.\- ]+$")]
    url: str
    title: str | None = None
    """How the feed is named in alerts; defaults to the name."""
    tags: tuple[str, ...] = ()
    interval: Duration | None = None
    language: str | None = None

    @field_validator("url")
    @classmethod
    def _feed_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class ClusteringSettings(_Model):
    """One message per story across outlets (see bot.core.clustering, bot.core.storylines)."""

    enabled: bool = True
    """Cluster matched stories: a chat gets one message per story, edited to list the other
    outlets' versions (a chat can turn that off in /settings)."""
    window: Duration = timedelta(hours=48)
    """Versions of a story published within this time of each other are one story."""
    semantic: bool = True
    """Compare titles across languages with the semantic extra when it is installed
    (``pip install 'newsbot[semantic]'``); without it stories cluster within a language."""
    edit_after: Duration = timedelta(seconds=30)
    """Versions arriving within this time of the first are listed by one edit."""
    edit_every: Duration = timedelta(minutes=5)
    """At most one edit of a message per this period."""

    def edit_policy(self) -> EditPolicy:
        return EditPolicy(window=self.window, after=self.edit_after, every=self.edit_every)


class ObservabilitySettings(_Model):
    listen: Listen | None = None
    """``host:port`` for ``/metrics``, ``/healthz`` and ``/readyz`` (e.g. ``127.0.0.1:9108``;
    port 0 picks a free one). Unset: no endpoint."""

    def address(self) -> tuple[str, int] | None:
        return None if self.listen is None else listen_address(self.listen)


class CoordinationSettings(_Model):
    """How instances sharing one database divide the work (see bot.leadership)."""

    leader_lease: Duration = timedelta(seconds=15)
    """How long the Telegram lease lasts unless renewed (every third of it): a crashed
    leader is replaced within this plus a third of it."""
    poll_lease: Duration = timedelta(seconds=20)
    """How long a claim on a feed's poll lasts unless renewed (every quarter of it): a crashed
    instance's poll is taken over within this."""

    @field_validator("leader_lease", "poll_lease")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=3) <= value <= timedelta(seconds=30):
            raise ValueError("must be between 3s and 30s")
        return value


class Config(_Model):
    telegram: TelegramSettings = TelegramSettings()
    storage: StorageSettings = StorageSettings()
    polling: PollingSettings = PollingSettings()
    first_poll: FirstPollSettings = FirstPollSettings()
    delivery: DeliverySettings = DeliverySettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    coordination: CoordinationSettings = CoordinationSettings()
    clustering: ClusteringSettings = ClusteringSettings()
    rules_dir: str = "rules"
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    log_format: str = Field("text", pattern=r"^(text|json)$")
    """``json``: one JSON object per log line, for log collectors."""
    feeds: tuple[FeedSettings, ...] = ()

    # Set by load_config, not by the file.
    base_dir: Path = Field(default=Path("."), exclude=True)
    source: str = Field(default="config.yaml", exclude=True)

    @property
    def rules_path(self) -> Path:
        return (self.base_dir / self.rules_dir).resolve()

    def database_url(self) -> str:
        """The storage URL with the async driver chosen and relative SQLite paths resolved."""
        return resolve_database_url(self.storage.url, self.base_dir)

    def feed_specs(self) -> list[FeedSpec]:
        return [
            FeedSpec(
                name=f.name,
                url=f.url,
                interval=max(f.interval or self.polling.interval, self.polling.min_interval),
                tags=f.tags,
                language=f.language,
            )
            for f in self.feeds
        ]

    def feed_titles(self) -> dict[str, str]:
        return {f.name: f.title or f.name for f in self.feeds}


def resolve_database_url(url: str, base_dir: Path) -> str:
    """``sqlite:///rel.db`` -> ``sqlite+aiosqlite:////abs/rel.db``; ``postgresql://`` ->
    ``postgresql+asyncpg://``. URLs that already name a driver are left alone."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError([Problem("config", f"storage.url {url!r} is not a database URL")])
    if scheme == "sqlite" or scheme == "sqlite+aiosqlite":
        path = rest.removeprefix("/")
        if path and path != ":memory:" and not Path(path).is_absolute():
            path = str((base_dir / path).resolve())
        return f"sqlite+aiosqlite:///{path}"
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    return url


def load_config(path: Path, env: dict[str, str] | None = None) -> Config:
    """Read and validate ``path``; raises :class:`ConfigError` listing every problem."""
    located = load(path, env)
    data = located.data if located.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), "the file must hold a mapping of settings", 1, 1)])
    problems = _duplicate_feed_names(data, located)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = problems_from(exc, located, Config) + problems
    if problems:
        raise ConfigError(problems)
    return config.model_copy(update={"base_dir": path.parent.resolve(), "source": str(path)})


def _duplicate_feed_names(data: dict[str, Any], located: Located) -> list[Problem]:
    feeds = data.get("feeds")
    if not isinstance(feeds, list):
        return []
    first: dict[str, int] = {}
    problems = []
    for i, feed in enumerate(feeds):
        name = feed.get("name") if isinstance(feed, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            line, _ = located.where(("feeds", first[name], "name"))
            problems.append(
                located.problem(
                    ("feeds", i, "name"),
                    f"duplicate feed name {name!r} (first used on line {line})",
                )
            )
        else:
            first[name] = i
    return problems
