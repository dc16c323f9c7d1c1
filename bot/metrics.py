"""Operations endpoints (edge: prometheus-client and the standard HTTP server): ``/metrics``
in the Prometheus text format, ``/healthz`` (the process answers) and ``/readyz`` (the
database answers and the bot is running), on ``observability.listen`` when it is set.

Labels never carry chat ids, user ids or feed names: outcomes and states only, so the number
of series stays small and nobody's identity ends up in a monitoring system.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.core.outage import StorageHealth
from bot.httpserver import ThreadedServer, answer

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PollOutcome(Protocol):
    @property
    def outcome(self) -> str: ...
    @property
    def new_stories(self) -> int: ...
    @property
    def deliveries(self) -> int: ...
    @property
    def fetch_seconds(self) -> float: ...


class SenderCounts(Protocol):
    sent: int
    retried: int
    parked: int
    held: int
    rate_limited: int
    deferred: int
    digests: int
    maybe_sent: int


class Metrics:
    """The bot's figures. Polls are observed as they end; the sender's counts, the queue and
    the database's health are read when scraped."""

    def __init__(
        self, sender: SenderCounts, storage: StorageHealth, queue: Callable[[], dict[str, int]]
    ) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter(
            "newsbot_polls", "Feed polls by outcome.", ["outcome"], registry=self.registry
        )
        self.fetch_seconds = Histogram(
            "newsbot_fetch_seconds",
            "How long fetching a feed took.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.new_stories = Counter(
            "newsbot_new_stories", "Stories seen for the first time.", registry=self.registry
        )
        self.queued = Counter(
            "newsbot_alerts_queued", "Deliveries created by polls.", registry=self.registry
        )
        self.takeovers = Counter(
            "newsbot_lease_takeovers",
            "Leases this instance took over from an instance whose lease ran out.",
            ["lease"],
            registry=self.registry,
        )
        for lease in ("telegram", "feed"):
            self.takeovers.labels(lease)
        self.leading: Callable[[], bool] = lambda: True
        """Whether this instance holds the Telegram lease (set by the composition root)."""
        self.registry.register(_Scraped(sender, storage, queue, lambda: self.leading()))

    def takeover(self, lease: str) -> None:
        self.takeovers.labels(lease).inc()

    def observe_poll(self, result: PollOutcome) -> None:
        self.polls.labels(result.outcome).inc()
        if result.outcome != "storage_error":  # no fetch was made
            self.fetch_seconds.observe(result.fetch_seconds)
        self.new_stories.inc(result.new_stories)
        self.queued.inc(result.deliveries)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _Scraped(Collector):
    def __init__(
        self,
        sender: SenderCounts,
        storage: StorageHealth,
        queue: Callable[[], dict[str, int]],
        leading: Callable[[], bool],
    ) -> None:
        self._sender = sender
        self._storage = storage
        self._queue = queue
        self._leading = leading

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self._sender
        alerts = CounterMetricFamily(
            "newsbot_alerts", "Send outcomes of deliveries.", labels=["outcome"]
        )
        for outcome, value in (
            ("sent", s.sent),
            ("retried", s.retried),
            ("parked", s.parked),
            ("held", s.held),
            ("deferred", s.deferred),
            ("maybe_sent", s.maybe_sent),
        ):
            alerts.add_metric([outcome], value)
        yield alerts
        yield CounterMetricFamily(
            "newsbot_telegram_rate_limited", "429 answers from Telegram.", value=s.rate_limited
        )
        yield CounterMetricFamily("newsbot_digests", "Digest messages sent.", value=s.digests)
        depth = GaugeMetricFamily(
            "newsbot_queue_depth", "Deliveries by state, as last read.", labels=["state"]
        )
        for state, count in sorted(self._queue().items()):
            depth.add_metric([state], count)
        yield depth
        yield GaugeMetricFamily(
            "newsbot_leader",
            "1 while this instance holds the Telegram lease (receives updates and sends).",
            value=1 if self._leading() else 0,
        )
        yield GaugeMetricFamily(
            "newsbot_database_up",
            "1 while the database answers, 0 during an outage.",
            value=0 if self._storage.since is not None else 1,
        )


class Endpoints(ThreadedServer):
    """The HTTP server, in a thread of its own: a slow scraper never blocks the bot."""

    def __init__(
        self, host: str, port: int, metrics: Metrics, ready: Callable[[], str | None]
    ) -> None:
        """``ready`` returns None when ready, else why not."""
        super().__init__(host, port, _handler(metrics, ready), "newsbot-endpoints")

    def start(self) -> None:
        super().start()
        log.info(
            "metrics and health on http://%s:%s (/metrics, /healthz, /readyz)",
            self.host,
            self.port,
        )


def _handler(metrics: Metrics, ready: Callable[[], str | None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, metrics.text(), CONTENT_TYPE)
            elif path == "/healthz":
                self._answer(200, b"ok\n")
            elif path == "/readyz":
                reason = ready()
                if reason is None:
                    self._answer(200, b"ready\n")
                else:
                    self._answer(503, f"not ready: {reason}\n".encode())
            else:
                self._answer(404, b"not found\n")

        def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            answer(self, status, body, kind)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("endpoints: %s", format % args)

    return Handler
