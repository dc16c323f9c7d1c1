"""The hostile-input corpus, end to end through our code: every file is served over loopback
(with the HTTP headers feedparser's test suite simulates), fetched by the bot's fetcher, parsed,
matched against the shipped rules and rendered as an alert that must pass Telegram's HTML
parser. No file may raise, and nothing a feed contains may become Telegram markup.

The permissively licensed subset in tests/data always runs; the full corpus in ../shared runs
when that folder is present (it is not part of the project)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import load_config
from bot.core.errors import FeedError, ParseError
from bot.core.render import render_html, render_plain
from bot.feeds.fetch import Fetcher, make_client
from bot.feeds.parse import parse_feed
from bot.rulefiles import load_rules
from tests.builders import alert as build_alert
from tests.conftest import SHARED
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_html import parse_telegram_html_entities, telegram_length

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
ALLOWED_ENTITIES = {"bold", "italic", "text_link"}


def _headers(index: Path) -> dict[str, str]:
    """feedparser test path -> its simulated HTTP header line."""
    if not index.exists():
        return {}
    with index.open(encoding="utf-8") as f:
        return {row["path"]: row["http_header"] for row in csv.DictReader(f, delimiter="\t")}


def _cases(feeds: Path, feedparser: Path) -> list[tuple[str, Path, str]]:
    cases = [("feeds", p, "") for p in sorted(feeds.iterdir()) if p.suffix != ".tsv"]
    headers = _headers(feedparser / "INDEX.tsv")
    for path in sorted((feedparser / "tests").rglob("*")):
        if path.is_file():
            rel = str(path.relative_to(feedparser))
            group = "sanitize" if "/sanitize/" in rel else "feedparser"
            cases.append((group, path, headers.get(rel, "")))
    return cases


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    client = make_client(
        user_agent="newsbot-test",
        connect_timeout=2,
        read_timeout=2,
        max_redirects=3,
        max_connections=4,
    )
    async with client:
        yield Fetcher(client, max_body=5 * 2**20, total_timeout=5)


async def _run(
    cases: list[tuple[str, Path, str]],
    fetcher: Fetcher,
    label: str,
    capsys: pytest.CaptureFixture[str],
) -> Counter[str]:
    config = load_config(ROOT / "config.yaml", env={})
    book = load_rules(ROOT / "rules", {f.name: f.tags for f in config.feeds}).book()
    counts: Counter[str] = Counter()
    failures: list[str] = []
    with FeedServer() as server:
        for i, (group, path, header) in enumerate(cases):
            url_path = f"/{i}/{path.name}"
            name, _, value = header.partition(":")
            content_type = (
                value.strip() if name.strip().lower() == "content-type" else ("application/xml")
            )
            server.set_feed(url_path, path.read_bytes(), content_type=content_type)
            counts["files"] += 1
            counts[f"files: {group}"] += 1
            try:
                fetched = await fetcher.fetch(path.name, server.url(url_path))
                parsed = parse_feed(path.name, fetched.body, fetched.url, fetched.content_type)
            except ParseError:
                counts["not a feed (recorded as the feed's error)"] += 1
                continue
            except FeedError as exc:
                failures.append(f"{path}: fetch failed: {exc}")
                continue
            except Exception as exc:
                failures.append(f"{path}: {type(exc).__name__}: {exc}")
                continue
            counts["parsed"] += 1
            counts["ill-formed but readable"] += parsed.warning is not None
            for story in parsed.stories:
                counts["stories"] += 1
                counts[f"stories: {group}"] += 1
                try:
                    matches = book.matcher.match(story)
                    counts["matches"] += len(matches)
                    terms = tuple(t for m in matches for t in m.terms) or ("term",)
                    alert = build_alert(1, "1", "rule", "Rule <&>", path.name, story, terms)
                    html = render_html(alert)
                    parsed_html = parse_telegram_html_entities(html)
                    plain = render_plain(alert)
                except Exception as exc:
                    failures.append(f"{path}: {story.title[:60]!r}: {type(exc).__name__}: {exc}")
                    continue
                counts["alerts rendered and accepted by Telegram's HTML parser"] += 1
                kinds = {e["type"] for e in parsed_html.entities}
                links = [e["url"] for e in parsed_html.entities if e["type"] == "text_link"]
                if (
                    not kinds <= ALLOWED_ENTITIES
                    or len(links) > 1
                    or any(not u.lower().startswith(("http://", "https://")) for u in links)
                ):
                    failures.append(f"{path}: feed markup became Telegram markup: {html[:200]}")
                if telegram_length(parsed_html.text) > 4096 or telegram_length(plain) > 4096:
                    failures.append(f"{path}: message longer than 4096")
    with capsys.disabled():
        print(f"\nhostile corpus ({label}):")
        for key, value in sorted(counts.items()):
            print(f"  {key:58} {value:6}")
    assert not failures, "\n".join(failures[:20])
    return counts


async def test_committed_corpus(fetcher: Fetcher, capsys: pytest.CaptureFixture[str]) -> None:
    counts = await _run(_cases(DATA / "feeds", DATA / "feedparser"), fetcher, "tests/data", capsys)
    assert counts["files"] >= 140
    assert counts["stories: sanitize"] >= 20


@pytest.mark.skipif(not (SHARED / "corpus").is_dir(), reason="../shared/corpus is not present")
async def test_full_shared_corpus(fetcher: Fetcher, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = SHARED / "corpus"
    counts = await _run(
        _cases(corpus / "feeds", corpus / "feedparser"), fetcher, str(corpus), capsys
    )
    assert counts["files"] >= 1100
    assert counts["stories"] >= 10_000
