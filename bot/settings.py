"""Validation helpers shared by the config and rule file models: durations, sizes, and turning
pydantic's errors into :class:`Problem` records that name the file, line and key, with a
suggestion when a key looks misspelled."""

from __future__ import annotations

import difflib
import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ValidationError

from bot.core.errors import Problem
from bot.yamlfile import Located

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_SECONDS = 100 * 365 * 86400
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZES = {"b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}


def parse_duration(value: Any) -> timedelta:
    """``90``, ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"`` -> timedelta (bare numbers: seconds)."""
    if isinstance(value, timedelta):
        return value
    # ValueError, never TypeError/OverflowError: pydantic reports only ValueErrors as a
    # validation problem of the user's file.
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration such as 90s, 15m, 1h30m or 2d")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0 or value > _MAX_SECONDS:
            raise ValueError(f"{value!r} is not a duration between 0 and 100 years")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return timedelta(seconds=float(text))
        pos, total = 0, 0.0
        for m in _DURATION_RE.finditer(text):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if text and pos == len(text):
            if total > _MAX_SECONDS:
                raise ValueError(f"{value!r} is longer than 100 years")
            return timedelta(seconds=total)
    raise ValueError(f"{value!r} is not a duration such as 90s, 15m, 1h30m or 2d")


def parse_size(value: Any) -> int:
    """``1048576``, ``"10MB"``, ``"512 KiB"`` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{value!r} is not a size: sizes are not negative")
        return value
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            return int(float(m.group(1)) * _SIZES[(m.group(2) or "b").lower()])
    raise ValueError(f"{value!r} is not a size such as 10MB or 512KiB")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]


def _known_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names a model accepts at ``loc`` (for suggestions), best effort."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [f.alias or name for name, f in fields.items()]


def problems_from(
    error: ValidationError,
    located: Located,
    model: type[BaseModel],
    prefix: tuple[str | int, ...] = (),
) -> list[Problem]:
    """Each pydantic error as a :class:`Problem` at the right line of the YAML file."""
    problems = []
    for err in error.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        full = (*prefix, *loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, _known_keys(model, loc), n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
        elif kind == "missing":
            message = f"missing required key {loc[-1]!r}" if loc else "missing value"
            full = full[:-1] if loc else full
        else:
            message = err["msg"]
            message = message.removeprefix("Value error, ")
        problems.append(located.problem(full, message))
    return problems
