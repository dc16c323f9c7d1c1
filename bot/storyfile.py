"""``newsbot stories cluster FILE``: cluster a file of stories exactly as the bot clusters
the stories that match its rules, to try clustering on one's own data.

The file holds JSON lines, one story each: ``id`` and ``title`` are required; ``summary``,
``link``, ``source`` and ``published`` (RFC 3339 or RFC 2822) are optional. Stories are
taken in file order (as the bot takes them in arrival order); one without ``published`` gets
the time of the story before it. The output is one JSON line per input line, in order:
``{"id": ..., "story": ...}``, equal ``story`` values meaning the same story; with
``explain`` also ``joined`` (the earlier story it was most like) and ``reason``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from bot import semantic
from bot.core.clustering import LEXICAL_MODEL, SEMANTIC_MODEL, Clusterer, Item
from bot.core.errors import ConfigError, Problem
from bot.core.models import Story
from bot.grouping import item_of
from bot.wordstats import headline_stems

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str) -> datetime:
    """An RFC 3339 or RFC 2822 date-time, in UTC (a time without a zone is taken as UTC)."""
    text = text.strip()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            at = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ValueError(f"not an RFC 3339 or RFC 2822 date-time: {text!r}") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def read_items(path: Path) -> list[Item]:
    """The stories of ``path``; every problem is reported with its line, all at once."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), f"cannot read: {exc}")]) from exc
    problems: list[Problem] = []
    items: list[Item] = []
    last = EPOCH
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), f"not JSON: {exc.msg}", number, exc.colno))
            continue
        item, problem = _item(row, last)
        if problem is not None:
            problems.append(Problem(str(path), problem, number))
            continue
        assert item is not None
        items.append(item)
        last = item.at
    if problems:
        raise ConfigError(problems)
    return items


def _item(row: Any, last: datetime) -> tuple[Item | None, str | None]:
    if not isinstance(row, dict):
        return None, "each line must be a JSON object"
    story_id, title = row.get("id"), row.get("title")
    if not isinstance(story_id, str | int) or isinstance(story_id, bool) or story_id == "":
        return None, "'id' is required (a string or a number)"
    if not isinstance(title, str):
        return None, "'title' is required (a string)"
    for key in ("summary", "link", "source", "published"):
        if row.get(key) is not None and not isinstance(row[key], str):
            return None, f"'{key}' must be a string"
    at = last
    if row.get("published"):
        try:
            at = parse_time(row["published"])
        except ValueError as exc:
            return None, f"'published': {exc}"
    return (
        Item(
            id=str(story_id),
            title=title,
            at=at,
            summary=row.get("summary") or "",
            link=row.get("link") or None,
            source=row.get("source") or "",
        ),
        None,
    )


def cluster_file(path: Path, *, explain: bool = False, use_semantic: bool = True) -> Iterator[str]:
    """The output lines for ``path`` (see the module docstring)."""
    items = read_items(path)
    embedder = semantic.load() if use_semantic else None
    model = LEXICAL_MODEL
    if embedder is not None:
        vectors = embedder.embed([i.title for i in items])
        items = [
            Item(i.id, i.title, i.at, i.summary, i.link, i.source, v)
            for i, v in zip(items, vectors, strict=True)
        ]
        model = SEMANTIC_MODEL
    clusterer = Clusterer(model=model, background=headline_stems())
    for item in items:
        decision = clusterer.add(item)
        out: dict[str, object] = {"id": item.id, "story": decision.story}
        if explain:
            out["joined"] = decision.joined
            out["reason"] = decision.reason
        yield json.dumps(out, ensure_ascii=False)


def story_groups(stories: Sequence[Story], *, use_semantic: bool = True) -> list[list[Story]]:
    """``stories`` as the bot would send them to one chat: one group per story (cluster), its
    first version first; stories taken in published order (as they would arrive)."""
    now = datetime.now(UTC)
    ordered = sorted(stories, key=lambda s: s.published or now)
    embedder = semantic.load() if use_semantic else None
    vectors: list[tuple[float, ...] | None] = [None] * len(ordered)
    if embedder is not None:
        vectors = list(embedder.embed([s.title for s in ordered]))
    model = SEMANTIC_MODEL if embedder is not None else LEXICAL_MODEL
    clusterer = Clusterer(model=model, background=headline_stems())
    groups: dict[str, list[Story]] = {}
    for story, vector in zip(ordered, vectors, strict=True):
        decision = clusterer.add(item_of(story, story.published or now, vector))
        groups.setdefault(decision.story, []).append(story)
    return list(groups.values())


def mode(use_semantic: bool = True) -> str:
    """One line saying how stories are compared."""
    if use_semantic and semantic.load() is not None:
        return "clustering by shared words and title embeddings (semantic extra)"
    return "clustering by shared words: within a language (pip install 'newsbot[semantic]')"
