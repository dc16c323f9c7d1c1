"""OPML lists: the exports of real readers read into feeds with their folders and categories
as tags (malformed ones repaired or refused with their line), ``newsbot feeds import`` adding
them to a config without losing its comments, and ``newsbot feeds export`` round-tripping."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import load_config
from bot.core import opml
from bot.core.errors import ConfigError
from bot.feedlist import add_feeds
from tests.test_cli import RULES, newsbot

DATA = Path(__file__).parent / "data" / "opml"


def _read(name: str) -> opml.OpmlList:
    return opml.read((DATA / name).read_bytes(), name)


def test_real_exports_are_read_with_their_folders_and_categories() -> None:
    newsboat = _read("newsboat__example.opml")
    assert len(newsboat.feeds) == 7 and not newsboat.repaired
    by_title = {f.title: f for f in newsboat.feeds}
    assert by_title["Notes by Mike"].tags == ("Blogs", "friends"), "nested folders, by text"
    assert by_title["John's musings"].tags == ("Blogs",)
    assert by_title["example.com website"].tags == ()
    (bbc,) = _read("newsboat__category.opml").feeds
    assert bbc.tags == ("tag one", "tag_two", "tag/three")
    assert bbc.title == "feeds.bbci.co.uk", "an empty title: the host names it"
    rssowl = _read("miniflux__parser_test__rssowl_nested.opml")
    assert [(f.title, f.tags) for f in rssowl.feeds] == [
        ("Feed 1", ("My Feeds", "Some Category")),
        ("Feed 2", ("My Feeds", "Some Category")),
        ("Feed 3", ("My Feeds", "Another Category")),
    ]
    assert len(_read("miniflux__parser_test__mySubscriptions_iso-8859-1.opml").feeds) == 13
    (settings,) = _read("miniflux__parser_test__miniflux_settings.opml").feeds
    assert settings.tags == ("My Category",)
    broken = _read("miniflux__parser_test__invalid_entity.opml")
    assert broken.repaired and [f.url for f in broken.feeds] == ["http://example.org/feed1/a&b"]


def test_what_is_not_a_list_is_refused_with_its_place() -> None:
    cases = {
        b"<opml><head/></opml>": "without a <body>",
        b"<rss><channel/></rss>": "the root is <rss>",
        b'<!DOCTYPE opml [<!ENTITY a "x">]><opml><body/></opml>': "with a DTD",
        b'<opml>\n<body>\n<outline text="a" xmlUrl="http://x/" </body></opml>': "line 3",
    }
    for body, wanted in cases.items():
        with pytest.raises(ConfigError) as refused:
            opml.read(body, "list.opml")
        assert wanted in str(refused.value) and "list.opml" in str(refused.value)
    sites = opml.read(
        b'<opml><body><outline text="site" htmlUrl="http://x/"/>'
        b'<outline text="f" xmlUrl="ftp://x/f"/><outline text="g" xmlUrl="http://x/g"/>'
        b'<outline text="again" xmlUrl="http://x/g" category="/news/world"/></body></opml>',
        "sites.opml",
    )
    assert sites.skipped == 2
    assert sites.feeds == [opml.Subscription("http://x/g", "g", ("news", "world"))]


def test_feed_names_are_valid_and_unique() -> None:
    taken = {"BBC"}
    assert opml.feed_name("BBC", "http://bbc/", taken) == "BBC 2"
    assert opml.feed_name("John's «musings»!", "http://j/", taken) == "Johns musings"
    assert opml.feed_name("???", "http://example.org:8080/feed", taken) == "example.org-8080"


CONFIG = """\
# The team's feeds; keep this comment.
feeds:
  # Wire services
  - name: wire
    url: https://wire.example.invalid/rss   # the main one
    tags: [wire]
"""


def test_import_adds_new_feeds_keeps_comments_and_export_round_trips(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config("feeds: []\n", RULES)
    config.write_text(CONFIG, encoding="utf-8")
    mode = config.stat().st_mode
    first = newsbot(
        "feeds", "import", str(DATA / "newsboat__example.opml"), "--config", str(config)
    )
    again = newsbot(
        "feeds", "import", str(DATA / "newsboat__example.opml"), "--config", str(config)
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "7 added" in first.stdout and "+ Johns musings" in first.stdout
    assert (
        again.returncode == 0 and "0 added" in again.stdout and "7 listed already" in again.stdout
    )
    text = config.read_text(encoding="utf-8")
    assert text.startswith(CONFIG), "comments, order and layout kept"
    assert config.stat().st_mode == mode
    loaded = load_config(config)
    assert len(loaded.feeds) == 8
    mike = next(f for f in loaded.feeds if f.url.endswith("~mike/.rss"))
    assert (mike.name, mike.tags) == ("Notes by Mike", ("Blogs", "friends"))
    # Export, then import into an empty config: the same feeds, titles and tags.
    exported = tmp_path / "out.opml"
    out = newsbot("feeds", "export", "-o", str(exported), "--config", str(config))
    assert out.returncode == 0, out.stderr
    back = opml.read(exported.read_bytes(), "out.opml")
    assert [(f.url, f.title, f.tags) for f in back.feeds] == [
        (f.url, f.title or f.name, f.tags) for f in loaded.feeds
    ]
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text("feeds: []\n", encoding="utf-8")
    (tmp_path / "rules").mkdir(exist_ok=True)
    imported = newsbot("feeds", "import", str(exported), "--config", str(fresh))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert [(f.url, f.title or f.name, f.tags) for f in load_config(fresh).feeds] == [
        (f.url, f.title or f.name, f.tags) for f in loaded.feeds
    ]


def test_an_import_that_cannot_be_done_leaves_the_config_as_it_was(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config("feeds: []\n", RULES)
    config.write_text("feeds: {not: a list}\n", encoding="utf-8")
    before = config.read_text(encoding="utf-8")
    refused = newsbot(
        "feeds", "import", str(DATA / "newsboat__example.opml"), "--config", str(config)
    )
    assert refused.returncode == 1
    assert str(config) in refused.stdout + refused.stderr
    assert config.read_text(encoding="utf-8") == before
    broken = tmp_path / "broken.opml"
    broken.write_text('<opml>\n<body>\n<outline text="a" xmlUrl="http://x/" </body>', "utf-8")
    good = write_config("feeds: []\n", RULES)
    bad = newsbot("feeds", "import", str(broken), "--config", str(good))
    assert bad.returncode == 1 and "broken.opml:3" in bad.stdout + bad.stderr
    # A config that is invalid elsewhere: the edited file is checked whole and not swapped in.
    invalid = write_config("feeds: []\n", RULES)
    invalid.write_text("polling:\n  interval: soon\nfeeds: []\n", encoding="utf-8")
    kept = invalid.read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as refused_edit:  # the edit path itself, not the CLI's
        add_feeds(invalid, [opml.Subscription("https://new.example.invalid/rss", "New")])
    assert f"{invalid}:2" in str(refused_edit.value)
    assert invalid.read_text(encoding="utf-8") == kept
    assert list(invalid.parent.glob(".config-*")) == [], "no temporary file left behind"
