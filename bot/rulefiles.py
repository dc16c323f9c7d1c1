"""Loading rule files from the rules directory into validated :class:`Rule` objects.

A rule file is YAML with a ``rules:`` list. Every problem in every file is collected and reported
together, each naming the file, line and rule id; rule ids must be unique across all files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.errors import ConfigError, Problem
from bot.core.models import FIELDS
from bot.core.rules import DEFAULT_FIELDS, Matcher, Rule
from bot.core.text import fold_words
from bot.settings import problems_from
from bot.yamlfile import Located, load

RULE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_CHAT_RE = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20})$")


def _term_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


class RuleModel(BaseModel):
    """One rule as written in a rule file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=RULE_ID)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    fields: tuple[str, ...] = DEFAULT_FIELDS
    notify: tuple[str, ...] = ()
    subscribable: bool = True

    @field_validator("any", "all", "none", mode="before")
    @classmethod
    def _terms(cls, value: Any) -> Any:
        return _term_list(value)

    @field_validator("any", "all", "none")
    @classmethod
    def _terms_have_words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for term in value:
            if not fold_words(term):
                raise ValueError(f"term {term!r} has no letters or digits to match")
        return value

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in FIELDS:
                raise ValueError(f"unknown field {name!r}; fields are {', '.join(FIELDS)}")
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
            text = str(item).strip()
            if isinstance(item, bool) or not _CHAT_RE.match(text):
                raise ValueError(
                    f"{item!r} is not a chat: use a numeric chat id or an @channel username"
                )
            out.append(text)
        return out


class RuleFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[RuleModel, ...] = ()


def _load_file(path: Path, problems: list[Problem]) -> tuple[Located, list[Rule]]:
    located = load(path)
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
        return located, []
    try:
        model = RuleFileModel.model_validate(data)
    except ValidationError as exc:
        problems.extend(_with_rule_ids(problems_from(exc, located, RuleFileModel), data))
        return located, []
    rules = []
    for i, rm in enumerate(model.rules):
        line, _ = located.where(("rules", i))
        rule = Rule(
            id=rm.id,
            title=rm.title,
            description=rm.description,
            any=rm.any,
            all=rm.all,
            none=rm.none,
            fields=rm.fields,
            notify=rm.notify,
            subscribable=rm.subscribable,
            source=f"{path}:{line}",
        )
        if not rule.any and not rule.all:
            problems.append(
                located.problem(
                    ("rules", i), f"rule {rule.id!r}: needs at least one term in 'any' or 'all'"
                )
            )
            continue
        rules.append(rule)
    return located, rules


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


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a directory, in a stable order."""
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_rules(directory: Path) -> list[Rule]:
    """Every rule of every file in ``directory``; raises :class:`ConfigError` with every problem."""
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), "rules directory not found")])
    problems: list[Problem] = []
    rules: list[Rule] = []
    first_seen: dict[str, str] = {}
    for path in rule_files(directory):
        try:
            _, found = _load_file(path, problems)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for rule in found:
            if rule.id in first_seen:
                file, _, line = rule.source.rpartition(":")
                problems.append(
                    Problem(
                        file,
                        f"duplicate rule id {rule.id!r} (first defined at {first_seen[rule.id]})",
                        int(line),
                        None,
                        rule.id,
                    )
                )
                continue
            first_seen[rule.id] = rule.source
            rules.append(rule)
    if problems:
        raise ConfigError(problems)
    Matcher(rules)  # compiles, so that anything the matcher rejects is reported at load time
    return rules
