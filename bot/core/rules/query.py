"""The query language: text -> syntax tree (:mod:`bot.core.rules.ast`), with errors that point
at the column.

    Bayraktar OR "Bayraktar TB2" OR Akinci          terms and "phrases"
    drone* AND (Azerbaijan OR Armenia)              AND, OR, parentheses; drone* is a prefix
    Karabakh NOT football    Karabakh -football     NOT; juxtaposed terms are ANDed
    Bayraktar NEAR/5 Azerbaijan                     at most 5 words apart, either order
    Bayraktar ONEAR/3 (Ukraine OR Poland)           left side first
    title:Bayraktar   title:("TB2" OR TB3)          look only in one field
    =US   ="TB2"                                    exact: same case and accents
    @karabakh                                       a shared list of terms (a lexicon)
    /Bayraktar\\s+TB\\d/                              a regular expression (RE2, linear time)

Operators are written in capitals. A lowercase ``and``, ``or`` or ``not`` is refused rather than
silently searched for as a word: write ``"and"`` to really look for the word.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.rules.ast import NO_PREFIXES, And, Atom, Near, Node, Not, Or, Pattern, Regex
from bot.core.text import tokens

FIELDS = ("title", "summary", "content", "link", "tags", "author")
MIN_PREFIX = 2
MAX_NEAR = 50
_NEAR_RE = re.compile(r"^(O?NEAR)/(\d+)$")
_LEXICON_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_LOWER_OPERATORS = {"and", "or", "not", "near", "onear"}


class QueryError(ValueError):
    """A query (or a term) could not be read; ``column`` is 1-based within the query text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # ( ) OR AND NOT NEAR WORD PHRASE REGEX FIELD END
    text: str
    column: int
    exact: bool = False
    distance: int = 0
    ordered: bool = False
    flags: str = ""


_FIELD_PREFIX_RE = re.compile(rf"({'|'.join(FIELDS)}):(?=\S)")


def _lex(query: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(_Tok(ch, ch, col))
            i += 1
        elif ch == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] != "-":
            # -term, -"phrase", -(group), -=EXACT, -/regex/, -title:x all mean NOT.
            out.append(_Tok("NOT", "-", col))
            i += 1
        elif (field := _FIELD_PREFIX_RE.match(query, i)) is not None:
            # title:term, title:"phrase", title:(group), title:=EXACT, title:/regex/
            out.append(_Tok("FIELD", field.group(1), col))
            i = field.end()
        elif ch == '"' or (ch == "=" and query[i + 1 : i + 2] == '"'):
            exact = ch == "="
            start = i + 1 + exact
            end = query.find('"', start)
            if end < 0:
                raise QueryError("unclosed quote", col)
            out.append(_Tok("PHRASE", query[start:end], col, exact=exact))
            i = end + 1
        elif ch == "/":
            j = i + 1
            while j < n and query[j] != "/":
                j += 2 if query[j] == "\\" else 1
            if j >= n:
                raise QueryError("unclosed regular expression (missing the final /)", col)
            k = j + 1
            while k < n and query[k].isalpha():
                k += 1
            flags = query[j + 1 : k]
            if set(flags) - {"c", "i"}:
                raise QueryError(f"unknown regular expression flag in {flags!r} (use c or i)", col)
            out.append(_Tok("REGEX", query[i + 1 : j], col, flags=flags))
            i = k
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in '()"':
                j += 1
            out.append(_word(query[i:j], col))
            i = j
    out.append(_Tok("END", "", n + 1))
    return out


def _word(word: str, col: int) -> _Tok:
    if word in ("AND", "OR", "NOT"):
        return _Tok(word, word, col)
    near = _NEAR_RE.match(word)
    if near:
        distance = int(near.group(2))
        if distance > MAX_NEAR:
            raise QueryError(f"{near.group(1)} distance {distance} is above {MAX_NEAR}", col)
        return _Tok("NEAR", word, col, distance=distance, ordered=near.group(1) == "ONEAR")
    if word in ("NEAR", "ONEAR") or (word.upper().startswith(("NEAR", "ONEAR")) and "/" in word):
        raise QueryError(f"{word!r}: write NEAR/n or ONEAR/n with a number of words", col)
    if word.lower() in _LOWER_OPERATORS and word.upper() != word:
        raise QueryError(
            f"{word!r} is not an operator: write {word.upper()} in capitals, "
            f'or "{word}" in quotes to search for the word',
            col,
        )
    name, colon, rest = word.partition(":")
    if colon and name in FIELDS and not rest:
        raise QueryError(f"{name}: must be followed by a term or a group", col)
    if colon and name.isalpha():
        close = difflib.get_close_matches(name.lower(), FIELDS, n=1, cutoff=0.7)
        if close or not rest:
            hint = f"; did you mean {close[0]}:?" if close else f"; fields are {', '.join(FIELDS)}"
            raise QueryError(f"unknown field {name!r}{hint}", col)
    exact = word.startswith("=")
    return _Tok("WORD", word[1:] if exact else word, col, exact=exact)


def parse_term(text: str, fields: frozenset[str], *, column: int = 1, exact: bool = False) -> Atom:
    """A term or phrase as written in a list or a lexicon: words separated by spaces or dashes,
    a trailing ``*`` on a word for a prefix, a leading ``=`` for an exact, case-sensitive term."""
    source = text
    if text.startswith("=") and not exact:
        exact, text = True, text[1:]
    words: list[str] = []
    originals: list[str] = []
    prefixes: set[int] = set()
    for piece in text.split():
        wildcard = piece.endswith("*")
        core = piece.rstrip("*")
        if "*" in core:
            raise QueryError(f"{source!r}: * is only allowed at the end of a word", column)
        found = tokens(core)
        if not found:
            if core:
                continue  # punctuation between words, e.g. "Armenia - Azerbaijan"
            raise QueryError(f"{source!r}: a lone * matches nothing", column)
        words.extend(t.text for t in found)
        originals.extend(_as_written(core[t.start : t.end]) for t in found)
        if wildcard:
            if len(found[-1].text) < MIN_PREFIX:
                raise QueryError(
                    f"{source!r}: a wildcard needs at least {MIN_PREFIX} letters before *", column
                )
            prefixes.add(len(words) - 1)
    if not words:
        raise QueryError(f"{source!r} has no letters or digits to match", column)
    pattern = Pattern(
        tuple(words),
        frozenset(prefixes) if prefixes else NO_PREFIXES,
        tuple(originals) if exact else None,
    )
    return Atom(pattern, fields, source)


def _as_written(word: str) -> str:
    """An exact word as the matcher compares it: NFC, invisible characters removed."""
    return unicodedata.normalize("NFC", word.translate(_INVISIBLE))


_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))


MAX_NESTING = 32
"""Deepest nesting of parentheses and NOTs in one query."""


class _Parser:
    def __init__(
        self, query: str, fields: frozenset[str], lexicon: Mapping[str, tuple[str, ...]]
    ) -> None:
        self.toks = _lex(query)
        self.pos = 0
        self.fields = fields
        self.lexicon = lexicon
        self.depth = 0

    def deeper(self, tok: _Tok) -> None:
        """One more level of parentheses or NOT; refuse absurd nesting (it would exhaust the
        stack here and in every later pass over the query)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise QueryError(f"nested more than {MAX_NESTING} levels deep", tok.column)

    def peek(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise QueryError("the query is empty", 1)
        node = self.or_expr(self.fields)
        tok = self.peek()
        if tok.kind != "END":
            raise QueryError(f"unexpected {tok.text!r}", tok.column)
        return node

    def or_expr(self, fields: frozenset[str]) -> Node:
        items = [self.and_expr(fields)]
        while self.peek().kind == "OR":
            self.take()
            items.append(self.and_expr(fields))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self, fields: frozenset[str]) -> Node:
        items = [self.not_expr(fields)]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
            elif kind not in ("NOT", "(", "WORD", "PHRASE", "REGEX", "FIELD"):
                break
            items.append(self.not_expr(fields))
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self, fields: frozenset[str]) -> Node:
        if self.peek().kind == "NOT":
            self.deeper(self.take())
            node = Not(self.not_expr(fields))
            self.depth -= 1
            return node
        return self.near_expr(fields)

    def near_expr(self, fields: frozenset[str]) -> Node:
        start = self.peek()
        node = self.primary(fields)
        while self.peek().kind == "NEAR":
            op = self.take()
            right_tok = self.peek()
            right = self.primary(fields)
            for side, tok in ((node, start), (right, right_tok)):
                if not _positional(side):
                    raise QueryError(
                        f"{op.text} needs terms, phrases or OR-groups of them on both sides",
                        tok.column,
                    )
            node = Near(node, right, op.distance, op.ordered)
        return node

    def primary(self, fields: frozenset[str]) -> Node:
        tok = self.take()
        if tok.kind == "FIELD":
            if self.peek().kind in ("END", ")", "OR", "AND", "NEAR"):
                raise QueryError(f"{tok.text}: must be followed by a term or a group", tok.column)
            self.deeper(tok)
            node = self.primary(frozenset({tok.text}))
            self.depth -= 1
            return node
        if tok.kind == "(":
            if self.peek().kind == ")":
                raise QueryError("empty parentheses", tok.column)
            self.deeper(tok)
            node = self.or_expr(fields)
            if self.take().kind != ")":
                raise QueryError("unclosed parenthesis", tok.column)
            self.depth -= 1
            return node
        if tok.kind == "PHRASE":
            return parse_term(tok.text, fields, column=tok.column, exact=tok.exact)
        if tok.kind == "REGEX":
            return _regex(tok, fields)
        if tok.kind == "WORD":
            if tok.text.startswith("@"):
                return self.lexicon_ref(tok, fields)
            return parse_term(tok.text, fields, column=tok.column, exact=tok.exact)
        if tok.kind == "END":
            raise QueryError("the query ends too early", tok.column)
        raise QueryError(f"unexpected {tok.text!r}", tok.column)

    def lexicon_ref(self, tok: _Tok, fields: frozenset[str]) -> Node:
        name = tok.text[1:]
        entries = self.lexicon.get(name)
        if entries is None:
            close = difflib.get_close_matches(name, list(self.lexicon), n=1)
            hint = f"; did you mean @{close[0]}?" if close else ""
            raise QueryError(f"unknown lexicon @{name}{hint}", tok.column)
        atoms = tuple(parse_term(entry, fields, column=tok.column) for entry in entries)
        return atoms[0] if len(atoms) == 1 else Or(atoms)


def _positional(node: Node) -> bool:
    if isinstance(node, (Atom, Near)):
        return True
    if isinstance(node, Or):
        return all(_positional(item) for item in node.items)
    return False


def _regex(tok: _Tok, fields: frozenset[str]) -> Regex:
    from bot.core.rules.regex import compile_regex

    node = Regex(tok.text, "c" in tok.flags, fields)
    try:
        compile_regex(node)
    except ValueError as exc:
        raise QueryError(f"invalid regular expression: {exc}", tok.column) from None
    return node


def parse_query(
    query: str, fields: frozenset[str], lexicon: Mapping[str, tuple[str, ...]] | None = None
) -> Node:
    """Parse ``query``; atoms look in ``fields`` unless scoped. Raises :class:`QueryError`."""
    return _Parser(query, fields, lexicon or {}).parse()


def valid_lexicon_name(name: str) -> bool:
    return bool(_LEXICON_NAME.match(name))
