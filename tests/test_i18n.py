"""The bot in the reader's language: the catalogues are complete and keep every placeholder,
tag and command; the template is current; and through the fake Bot API a person is answered in
their Telegram language, can choose another with /language (or its buttons) and back, gets the
buttons of alerts and the menu in it, while another person keeps theirs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from bot.core.digest import render_digest
from bot.core.models import Alert, RuleMatch, Story
from bot.core.render import MAX_RULES_SHOWN, render_plain
from bot.telegram import i18n, texts
from tests.e2e_support import OTHER_USER, USER, MakeApp, alerts_to, item, running, seeded
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram
from tests.test_telegram_ux import buttons, latest, wait_text

SHIPPED = [code for code in i18n.LANGUAGES if code != i18n.SOURCE]


@pytest.mark.parametrize("language", SHIPPED)
def test_every_catalogue_translates_every_message(language: str) -> None:
    assert i18n.problems(language) == []
    assert len(i18n.catalogue(language)) == len({text for _, text in i18n.messages()})


def test_the_template_lists_every_message_of_the_bot() -> None:
    with (i18n.LOCALE_DIR / "newsbot.pot").open("rb") as f:
        shipped = [str(m.id) for m in read_po(f) if m.id]
    assert shipped == [str(m.id) for m in i18n.template() if m.id], (
        "bot/telegram/locale/newsbot.pot is stale: run python -m bot.telegram.i18n"
    )


def test_a_broken_catalogue_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with (i18n.LOCALE_DIR / "ru.po").open("rb") as f:
        catalog = read_po(f, locale="ru")
    # Drop one message, break the placeholder of another, the tags and commands of others.
    del catalog[texts.NO_RULES]
    catalog[texts.SUBSCRIBED].string = "✅ <b>{titel}</b>"
    catalog[texts.WELCOME].string = "Привет! /rules"
    catalog[texts.SEE_HELP].string = " Отправьте /помощь."
    with (tmp_path / "ru.po").open("wb") as f:
        write_po(f, catalog)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    found = "\n".join(i18n.problems("ru"))
    assert "NO_RULES is not translated" in found
    assert "SUBSCRIBED: the placeholders differ" in found
    assert "WELCOME: the HTML tags differ" in found
    assert "SEE_HELP: the /commands differ" in found


def test_languages_are_picked_from_codes() -> None:
    assert i18n.pick(None, "ru-RU") == "ru"
    assert i18n.pick("az", "ru") == "az"
    assert i18n.pick("de", "pt_BR", None) == "en"
    assert i18n.pick(None, "de", "tr") == "tr"


def _alert(delivery_id: int = 1, title: str = "Drones", rules: int = 1) -> Alert:
    story = Story(feed="news", key=str(delivery_id), title=title, link="https://x.example/1")
    matched = tuple(RuleMatch(f"rule-{n}", ("drone",), 0, f"Rule {n}") for n in range(rules))
    return Alert(delivery_id, "1001", story, matched, "News")


def test_alerts_and_digests_read_in_the_chat_language() -> None:
    ru = i18n.wording("ru")
    many = _alert(rules=MAX_RULES_SHOWN + 2)
    shown = render_plain(many, wording=ru)
    assert ru.more_rules.format(more=2) in shown, shown
    assert ru.untitled in render_plain(_alert(title=""), wording=ru)
    (part,) = render_digest([_alert(), _alert(2)], ru.digest_heading, UTC, "UTC", wording=ru)
    assert part.plain.splitlines()[0] == "📰 " + ru.digest_title.format(
        heading=ru.digest_heading, count="2", counter="", tz="UTC"
    )
    assert "Digest" not in part.plain and "stories" not in part.plain


async def test_people_are_answered_in_their_language_and_can_choose_another(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    ru, tr, az = (i18n.catalogue(code) for code in ("ru", "tr", "az"))
    fake.add_user(OTHER_USER, "Boris", language_code="ru")
    stories = [item(1, "x")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app()
    await app.store.subscribe(str(OTHER_USER), "drones", datetime.now(UTC))
    async with running(app):
        await seeded(app)
        fake.user_sends(OTHER_USER, "/help")
        fake.user_sends(USER, "/help")
        await fake.wait_for_async(lambda: len(fake.messages_to(OTHER_USER)) == 1, timeout=10)
        await fake.wait_for_async(lambda: len(fake.messages_to(USER)) == 1, timeout=10)
        # An alert to the Russian reader: its buttons are Russian.
        stories.append(item(2, "Bayraktar delivered"))
        feed_server.set_feed("/news.xml", rss(stories))
        await wait_text(fake, OTHER_USER, "Bayraktar delivered")
        labels = [label for label, _ in buttons(latest(fake, OTHER_USER, "Bayraktar"))]
        # /language tr, then /help in Turkish; /language with buttons: Azerbaijani.
        fake.user_sends(OTHER_USER, "/language tr")
        fake.user_sends(OTHER_USER, "/help")
        fake.user_sends(OTHER_USER, "/language de")
        fake.user_sends(OTHER_USER, "/language")
        await fake.wait_for_async(lambda: len(fake.messages_to(OTHER_USER)) == 6, timeout=10)
        chooser = fake.messages_to(OTHER_USER)[-1]
        fake.user_presses(OTHER_USER, chooser, "l:az")
        await fake.wait_for_async(lambda: len(fake.edits) == 1, timeout=10)
        fake.user_sends(OTHER_USER, "/language auto")
        fake.user_sends(OTHER_USER, "/settings")
        await fake.wait_for_async(lambda: len(fake.messages_to(OTHER_USER)) == 8, timeout=10)
        menu_ru = fake.commands_for(language_code="ru")
        menu_default = fake.commands_for()
    russian_help, _, set_tr, turkish_help, unknown, chooser_text, auto, settings = (
        m.text for m in fake.messages_to(OTHER_USER)
    )
    assert russian_help == ru[texts.HELP]
    assert fake.messages_to(USER)[0].text == texts.HELP, "the English reader keeps English"
    assert labels == [ru[texts.BUTTON_MUTE_24H], ru[texts.BUTTON_UNSUBSCRIBE]]
    assert set_tr == tr[texts.LANGUAGE_SET].format(name="Türkçe")
    assert turkish_help == tr[texts.HELP]
    known = ", ".join(f"<code>{c}</code>" for c in i18n.LANGUAGES)
    assert unknown == tr[texts.UNKNOWN_LANGUAGE].format(value="de", known=known)
    assert chooser_text == tr[texts.LANGUAGE_CURRENT].format(name="Türkçe", how="")
    assert [label for label, _ in buttons(fake.messages_to(OTHER_USER)[5])] == [
        "English",
        "Русский",
        "Türkçe",
        "Azərbaycanca",
        tr[texts.BUTTON_LANGUAGE_AUTO],
    ]
    assert fake.edits[0].text == az[texts.LANGUAGE_SET].format(name="Azərbaycanca")
    assert auto == ru[texts.LANGUAGE_AUTO], "back to the person's Telegram language"
    assert (
        ru[texts.SETTINGS_LANGUAGE].format(name="Русский", how=ru[texts.LANGUAGE_FROM_TELEGRAM])
        in settings
    )
    assert menu_ru is not None and menu_default is not None
    assert [c["description"] for c in menu_ru] == [ru[d] for _, d in texts.COMMANDS]
    assert [c["description"] for c in menu_default] == [d for _, d in texts.COMMANDS]
    prefs = (await app.store.chat_prefs([str(OTHER_USER)]))[str(OTHER_USER)]
    assert (prefs.language, prefs.user_language) == (None, "ru")
    assert not any("Bayraktar" in t for t in alerts_to(fake, USER))
    assert fake.rejected == []
