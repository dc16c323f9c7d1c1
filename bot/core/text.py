"""Text normalization shared by rules and stories, so that both sides are folded the same way.

A text is split into word tokens (runs of Unicode letters, digits and combining marks); each token
is folded: NFKC, case folding (with Turkish dotted/dotless i), diacritics removed (including the
letters plain decomposition does not fold, such as Azerbaijani ``ə``), soft hyphens and zero-width
characters dropped. Everything between tokens (spaces, every kind of dash, apostrophes,
punctuation) is a boundary, which is what makes ``Nagorno-Karabakh`` match ``Nagorno Karabakh``
and ``Karabağ'da`` match ``Karabağ``. Token offsets always refer to the original text, so that a
match can be shown to the user as the story wrote it.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

# Characters that are invisible inside a word and must not split it: soft hyphen, zero-width
# space/non-joiner/joiner, word joiner, byte-order mark.
_IGNORABLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_IGNORABLE_TABLE = dict.fromkeys(map(ord, _IGNORABLE))

# Letters that NFD does not decompose into base + mark but that readers treat as accented forms.
_EXTRA_FOLDS = str.maketrans(
    {
        "ı": "i",  # Turkish/Azerbaijani dotless i
        "ə": "e",  # Azerbaijani schwa (Ə casefolds to ə)
        "ø": "o",
        "đ": "d",
        "ħ": "h",
        "ł": "l",
        "œ": "oe",
        "æ": "ae",
        "þ": "th",
        "ŧ": "t",
    }
)


def _class_body(wanted: Callable[[str], bool], start: int, stop: int) -> str:
    """A regex character class body for the characters in [start, stop) that are ``wanted``."""
    ranges: list[tuple[int, int]] = []
    for code in range(start, stop):
        if wanted(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


# Unicode combining marks (categories Mn, Mc, Me) in the Basic Multilingual Plane. ``re`` has no
# ``\p{M}``, and ``\w`` excludes marks, which would otherwise split words of Indic scripts and
# decomposed Latin text.
_MARKS = _class_body(_is_mark, 0x300, 0x10000)

# Only the diacritic blocks are stripped: marks of Indic, Arabic or Hebrew script are part of the
# spelling there (a virama is not an accent).
_DIACRITICS_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Characters Unicode files as letters or marks that act as separators in running text: the
# modifier-letter apostrophes (Karabağʼda, Ukrainian мʼясо) and the variation selectors that
# follow emoji (⚠️Breaking). They become spaces before tokenizing: same length, same offsets.
_SEPARATORS = {0x02BC: " ", 0x02BB: " ", 0x02BD: " ", **dict.fromkeys(range(0xFE00, 0xFE10), " ")}
# A word: letters, digits, combining marks and invisible characters. Underscores are word
# characters to ``\w`` but separators here; they are turned into spaces before matching (one
# character for one) because a single character class runs twice as fast as an alternation.
_TOKEN_RE = re.compile(rf"[\w{_MARKS}{_IGNORABLE}]+")
_ASCII_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")
_ASCII_FOLD = (
    bytes(
        c if chr(c).isdigit() or chr(c).islower() else c + 32 if chr(c).isupper() else 32
        for c in range(128)
    )
    + b" " * 128
)
"""Per byte: a lowercase ASCII letter or digit as itself, an uppercase letter lowercased, any
other byte a space (as str.split() takes it)."""


@lru_cache(maxsize=16_384)
def _whole_word(spelling: str) -> re.Pattern[bytes]:
    """An ASCII ``spelling`` as a whole word of ASCII bytes (not inside a run of letters and
    digits). It starts with the literal, which ``re`` looks for quickly, then looks back."""
    word = re.escape(spelling.encode("ascii"))
    return re.compile(rb"%s(?<![A-Za-z0-9]%s)(?![A-Za-z0-9])" % (word, word))


_ASCII_SPLIT = bytes(c if chr(c).isalnum() and c < 128 else 32 for c in range(256))
"""The same, with letters left as they are."""


def _words_in(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.replace("_", " ") if "_" in text else text)


@dataclass(frozen=True, slots=True)
class Token:
    """A folded word and where it stands in the original text."""

    text: str
    start: int
    end: int


@lru_cache(maxsize=262_144)
def fold_word(word: str) -> str:
    """Fold one word to its matching form. Cached: news text repeats its words endlessly."""
    text = word.translate(_IGNORABLE_TABLE)
    if text.isascii():
        return sys.intern(text.lower())
    text = unicodedata.normalize("NFKC", text)
    # Turkish capital dotted I folds to "i" + combining dot; the mark is stripped below.
    text = text.casefold().translate(_EXTRA_FOLDS)
    # Russian treats й as a letter of its own (ё, by contrast, is routinely written е).
    decomposed = unicodedata.normalize("NFD", text.replace("й", "\ue000"))
    stripped = _DIACRITICS_RE.sub("", decomposed).replace("\ue000", "й")
    return sys.intern(unicodedata.normalize("NFC", stripped))


@lru_cache(maxsize=262_144)
def fold_parts(word: str) -> tuple[str, ...]:
    """The folded words of one raw word: usually one, none for a run of invisible characters,
    several when folding produces a boundary (``½`` -> ``1``, ``2``)."""
    folded = fold_word(word)
    if not folded:
        return ()
    parts = _words_in(folded)
    return (folded,) if len(parts) == 1 and parts[0] == folded else tuple(parts)


# Non-ASCII characters that are not part of words (curly quotes, dashes, no-break spaces...),
# and the separator letters above: each becomes one space, so offsets do not move and a story
# whose only non-ASCII characters are punctuation takes the ASCII path.
_NOT_WORD_RE = re.compile(rf"[^\x00-\x7f\w{_MARKS}{_IGNORABLE}]|[{''.join(map(chr, _SEPARATORS))}]")
# Each non-ASCII character of a text, as the encoder writes it with xmlcharrefreplace (a
# literal "&#65;" in the text is read too, which can only send the text down the general path).
_CHAR_REF_RE = re.compile(rb"&#([0-9]{1,7});")
_SEPARATOR_CODES: dict[bytes, bool] = {}
"""Decimal code point -> whether that character separates words (see _NOT_WORD_RE)."""


def _separates(code: bytes) -> bool:
    if len(_SEPARATOR_CODES) >= 50_000:
        _SEPARATOR_CODES.clear()
    number = int(code)
    found = number <= sys.maxunicode and _NOT_WORD_RE.fullmatch(chr(number)) is not None
    _SEPARATOR_CODES[code] = found
    return found


def _words_are_ascii(text: str) -> bool:
    """True when every non-ASCII character of ``text`` separates words (curly quotes, dashes,
    no-break spaces...): its words are then those of the ASCII fast path, and at the same
    offsets, as if each of those characters were a space. The encoder and a search for "&#"
    list those characters, much faster than a character class tested at every character."""
    get = _SEPARATOR_CODES.get
    for code in set(_CHAR_REF_RE.findall(text.encode("ascii", "xmlcharrefreplace"))):
        found = get(code)
        if not (_separates(code) if found is None else found):
            return False
    return True


# Text whose words may differ from their written form once normalized: invisible characters
# or combining marks (possibly decomposed letters).
_NEEDS_NORMALIZING = re.compile(f"[{_IGNORABLE}\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff]")


def _as_written(word: str) -> str:
    """A word as exact terms compare it: NFC, invisible characters removed."""
    return unicodedata.normalize("NFC", word.translate(_IGNORABLE_TABLE))


_FOLDED: dict[str, str] = {}
"""Raw word -> its folded word, for the words that fold to exactly one word (the others are
rare, and :func:`fold_parts` caches them)."""
_FOLDED_LIMIT = 200_000


def _fold_raw(word: str) -> str | tuple[str, ...]:
    parts = fold_parts(word)
    if len(parts) != 1:
        return parts
    if len(_FOLDED) >= _FOLDED_LIMIT:
        _FOLDED.clear()
    _FOLDED[word] = value = parts[0]
    return value


class FieldTokens:
    """The folded words of one text, with their offsets computed only when asked for.

    Matching needs only the words; offsets are needed for the few words that match, so they are
    found lazily. Text whose words are all ASCII (whatever its punctuation) is split and folded
    by a few C calls over its bytes; other text word by word through a cache (news repeats its
    vocabulary, so nearly every word is a cache hit)."""

    __slots__ = (
        "_ascii",
        "_bytes",
        "_map",
        "_raw",
        "_scan",
        "_spans",
        "_written",
        "text",
        "words",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self._spans: list[tuple[int, int]] | None = None
        self._map: list[int] | None = None
        self._raw: list[str] | None = None
        self._written: frozenset[str] | None = None
        self._bytes: bytes | None
        """The text encoded to ASCII, each other character as "?" (on the ASCII path)."""
        if text.isascii() or _words_are_ascii(text):
            # Every non-ASCII character is a separator: each becomes "?", then every byte but a
            # letter or digit a space and every letter lowercase, all in C, then split. The same
            # words as _ASCII_TOKEN_RE finds in ``text`` (offsets are found with it, lazily).
            self._scan = text
            self._ascii = True
            data = self._bytes = text.encode("ascii", "replace")
            self.words: list[str] = data.translate(_ASCII_FOLD).decode("ascii").split()
            return
        self._ascii = False
        self._bytes = None
        scan = _NOT_WORD_RE.sub(" ", text)
        scan = self._scan = scan.replace("_", " ") if "_" in scan else scan
        raw = self._raw = _TOKEN_RE.findall(scan)
        try:  # every word already folded once, to one word: the common case, all in C
            self.words = list(map(_FOLDED.__getitem__, raw))
            return
        except KeyError:
            pass
        folded = [_FOLDED.get(w) or _fold_raw(w) for w in raw]
        for value in folded:
            if value.__class__ is not str:
                break
        else:
            self.words = folded  # type: ignore[assignment]  # all str, checked above
            return
        # Some word folded to none or several words: keep the map to the raw words.
        words: list[str] = []
        mapping: list[int] = []
        for j, value in enumerate(folded):
            parts = (value,) if isinstance(value, str) else value
            words.extend(parts)
            mapping.extend([j] * len(parts))
        self.words = words
        self._map = mapping

    def span(self, i: int) -> tuple[int, int]:
        """Character offsets in :attr:`text` of word ``i``."""
        if self._spans is None:
            pattern = _ASCII_TOKEN_RE if self._ascii else _TOKEN_RE
            self._spans = [m.span() for m in pattern.finditer(self._scan)]
        return self._spans[i if self._map is None else self._map[i]]

    def _raw_words(self) -> list[str]:
        raw = self._raw
        if raw is None:
            if self._bytes is not None:  # as in __init__, with the case kept
                raw = self._raw = self._bytes.translate(_ASCII_SPLIT).decode("ascii").split()
            else:
                raw = self._raw = _TOKEN_RE.findall(self._scan)
        return raw

    def originals(self) -> list[str]:
        """Every word as the text writes it (NFC, invisible characters removed), in word order
        of the raw text (see :meth:`original` for the word of a folded index)."""
        raw = self._raw_words()
        if self._ascii or not _NEEDS_NORMALIZING.search(self._scan):
            return raw
        return [w if w.isascii() else _as_written(w) for w in raw]

    def written(self, spellings: Iterable[str]) -> list[str]:
        """Those of ``spellings`` (single words, as exact terms write them) that some word of the
        text is written as (see :meth:`originals`)."""
        if self._bytes is not None:
            # The words are the runs of ASCII letters and digits: a quick search for each
            # spelling in the text's bytes (a word with other characters cannot be one of them).
            data = self._bytes
            return [w for w in spellings if w.isascii() and _whole_word(w).search(data)]
        if self._written is None:
            self._written = frozenset(self.originals())
        return list(filter(self._written.__contains__, spellings))

    def original(self, i: int) -> str:
        """Word ``i`` as the text writes it (invisible characters removed), for exact terms."""
        word = self._raw_words()[i if self._map is None else self._map[i]]
        return word if word.isascii() else _as_written(word)


def tokens(text: str) -> list[Token]:
    """Split ``text`` into folded word tokens with their original offsets.

    A word whose folded form contains a boundary (e.g. ``½`` -> ``1⁄2``) yields several tokens
    sharing the original span."""
    field = FieldTokens(text)
    return [Token(word, *field.span(i)) for i, word in enumerate(field.words)]


def fold_words(text: str) -> tuple[str, ...]:
    """The folded words of ``text``, as a rule term is compiled."""
    return tuple(t.text for t in tokens(text))
