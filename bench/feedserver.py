"""The benchmarks' feed server: a generated :class:`~bench.feedcorpus.FeedCorpus` served over
HTTP/1.1 from a separate process, so that its CPU time is not counted as the poller's.

It is a small asyncio server with keep-alive, answering from bodies (plain and gzip) built
in memory ahead of time, so that it is not what limits a benchmark. Conditional GET is
answered as the feed's host would: ``If-None-Match`` for feeds that send an ETag,
``If-Modified-Since`` (exact match, like most servers) for feeds that send a Last-Modified,
nothing for the others; gzip for the feeds that use it when the client accepts it.

Control endpoints, for the benchmark driving it:

- ``POST /_control/change?fraction=F&round=R``: that fraction of the feeds publish (JSON: the
  indices of the feeds that changed);
- ``GET /_control/stats``: responses by status, body bytes sent, requests served;
- ``POST /_control/reset``: zero the statistics;
- ``POST /_control/snapshot`` and ``POST /_control/restore``: remember the feeds as they are,
  and go back to that, so that every contender polls the very same documents.

Run as ``python -m bench.feedserver --feeds N [--seed S]``; it prints one JSON line
(``{"port": ..., "feeds": ..., ...}``) once it is ready, and exits when its stdin closes.
:class:`ServerProcess` does all that for a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import statistics
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from bench.feedcorpus import FeedCorpus, etag_of

ROOT = Path(__file__).resolve().parents[1]
RSS_TYPE = b"application/rss+xml; charset=utf-8"
ATOM_TYPE = b"application/atom+xml; charset=utf-8"


@dataclass
class Served:
    """One feed's current response, ready to write."""

    body: bytes
    gzipped: bytes | None
    etag: str | None
    last_modified: str | None
    content_type: bytes


class FeedServer:
    def __init__(self, feeds: FeedCorpus, latency: float = 0.0) -> None:
        self.corpus = feeds
        self.latency = latency
        """Seconds each feed request waits before its answer: a network's round trips (the
        wait costs no CPU, and requests wait side by side)."""
        self.served: dict[str, Served] = {}
        self.stats: Counter[str] = Counter()
        self.saved: tuple[list[tuple[list[str], int, int]], dict[str, Served]] | None = None
        for index in range(len(feeds)):
            self._build(index)

    def _build(self, index: int) -> None:
        feed = self.corpus.feeds[index]
        body = self.corpus.body(index)
        self.served[feed.path] = Served(
            body=body,
            # Level 1 is nginx's default gzip_comp_level.
            gzipped=gzip.compress(body, compresslevel=1, mtime=0) if feed.gzip else None,
            etag=etag_of(body) if feed.validators == "etag" else None,
            last_modified=(
                format_datetime(feed.modified(), usegmt=True)
                if feed.validators in ("etag", "last-modified")
                else None
            ),
            content_type=ATOM_TYPE if feed.kind == "atom" else RSS_TYPE,
        )

    def describe(self) -> dict[str, Any]:
        sizes = sorted(len(s.body) for s in self.served.values())
        counts = [len(f.items) for f in self.corpus.feeds]
        items = [i for f in self.corpus.feeds for i in f.items]
        return {
            "feeds": len(sizes),
            "kb_min": sizes[0] / 1024,
            "kb_median": statistics.median(sizes) / 1024,
            "kb_max": sizes[-1] / 1024,
            "mb_total": sum(sizes) / 2**20,
            "items_min": min(counts),
            "items_median": statistics.median(counts),
            "items_max": max(counts),
            "validators": dict(Counter(f.validators for f in self.corpus.feeds)),
            "gzip": sum(f.gzip for f in self.corpus.feeds),
            "atom": sum(f.kind == "atom" for f in self.corpus.feeds),
            "ttl": sum(f.ttl is not None for f in self.corpus.feeds),
            "non_ascii_items": round(sum(not i.isascii() for i in items) / len(items), 3),
            "text": self.corpus.text.description,
        }

    # -- HTTP ------------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = [*lines[0].split(" "), "", "", ""][:3]
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                status, extra, body = self.respond(method, target, headers)
                if self.latency and target.startswith("/feeds/"):
                    await asyncio.sleep(self.latency)
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                head_lines = [f"HTTP/1.1 {status}".encode(), *extra]
                head_lines.append(b"Content-Length: " + str(len(body)).encode())
                if close:
                    head_lines.append(b"Connection: close")
                writer.write(b"\r\n".join(head_lines) + b"\r\n\r\n")
                if method != "HEAD" and body:
                    writer.write(body)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()

    def respond(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[str, list[bytes], bytes]:
        parts = urlsplit(target)
        if parts.path.startswith("/_control/"):
            return self.control(method, parts.path, parse_qs(parts.query))
        served = self.served.get(parts.path)
        if served is None or method not in ("GET", "HEAD"):
            self.stats["404"] += 1
            return "404 Not Found", [b"Content-Type: text/plain"], b"not found\n"
        validators: list[bytes] = []
        if served.etag:
            validators.append(b"ETag: " + served.etag.encode())
        if served.last_modified:
            validators.append(b"Last-Modified: " + served.last_modified.encode())
        match = headers.get("if-none-match")
        since = headers.get("if-modified-since")
        if (served.etag and match is not None and served.etag in match) or (
            match is None and served.last_modified and since == served.last_modified
        ):
            self.stats["304"] += 1
            return "304 Not Modified", validators, b""
        extra = [b"Content-Type: " + served.content_type, *validators]
        body = served.body
        if served.gzipped is not None and "gzip" in headers.get("accept-encoding", ""):
            body = served.gzipped
            extra.append(b"Content-Encoding: gzip")
        self.stats["200"] += 1
        self.stats["bytes"] += len(body)
        return "200 OK", extra, body

    def control(
        self, method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[str, list[bytes], bytes]:
        if path == "/_control/change" and method == "POST":
            fraction = float(query.get("fraction", ["0.1"])[0])
            round_seed = int(query.get("round", ["1"])[0])
            changed = self.corpus.change(fraction, round_seed)
            for index in changed:
                self._build(index)
            payload: Any = {"changed": changed}
        elif path == "/_control/snapshot" and method == "POST":
            self.saved = (self.corpus.snapshot(), dict(self.served))
            payload = {}
        elif path == "/_control/restore" and method == "POST":
            if self.saved is None:
                return "409 Conflict", [], b"no snapshot"
            self.corpus.restore(self.saved[0])
            self.served = dict(self.saved[1])
            payload = {}
        elif path == "/_control/stats":
            payload = dict(self.stats)
        elif path == "/_control/reset" and method == "POST":
            self.stats.clear()
            payload = {}
        elif path == "/_control/describe":
            payload = self.describe()
        else:
            return "404 Not Found", [], b""
        return "200 OK", [b"Content-Type: application/json"], json.dumps(payload).encode()


async def _serve(server: FeedServer, host: str, port: int) -> None:
    listener = await asyncio.start_server(server.handle, host, port, backlog=1024)
    bound = listener.sockets[0].getsockname()[1]
    print(json.dumps({"port": bound, **server.describe()}), flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.create_future()

    def wait_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent went away or asked us to stop
        loop.call_soon_threadsafe(stdin_closed.set_result, None)

    threading.Thread(target=wait_stdin, daemon=True).start()
    async with listener:
        await stdin_closed
    # Open keep-alive connections would be cancelled one by one, noisily: just leave.
    sys.stdout.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.feedserver")
    p.add_argument("--feeds", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--synthetic", action="store_true", help="synthetic text, not the corpus")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = p.parse_args(argv)
    from bench import corpus as corpora

    text = corpora.load(synthetic=args.synthetic, seed=args.seed)
    server = FeedServer(FeedCorpus(args.feeds, args.seed, text), args.latency)
    asyncio.run(_serve(server, args.host, args.port))
    return 0


class ServerProcess:
    """Starts the feed server in a child process and talks to it."""

    def __init__(
        self, feeds: int, seed: int = 1, *, synthetic: bool = False, latency: float = 0.0
    ) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "bench.feedserver", "--feeds", str(feeds)]
        command += ["--seed", str(seed), "--latency", str(latency)]
        command += ["--synthetic"] if synthetic else []
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the feed server did not start")
        self.info: dict[str, Any] = json.loads(line)
        self.port: int = self.info["port"]
        self.base = f"http://127.0.0.1:{self.port}"
        self.count: int = self.info["feeds"]

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, index: int) -> str:
        return f"{self.base}/feeds/{index}.xml"

    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.count)]

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            self.base + path, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def change(self, fraction: float, round_seed: int) -> list[int]:
        return list(
            self._call("POST", f"/_control/change?fraction={fraction}&round={round_seed}")[
                "changed"
            ]
        )

    def stats(self) -> dict[str, int]:
        return dict(self._call("GET", "/_control/stats"))

    def reset(self) -> None:
        self._call("POST", "/_control/reset")

    def snapshot(self) -> None:
        """Remember the feeds as they are now; :meth:`restore` brings them back, so that
        every contender of a benchmark polls exactly the same documents."""
        self._call("POST", "/_control/snapshot")

    def restore(self) -> None:
        self._call("POST", "/_control/restore")

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


if __name__ == "__main__":
    raise SystemExit(main())
