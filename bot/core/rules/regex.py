"""Regular expressions in rules, with RE2 only: its matching time is linear in the text, so no
rule can backtrack catastrophically; constructs that would need backtracking (backreferences,
lookaround) are refused when the rule is loaded."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from bot.core.rules.ast import Regex

_MAX_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern


@lru_cache(maxsize=4096)
def _compile(source: str, case_sensitive: bool) -> Any:
    options = re2.Options()
    options.max_mem = _MAX_MEMORY
    options.log_errors = False
    options.case_sensitive = case_sensitive
    try:
        return re2.compile(source, options=options)
    except re2.error as exc:
        raise ValueError(_message(exc)) from None


def _message(exc: Exception) -> str:
    text = str(exc)
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    return text


def compile_regex(node: Regex) -> Any:
    """The compiled RE2 object for ``node``; ValueError with RE2's reason if it is invalid."""
    return _compile(node.source, node.case_sensitive)


def find_all(node: Regex, text: str) -> list[tuple[int, int]]:
    """Character spans of every match of ``node`` in ``text``."""
    return [m.span() for m in compile_regex(node).finditer(text) if m.end() > m.start()]
