"""The bot's texts in the reader's language (edge: Babel): the message catalogues, which
language a chat reads, and the lookup every handler goes through.

The English texts of :mod:`bot.telegram.texts` are the message ids (gettext's convention); each
other language is one PO file in ``bot/telegram/locale/`` (``ru.po``, ``tr.po``, ``az.po``), read
once with Babel. ``newsbot.pot``, the template translators start from, is generated from
:mod:`bot.telegram.texts` (``python -m bot.telegram.i18n``) and a test fails when it is stale or
when a catalogue misses a message, drops a ``{placeholder}`` or changes the HTML tags.

The language of the message being written is a context variable, set per update from the chat's
choice (``/language``), else the sender's Telegram ``language_code``, else the configured
default; and set by the sender around each alert. :func:`_` looks a text up in it.
"""

from __future__ import annotations

import contextlib
import functools
import html
import re
import string
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot.core.digest import ChatPrefs
from bot.core.render import Wording
from bot.telegram import texts

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE = "en"
LANGUAGES: dict[str, str] = {
    "en": "English",
    "ru": "Русский",
    "tr": "Türkçe",
    "az": "Azərbaycanca",
}
"""The languages shipped, by code, each named in itself (as /language offers them)."""

_current: ContextVar[str] = ContextVar("newsbot_language", default=SOURCE)


def messages() -> list[tuple[str, str]]:
    """(where, English text) of every message to translate, in source order: each text
    constant of :mod:`bot.telegram.texts` and each command description."""
    out: list[tuple[str, str]] = []
    for name, value in vars(texts).items():
        if name.isupper() and isinstance(value, str):
            out.append((name, value))
        elif name.endswith("COMMANDS") and isinstance(value, list):
            out.extend((f"{name}.{command}", text) for command, text in value)
    return out


def template() -> Catalog:
    """The translation template, as ``newsbot.pot`` holds it."""
    catalog = Catalog(project="newsbot", fuzzy=False)
    for where, text in messages():
        catalog.add(text, auto_comments=[where])
    return catalog


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """English text -> its translation, for one shipped language (empty for English). Fuzzy
    or empty entries are left out: the English text stands in for them."""
    if language == SOURCE:
        return {}
    path = LOCALE_DIR / f"{language}.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.string, str) and m.string and not m.fuzzy
    }


def pick(*candidates: str | None) -> str:
    """The first candidate that names a shipped language (``pt-br`` counts as ``pt``), else
    English."""
    for code in candidates:
        if code:
            base = code.lower().replace("_", "-").split("-")[0]
            if base in LANGUAGES:
                return base
    return SOURCE


def language() -> str:
    """The language of the message being written."""
    return _current.get()


def use(code: str) -> None:
    """Write what follows, in this context, in ``code`` (a shipped language)."""
    _current.set(code if code in LANGUAGES else SOURCE)


@contextlib.contextmanager
def speaking(code: str) -> Iterator[None]:
    """Write in ``code`` within the block, then go back to what was before."""
    token = _current.set(code if code in LANGUAGES else SOURCE)
    try:
        yield
    finally:
        _current.reset(token)


def _(text: str) -> str:
    """``text`` (one of :mod:`bot.telegram.texts`) in the current language."""
    code = _current.get()
    if code == SOURCE:
        return text
    return catalogue(code).get(text, text)


@functools.cache
def wording(code: str) -> Wording:
    """The words of alerts and digests that are not the story's, in language ``code``."""
    with speaking(code):
        return Wording(
            untitled=_(texts.UNTITLED),
            more_rules=_(texts.MORE_RULES),
            one_more_rule=_(texts.ONE_MORE_RULE),
            digest_heading=_(texts.DIGEST_HEADING),
            digest_title=_(texts.DIGEST_TITLE),
            digest_title_one=_(texts.DIGEST_TITLE_ONE),
            digest_more=_(texts.DIGEST_MORE),
            digest_also=_(texts.DIGEST_ALSO),
            continued=_(texts.CONTINUED),
            also_reported=_(texts.ALSO_REPORTED),
            outlets_more=_(texts.OUTLETS_MORE),
            digest_outlets=_(texts.DIGEST_OUTLETS),
        )


def speech(default: str) -> Callable[[ChatPrefs], tuple[str | None, Wording]]:
    """For the sender: a chat's language (its /language, else its person's Telegram
    language, else ``default``) and the alert words in it."""

    def of(prefs: ChatPrefs) -> tuple[str | None, Wording]:
        code = pick(prefs.language, prefs.user_language, default)
        return code, wording(code)

    return of


def rule_gone(rule_id: str, title: str, language: str) -> str:
    """The notice (Telegram HTML) that a followed topic is gone, in ``language``."""
    with speaking(language):
        return _(texts.RULE_REMOVED).format(title=html.escape(title), id=html.escape(rule_id))


def commands(admin: bool = False) -> list[tuple[str, str]]:
    """The command menu in the current language."""
    source = texts.ADMIN_COMMANDS if admin else texts.COMMANDS
    return [(command, _(text)) for command, text in source]


_TAG = re.compile(r"</?[a-z][a-z-]*[^>]*>")
_COMMAND = re.compile(r"(?<![\w/<])/[a-z]+")


def _fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def problems(language: str) -> list[str]:
    """What is wrong with one catalogue: a message missing or left untranslated, a
    translation whose ``{placeholders}``, HTML tags or /commands differ from the English, a
    message the texts no longer have. Empty when the catalogue is complete."""
    path = LOCALE_DIR / f"{language}.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    found = {str(m.id): m for m in catalog if m.id}
    out: list[str] = []
    wanted = {text: where for where, text in messages()}
    for text, where in wanted.items():
        message = found.get(text)
        if message is None or not message.string or message.fuzzy:
            out.append(f"{path.name}: {where} is not translated: {text!r}")
            continue
        translated = str(message.string)
        checks: list[tuple[str, Callable[[str], list[str]]]] = [("placeholders", _fields)]
        if "COMMANDS." not in where:  # menu descriptions are plain text: <id> may be translated
            checks.append(("HTML tags", _TAG.findall))
        for what, pick_out in checks:
            if sorted(pick_out(text)) != sorted(pick_out(translated)):
                out.append(
                    f"{path.name}: {where}: the {what} differ: "
                    f"{sorted(pick_out(text))} vs {sorted(pick_out(translated))}"
                )
        if sorted(_COMMAND.findall(text)) != sorted(_COMMAND.findall(translated)):
            out.append(f"{path.name}: {where}: the /commands differ: {translated!r}")
    out.extend(
        f"{path.name}: {text!r} is no longer a text of the bot"
        for text in found
        if text not in wanted
    )
    return out


def write_template(path: Path = LOCALE_DIR / "newsbot.pot") -> None:
    with path.open("wb") as f:
        write_po(f, template(), width=100, omit_header=False, sort_output=False)


if __name__ == "__main__":  # python -m bot.telegram.i18n: regenerate newsbot.pot
    write_template()
