"""Telegram (edge: python-telegram-bot): sending alerts and answering people's commands."""
