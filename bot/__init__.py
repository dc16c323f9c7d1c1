"""newsbot: watches news feeds for topics and pushes matching stories to Telegram."""

__version__ = "0.1.0"
