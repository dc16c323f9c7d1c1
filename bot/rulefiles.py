"""Loading rule files from the rules directory into validated rules and lexicons.

A rule file is YAML with a ``rules:`` list and, optionally, a ``lexicon:`` of shared term lists
usable from any rule of any file (``@name``). Every problem in every file is collected and
reported together, each naming the file, line and column and the rule id, with a suggestion for
a misspelled key, lexicon or feed. Rule ids and lexicon names must be unique across files.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.chats import TARGET_RE
from bot.core.errors import ConfigError, Problem
from bot.core.models import FIELDS
from bot.core.rules import DEFAULT_FIELDS, Rule, RuleBook, RuleError, condition
from bot.core.rules.query import QueryError, parse_term, valid_lexicon_name
from bot.settings import problems_from
from bot.yamlfile import Located, load

RULE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"


_NOTIFY_ITEM: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": TARGET_RE.pattern},
        {"type": "integer"},
        {
            "type": "object",
            "properties": {
                "chat": {"type": ["string", "integer"]},
                "topic": {"type": "integer", "minimum": 1},
            },
            "required": ["chat"],
            "additionalProperties": False,
        },
    ]
}


class RuleModel(BaseModel):
    """One rule as written in a rule file (see docs/rules.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=RULE_ID, description="Unique id, used in /subscribe.")]
    title: Annotated[str, Field(min_length=1, max_length=200, description="Shown in alerts.")]
    description: str = ""
    category: str = Field(
        "", max_length=60, description="Groups the topic in /rules; default: the file's name."
    )
    query: str | None = Field(None, description="A query in the rule language.")
    any: tuple[str, ...] = Field((), description="At least one of these terms must occur.")
    all: tuple[str, ...] = Field((), description="Every one of these terms must occur.")
    none: tuple[str, ...] = Field((), description="None of these terms may occur.")
    fields: tuple[str, ...] = Field(DEFAULT_FIELDS, description=f"Any of {', '.join(FIELDS)}.")
    feeds: tuple[str, ...] = Field((), description="Only these feeds (names or tag:x).")
    exclude_feeds: tuple[str, ...] = Field((), description="Never these feeds (names or tag:x).")
    notify: tuple[str, ...] = Field(
        (),
        description="Chats getting every match: numeric ids or @usernames, with /topic for a "
        "forum topic (-1001234/42), or {chat: ..., topic: ...}.",
        json_schema_extra={"items": _NOTIFY_ITEM},
    )
    subscribable: bool = True
    silent: bool = Field(False, description="Alerts arrive without a notification sound.")
    link_preview: bool = Field(False, description="Alerts show a preview of the story's link.")
    priority: Literal["low", "normal", "high", "urgent"] = Field(
        "normal",
        description="Order in a backed-up queue; urgent alerts also ignore quiet hours.",
    )

    @field_validator("any", "all", "none", "feeds", "exclude_feeds", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("the query is empty")
        return value

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in FIELDS:
                close = difflib.get_close_matches(name, FIELDS, n=1)
                hint = (
                    f"; did you mean {close[0]!r}?"
                    if close
                    else f"; fields are {', '.join(FIELDS)}"
                )
                raise ValueError(f"unknown field {name!r}{hint}")
        if not value:
            raise ValueError("must name at least one field")
        return value

    @field_validator("notify", mode="before")
    @classmethod
    def _chats(cls, value: Any) -> Any:
        items = [value] if isinstance(value, (str, int)) else value
        if not isinstance(items, (list, tuple)):
            return value
        out = []
        for item in items:
            if isinstance(item, dict) and set(item) <= {"chat", "topic"} and "chat" in item:
                topic = item.get("topic")
                if topic is not None and (
                    isinstance(topic, bool) or not isinstance(topic, int) or topic <= 0
                ):
                    raise ValueError(f"topic {topic!r} is not a forum topic id (a number)")
                text = str(item["chat"]).strip() + (f"/{topic}" if topic else "")
            else:
                text = str(item).strip()
            if isinstance(item, bool) or not TARGET_RE.match(text):
                raise ValueError(
                    f"{item!r} is not a chat: use a numeric chat id or an @channel username, "
                    "optionally with /topic-id for a forum topic"
                )
            out.append(text)
        return out


class RuleFileModel(BaseModel):
    """A rule file: rules, and lexicons (named term lists) that any rule may use as @name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lexicon: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    rules: tuple[RuleModel, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """Everything the rules directory defines."""

    rules: tuple[Rule, ...]
    lexicon: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def book(
        self, feed_tags: Mapping[str, Sequence[str]] | None = None, watches: Iterable[Rule] = ()
    ) -> RuleBook:
        return RuleBook(self.rules, self.lexicon, feed_tags, watches)


@dataclass
class _File:
    path: Path
    located: Located
    model: RuleFileModel


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a directory, in a stable order."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def rules_fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when a rule file is edited, added or removed (name, mtime, size)."""
    try:
        return tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in rule_files(directory)
        )
    except OSError:
        return ()


def _read(path: Path, problems: list[Problem]) -> _File | None:
    try:
        located = load(path)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None
    data = located.data if located.data is not None else {}
    if isinstance(data, dict) and "rules" not in data and "id" in data:
        data = {"rules": [data]}  # a file holding one rule
        located = Located(
            located.file, data, {("rules", 0, *k): v for k, v in located.positions.items()}
        )
    if not isinstance(data, dict):
        problems.append(
            Problem(str(path), "a rule file holds a mapping with a 'rules:' list", 1, 1)
        )
        return None
    try:
        model = RuleFileModel.model_validate(data)
    except ValidationError as exc:
        problems.extend(_with_rule_ids(problems_from(exc, located, RuleFileModel), data))
        return None
    return _File(path, located, model)


def _with_rule_ids(problems: list[Problem], data: dict[str, Any]) -> list[Problem]:
    """Prefix each problem's message with the id of the rule it is in, when known."""
    rules = data.get("rules")
    out = []
    for p in problems:
        parts = (p.key or "").split(".")
        if (
            len(parts) >= 2
            and parts[0] == "rules"
            and parts[1].isdigit()
            and isinstance(rules, list)
        ):
            index = int(parts[1])
            item = rules[index] if index < len(rules) else None
            rule_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(rule_id, str):
                p = Problem(p.file, f"rule {rule_id!r}: {p.message}", p.line, p.column, p.key)
        out.append(p)
    return out


def _lexicons(files: list[_File], problems: list[Problem]) -> dict[str, tuple[str, ...]]:
    lexicon: dict[str, tuple[str, ...]] = {}
    defined_at: dict[str, str] = {}
    for f in files:
        for name, entries in f.model.lexicon.items():
            where = f.located.where(("lexicon", name))[0]
            if not valid_lexicon_name(name):
                problems.append(
                    f.located.problem(
                        ("lexicon", name), f"lexicon name {name!r}: use letters, digits, - and _"
                    )
                )
                continue
            if name in defined_at:
                problems.append(
                    f.located.problem(
                        ("lexicon", name),
                        f"lexicon {name!r} is already defined at {defined_at[name]}",
                    )
                )
                continue
            defined_at[name] = f"{f.path}:{where}"
            if not entries:
                problems.append(f.located.problem(("lexicon", name), f"lexicon {name!r} is empty"))
                continue
            ok = True
            for k, entry in enumerate(entries):
                try:
                    parse_term(entry, frozenset(DEFAULT_FIELDS))
                except QueryError as exc:
                    problems.append(
                        f.located.problem(("lexicon", name, k), f"lexicon {name!r}: {exc.message}")
                    )
                    ok = False
            if ok:
                lexicon[name] = tuple(entries)
    return lexicon


def _check_scope(
    f: _File, i: int, rm: RuleModel, feed_tags: Mapping[str, Sequence[str]], problems: list[Problem]
) -> None:
    names = list(feed_tags)
    tags = sorted({t for ts in feed_tags.values() for t in ts})
    for key in ("feeds", "exclude_feeds"):
        for k, item in enumerate(getattr(rm, key)):
            if item.startswith("tag:"):
                if item[4:] not in tags:
                    close = difflib.get_close_matches(item[4:], tags, n=1)
                    hint = f"; did you mean 'tag:{close[0]}'?" if close else ""
                    problems.append(
                        f.located.problem(
                            ("rules", i, key, k),
                            f"rule {rm.id!r}: no feed is tagged {item[4:]!r}{hint}",
                        )
                    )
            elif item not in feed_tags:
                close = difflib.get_close_matches(item, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(
                    f.located.problem(
                        ("rules", i, key, k), f"rule {rm.id!r}: unknown feed {item!r}{hint}"
                    )
                )


def _problem_for(f: _File, i: int, exc: RuleError) -> Problem:
    parts: tuple[str | int, ...] = tuple(int(p) if p.isdigit() else p for p in exc.part.split("."))
    path = ("rules", i, *parts)
    if exc.part == "query" and exc.column is not None:
        line, column = f.located.where(path)
        # The column is exact for a query written on one line after "query:"; for a quoted or
        # multi-line query the message still gives the column inside the query.
        quoted = _raw_line(f.path, line).lstrip().startswith(("query: '", 'query: "'))
        col = (column or 1) + exc.column - 1 + (1 if quoted else 0)
        message = f"rule {exc.rule_id!r}: query column {exc.column}: {exc.message}"
        return Problem(str(f.path), message, line, col, ".".join(map(str, path)))
    return f.located.problem(path, f"rule {exc.rule_id!r}: {exc.part}: {exc.message}")


def _raw_line(path: Path, line: int | None) -> str:
    if line is None:
        return ""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    return lines[line - 1] if 0 < line <= len(lines) else ""


def load_rules(directory: Path, feed_tags: Mapping[str, Sequence[str]] | None = None) -> RuleSet:
    """Every rule and lexicon of every file in ``directory``, validated (including the feeds
    rules name, when ``feed_tags`` lists the configured feeds). Raises :class:`ConfigError`
    with every problem found."""
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), "rules directory not found")])
    paths = rule_files(directory)
    return load_rule_files(paths, paths, feed_tags)


def load_rule_file(
    path: Path, directory: Path, feed_tags: Mapping[str, Sequence[str]] | None = None
) -> RuleSet:
    """The rules of one file (e.g. a draft, before it goes live), with the lexicons of the
    rules directory available to it as they would be once it is there."""
    if not path.is_file():
        raise ConfigError([Problem(str(path), "file not found")])
    others = (
        [p for p in rule_files(directory) if p.resolve() != path.resolve()]
        if (directory.is_dir())
        else []
    )
    return load_rule_files([path], [*others, path], feed_tags)


def load_rule_files(
    rule_paths: Sequence[Path],
    lexicon_paths: Sequence[Path],
    feed_tags: Mapping[str, Sequence[str]] | None = None,
) -> RuleSet:
    """The rules of ``rule_paths`` with the lexicons of ``lexicon_paths``; see load_rules."""
    problems: list[Problem] = []
    read: dict[Path, _File | None] = {}
    for path in dict.fromkeys([*lexicon_paths, *rule_paths]):
        # Problems of files read only for their lexicons are not this command's business.
        sink = problems if path in rule_paths else []
        read[path] = _read(path, sink)
    lexicon = _lexicons([f for p in lexicon_paths if (f := read[p]) is not None], problems)
    rules: list[Rule] = []
    first_seen: dict[str, str] = {}
    for path in rule_paths:
        f = read[path]
        if f is None:
            continue
        for i, rm in enumerate(f.model.rules):
            line, _ = f.located.where(("rules", i))
            rule = Rule(
                id=rm.id,
                title=rm.title,
                description=rm.description,
                category=rm.category or f.path.stem.replace("_", " ").replace("-", " "),
                query=rm.query,
                any=rm.any,
                all=rm.all,
                none=rm.none,
                fields=rm.fields,
                feeds=rm.feeds,
                exclude_feeds=rm.exclude_feeds,
                notify=rm.notify,
                subscribable=rm.subscribable,
                silent=rm.silent,
                link_preview=rm.link_preview,
                priority=rm.priority,
                source=f"{f.path}:{line}",
            )
            if rule.id in first_seen:
                problems.append(
                    f.located.problem(
                        ("rules", i, "id"),
                        f"duplicate rule id {rule.id!r} (first defined at {first_seen[rule.id]})",
                    )
                )
                continue
            first_seen[rule.id] = rule.source
            if feed_tags is not None:
                _check_scope(f, i, rm, feed_tags, problems)
            try:
                condition(rule, lexicon)
            except RuleError as exc:
                problems.append(_problem_for(f, i, exc))
                continue
            rules.append(rule)
    if problems:
        raise ConfigError(problems)
    return RuleSet(tuple(rules), lexicon)
