"""A deliberately slow and simple reference for the rule language, written from docs/rules.md.

It shares only the spec's syntax with the bot: the rule's syntax tree comes from
:func:`bot.core.rules.model.condition` (the parser), and the words of a text come from
:func:`bot.core.text.tokens` (the documented normalization). Everything else is brute force, read
straight off the documentation, with no index, no cache and no trigger atoms:

- a term or phrase occurs wherever its folded words appear in sequence in a field's word list,
  a ``*`` word matching any word that starts with it, an exact (``=``) word also having to be
  written exactly so (case and accents included) in the story;
- ``a NEAR/n b``: an occurrence of each side in the same field, not overlapping, with at most
  ``n`` words between them (``ONEAR``: ``a`` first); a NEAR occurs where its two sides do,
  from the first word of one to the last word of the other;
- a regular expression is searched (RE2) in each field's text as the feed wrote it;
- ``AND``/``OR``/``NOT`` are evaluated as written;
- ``feeds`` restricts a rule to the named feeds (``tag:x``: the feeds tagged x), and
  ``exclude_feeds`` removes feeds from what it applies to.

The test suite checks the bot's matcher against this module on hand-written and random rules.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

from bot.core.models import Story
from bot.core.rules.ast import And, Atom, Near, Node, Not, Or, Regex
from bot.core.rules.model import Rule, condition
from bot.core.rules.regex import find_all
from bot.core.text import tokens

INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
"""Soft hyphen and the zero-width characters: the docs say they are ignored inside a word."""

Occurrence = tuple[str, int, int]
"""(field, first word, end word exclusive)."""


def as_written(text: str) -> str:
    """A spelling for exact comparison: canonical composition, invisible characters removed."""
    return unicodedata.normalize("NFC", "".join(ch for ch in text if ch not in INVISIBLE))


def same(got: str, want: str, prefix: bool) -> bool:
    return got.startswith(want) if prefix else got == want


def atom_occurrences(atom: Atom, story: Story) -> list[Occurrence]:
    """Every place the atom's words occur, trying every start position of every field."""
    pattern = atom.pattern
    size = len(pattern.words)
    found: list[Occurrence] = []
    for name in sorted(atom.fields):
        text = story.field_text(name)
        words = tokens(text)
        for start in range(len(words) - size + 1):
            ok = True
            for k, want in enumerate(pattern.words):
                token = words[start + k]
                prefix = k in pattern.prefixes
                if not same(token.text, want, prefix):
                    ok = False
                elif pattern.exact is not None:
                    written = as_written(text[token.start : token.end])
                    ok = same(written, as_written(pattern.exact[k]), prefix)
                if not ok:
                    break
            if ok:
                found.append((name, start, start + size))
    return found


def positions(node: Node, story: Story) -> list[Occurrence]:
    """Where a positional node (term, OR-group of them, NEAR) occurs."""
    if isinstance(node, Atom):
        return atom_occurrences(node, story)
    if isinstance(node, Or):
        return [o for item in node.items for o in positions(item, story)]
    if isinstance(node, Near):
        result: list[Occurrence] = []
        for lf, ls, le in positions(node.left, story):
            for rf, rs, re_ in positions(node.right, story):
                if lf != rf:
                    continue  # both sides must be in the same field
                if le <= rs:  # left, then right
                    between = rs - le
                elif re_ <= ls and not node.ordered:  # right, then left
                    between = ls - re_
                else:
                    continue  # they overlap, or ONEAR in the wrong order
                if between <= node.distance:
                    result.append((lf, min(ls, rs), max(le, re_)))
        return result
    raise TypeError(f"not a positional node: {node!r}")


def evaluate(node: Node, story: Story) -> bool:
    if isinstance(node, Atom):
        return bool(atom_occurrences(node, story))
    if isinstance(node, Regex):
        return any(find_all(node, story.field_text(name)) for name in node.fields)
    if isinstance(node, And):
        return all(evaluate(item, story) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, story) for item in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, story)
    return bool(positions(node, story))


def applies_to(rule: Rule, feed: str, feed_tags: Mapping[str, Sequence[str]]) -> bool:
    """Whether the rule looks at stories of ``feed`` at all (its ``feeds``/``exclude_feeds``)."""

    def named(items: Sequence[str]) -> bool:
        for item in items:
            if item.startswith("tag:"):
                if item[4:] in feed_tags.get(feed, ()):
                    return True
            elif item == feed:
                return True
        return False

    if rule.feeds and not named(rule.feeds):
        return False
    return not named(rule.exclude_feeds)


def matches(
    rule: Rule,
    story: Story,
    lexicon: Mapping[str, tuple[str, ...]] | None = None,
    feed_tags: Mapping[str, Sequence[str]] | None = None,
) -> bool:
    """Whether ``rule`` matches ``story``."""
    if not applies_to(rule, story.feed, feed_tags or {}):
        return False
    return evaluate(condition(rule, lexicon), story)
