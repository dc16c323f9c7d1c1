"""The newsbot command as a user runs it: a real process, loopback servers, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import Item, rss
from tests.fakes.telegram_api import FakeTelegram

RULES = {
    "drones.yaml": """
        rules:
          - id: drones
            title: Turkish drones
            any: [Bayraktar, Akinci]
            notify: ["-1001000"]
    """
}


def newsbot(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(env),
        check=False,
    )


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEWSBOT_"))}
    env.update(extra or {})
    return env


def item(n: int, title: str) -> Item:
    return Item(title=title, link=f"https://news.example.invalid/{n}", guid=f"g{n}")


def test_run_once_without_a_token_prints_alerts_to_the_console(
    write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "Akinci over the Aegean")]))
    config = write_config(
        f"feeds:\n  - name: news\n    url: {feed_server.url('/news.xml')}\n", RULES
    )
    first = newsbot("run", "--once", "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert "alert for" not in first.stdout, "the first poll only records what is there"
    assert (config.parent / "data" / "newsbot.db").exists(), "SQLite file next to the config"

    feed_server.set_feed(
        "/news.xml",
        rss([item(1, "Akinci over the Aegean"), item(2, "New Bayraktar & <TB3> order")]),
    )
    second = newsbot("run", "--once", "--config", str(config))
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("alert for console") == 1, second.stdout
    assert "New Bayraktar & <TB3> order" in second.stdout
    assert "Turkish drones: Bayraktar" in second.stdout
    assert (
        "console (no TELEGRAM_BOT_TOKEN set)" in second.stderr or "1 alerts sent" in second.stderr
    )

    third = newsbot("run", "--once", "--config", str(config))
    assert third.returncode == 0 and "alert for" not in third.stdout


def test_check_lists_every_problem_with_file_and_line(write_config: Callable[..., Path]) -> None:
    config = write_config(
        """
        polling:
          intervl: 5m
        feeds:
          - name: a
            url: ftp://example.invalid/feed
        """,
        {
            "bad.yaml": """
                rules:
                  - id: Bad Id
                    title: x
                    any: [drone]
                  - id: ok
                    title: ok
                    any: [drone]
                    notify: [not-a-chat]
            """
        },
    )
    result = newsbot("check", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}:3:" in result.stderr and "did you mean 'interval'" in result.stderr
    assert f"{config}:6:" in result.stderr and "not an http(s) URL" in result.stderr

    config.write_text("feeds: []\n")
    result = newsbot("check", "--config", str(config))
    assert result.returncode == 1
    bad = config.parent / "rules" / "bad.yaml"
    assert f"{bad}:3:" in result.stderr and "Bad Id" in result.stderr
    assert f"{bad}:9:" in result.stderr and "rule 'ok'" in result.stderr


def test_check_accepts_the_shipped_config_and_rules() -> None:
    root = Path(__file__).resolve().parents[1]
    result = newsbot("check", "--config", str(root / "config.yaml"))
    assert result.returncode == 0, result.stderr
    assert "delivery to console" in result.stdout


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    result = newsbot("run", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "nope.yaml: file not found" in result.stderr


def test_run_stops_cleanly_on_sigterm_and_never_logs_the_token(
    write_config: Callable[..., Path], feed_server: FeedServer, telegram: FakeTelegram
) -> None:
    telegram.add_group(-1001000, "Desk", supergroup=True)
    feed_server.set_feed("/news.xml", rss([item(1, "Old")]))
    config = write_config(
        f"""
        telegram:
          token: ${{TELEGRAM_BOT_TOKEN}}
          api_url: {telegram.base_url}
          poll_timeout: 1s
        log_level: DEBUG
        polling:
          interval: 1s
          min_interval: 1s
          jitter: 0
        feeds:
          - name: news
            url: {feed_server.url("/news.xml")}
        """,
        RULES,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env({"TELEGRAM_BOT_TOKEN": telegram.token}),
    )
    try:
        telegram.wait_for(lambda: feed_server.hits("/news.xml") >= 1, timeout=20)
        feed_server.set_feed("/news.xml", rss([item(1, "Old"), item(2, "Bayraktar news")]))
        telegram.wait_for_messages(-1001000, 1, timeout=20)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "stopping" in output
    secret = telegram.token.split(":", 1)[1]
    assert secret not in output, "the bot token leaked into the logs"
    assert "[REDACTED]" in output or "getUpdates" not in output


def test_json_logs_and_status_show_the_instance_and_its_lease(
    write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    feed_server.set_feed("/news.xml", rss([item(1, "Old")]))
    config = write_config(
        f"""
        log_format: json
        polling:
          interval: 1s
          min_interval: 1s
          jitter: 0
        feeds:
          - name: news
            url: {feed_server.url("/news.xml")}
        """,
        RULES,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 20
        while feed_server.hits("/news.xml") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        running = newsbot("status", "--config", str(config))
        process.send_signal(signal.SIGTERM)
        _, logs = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, logs
    entries = [json.loads(line) for line in logs.splitlines()]  # every line is one object
    started = next(e for e in entries if e["message"].startswith("running as instance"))
    assert started["level"] == "INFO" and started["logger"] == "bot.app"
    assert started["pid"] == process.pid and started["time"].endswith("+00:00")
    instance = started["message"].split()[3]
    assert running.returncode == 0, running.stderr
    assert "Instances: 1 running" in running.stdout
    assert f"{instance} (host " in running.stdout and ": leader, heartbeat" in running.stdout
    assert f"Lease telegram: held by {instance}" in running.stdout
    stopped = newsbot("status", "--config", str(config))
    assert "Instances: 0 running" in stopped.stdout and "stopped" in stopped.stdout
    assert "Lease telegram: free" in stopped.stdout, "a clean stop hands the lease over"


def test_feeds_check_says_what_a_feed_holds_and_what_is_wrong_with_it(
    write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    config = write_config(f"feeds:\n  - name: news\n    url: {feed_server.url('/x.xml')}\n", RULES)
    feed_server.set_feed("/good.xml", rss([item(1, "Akinci over the Aegean"), item(2, "Second")]))
    feed_server.set_feed(
        "/bare.xml", rss([item(3, "No validators")]), etag=False, last_modified=False
    )
    feed_server.set_feed(
        "/page.html", "<html><body>a home page</body></html>", content_type="text/html"
    )
    good = newsbot("feeds", "check", feed_server.url("/good.xml"), "--config", str(config))
    bare = newsbot("feeds", "check", feed_server.url("/bare.xml"), "--config", str(config))
    page = newsbot("feeds", "check", feed_server.url("/page.html"), "--config", str(config))
    down = newsbot("feeds", "check", "http://127.0.0.1:9/feed.xml", "--config", str(config))
    saved = Path(__file__).parent / "data" / "feeds"
    atom = next(saved.glob("*atom_feed_content.xml"))
    file = newsbot("feeds", "check", str(atom), "--config", str(config))
    assert good.returncode == 0, good.stdout + good.stderr
    lines = good.stdout.splitlines()
    assert lines[0] == f"feed: {feed_server.url('/good.xml')}"
    assert "validators: ETag, Last-Modified" in good.stdout
    assert "stories: 2 stories, 0 dated, 2 with a link" in good.stdout
    assert "  ?  Akinci over the Aegean" in good.stdout
    assert "note: 2 stories have no date" in good.stdout
    assert (
        bare.returncode == 0 and "validators: none (every poll downloads it whole)" in bare.stdout
    )
    assert page.returncode == 1 and "problem:" in page.stdout, page.stdout
    assert down.returncode == 1 and "problem: network error" in down.stdout, down.stdout
    assert file.returncode == 0, file.stdout + file.stderr
    assert "served:" not in file.stdout and "stories: " in file.stdout
    assert not (config.parent / "data").exists(), "checking a feed touches no database"
