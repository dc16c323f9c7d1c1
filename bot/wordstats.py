"""The background word statistics shipped with the package (``bot/data``), read once: how
many news headlines carry each stem, for story clustering (see ``bench/build_wordstats.py``)."""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from bot.core.clustering import WordStats

RESOURCE = "headline-stems.tsv.gz"


@cache
def headline_stems() -> WordStats:
    """The shipped table; an empty one if the file is missing (clustering still works, with
    rarity learnt from the stories it sees)."""
    try:
        raw = resources.files("bot.data").joinpath(RESOURCE).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        return WordStats()
    documents = 0
    counts: dict[str, int] = {}
    for line in gzip.decompress(raw).decode("utf-8").splitlines():
        key, _, value = line.partition("\t")
        if key == "#documents":
            documents = int(value)
        elif key:
            counts[key] = int(value)
    return WordStats(documents, counts)
