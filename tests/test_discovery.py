"""Feed discovery: the feeds real saved pages advertise (``../shared/corpus/pages``, every
page's expected list in its MANIFEST), and ``newsbot feeds add`` against a loopback site: a
home page listing its feeds, one picked and added with its title, a feed URL added as is, a
page with no feed refused."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import load_config
from bot.core.discovery import advertised_feeds, decode_page
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import Item, atom, rss
from tests.test_cli import newsbot

PAGES = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pages"


def manifest() -> list[dict[str, str]]:
    if not (PAGES / "MANIFEST.tsv").exists():
        return []
    with (PAGES / "MANIFEST.tsv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.mark.skipif(not manifest(), reason="../shared/corpus/pages is not here")
@pytest.mark.parametrize("row", manifest(), ids=lambda row: row["file"])
def test_the_feeds_real_pages_advertise(row: dict[str, str]) -> None:
    body = (PAGES / row["file"]).read_bytes()
    if row["file"].endswith(".gz"):
        body = gzip.decompress(body)
    found = advertised_feeds(decode_page(body), row["page_url"])
    wanted = [] if row["expected_feeds"] == "(none)" else row["expected_feeds"].split(";")
    assert [f.url for f in found] == wanted


def test_a_page_in_another_encoding_keeps_its_feed_titles() -> None:
    page = (
        '<html><head><meta charset="windows-1254"><link rel="alternate" '
        'type="application/rss+xml" title="Haberler – Güncel" href="/rss/"></head></html>'
    ).encode("windows-1254")
    (feed,) = advertised_feeds(decode_page(page), "https://www.muhasebetr.com/a/b.html")
    assert (feed.url, feed.kind, feed.title) == (
        "https://www.muhasebetr.com/rss/",
        "RSS",
        "Haberler – Güncel",
    )


HOME = """<!doctype html><html><head><title>Caucasus Desk</title>
<link rel="alternate" type="application/rss+xml" title="All news" href="/feeds/all.xml">
<link rel="alternate" type="application/atom+xml" title="Defence" href="feeds/defence.atom">
<link rel="alternate" hreflang="ru" href="/ru/">
</head><body><a href="/feeds/all.xml">RSS</a></body></html>"""


def test_feeds_add_finds_lists_and_adds_a_sites_feeds(
    write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    feed_server.set_feed("/", HOME, content_type="text/html; charset=utf-8")
    feed_server.set_feed(
        "/feeds/all.xml", rss([Item("One", "https://d.invalid/1")], title="Caucasus Desk: all")
    )
    feed_server.set_feed(
        "/feeds/defence.atom",
        atom([Item("Two", "https://d.invalid/2")], title="Caucasus Desk: defence"),
        content_type="application/atom+xml",
    )
    feed_server.set_feed(
        "/plain", "<html><body>No feeds here</body></html>", content_type="text/html"
    )
    config = write_config("# my feeds\nfeeds: []\n")
    site = feed_server.url("/")

    listed = newsbot("feeds", "add", site, "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    assert f"{site} advertises 2 feeds:" in listed.stdout
    assert f"  1. RSS: {feed_server.url('/feeds/all.xml')}  (All news)" in listed.stdout
    assert f"  2. Atom: {feed_server.url('/feeds/defence.atom')}  (Defence)" in listed.stdout
    assert load_config(config).feeds == ()  # nothing added before a choice

    picked = newsbot("feeds", "add", site, "--pick", "2", "--config", str(config))
    assert picked.returncode == 0, picked.stderr
    (feed,) = load_config(config).feeds
    assert (feed.url, feed.title) == (
        feed_server.url("/feeds/defence.atom"),
        "Caucasus Desk: defence",
    )
    assert config.read_text(encoding="utf-8").startswith("# my feeds\n")  # comments kept

    direct = newsbot("feeds", "add", feed_server.url("/feeds/all.xml"), "--config", str(config))
    assert direct.returncode == 0, direct.stderr
    assert [f.title for f in load_config(config).feeds] == [
        "Caucasus Desk: defence",
        "Caucasus Desk: all",
    ]
    again = newsbot("feeds", "add", site, "--pick", "1", "--config", str(config))
    assert again.returncode == 0 and "already" in again.stdout

    none = newsbot("feeds", "add", feed_server.url("/plain"), "--config", str(config))
    assert none.returncode == 1
    assert "a web page, and the page advertises no feed" in none.stdout
    wrong = newsbot("feeds", "add", site, "--pick", "7", "--config", str(config))
    assert wrong.returncode == 1 and "there is no feed 7" in wrong.stdout
    assert len(load_config(config).feeds) == 2
