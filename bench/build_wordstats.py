"""Build ``bot/data/headline-stems.tsv.gz``: in how many headlines of the shared corpus each
folded content stem occurs (stems in 3 or more), the background that tells story clustering a
rare word from a common one (:class:`bot.core.clustering.WordStats`).

Headlines of August 2026 (reserved for an independent evaluation) and of the two labelled days
(2026-06-16, 2026-07-23) are left out. Run it again whenever ``content_words`` or ``stem``
change: ``python -m bench.build_wordstats``.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bench.report import ROOT
from bot.core.clustering import content_words, stem

CORPUS = ROOT.parent / "shared" / "corpus" / "headlines.jsonl.gz"
OUT = ROOT / "bot" / "data" / "headline-stems.tsv.gz"
LEFT_OUT_DAYS = {"2026-06-16", "2026-07-23"}


def published(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def main() -> int:
    counts: Counter[str] = Counter()
    documents = 0
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            at = published(row.get("published"))
            if at is None or (at.year, at.month) == (2026, 8) or str(at.date()) in LEFT_OUT_DAYS:
                continue
            documents += 1
            counts.update({stem(w) for w in content_words(row.get("title") or "")})
    kept = sorted(((s, c) for s, c in counts.items() if c >= 3), key=lambda sc: (-sc[1], sc[0]))
    with gzip.GzipFile(OUT, "wb", mtime=0) as raw:
        raw.write(f"#documents\t{documents}\n".encode())
        raw.write("".join(f"{s}\t{c}\n" for s, c in kept).encode())
    print(f"{documents} headlines, {len(kept)} stems kept -> {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
