"""Durations and sizes in config files (bot.settings.parse_duration, parse_size)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from bot.settings import ByteSize, Duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(90, timedelta(seconds=90), id="int-seconds"),
        pytest.param(0, timedelta(0), id="zero"),
        pytest.param(1.5, timedelta(seconds=1.5), id="float-seconds"),
        pytest.param("90", timedelta(seconds=90), id="numeric-string"),
        pytest.param("2.5", timedelta(seconds=2.5), id="decimal-string"),
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param("250ms", timedelta(milliseconds=250), id="milliseconds"),
        pytest.param("15m", timedelta(minutes=15), id="minutes"),
        pytest.param("2h", timedelta(hours=2), id="hours"),
        pytest.param("2d", timedelta(days=2), id="days"),
        pytest.param("1w", timedelta(weeks=1), id="weeks"),
        pytest.param("1h30m", timedelta(minutes=90), id="compound"),
        pytest.param("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4), id="all-units"),
        pytest.param("1.5h", timedelta(minutes=90), id="fractional-hours"),
        pytest.param(" 10 m ", timedelta(minutes=10), id="spaces-around-and-inside"),
        pytest.param("1h 30m", timedelta(minutes=90), id="space-between-parts"),
        pytest.param("15M", timedelta(minutes=15), id="upper-case-unit"),
        pytest.param("0s", timedelta(0), id="zero-seconds"),
        pytest.param(timedelta(minutes=3), timedelta(minutes=3), id="timedelta-passes-through"),
    ],
)
def test_parse_duration_valid(value: Any, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("5x", id="unknown-unit"),
        pytest.param("5mo", id="month-is-not-a-unit"),
        pytest.param("m5", id="unit-first"),
        pytest.param("h", id="unit-only"),
        pytest.param("1h30", id="trailing-number"),
        pytest.param("1hh", id="doubled-unit"),
        pytest.param("1.h", id="dot-without-decimals"),
        pytest.param(".5h", id="no-leading-digit"),
        pytest.param("-5s", id="negative-string"),
        pytest.param("1,5h", id="comma-decimal"),
        pytest.param("1e3", id="exponent"),
        pytest.param("ten minutes", id="words"),
        pytest.param(None, id="none"),
        pytest.param([], id="list"),
        pytest.param({"minutes": 5}, id="dict"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(float("inf"), id="infinity"),
    ],
)
def test_parse_duration_invalid(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_parse_duration_error_message_shows_the_format() -> None:
    with pytest.raises(ValueError, match=r"'5x' is not a duration such as 90s, 15m, 1h30m"):
        parse_duration("5x")


class _Durations(BaseModel):
    interval: Duration


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("5x", id="bad-string"),
        pytest.param(None, id="none"),
        pytest.param(True, id="yaml-yes"),
    ],
)
def test_invalid_duration_in_a_model_is_a_validation_error(value: Any) -> None:
    with pytest.raises(ValidationError):
        _Durations.model_validate({"interval": value})


def test_duration_in_a_model() -> None:
    assert _Durations.model_validate({"interval": "1h30m"}).interval == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1048576, 1048576, id="int-bytes"),
        pytest.param(0, 0, id="zero"),
        pytest.param("100", 100, id="numeric-string"),
        pytest.param(" 7 ", 7, id="spaces"),
        pytest.param("1 b", 1, id="bytes-unit"),
        pytest.param("10KB", 10_000, id="kilobytes"),
        pytest.param("512 KiB", 524_288, id="kibibytes"),
        pytest.param("512kib", 524_288, id="lower-case"),
        pytest.param("10MB", 10_000_000, id="megabytes"),
        pytest.param("10mB", 10_000_000, id="mixed-case"),
        pytest.param("1.5MB", 1_500_000, id="fractional"),
        pytest.param("2MiB", 2 * 2**20, id="mebibytes"),
        pytest.param("1GB", 10**9, id="gigabytes"),
        pytest.param("1gib", 2**30, id="gibibytes"),
    ],
)
def test_parse_size_valid(value: Any, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("MB", id="unit-only"),
        pytest.param("10 XB", id="unknown-unit"),
        pytest.param("10 M", id="bare-m"),
        pytest.param("-1", id="negative-string"),
        pytest.param("1e3", id="exponent"),
        pytest.param("10 MB extra", id="trailing-text"),
        pytest.param(1.5, id="float"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(None, id="none"),
        pytest.param([], id="list"),
    ],
)
def test_parse_size_invalid(value: Any) -> None:
    with pytest.raises(ValueError, match="is not a size such as 10MB"):
        parse_size(value)


class _Sizes(BaseModel):
    max_body: ByteSize


def test_size_in_a_model() -> None:
    assert _Sizes.model_validate({"max_body": "2 MiB"}).max_body == 2 * 2**20
    with pytest.raises(ValidationError):
        _Sizes.model_validate({"max_body": "lots"})
