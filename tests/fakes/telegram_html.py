"""A validator for Telegram's ``parse_mode="HTML"`` message formatting.

:func:`parse_telegram_html` turns a message written in the HTML dialect of the Bot API
(https://core.telegram.org/bots/api#html-style) into the plain text Telegram would display, or
raises :class:`TelegramHTMLError` with the reason Telegram would give. The tokenizer is a
port of the one in tdlib's ``parse_html`` (``td/telegram/MessageEntity.cpp``), which is what
the Bot API server runs, so the error messages read like the real ones::

    Unsupported start tag "br" at byte offset 0
    Unmatched end tag at byte offset 4, expected "</b>", found "</i>"
    Can't find end tag corresponding to start tag "b"

Two modes:

``strict=True`` (the default)
    Also enforces the rules the Bot API *documents* but the server does not always check, so
    that a bot which is merely lucky fails in tests: every ``&``, ``<`` and ``>`` that is not
    markup must be escaped, named entities must end with ``;``, only the documented
    attributes are allowed (and must be quoted), ``<a>`` needs a non-empty ``href``, ``<pre>``
    holds text or a single ``<code class="language-…">`` spanning all of it, and entities nest
    as https://core.telegram.org/bots/api#formatting-options allows (nothing inside
    ``code``/``pre``, no ``a``/``code``/``pre``/``tg-emoji``/``blockquote`` inside ``a`` or
    ``tg-emoji``, no nested blockquotes).

``strict=False``
    Exactly as lenient as Telegram: a bare ``&`` or ``>`` is kept literally, unknown
    attributes are ignored, ``</>`` closes the innermost tag, ``<a>`` without ``href`` uses
    its text as the URL.

:func:`parse_telegram_html_entities` also returns the ``MessageEntity`` objects (as Bot API
JSON dicts with UTF-16 offsets) and :func:`telegram_length` measures text the way Telegram
does, in UTF-16 code units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ParsedHTML",
    "TelegramHTMLError",
    "parse_telegram_html",
    "parse_telegram_html_entities",
    "telegram_length",
]

_FORMATTING_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler"}
)
_SUPPORTED_TAGS = _FORMATTING_TAGS | {"a", "code", "pre", "blockquote", "tg-emoji"}
# Tags whose entities can contain nothing but formatting (Bot API "formatting options").
_ATOMIC_TAGS = frozenset({"a", "tg-emoji"})
_VERBATIM_TAGS = frozenset({"code", "pre"})
# The attributes each tag may carry in strict mode (names are case-sensitive, as in tdlib).
_ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "span": frozenset({"class"}),
    "tg-emoji": frozenset({"emoji-id"}),
    "blockquote": frozenset({"expandable"}),
}
_SIMPLE_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# tdlib's is_space(): the characters that end tag and attribute names.
_SPACES = frozenset(" \t\r\n\0\v")
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")


class TelegramHTMLError(ValueError):
    """The text is not valid Telegram HTML; ``str(error)`` is the reason."""


@dataclass(frozen=True)
class ParsedHTML:
    """Plain text and Bot API ``MessageEntity`` dicts (UTF-16 offsets), sorted like Telegram."""

    text: str
    entities: list[dict[str, Any]]


def telegram_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram's limits and offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def parse_telegram_html(text: str, *, strict: bool = True) -> str:
    """Return the plain text of an HTML-formatted message, or raise :class:`TelegramHTMLError`."""
    return parse_telegram_html_entities(text, strict=strict).text


def parse_telegram_html_entities(text: str, *, strict: bool = True) -> ParsedHTML:
    """Parse ``text`` like Telegram does for ``parse_mode="HTML"``; see the module docstring."""
    return _Parser(text, strict=strict).parse()


@dataclass
class _OpenTag:
    name: str
    argument: str
    start: int  # byte offset of "<" in the source, for error messages
    offset: int  # UTF-16 offset of the entity in the output
    output_index: int  # index into the output pieces where the content starts
    has_text: bool = False
    children: list[str] = field(default_factory=list)
    code_end: int | None = None  # for <pre>: UTF-16 end of a directly nested <code>
    code_language: str = ""


class _Parser:
    """One pass over the source; ``i`` is an index into the ``str``, like tdlib's byte index."""

    def __init__(self, text: str, *, strict: bool) -> None:
        self.text = text
        self.n = len(text)
        self.strict = strict
        self.i = 0
        self.pieces: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    # -- helpers -------------------------------------------------------------------------

    def _char(self, index: int) -> str:
        """The character at ``index``, or ``"\\0"`` past the end (tdlib's NUL terminator)."""
        return self.text[index] if index < self.n else "\0"

    def _byte_offset(self, index: int) -> int:
        return len(self.text[:index].encode("utf-8", "surrogatepass"))

    def _error(self, message: str) -> TelegramHTMLError:
        return TelegramHTMLError(message)

    def _skip_spaces(self) -> None:
        while self.i < self.n and self.text[self.i] in _SPACES:
            self.i += 1

    def _emit(self, chunk: str) -> None:
        if self.strict and self.stack:
            top = self.stack[-1]
            if top.name == "pre" and top.code_end is not None:
                raise self._error(
                    "Text after <code> inside <pre> at byte offset "
                    f"{self._byte_offset(self.i)}; <pre> may hold one <code> and nothing else"
                )
            top.has_text = True
        self.pieces.append(chunk)
        self.utf16 += telegram_length(chunk)

    def _decode_entity(self, index: int) -> tuple[str, int] | None:
        """Decode the character reference at ``index`` (an ``&``) like tdlib.

        Returns the character and the index after the reference, or ``None`` when it is not
        a reference Telegram recognises (then the ``&`` is literal in lenient mode).
        """
        text, end = self.text, index + 1
        if self._char(end) == "#":
            end += 1
            value, digits = 0, 0
            if self._char(end) == "x":  # tdlib only knows the lowercase "x"
                end += 1
                while self._char(end) in _HEX_DIGITS:
                    value = min(value * 16 + int(text[end], 16), 0x110000)
                    end, digits = end + 1, digits + 1
            else:
                while self._char(end) in _DIGITS:
                    value = min(value * 10 + int(text[end]), 0x110000)
                    end, digits = end + 1, digits + 1
            if value == 0 or value >= 0x10FFFF or end - index >= 10:
                return None
            char = chr(value)
        else:
            while self._char(end).isascii() and self._char(end).isalpha():
                end += 1
            name = text[index + 1 : end]
            if name not in _NAMED_ENTITIES:
                return None
            char = _NAMED_ENTITIES[name]
        if self._char(end) == ";":
            return char, end + 1
        if self.strict:
            raise self._error(
                f"Character reference {text[index:end]!r} at byte offset "
                f"{self._byte_offset(index)} must end with ';'"
            )
        return char, end

    def _literal_ampersand(self, index: int) -> None:
        if self.strict:
            raise self._error(
                f"Unescaped '&' at byte offset {self._byte_offset(index)}: only &lt; &gt; "
                "&amp; &quot; and numeric character references are recognised, write &amp;"
            )

    # -- main loop -----------------------------------------------------------------------

    def parse(self) -> ParsedHTML:
        while self.i < self.n:
            char = self.text[self.i]
            if char == "&":
                decoded = self._decode_entity(self.i)
                if decoded is not None:
                    self._emit(decoded[0])
                    self.i = decoded[1]
                    continue
                self._literal_ampersand(self.i)
            elif char == ">" and self.strict:
                raise self._error(f"Unescaped '>' at byte offset {self._byte_offset(self.i)}")
            if char != "<":
                self._emit(char)
                self.i += 1
                continue
            if self._char(self.i + 1) == "/":
                self._end_tag()
            else:
                self._start_tag()
        if self.stack:
            raise self._error(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        plain = "".join(self.pieces)
        if any("\ud800" <= c <= "\udfff" for c in plain):
            raise self._error(
                "Text contains invalid Unicode characters after decoding HTML entities, check "
                "for unmatched surrogate code units"
            )
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return ParsedHTML(plain, self.entities)

    # -- start tags ----------------------------------------------------------------------

    def _start_tag(self) -> None:
        begin = self.i
        self.i += 1
        while self._char(self.i) not in _SPACES and self._char(self.i) != ">":
            self.i += 1
        if self.i >= self.n:
            raise self._error(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
        name = self.text[begin + 1 : self.i].lower()
        if name not in _SUPPORTED_TAGS:
            raise self._error(
                f'Unsupported start tag "{name}" at byte offset {self._byte_offset(begin)}'
            )
        attributes = self._attributes(name, begin)
        self.i += 1  # the ">"
        argument = self._tag_argument(name, attributes, begin)
        if self.strict:
            self._check_nesting(name, begin)
            if self.stack:
                self.stack[-1].children.append(name)
        self.stack.append(
            _OpenTag(name, argument, begin, self.utf16, len(self.pieces)),
        )

    def _attributes(self, tag: str, begin: int) -> dict[str, str | None]:
        """Read attributes up to the closing ``>``; a valueless attribute maps to ``None``."""
        attributes: dict[str, str | None] = {}
        offset = self._byte_offset(begin)
        while self._char(self.i) != ">":
            self._skip_spaces()
            if self._char(self.i) == ">":
                break
            name_begin = self.i
            while self._char(self.i) not in _SPACES and self._char(self.i) not in "=>/\"'":
                self.i += 1
            name = self.text[name_begin : self.i]
            if not name:
                raise self._error(
                    f'Empty attribute name in the tag "{tag}" at byte offset {offset}'
                )
            self._skip_spaces()
            if self._char(self.i) != "=":
                if self.i >= self.n:
                    raise self._error(f'Unclosed start tag "{tag}" at byte offset {offset}')
                self._add_attribute(attributes, tag, name, None)
                continue
            self.i += 1
            self._skip_spaces()
            if self.i >= self.n:
                raise self._error(f'Unclosed start tag "{tag}" at byte offset {offset}')
            value = self._attribute_value(tag, name)
            if self.i >= self.n:
                raise self._error(f"Unclosed start tag at byte offset {offset}")
            self._add_attribute(attributes, tag, name, value)
        return attributes

    def _attribute_value(self, tag: str, name: str) -> str:
        quote = self.text[self.i]
        if quote not in "'\"":
            # A name token: letters, digits, periods, hyphens; lower-cased by Telegram.
            token_begin = self.i
            while self._char(self.i) in _ASCII_ALNUM or self._char(self.i) in ".-":
                self.i += 1
            if self._char(self.i) not in _SPACES and self._char(self.i) != ">":
                raise self._error(
                    f"Unexpected end of name token at byte offset {self._byte_offset(token_begin)}"
                )
            if self.strict:
                raise self._error(
                    f'Unquoted value of the attribute "{name}" in the tag "{tag}" at byte '
                    f"offset {self._byte_offset(token_begin)} (Telegram lower-cases it)"
                )
            return self.text[token_begin : self.i].lower()
        self.i += 1
        chars: list[str] = []
        while self.i < self.n and self.text[self.i] != quote:
            char = self.text[self.i]
            if char == "&":
                decoded = self._decode_entity(self.i)
                if decoded is not None:
                    chars.append(decoded[0])
                    self.i = decoded[1]
                    continue
                self._literal_ampersand(self.i)
            elif char in "<>" and self.strict:
                raise self._error(
                    f"Unescaped '{char}' in an attribute value at byte offset "
                    f"{self._byte_offset(self.i)}"
                )
            chars.append(char)
            self.i += 1
        if self.i < self.n:
            self.i += 1  # the closing quote
        return "".join(chars)

    def _add_attribute(
        self, attributes: dict[str, str | None], tag: str, name: str, value: str | None
    ) -> None:
        if self.strict:
            if name not in _ALLOWED_ATTRIBUTES.get(tag, frozenset()):
                raise self._error(f'Unsupported attribute "{name}" in the tag "{tag}"')
            if name in attributes:
                raise self._error(f'Duplicate attribute "{name}" in the tag "{tag}"')
            if (value is None) != (name == "expandable"):
                raise self._error(
                    f'Attribute "{name}" of the tag "{tag}" must '
                    + ("not have a value" if name == "expandable" else "have a value")
                )
        attributes[name] = value

    def _tag_argument(self, tag: str, attributes: dict[str, str | None], begin: int) -> str:
        """The entity argument (URL, language, emoji id, ...) as tdlib derives it."""
        value = attributes.get
        argument = ""
        if tag == "a":
            argument = value("href") or ""
            if self.strict and not argument.strip():
                raise self._error(
                    f'Tag "a" must have a non-empty "href" at byte offset '
                    f"{self._byte_offset(begin)}"
                )
        elif tag == "code":
            css_class = value("class") or ""
            if css_class.startswith("language-"):
                argument = css_class[len("language-") :]
            elif self.strict and "class" in attributes:
                raise self._error(
                    f'The class of a "code" tag must be "language-<name>", got "{css_class}"'
                )
        elif tag == "span":
            css_class = value("class") or ""
            argument = css_class[3:] if css_class.startswith("tg-") else ""
            if argument != "spoiler":
                raise self._error(
                    'Tag "span" must have class "tg-spoiler" at byte offset '
                    f"{self._byte_offset(begin)}"
                )
        elif tag == "tg-emoji":
            argument = value("emoji-id") or ""
        elif tag == "blockquote" and "expandable" in attributes:
            argument = "1"
        return argument

    def _check_nesting(self, tag: str, begin: int) -> None:
        """Strict mode: the nesting rules of the Bot API's "formatting options"."""
        where = f"at byte offset {self._byte_offset(begin)}"
        if not self.stack:
            return
        parent = self.stack[-1]
        if any(open_tag.name == "code" for open_tag in self.stack):
            raise self._error(f'<code> can\'t contain other entities, found "<{tag}>" {where}')
        if any(t.name == "pre" for t in self.stack):
            directly_in_pre = parent.name == "pre" and tag == "code"
            if not directly_in_pre or parent.has_text or parent.children:
                raise self._error(
                    f'<pre> may only contain text or a single <code>, found "<{tag}>" {where}'
                )
        if tag == "blockquote" and any(t.name == "blockquote" for t in self.stack):
            raise self._error(f"Blockquotes can't be nested {where}")
        if tag not in _FORMATTING_TAGS:
            for open_tag in self.stack:
                if open_tag.name in _ATOMIC_TAGS:
                    raise self._error(
                        f'<{open_tag.name}> can\'t contain "<{tag}>" {where}, only formatting'
                    )

    # -- end tags ------------------------------------------------------------------------

    def _end_tag(self) -> None:
        begin = self.i
        if not self.stack:
            raise self._error(f"Unexpected end tag at byte offset {self._byte_offset(begin)}")
        self.i += 2
        while self._char(self.i) not in _SPACES and self._char(self.i) != ">":
            self.i += 1
        end_name = self.text[begin + 2 : self.i].lower()
        self._skip_spaces()
        if self._char(self.i) != ">":
            raise self._error(f"Unclosed end tag at byte offset {self._byte_offset(begin)}")
        self.i += 1
        open_tag = self.stack[-1]
        if end_name and end_name != open_tag.name:
            raise self._error(
                f"Unmatched end tag at byte offset {self._byte_offset(begin)}, "
                f'expected "</{open_tag.name}>", found "</{end_name}>"'
            )
        if not end_name and self.strict:
            raise self._error(
                f"Empty end tag at byte offset {self._byte_offset(begin)}, "
                f'write "</{open_tag.name}>"'
            )
        self.stack.pop()
        self._close(open_tag)

    def _close(self, tag: _OpenTag) -> None:
        length = self.utf16 - tag.offset
        parent = self.stack[-1] if self.stack else None
        if tag.name == "tg-emoji" and length > 0:
            emoji_id = tag.argument
            if not (emoji_id.isascii() and emoji_id.isdigit() and int(emoji_id) > 0):
                raise self._error("Invalid custom emoji identifier specified")
        if (
            tag.name == "code"
            and parent is not None
            and parent.name == "pre"
            and parent.offset == tag.offset
        ):
            # Remember it: <pre><code class="language-x">…</code></pre> is one pre entity.
            parent.code_end, parent.code_language = self.utf16, tag.argument
            return
        if length <= 0:
            return
        entity: dict[str, Any] = {"offset": tag.offset, "length": length}
        if tag.name in _SIMPLE_ENTITY_TYPES:
            entity["type"] = _SIMPLE_ENTITY_TYPES[tag.name]
        elif tag.name == "a":
            url = tag.argument or "".join(self.pieces[tag.output_index :])
            if not url.strip():
                return
            entity.update(type="text_link", url=url)
        elif tag.name == "tg-emoji":
            entity.update(type="custom_emoji", custom_emoji_id=tag.argument)
        elif tag.name == "code":
            entity["type"] = "code"
        elif tag.name == "pre":
            entity["type"] = "pre"
            if tag.code_end == self.utf16:
                if tag.code_language:
                    entity["language"] = tag.code_language
            elif tag.code_end is not None and tag.code_end > tag.offset:
                # Lenient mode only (strict fails on the trailing text): a separate code entity.
                self.entities.append(
                    {"offset": tag.offset, "length": tag.code_end - tag.offset, "type": "code"}
                )
        elif tag.name == "blockquote":
            entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
        self.entities.append(entity)
