"""The pure core: data models, the rule language and matcher, text normalization, message
rendering and scheduling decisions. Nothing under this package performs IO or imports an IO
library; the edges (fetching, parsing, storage, Telegram, scheduler) depend on it, never the
reverse (checked by import-linter, see pyproject.toml)."""
