"""Fetching a feed over HTTP, politely and within bounds (edge: httpx).

Conditional GET (ETag, Last-Modified) so an unchanged feed costs one small request; a hash of the
body so an unchanged body is never parsed again; a total time limit on top of httpx's connect and
read time-outs; the body streamed and abandoned past the size limit, counted after
decompression so that a gzip bomb is cut off too; redirects bounded, and a move is noticed when
every hop was permanent. A redirect may not downgrade https to http or leave http(s), and,
unless the configuration allows it, may not lead to a loopback, private or link-local address
other than the host and port it came from.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import socket
import zlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from bot.core.errors import FeedError, FeedGone
from bot.core.models import Fetched

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


class RedirectRefused(Exception):
    """A redirect the fetcher will not follow."""


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_unspecified
    )


async def _private_host(host: str, port: int) -> bool:
    """Whether ``host`` is, or resolves to, a non-public address."""
    try:
        return _is_private(host)
    except ValueError:
        pass  # a name, not an address
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") or host.endswith(
        ".localhost"
    ):
        return True
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False  # unresolvable: the request itself will fail and say so
    return any(_is_private(str(info[4][0])) for info in infos)


def redirect_guard(allow_private: bool) -> Callable[[httpx.Response], Awaitable[None]]:
    """A response hook refusing redirects that downgrade or leave http(s), and (unless
    ``allow_private``) those to a non-public address on another host or port."""

    async def check(response: httpx.Response) -> None:
        location = response.headers.get("Location")
        if not response.is_redirect or location is None:
            return
        source = response.request.url
        try:
            target = source.join(location)
        except httpx.InvalidURL:
            return  # httpx refuses it on its own
        if target.scheme not in ("http", "https") or (
            source.scheme == "https" and target.scheme == "http"
        ):
            raise RedirectRefused(f"redirect from {source.scheme} to {target.scheme} refused")
        same_origin = (target.host, target.port) == (source.host, source.port)
        if allow_private or same_origin:
            return
        port = target.port or (443 if target.scheme == "https" else 80)
        if await _private_host(target.host, port):
            raise RedirectRefused(f"redirect to the non-public address {target.host} refused")

    return check


def make_client(
    *,
    user_agent: str,
    connect_timeout: float,
    read_timeout: float,
    max_redirects: int,
    max_connections: int,
    allow_private_redirects: bool = False,
) -> httpx.AsyncClient:
    """The shared HTTP client: one connection pool reused across every poll."""
    return httpx.AsyncClient(
        event_hooks={"response": [redirect_guard(allow_private_redirects)]},
        headers={"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        follow_redirects=True,
        max_redirects=max_redirects,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    )


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from ``now``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class Fetcher:
    """Fetches feeds with a shared :class:`httpx.AsyncClient`."""

    def __init__(self, client: httpx.AsyncClient, *, max_body: int, total_timeout: float) -> None:
        self._client = client
        self.max_body = max_body
        self.total_timeout = total_timeout

    async def fetch(
        self, feed: str, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """GET ``url``; raises :class:`FeedError` (or :class:`FeedGone`) naming ``feed``."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._get(feed, url, headers)
        except TimeoutError:
            raise FeedError(feed, f"timed out after {self.total_timeout:g}s") from None
        except RedirectRefused as exc:
            raise FeedError(feed, str(exc)) from exc
        except httpx.TooManyRedirects as exc:
            raise FeedError(feed, "too many redirects") from exc
        except httpx.TimeoutException as exc:
            raise FeedError(feed, f"timed out ({type(exc).__name__})") from exc
        except httpx.InvalidURL as exc:
            raise FeedError(feed, f"invalid URL: {exc}") from exc
        except httpx.HTTPError as exc:
            raise FeedError(feed, f"network error: {type(exc).__name__}: {exc}") from exc

    async def _get(self, feed: str, url: str, headers: dict[str, str]) -> Fetched:
        async with self._client.stream("GET", url, headers=headers) as response:
            final_url = str(response.url)
            moved = bool(response.history) and all(
                r.status_code in (301, 308) for r in response.history
            )
            status = response.status_code
            if status == 304:
                # Read the (empty) body: a response closed unread takes its connection with
                # it, and a 304 is the commonest answer, so keep-alive would hardly ever work.
                await response.aread()
                return Fetched(
                    url=final_url,
                    not_modified=True,
                    permanent_url=final_url if moved else None,
                    max_age=_max_age(response),
                )
            if status == 410:
                raise FeedGone(feed, "HTTP 410 Gone: the publisher removed this feed")
            if status in (429, 503):
                wait = retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC))
                raise FeedError(feed, f"HTTP {status}", retry_after=wait)
            if status >= 400:
                raise FeedError(feed, f"HTTP {status} {response.reason_phrase}".rstrip())
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > self.max_body:
                raise FeedError(
                    feed, f"body of {int(length)} bytes exceeds the {self.max_body} limit"
                )
            decoder = _Decoder(feed, response.headers.get("Content-Encoding"))
            chunks: list[bytes] = []
            size = 0
            # Raw bytes, inflated here in bounded steps: httpx would inflate each network read
            # whole, and one read of a gzip bomb can be tens of megabytes.
            async for raw in response.aiter_raw():
                for chunk in decoder.decode(raw):
                    size += len(chunk)
                    if size > self.max_body:
                        raise FeedError(feed, f"body exceeds the {self.max_body} byte limit")
                    chunks.append(chunk)
            chunks.append(decoder.flush())
        body = b"".join(chunks)
        return Fetched(
            url=final_url,
            not_modified=False,
            body=body,
            body_hash=hashlib.sha256(body).hexdigest(),
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            content_type=response.headers.get("Content-Type"),
            permanent_url=final_url if moved else None,
            max_age=_max_age(response),
        )


class _Decoder:
    """Undoes a Content-Encoding (gzip, deflate) in steps of at most ``STEP`` output bytes."""

    STEP = 64 * 1024

    def __init__(self, feed: str, encoding: str | None) -> None:
        self.feed = feed
        codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FeedError(feed, f"unsupported Content-Encoding {encoding!r}")
        self.coding = codings[0] if codings else None
        self._z = self._new()
        self._first = True

    def _new(self) -> zlib._Decompress | None:
        if self.coding is None:
            return None
        return zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in self.coding else zlib.MAX_WBITS)

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            yield data
            return
        try:
            if self._first and self.coding == "deflate" and data and data[0] & 0x0F != 8:
                # "deflate" is often sent raw, without the zlib header the RFC asks for.
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            self._first = False
            while data:
                yield self._z.decompress(data, self.STEP)
                data = self._z.unconsumed_tail
                if self._z.eof and self._z.unused_data:
                    # Concatenated gzip members: continue with the next one.
                    data = self._z.unused_data
                    self._z = self._new()
                    assert self._z is not None
        except zlib.error as exc:
            raise FeedError(self.feed, f"corrupt {self.coding} body: {exc}") from exc

    def flush(self) -> bytes:
        if self._z is None:
            return b""
        try:
            return self._z.flush()
        except zlib.error as exc:
            raise FeedError(self.feed, f"corrupt {self.coding} body: {exc}") from exc


def _max_age(response: httpx.Response) -> timedelta | None:
    m = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
    return timedelta(seconds=int(m.group(1))) if m else None
