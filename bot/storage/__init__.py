"""Persistence (edge: SQLAlchemy). The same code serves SQLite (the default) and PostgreSQL."""

from bot.storage.store import Store

__all__ = ["Store"]
