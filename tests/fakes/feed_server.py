"""A loopback HTTP feed server for tests.

:class:`FeedServer` runs a :class:`http.server.ThreadingHTTPServer` on ``127.0.0.1`` (an
ephemeral port) in a daemon thread. Tests put feed documents on paths with
:meth:`FeedServer.set_feed` and the server answers like a well-behaved feed host: a strong
``ETag`` computed from the body, a ``Last-Modified`` that moves when the body changes, and
``304 Not Modified`` for matching ``If-None-Match`` / ``If-Modified-Since`` requests.

Hostile hosts are simulated per path with :meth:`FeedServer.set_behavior` and one of the small
frozen dataclasses below (:class:`Status`, :class:`Delay`, :class:`SlowDrip`,
:class:`Redirect`, :class:`Gzip`, :class:`GzipBomb`, :class:`HugeBody`, :class:`Drop`,
:class:`Garbage`). Large bodies (gzip bombs, huge streams) are generated on the fly and never
held inflated in memory.

Every request is recorded (:meth:`FeedServer.requests`, :meth:`FeedServer.hits`) together with
the status codes sent back (:meth:`FeedServer.responses`).

Standard library only::

    with FeedServer() as server:
        server.set_feed("/rss", b"<rss .../>")
        server.set_behavior("/down", Status(503, headers={"Retry-After": "120"}))
        httpx.get(server.url("/rss"))
        assert server.responses("/rss") == [200]
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import random
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, Self, TypeAlias, TypeVar, overload
from urllib.parse import urlsplit

__all__ = [
    "MB",
    "RSS_CONTENT_TYPE",
    "Behavior",
    "Delay",
    "Drop",
    "FeedServer",
    "Garbage",
    "Gzip",
    "GzipBomb",
    "Headers",
    "HugeBody",
    "RecordedRequest",
    "Redirect",
    "SlowDrip",
    "Status",
]

MB = 1 << 20
"""One mebibyte; sizes of generated bodies are given in these units."""

RSS_CONTENT_TYPE = "application/rss+xml; charset=utf-8"
_T = TypeVar("_T")
_Request: TypeAlias = socket.socket | tuple[bytes, socket.socket]
_WRITE_CHUNK = 64 * 1024


# --------------------------------------------------------------------------------------------
# Recorded requests


class Headers(dict[str, str]):
    """Request headers with case-insensitive lookup (keys are stored lower-cased).

    Repeated headers are joined with ``", "`` as RFC 9110 allows.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for name, value in items:
            key = name.lower()
            if dict.__contains__(self, key):
                dict.__setitem__(self, key, f"{dict.__getitem__(self, key)}, {value}")
            else:
                dict.__setitem__(self, key, value)

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: _T, /) -> str | _T: ...
    def get(self, key: str, default: object = None, /) -> object:
        return dict.get(self, key.lower(), default)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    """The key the request was filed under (see :meth:`FeedServer.requests`)."""
    target: str
    """The raw request target, query string included."""
    query: str
    headers: Headers
    time: float
    """:func:`time.monotonic` when the request line and headers had been read."""


# --------------------------------------------------------------------------------------------
# Behaviours


@dataclass(frozen=True, slots=True)
class Status:
    """Answer with ``code`` and an optional body and headers (500, 404, 410, 429, 503 ...).

    ``Status(503, headers={"Retry-After": "120"})`` simulates an overloaded host.
    """

    code: int
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait ``seconds`` before answering, then behave like ``then`` (default: serve the feed).

    The wait is interrupted by :meth:`FeedServer.stop`.
    """

    seconds: float
    then: Behavior | None = None


@dataclass(frozen=True, slots=True)
class SlowDrip:
    """Send ``200`` with the full ``Content-Length`` at once, then the body ``chunk_size``
    bytes at a time with ``interval`` seconds between writes.

    Each write arrives well inside a client's read timeout, so only a total deadline stops it.
    ``body`` defaults to the path's feed (or 64 KiB of XML padding when there is none).
    """

    chunk_size: int = 16
    interval: float = 0.1
    body: bytes | str | None = None


@dataclass(frozen=True, slots=True)
class Redirect:
    """Redirect with ``code`` (301, 302, 303, 307, 308) to ``location``.

    A location starting with ``/`` is made absolute on this server. A loop is two paths
    redirecting to each other, or one path redirecting to itself.
    """

    location: str
    code: int = 302


@dataclass(frozen=True, slots=True)
class Gzip:
    """Serve the path's feed with ``Content-Encoding: gzip`` whatever the client accepts.

    ETag / Last-Modified handling is the same as for the plain feed.
    """

    level: int = 6


@dataclass(frozen=True, slots=True)
class GzipBomb:
    """A small gzip stream (about 1 KiB per MiB) that inflates to ``megabytes`` MiB of
    ``fill`` after a short RSS prologue, sent with ``Content-Encoding: gzip``.

    The compressed stream is assembled from one precomputed deflate block, so neither side of
    the server ever holds the inflated body.
    """

    megabytes: int = 100
    fill: bytes = b" "
    content_type: str = RSS_CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class HugeBody:
    """Stream ``megabytes`` MiB of XML-looking padding without a ``Content-Length``.

    ``chunked=True`` uses ``Transfer-Encoding: chunked``; ``chunked=False`` sends
    ``Connection: close`` and marks the end of the body by closing the connection.
    """

    megabytes: int = 50
    chunked: bool = True
    content_type: str = RSS_CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the connection without a (complete) answer.

    ``partial=True`` first sends ``200`` headers and half of the feed's body.
    ``reset=True`` aborts with a TCP RST (``SO_LINGER`` 0) instead of an orderly FIN.
    """

    partial: bool = False
    reset: bool = False


@dataclass(frozen=True, slots=True)
class Garbage:
    """Answer ``200`` with ``size`` random bytes (seeded, so repeatable) and an XML type."""

    size: int = 4096
    seed: int = 0
    content_type: str = RSS_CONTENT_TYPE


Behavior: TypeAlias = (
    Status | Delay | SlowDrip | Redirect | Gzip | GzipBomb | HugeBody | Drop | Garbage
)


# --------------------------------------------------------------------------------------------
# Server state


@dataclass(frozen=True, slots=True)
class _Feed:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: datetime | None
    modified_at: datetime
    headers: Mapping[str, str]


@dataclass(slots=True)
class _Rule:
    behavior: Behavior
    remaining: int | None


def _to_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def _strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _opaque_tag(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


_BOMB_PROLOGUE = b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>'
_HUGE_PROLOGUE = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
    b"<title>Huge feed</title><link>http://127.0.0.1/</link><description>"
)
_HUGE_PATTERN = b"<!-- padding padding padding padding padding padding padding -->\n"


@lru_cache(maxsize=16)
def _gzip_bomb_parts(megabytes: int, fill: bytes) -> tuple[bytes, bytes, int, bytes]:
    """Return ``(head, block, count, tail)``: the gzip stream is head + block * count + tail.

    Every block ends with a full flush, which resets the compressor, so the deflate output for
    one MiB of ``fill`` is the same each time and can simply be repeated.
    """
    if len(fill) != 1:
        raise ValueError("GzipBomb.fill must be a single byte")
    chunk = fill * MB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    prologue = compressor.compress(_BOMB_PROLOGUE) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    final_block = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    crc = zlib.crc32(_BOMB_PROLOGUE)
    for _ in range(megabytes):
        crc = zlib.crc32(chunk, crc)
    size = len(_BOMB_PROLOGUE) + megabytes * MB
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
    return header + prologue, block, megabytes, final_block + trailer


def _huge_chunks(total: int) -> Iterator[bytes]:
    filler = (_HUGE_PATTERN * (_WRITE_CHUNK // len(_HUGE_PATTERN) + 1))[:_WRITE_CHUNK]
    first = (_HUGE_PROLOGUE + filler)[:_WRITE_CHUNK]
    sent = 0
    piece = first
    while sent < total:
        piece = piece[: total - sent]
        yield piece
        sent += len(piece)
        piece = filler


# --------------------------------------------------------------------------------------------
# HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: FeedServer) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), which may wait on DNS.
        TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.socket.getsockname()[1]

    def process_request(self, request: _Request, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: _Request, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # client went away, or stop() closed the socket
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "FeedServer/1.0"
    sys_version = ""

    _key = ""
    _head = False

    # -- quiet -------------------------------------------------------------------------------

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    # -- entry points ------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        self.server.owner._record_response(self._key, code)

    def _dispatch(self, *, head: bool) -> None:
        owner = self.server.owner
        self._head = head
        self._key, behavior, feed = owner._accept(self.command, self.path, self.headers.items())
        self._run(behavior, feed)

    # -- behaviours --------------------------------------------------------------------------

    @property
    def _stopping(self) -> threading.Event:
        return self.server.owner._stop_event

    def _write(self, data: bytes) -> None:
        if not self._head:
            self.wfile.write(data)

    def _run(self, behavior: Behavior | None, feed: _Feed | None) -> None:
        if behavior is None:
            self._serve_feed(feed, compress_level=None)
        elif isinstance(behavior, Status):
            self._status(behavior)
        elif isinstance(behavior, Delay):
            if self._stopping.wait(behavior.seconds):
                self._abort(reset=False)
                return
            self._run(behavior.then, feed)
        elif isinstance(behavior, SlowDrip):
            self._slow_drip(behavior, feed)
        elif isinstance(behavior, Redirect):
            self._redirect(behavior)
        elif isinstance(behavior, Gzip):
            self._serve_feed(feed, compress_level=behavior.level)
        elif isinstance(behavior, GzipBomb):
            self._gzip_bomb(behavior)
        elif isinstance(behavior, HugeBody):
            self._huge_body(behavior)
        elif isinstance(behavior, Drop):
            self._drop(behavior, feed)
        else:
            self._garbage(behavior)

    def _not_modified(self, feed: _Feed) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            # RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is present.
            if feed.etag is None:
                return False
            tags = [_opaque_tag(tag) for tag in if_none_match.split(",")]
            return "*" in tags or _opaque_tag(feed.etag) in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since is None or feed.last_modified is None:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return feed.last_modified <= since

    def _validator_headers(self, feed: _Feed) -> None:
        if feed.etag is not None:
            self.send_header("ETag", feed.etag)
        if feed.last_modified is not None:
            self.send_header("Last-Modified", format_datetime(feed.last_modified, usegmt=True))

    def _serve_feed(self, feed: _Feed | None, *, compress_level: int | None) -> None:
        if feed is None:
            self._status(Status(404, b"no feed at this path\n"))
            return
        if self._not_modified(feed):
            self.send_response(304)
            self._validator_headers(feed)
            for name, value in feed.headers.items():
                self.send_header(name, value)
            self.end_headers()
            return
        body = feed.body
        self.send_response(200)
        self.send_header("Content-Type", feed.content_type)
        if compress_level is not None:
            body = gzip.compress(body, compresslevel=compress_level, mtime=0)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self._validator_headers(feed)
        for name, value in feed.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self._write(body)

    def _status(self, status: Status) -> None:
        body = _to_bytes(status.body)
        self.send_response(status.code)
        names = {name.lower() for name in status.headers}
        for name, value in status.headers.items():
            self.send_header(name, value)
        if status.code >= 200 and status.code not in (204, 304):
            if "content-type" not in names:
                self.send_header("Content-Type", status.content_type)
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self._write(body)
        else:
            self.end_headers()

    def _redirect(self, redirect: Redirect) -> None:
        location = redirect.location
        if location.startswith("/"):
            location = self.server.owner.url(location)
        self.send_response(redirect.code)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _slow_drip(self, drip: SlowDrip, feed: _Feed | None) -> None:
        if drip.body is not None:
            body = _to_bytes(drip.body)
        elif feed is not None:
            body = feed.body
        else:
            body = b"".join(_huge_chunks(_WRITE_CHUNK))
        self.send_response(200)
        self.send_header("Content-Type", feed.content_type if feed else RSS_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self._head:
            return
        step = max(1, drip.chunk_size)
        for start in range(0, len(body), step):
            self.wfile.write(body[start : start + step])
            if self._stopping.wait(drip.interval):
                self._abort(reset=False)
                return

    def _gzip_bomb(self, bomb: GzipBomb) -> None:
        head, block, count, tail = _gzip_bomb_parts(bomb.megabytes, bomb.fill)
        self.send_response(200)
        self.send_header("Content-Type", bomb.content_type)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(head) + len(block) * count + len(tail)))
        self.end_headers()
        if self._head:
            return
        self.wfile.write(head)
        per_write = max(1, _WRITE_CHUNK // len(block))
        written = 0
        while written < count:
            if self._stopping.is_set():
                self._abort(reset=False)
                return
            batch = min(per_write, count - written)
            self.wfile.write(block * batch)
            written += batch
        self.wfile.write(tail)

    def _huge_body(self, huge: HugeBody) -> None:
        self.send_response(200)
        self.send_header("Content-Type", huge.content_type)
        if huge.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self._head:
            return
        for piece in _huge_chunks(huge.megabytes * MB):
            if self._stopping.is_set():
                self._abort(reset=False)
                return
            if huge.chunked:
                self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
            else:
                self.wfile.write(piece)
        if huge.chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _drop(self, drop: Drop, feed: _Feed | None) -> None:
        if drop.partial:
            body = feed.body if feed is not None else b"".join(_huge_chunks(_WRITE_CHUNK))
            self.send_response(200)
            self.send_header("Content-Type", feed.content_type if feed else RSS_CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
        self._abort(reset=drop.reset)

    def _garbage(self, garbage: Garbage) -> None:
        body = random.Random(garbage.seed).randbytes(garbage.size)
        self.send_response(200)
        self.send_header("Content-Type", garbage.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._write(body)

    def _abort(self, *, reset: bool) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            if reset:
                # Linger 0 turns close() into an immediate RST.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------
# Public API


class FeedServer:
    """A loopback feed host for tests; see the module docstring.

    State (feeds, behaviours, records) lives on this object, so it survives :meth:`stop` and
    :meth:`start`; the port changes on every start.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._feeds: dict[str, _Feed] = {}
        self._rules: dict[str, _Rule] = {}
        self._requests: dict[str, list[RecordedRequest]] = {}
        self._responses: dict[str, list[int]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind ``127.0.0.1`` on a free port and serve from a daemon thread."""
        if self._server is not None:
            return self
        self._stop_event.clear()
        server = _Server(self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"FeedServer:{server.server_port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, interrupt pending delays and drips, and close every socket."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stop_event.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FeedServer is not running")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server."""
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    # -- content -----------------------------------------------------------------------------

    def set_feed(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str = RSS_CONTENT_TYPE,
        etag: bool = True,
        last_modified: bool = True,
        headers: dict[str, str] | None = None,
        modified_at: datetime | None = None,
    ) -> None:
        """Serve ``body`` on ``path`` with ``200`` (``str`` bodies are encoded as UTF-8).

        ``etag``: send a strong ETag derived from the body and answer a matching
        ``If-None-Match`` with ``304``. ``last_modified``: send ``Last-Modified`` and answer
        ``If-Modified-Since`` at or after it with ``304``. The modification time is when the
        body last changed (re-setting identical bytes keeps it), rounded to whole seconds and
        bumped by at least one second on every change so clients always see it move; pass
        ``modified_at`` to pin it. ``headers`` are added to every 200/304 answer.
        """
        data = _to_bytes(body)
        with self._lock:
            previous = self._feeds.get(path)
            if modified_at is not None:
                stamp = modified_at if modified_at.tzinfo else modified_at.replace(tzinfo=UTC)
                stamp = stamp.astimezone(UTC).replace(microsecond=0)
            elif previous is not None and previous.body == data:
                stamp = previous.modified_at
            else:
                stamp = datetime.now(UTC).replace(microsecond=0)
                if previous is not None and stamp <= previous.modified_at:
                    stamp = previous.modified_at + timedelta(seconds=1)
            self._feeds[path] = _Feed(
                body=data,
                content_type=content_type,
                etag=_strong_etag(data) if etag else None,
                last_modified=stamp if last_modified else None,
                modified_at=stamp,
                headers=dict(headers or {}),
            )

    def remove_feed(self, path: str) -> None:
        """Forget the feed on ``path`` (it then answers 404 unless a behaviour is set)."""
        with self._lock:
            self._feeds.pop(path, None)

    def etag(self, path: str) -> str | None:
        """The ETag currently sent for ``path`` (``None`` if disabled or no feed)."""
        with self._lock:
            feed = self._feeds.get(path)
            return feed.etag if feed else None

    def last_modified(self, path: str) -> str | None:
        """The ``Last-Modified`` value currently sent for ``path``, as an HTTP date."""
        with self._lock:
            feed = self._feeds.get(path)
            if feed is None or feed.last_modified is None:
                return None
            return format_datetime(feed.last_modified, usegmt=True)

    def set_behavior(
        self, path: str, behavior: Behavior | None, *, times: int | None = None
    ) -> None:
        """Make ``path`` misbehave; ``None`` restores plain feed serving.

        With ``times=n`` the behaviour applies to the next ``n`` requests only, after which the
        path serves its feed again (handy for retry tests: ``times=2`` then success).
        """
        with self._lock:
            if behavior is None:
                self._rules.pop(path, None)
            else:
                self._rules[path] = _Rule(behavior, times)

    def clear(self) -> None:
        """Forget feeds, behaviours and records."""
        with self._lock:
            self._feeds.clear()
            self._rules.clear()
            self._requests.clear()
            self._responses.clear()

    # -- records -----------------------------------------------------------------------------

    def requests(self, path: str) -> list[RecordedRequest]:
        """Requests filed under ``path``.

        A request is filed under its full target (query included) when a feed or behaviour is
        set for exactly that target, otherwise under the path without the query string.
        """
        with self._lock:
            return list(self._requests.get(path, ()))

    def hits(self, path: str) -> int:
        """Number of requests filed under ``path``."""
        with self._lock:
            return len(self._requests.get(path, ()))

    def responses(self, path: str) -> list[int]:
        """Status codes sent for ``path``, in order (dropped connections send none)."""
        with self._lock:
            return list(self._responses.get(path, ()))

    def reset_records(self) -> None:
        """Forget recorded requests and responses but keep feeds and behaviours."""
        with self._lock:
            self._requests.clear()
            self._responses.clear()

    # -- called from handler threads ---------------------------------------------------------

    def _accept(
        self, method: str, target: str, headers: Iterable[tuple[str, str]]
    ) -> tuple[str, Behavior | None, _Feed | None]:
        split = urlsplit(target)
        with self._lock:
            key = target if target in self._feeds or target in self._rules else split.path
            self._requests.setdefault(key, []).append(
                RecordedRequest(
                    method=method,
                    path=key,
                    target=target,
                    query=split.query,
                    headers=Headers(headers),
                    time=time.monotonic(),
                )
            )
            behavior: Behavior | None = None
            rule = self._rules.get(key)
            if rule is not None:
                behavior = rule.behavior
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        del self._rules[key]
            return key, behavior, self._feeds.get(key)

    def _record_response(self, key: str, code: int) -> None:
        with self._lock:
            self._responses.setdefault(key, []).append(code)
