"""Webhook mode with two ``newsbot run`` processes on one PostgreSQL database, behind a "load
balancer" that sends each update to either: the leader sets the webhook once, every command is
answered exactly once whichever instance received it (and when Telegram delivers it twice, to
both), a request without the secret token is refused, and getUpdates is never called.

Separate processes, the real server, the fake Bot API server pushing updates over loopback.
Marked slow (about 30 s)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.storage import Store
from tests.conftest import PG_URL
from tests.e2e_support import free_port, item
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="NEWSBOT_TEST_DATABASE_URL not set"),
    pytest.mark.parametrize("db_url", ["postgresql"], indirect=True),
]

SECRET = "s3cret-webhook_token"
USERS = [7001, 7002, 7003]


class Balancer:
    """Forwards each POST to the next backend in turn (a round-robin load balancer)."""

    def __init__(self, backends: list[int]) -> None:
        turns = itertools.cycle(backends)
        lock = threading.Lock()
        self.forwarded: list[int] = []

        balancer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    port = next(turns)
                    balancer.forwarded.append(port)
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{self.path}",
                    data=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    method="POST",
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status = answer.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    status = 502
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _post(port: int, update: dict[str, Any], secret: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram",
        data=json.dumps(update).encode(),
        headers={"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_any_instance_receives_and_each_command_is_answered_once(
    write_config: Callable[..., Path],
    feed_server: FeedServer,
    telegram: FakeTelegram,
    db_url: str,
    tmp_path: Path,
) -> None:
    for user in USERS:
        telegram.add_user(user)
    feed_server.set_feed("/news.xml", rss([item(1, "Quiet day")]))
    ports = [free_port(), free_port()]
    balancer = Balancer(ports)
    config = write_config(
        f"telegram:\n  token: '{telegram.token}'\n  api_url: {telegram.base_url}\n"
        "  poll_timeout: 1s\n"
        f"storage:\n  url: {db_url}\n"
        "polling:\n  interval: 5s\n  min_interval: 5s\n  jitter: 0\n"
        "coordination:\n  leader_lease: 6s\n"
        f"feeds:\n  - {{name: news, url: '{feed_server.url('/news.xml')}'}}\n",
        {"k.yaml": "rules:\n  - {id: karabakh, title: Karabakh, any: [Karabakh]}\n"},
    )
    processes = []
    try:
        for n, port in enumerate(ports):
            own = tmp_path / f"config{n}.yaml"
            own.write_text(
                config.read_text().replace(
                    "telegram:\n",
                    "telegram:\n  webhook:\n"
                    f"    url: http://127.0.0.1:{balancer.port}/telegram\n"
                    f"    listen: 127.0.0.1:{port}\n"
                    f"    secret_token: {SECRET}\n",
                    1,
                )
            )
            with (tmp_path / f"instance{n}.log").open("wb") as out:
                processes.append(
                    subprocess.Popen(  # noqa: ASYNC220 - starts at once
                        [sys.executable, "-m", "bot", "run", "--config", str(own)],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    )
                )

        def logs() -> str:
            return "\n".join(
                (tmp_path / f"instance{n}.log").read_text()[-5000:] for n in range(len(ports))
            )

        await telegram.wait_for_async(lambda: telegram.webhook is not None, 30, message=logs())
        assert telegram.webhook == (f"http://127.0.0.1:{balancer.port}/telegram", SECRET)
        # Commands from every user, forwarded round-robin to both instances.
        sent = 0
        for user in USERS:
            for text in ("/help", "/rules"):
                telegram.user_sends(user, text)
                sent += 1
        await telegram.wait_for_async(
            lambda: sum(len(telegram.messages_to(u)) for u in USERS) >= sent, 30, message=logs()
        )
        assert set(balancer.forwarded) == set(ports), "both instances received updates"
        # Telegram delivers one update again, to each instance directly: still one answer.
        telegram.user_sends(USERS[0], "/mine")
        await telegram.wait_for_async(
            lambda: len(telegram.messages_to(USERS[0])) == 3, 30, message=logs()
        )
        last = telegram.last_update_id
        replay = {
            "update_id": last,
            "message": {
                "message_id": 999,
                "date": int(time.time()),
                "chat": {"id": USERS[0], "type": "private"},
                "from": {"id": USERS[0], "is_bot": False, "first_name": "U"},
                "text": "/mine",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
        assert [_post(port, replay, SECRET) for port in ports] == [200, 200]
        # Without the secret, or with a wrong one: refused, nothing handled.
        forged = {**replay, "update_id": last + 100}
        forged["message"] = {**replay["message"], "text": "/help"}
        assert _post(ports[0], forged, "wrong") == 403
        assert _post(ports[1], forged, "") == 403
        await asyncio.sleep(4)
        answers = {u: [m.plain_text.split("\n")[0] for m in telegram.messages_to(u)] for u in USERS}
        print(f"\nwebhook: {len(balancer.forwarded)} pushes via the balancer; answers {answers}")
        expected = ["Commands", "Topics, page 1 of 1", "You don't follow"]

        def shown(user: int) -> list[str]:
            return [next((e for e in expected if a.startswith(e)), a) for a in answers[user]]

        assert shown(USERS[0]) == expected, answers
        for user in USERS[1:]:  # each chat's commands answered once, in order
            assert shown(user) == expected[:2], answers
        assert telegram.calls("getUpdates") == [], "no long polling in webhook mode"
        assert len(telegram.calls("setWebhook")) == 1, "set once, by the leader"
        store = await Store.open(db_url)
        try:
            holders = {h for _, h, _, _ in await store.leases()}
        finally:
            await store.close()
        assert len(holders) == 1
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        balancer.stop()
