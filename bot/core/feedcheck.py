"""What ``newsbot feeds check URL`` reports about one feed (pure): how it was served, what was
read from it, and the problems a feed list should know of before the feed is added."""

from __future__ import annotations

from datetime import UTC

from bot.core.models import Fetched, ParsedFeed
from bot.core.render import shorten

SHOWN = 5
"""Stories listed, newest first."""


def feed_check(asked: str, fetched: Fetched | None, parsed: ParsedFeed) -> tuple[list[str], bool]:
    """The report's lines, and whether the feed is usable (it has stories). ``fetched`` is None
    for a saved file."""
    lines = [f"feed: {asked}"]
    if fetched is not None:
        if fetched.url != asked:
            moved = " (moved permanently)" if fetched.permanent_url else ""
            lines.append(f"read from: {fetched.url}{moved}")
        validators = [
            name
            for name, value in (("ETag", fetched.etag), ("Last-Modified", fetched.last_modified))
            if value
        ]
        cache = (
            f", cache max-age {int(fetched.max_age.total_seconds())} s" if fetched.max_age else ""
        )
        lines.append(
            f"served: {len(fetched.body):,} bytes, {fetched.content_type or 'no content type'}; "
            f"validators: {', '.join(validators) or 'none (every poll downloads it whole)'}"
            f"{cache}"
        )
    lines.append(f"title: {parsed.title or '(none)'}")
    stories = parsed.stories
    dated = [s for s in stories if s.published]
    counts = [
        f"{len(stories)} stories",
        f"{len(dated)} dated",
        f"{sum(1 for s in stories if s.link)} with a link",
        f"{sum(1 for s in stories if s.summary or s.content)} with a summary or content",
        f"{sum(1 for s in stories if s.authors)} with an author",
    ]
    if parsed.skipped:
        counts.append(f"{parsed.skipped} unreadable items left out")
    lines.append("stories: " + ", ".join(counts))
    if parsed.ttl:
        lines.append(f"ttl: {int(parsed.ttl.total_seconds() // 60)} min")
    if parsed.warning:
        lines.append(f"warning: {parsed.warning}")
    if not stories:
        lines.append("problem: no stories could be read from it")
    elif len(dated) < len(stories):
        lines.append(
            f"note: {len(stories) - len(dated)} stories have no date (they are kept in feed order)"
        )
    if dated:
        newest = max(s.published for s in dated if s.published)
        lines.append(f"newest: {newest.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    ordered = sorted(stories, key=lambda s: s.published.timestamp() if s.published else 0.0)
    ordered.reverse()
    if stories:
        lines.append("latest:")
    for story in ordered[:SHOWN]:
        when = f"{story.published.astimezone(UTC):%Y-%m-%d %H:%M}" if story.published else "?"
        lines.append(f"  {when}  {shorten(story.title or '(untitled)', 100)}")
        if story.link:
            lines.append(f"              {story.link}")
    return lines, bool(stories)
