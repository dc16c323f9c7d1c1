"""How the bot shows a moment to a reader: in the chat's time zone, in one format everywhere
(alerts, digests, replies), with the zone's name so nobody has to guess. Pure."""

from __future__ import annotations

from datetime import datetime, tzinfo

FORMAT = "%Y-%m-%d %H:%M"


def show_time(moment: datetime, tz: tzinfo, tz_name: str) -> str:
    """``2026-11-24 13:00 Europe/Berlin``: ``moment`` as the chat's clock shows it."""
    return f"{moment.astimezone(tz):{FORMAT}} {tz_name}"
