"""The feed list of ``config.yaml`` edited in place (edge: ruamel.yaml): ``newsbot feeds
import`` adds an OPML list's feeds without losing the file's comments, order or layout.

The new file is written next to the old one and validated as a whole (the same checks as
``newsbot check``) before it replaces it; a refused edit leaves the config as it was.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from bot.config import load_config
from bot.core.errors import ConfigError, Problem
from bot.core.opml import Subscription, feed_name


@dataclass(slots=True)
class Added:
    names: list[str] = field(default_factory=list)
    known: int = 0
    """Feeds of the list already in the config (by URL)."""


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, order and quotes kept
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def add_feeds(config_path: Path, feeds: list[Subscription]) -> Added:
    """Append the feeds the config does not list yet (by URL) to its ``feeds``; raises
    :class:`ConfigError` when the config cannot be read or the result would be invalid."""
    yaml = _yaml()
    try:
        text = config_path.read_text(encoding="utf-8")
        data = yaml.load(text)
    except OSError as exc:
        raise ConfigError([Problem(str(config_path), f"cannot read: {exc.strerror}")]) from exc
    except YAMLError as exc:
        raise ConfigError([Problem(str(config_path), f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, CommentedMap):
        raise ConfigError([Problem(str(config_path), "the config is not a mapping")])
    listed = data.get("feeds")
    if listed is None:
        listed = data["feeds"] = CommentedSeq()
    if not isinstance(listed, CommentedSeq):
        raise ConfigError([Problem(str(config_path), "'feeds' is not a list", key="feeds")])
    urls = {str(f.get("url", "")).strip() for f in listed if isinstance(f, dict)}
    taken = {str(f.get("name", "")) for f in listed if isinstance(f, dict)}
    added = Added()
    for feed in feeds:
        if feed.url in urls:
            added.known += 1
            continue
        urls.add(feed.url)
        name = feed_name(feed.title, feed.url, taken)
        entry = CommentedMap(name=name)
        if feed.title and feed.title != name:
            entry["title"] = feed.title
        entry["url"] = feed.url
        if feed.tags:
            tags = CommentedSeq(feed.tags)
            tags.fa.set_flow_style()
            entry["tags"] = tags
        listed.append(entry)
        added.names.append(name)
    if not added.names:
        return added
    out = io.StringIO()
    yaml.dump(data, out)
    _replace_validated(config_path, out.getvalue())
    return added


def _replace_validated(config_path: Path, text: str) -> None:
    """Write ``text`` beside the config, check it as the bot would, then swap it in."""
    fd, temp = tempfile.mkstemp(prefix=".config-", suffix=".yaml", dir=config_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, config_path.stat().st_mode & 0o7777)
        try:
            load_config(Path(temp))
        except ConfigError as exc:  # named as the file the person edits
            problems = [
                Problem(str(config_path), p.message, p.line, p.column, p.key) for p in exc.problems
            ]
            raise ConfigError(problems) from exc
        os.replace(temp, config_path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
