"""`newsbot rules ...`: check, test, explain and schema, as a user runs them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bot.cli import rules_schema
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import Item, rss
from tests.test_cli import newsbot

ROOT = Path(__file__).resolve().parents[1]

RULES = {
    "lexicon.yaml": "lexicon:\n  nk: [Nagorno-Karabakh, Qarabağ, Карабах*]\n",
    "live.yaml": """
        rules:
          - id: karabakh
            title: Karabakh
            query: '@nk'
    """,
}
DRAFT = """
rules:
  - id: drones-near-nk
    title: Drones near Karabakh
    query: 'drone* NEAR/5 @nk'
"""
FEED = rss(
    [
        Item(title="Drones spotted over Nagorno-Karabakh", link="https://n.invalid/1", guid="1"),
        Item(title="Weather in Baku", link="https://n.invalid/2", guid="2"),
        Item(title="В Карабахе открыли школу", link="https://n.invalid/3", guid="3"),
    ]
)


def _setup(write_config: Callable[..., Path]) -> Path:
    return write_config(
        "feeds:\n  - {name: news, url: 'https://n.invalid/rss', tags: [cau]}\n", RULES
    )


def test_schema_file_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "rules.schema.json").read_text(encoding="utf-8"))
    assert committed == rules_schema(), "run: newsbot rules schema > docs/rules.schema.json"


def test_rules_check(write_config: Callable[..., Path]) -> None:
    config = _setup(write_config)
    result = newsbot("rules", "check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "1 rules and 1 lexicons" in result.stdout
    (config.parent / "rules" / "live.yaml").write_text(
        "rules:\n  - id: karabakh\n    title: K\n    query: 'drone* and @nk'\n"
    )
    result = newsbot("rules", "check", "--config", str(config))
    assert result.returncode == 1
    live = config.parent / "rules" / "live.yaml"
    assert f"{live}:4:20: [rules.0.query] rule 'karabakh': query column 8: 'and' is not" in (
        result.stderr
    )


def test_rules_test_a_draft_against_a_feed_sends_nothing(
    write_config: Callable[..., Path], feed_server: FeedServer, tmp_path: Path
) -> None:
    config = _setup(write_config)
    draft = tmp_path / "draft.yaml"
    draft.write_text(DRAFT)
    feed_server.set_feed("/f.xml", FEED)
    result = newsbot(
        "rules",
        "test",
        str(draft),
        "--feed",
        feed_server.url("/f.xml"),
        "--explain",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    assert "[drones-near-nk] Drones spotted over Nagorno-Karabakh" in result.stdout
    assert "matched: Drones, Nagorno-Karabakh" in result.stdout
    assert "✓ NEAR/5" in result.stdout
    assert "3 stories checked" in result.stdout
    assert "drones-near-nk: 1 match(es)" in result.stdout
    assert not (config.parent / "data").exists(), "trying a rule stores nothing"


def test_rules_explain_a_saved_feed_and_a_text(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = _setup(write_config)
    saved = tmp_path / "saved.xml"
    saved.write_bytes(FEED)
    result = newsbot("rules", "explain", "karabakh", "--story", str(saved), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "rule karabakh: MATCH  'Drones spotted over Nagorno-Karabakh'" in result.stdout
    assert "rule karabakh: no match  'Weather in Baku'" in result.stdout
    assert '✓ Карабах*  title[2:10] "Карабахе"' in result.stdout
    text = tmp_path / "story.txt"
    text.write_text("Qarabag reconstruction\nNew roads.")
    one = newsbot("rules", "explain", "karabakh", "--story", str(text), "--config", str(config))
    assert "MATCH  'Qarabag reconstruction'" in one.stdout
    item = newsbot(
        "rules",
        "explain",
        "karabakh",
        "--story",
        str(saved),
        "--item",
        "2",
        "--config",
        str(config),
    )
    assert item.stdout.count("rule karabakh") == 1 and "Weather" in item.stdout
    typo = newsbot("rules", "explain", "karabak", "--story", str(text), "--config", str(config))
    assert typo.returncode == 1 and "did you mean karabakh?" in typo.stderr


def test_rules_test_against_stored_history(
    write_config: Callable[..., Path], feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set_feed("/f.xml", FEED)
    config = write_config(
        f"feeds:\n  - {{name: news, url: '{feed_server.url('/f.xml')}', tags: [cau]}}\n", RULES
    )
    assert newsbot("run", "--once", "--config", str(config)).returncode == 0  # stores 3 stories
    draft = tmp_path / "draft.yaml"
    draft.write_text(DRAFT)
    result = newsbot("rules", "test", str(draft), "--history", "1", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "3 stories checked" in result.stdout
    assert "[drones-near-nk] Drones spotted over Nagorno-Karabakh" in result.stdout
    assert "drones-near-nk: 1 match(es)" in result.stdout


def test_rules_test_shows_the_matches_as_stories(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """The matches are also shown as the bot would send them: one message per story, with
    the other outlets' versions it would add to it."""
    config = write_config("feeds: []\n", RULES)
    feed = tmp_path / "feed.xml"
    title = "Turkish Bayraktar TB2 drones strike militant convoy near Nagorno-Karabakh"
    feed.write_bytes(
        rss(
            [
                Item(title=title, link="https://ap.invalid/1", guid="1"),
                Item(title=f"{title} - officials", link="https://reuters.invalid/1", guid="2"),
                Item(
                    title="Drones over Nagorno-Karabakh kill 5",
                    link="https://n.invalid/3",
                    guid="3",
                ),
                Item(
                    title="Drones over Nagorno-Karabakh kill 12",
                    link="https://n.invalid/4",
                    guid="4",
                ),
            ]
        )
    )
    draft = tmp_path / "draft.yaml"
    draft.write_text(DRAFT)
    result = newsbot("rules", "test", str(draft), "--feed", str(feed), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "4 matching stories are 3 stories (one message each):" in result.stdout
    assert f"  {title}\n    also: reuters.invalid" in result.stdout, result.stdout
