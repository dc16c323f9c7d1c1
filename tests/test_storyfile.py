"""``newsbot stories cluster FILE``: JSON lines in, one JSON line per story out, in order;
precise errors with file and line."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.storyfile import parse_time

STORIES = [
    {
        "id": "a1",
        "title": "Moscow oil refinery damaged in Ukrainian drone attack, mayor says",
        "link": "https://www.example.com/world/refinery?utm_source=rss",
        "published": "2026-06-16T06:10:00Z",
        "source": "Example",
    },
    {
        "id": 2,
        "title": "G7 leaders meet in France with Iran and Ukraine on the agenda",
        "published": "Tue, 16 Jun 2026 07:00:00 +0000",
    },
    {
        "id": "a3",
        "title": "Ukrainian drone attack damages Moscow oil refinery",
        "summary": "The mayor said the refinery was hit overnight.",
        "published": "2026-06-16T09:30:00+02:00",
    },
    {"id": "a4", "title": "Reprint", "link": "https://example.com/world/refinery/"},
]


def write(tmp_path: Path, rows: list[object], extra: str = "") -> Path:
    path = tmp_path / "stories.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n" + extra, encoding="utf-8")
    return path


def test_one_line_per_story_in_order_equal_story_for_the_same_news(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stories", "cluster", str(write(tmp_path, STORIES)), "--no-semantic"]) == 0
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert [line["id"] for line in lines] == ["a1", "2", "a3", "a4"]
    stories = [line["story"] for line in lines]
    assert stories[0] == stories[2] == stories[3] == "a1"
    assert stories[1] == "2"
    assert set(lines[0]) == {"id", "story"}
    assert "within a language" in out.err


def test_explain_says_why_each_joined_or_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, STORIES)
    assert main(["stories", "cluster", str(path), "--explain", "--no-semantic"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["joined"] is None and lines[0]["reason"].startswith("new story")
    assert lines[2]["joined"] == "a1" and lines[2]["reason"].startswith("similar: p=")
    assert lines[3]["reason"].startswith("same article URL")


def test_bad_lines_are_reported_with_file_and_line_and_nothing_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[object] = [
        STORIES[0],
        {"id": "x"},
        [1, 2],
        {"id": "y", "title": "t", "published": "soon"},
    ]
    path = write(tmp_path, rows, extra="{not json\n")
    assert main(["stories", "cluster", str(path)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert f"{path}:2: 'title' is required" in out.err
    assert f"{path}:3: each line must be a JSON object" in out.err
    assert f"{path}:4: 'published': not an RFC 3339 or RFC 2822 date-time" in out.err
    assert f"{path}:5:2: not JSON" in out.err


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stories", "cluster", str(tmp_path / "none.jsonl")]) == 1
    assert "none.jsonl: cannot read" in capsys.readouterr().err


def test_both_date_formats_are_read_in_utc() -> None:
    assert parse_time("2026-06-16T09:30:00+02:00") == datetime(2026, 6, 16, 7, 30, tzinfo=UTC)
    assert parse_time("Tue, 16 Jun 2026 07:00:00 +0000") == datetime(2026, 6, 16, 7, tzinfo=UTC)
    assert parse_time("2026-06-16T07:00:00") == datetime(2026, 6, 16, 7, tzinfo=UTC)


def test_the_console_command_runs_it_too(tmp_path: Path) -> None:
    path = write(tmp_path, STORIES)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "stories", "cluster", str(path), "--no-semantic"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4


def test_with_the_semantic_extra_embeddings_join_the_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stories", "cluster", str(write(tmp_path, STORIES)), "--explain"]) == 0
    out = capsys.readouterr()
    assert "title embeddings" in out.err
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert [line["story"] for line in lines] == ["a1", "2", "a1", "a1"]
    assert "best_embedding" in lines[2]["reason"]
