"""YAML files with positions: safe loading that remembers the line and column of every value.

Validation errors can then name the exact place in the user's file. Only PyYAML's safe loader is
used (no arbitrary Python objects), and ``${VAR}`` / ``${VAR:-default}`` in string values are
replaced from the environment, so that secrets such as the bot token stay out of the file.

Hostile files are refused as ordinary errors with their file and line, in bounded time and
memory: a file larger than :data:`MAX_BYTES`, nesting deeper than :data:`MAX_DEPTH`, and aliases
that would expand to more than :data:`ALIAS_BUDGET` nodes beyond the file's own (the "billion
laughs" alias bomb).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.core.errors import ConfigError, Problem

Path_ = tuple[str | int, ...]
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

MAX_BYTES = 8 * 2**20
"""Largest YAML file read (a rule file of 10,000 rules is about 2 MB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists (rule files need five or six levels)."""
ALIAS_BUDGET = 10_000
"""Nodes that aliases may add to a document beyond those written in it."""


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than :data:`MAX_DEPTH` while composing (the
    composer recurses once per level) and counting the nodes the file itself holds."""

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self.file = file
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        self.nodes += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ConfigError(
                    [
                        Problem(
                            self.file,
                            f"invalid YAML: nested more than {MAX_DEPTH} levels deep",
                            mark.line + 1,
                            mark.column + 1,
                        )
                    ]
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


@dataclass(frozen=True, slots=True)
class Located:
    """A parsed YAML document and the (line, column) of every key and value, 1-based."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]]

    def where(self, path: Path_) -> tuple[int | None, int | None]:
        """The position of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            pos = self.positions.get(tuple(path[:end]))
            if pos is not None:
                return pos
        return None, None

    def problem(self, path: Path_, message: str) -> Problem:
        line, column = self.where(path)
        key = ".".join(str(p) for p in path) or None
        return Problem(self.file, message, line, column, key)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` from ``env``; an unset VAR without a default
    becomes the empty string (a missing token then means console mode, not a crash)."""
    return _VAR_RE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


class _Builder:
    """Turns a composed YAML node tree into Python data, recording positions on the way."""

    def __init__(
        self, loader: yaml.SafeLoader, file: str, env: Mapping[str, str], budget: int
    ) -> None:
        self.loader = loader
        self.file = file
        self.env = env
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.budget = budget
        """Nodes that may still be built: the file's own, plus what aliases may add."""

    def _problem(self, node: yaml.Node, message: str) -> ConfigError:
        mark = node.start_mark
        return ConfigError([Problem(self.file, message, mark.line + 1, mark.column + 1)])

    def build(self, node: yaml.Node, path: Path_ = ()) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self._problem(
                node, f"invalid YAML: aliases expand to more than {ALIAS_BUDGET} extra values"
            )
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            raise self._problem(node, f"invalid YAML: unsupported tag {node.tag!r}")
        if isinstance(node, yaml.MappingNode):
            result: dict[str | int, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node)
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    raise self._problem(key_node, "keys must be plain strings")
                if key in result:
                    raise self._problem(key_node, f"duplicate key {key!r}")
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node)
        if isinstance(value, str) and "${" in value:
            value = interpolate(value, self.env)
        return value


def load(path: Path, env: Mapping[str, str] | None = None) -> Located:
    """Parse a YAML file safely, with positions. Raises :class:`ConfigError` naming the file and
    line for unreadable files and YAML syntax errors."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(
                [Problem(file, f"file of {size:,} bytes is larger than the {MAX_BYTES:,} limit")]
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(file, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, f"cannot read file: {exc}")]) from exc
    return loads(text, file, env)


def loads(text: str, file: str, env: Mapping[str, str] | None = None) -> Located:
    """Parse YAML text; see :func:`load`."""
    env = os.environ if env is None else env
    if len(text) > MAX_BYTES:
        raise ConfigError([Problem(file, f"text larger than the {MAX_BYTES:,} byte limit")])
    loader = _BoundedLoader(text, file)
    try:
        node = loader.get_single_node()
        builder = _Builder(loader, file, env, loader.nodes + ALIAS_BUDGET)
        data = None if node is None else builder.build(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        message = f"invalid YAML: {exc.problem or exc}"
        raise ConfigError([Problem(file, message, line, column)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, f"invalid YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    return Located(file, data, builder.positions)
