"""Telegram (edge: python-telegram-bot): sending alerts and answering people's commands."""

import os

# Opt in to python-telegram-bot's future behaviour (durations as timedelta, e.g. RetryAfter's
# retry_after); without it PTB 22 warns on every flood-control answer.
os.environ.setdefault("PTB_TIMEDELTA", "true")
