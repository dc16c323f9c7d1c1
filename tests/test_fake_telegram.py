"""Tests of the fake Telegram Bot API server and of the Telegram HTML validator.

They drive the fake with the real python-telegram-bot (a ``Bot``, and an ``Application``
that long-polls), plus raw HTTP where the wire format itself is the point.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fakes.telegram_api import FakeTelegram, FloodLimits
from tests.fakes.telegram_html import (
    TelegramHTMLError,
    parse_telegram_html,
    parse_telegram_html_entities,
    telegram_length,
)

ALICE = 1001
BOB = 1002
GROUP = -4001
SUPERGROUP = -1004001
CHANNEL = -1009001


def _fake_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("FakeTelegram")]


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        server.add_user(ALICE, "Alice", "alice")
        server.add_user(BOB, "Bob")
        yield server
    assert _fake_threads() == []
    assert server.internal_errors == []


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as client:
        yield client


@pytest.fixture
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns when reading RetryAfter.retry_after as int; opt in to timedelta."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def raw_call(
    fake: FakeTelegram,
    method: str,
    *,
    token: str | None = None,
    form: dict[str, str] | None = None,
    json_body: dict[str, Any] | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, Any]]:
    """POST to the fake with urllib; returns (HTTP status, decoded JSON); status 0: hung up."""
    if json_body is not None:
        data, content_type = json.dumps(json_body).encode(), "application/json"
    else:
        data, content_type = urlencode(form or {}).encode(), "application/x-www-form-urlencoded"
    request = urllib.request.Request(
        f"{fake.base_url}{token if token is not None else fake.token}/{method}",
        data=data,
        headers={"Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read())
        finally:
            error.close()
    except (urllib.error.URLError, ConnectionError, http.client.HTTPException):
        return 0, {}


def retry_seconds(error: RetryAfter) -> float:
    period = error.retry_after
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


# -- PTB's Bot against the fake --------------------------------------------------------------


@pytest.mark.asyncio
async def test_bot_initializes_and_sends_an_html_message(fake: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Open", callback_data="open:1")]])

    message = await bot.send_message(
        ALICE,
        '  <b>Breaking</b> &amp; <a href="https://example.com/a?x=1&amp;y=2">news</a> 😀\n',
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        disable_notification=True,
    )

    assert bot.username == "newsbot_test_bot"
    assert message.text == "Breaking & news 😀"
    assert message.chat.id == ALICE
    assert message.from_user is not None
    assert message.from_user.id == fake.bot_id
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bold", 0, 8),
        ("text_link", 11, 4),
    ]
    assert message.entities[1].url == "https://example.com/a?x=1&y=2"
    assert message.reply_markup == keyboard
    [sent] = fake.messages_to(ALICE)
    assert sent.message_id == message.message_id
    assert sent.parse_mode == "HTML"
    assert sent.plain_text == "Breaking & news 😀"
    assert sent.text.startswith("  <b>Breaking</b>")
    assert sent.disable_notification is True
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "Open", "callback_data": "open:1"}]]}
    assert [r.method for r in fake.requests] == ["getMe", "sendMessage"]
    assert all(r.status == 200 for r in fake.requests)


@pytest.mark.asyncio
@pytest.mark.usefixtures("timedelta_periods")
async def test_injected_retry_after_raises_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", kind=("retry_after", 7))

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ALICE, "hello")
    await bot.send_message(ALICE, "hello again")

    assert retry_seconds(caught.value) == 7
    assert [m.plain_text for m in fake.sent] == ["hello again"]
    [rejection] = fake.rejected
    assert (rejection.error_code, rejection.chat_id) == (429, ALICE)
    assert rejection.description == "Too Many Requests: retry after 7"


@pytest.mark.asyncio
async def test_forbidden_blocked_kicked_and_never_started(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP, "Readers", members=[ALICE, 2001])
    fake.fail_next(kind="forbidden")
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(ALICE, "injected")

    fake.block(ALICE)
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(ALICE, "blocked")
    fake.unblock(ALICE)
    await bot.send_message(ALICE, "welcome back")

    fake.remove_bot_from(GROUP)
    with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
        await bot.send_message(GROUP, "anyone?")
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(2001, "known from the group, never started the bot")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(99999, "nobody")
    assert [m.plain_text for m in fake.sent] == ["welcome back"]


@pytest.mark.asyncio
async def test_migration_raises_chat_migrated_and_sticks(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP, "Readers", admins=[ALICE], members=[BOB])
    fake.fail_next(chat_id=GROUP, kind=("migrate", SUPERGROUP))

    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(GROUP, "hello")
    moved = await bot.send_message(SUPERGROUP, "hello again")
    with pytest.raises(ChatMigrated):
        await bot.send_message(GROUP, "the old id keeps failing")
    admin = await bot.get_chat_member(SUPERGROUP, ALICE)

    assert caught.value.new_chat_id == SUPERGROUP
    assert moved.chat.type == "supergroup"
    assert moved.chat.title == "Readers"
    assert admin.status == ChatMemberStatus.ADMINISTRATOR


@pytest.mark.asyncio
async def test_invalid_messages_raise_bad_request(fake: FakeTelegram, bot: Bot) -> None:
    cases = [
        ("<b>unclosed", "can't parse entities: can't find end tag"),
        ("AT&T", "can't parse entities: unescaped '&'"),
        ("<br>", 'unsupported start tag "br"'),
        ("   ", "message text is empty"),
        ("😀" * 2049, "message is too long"),  # 2049 characters but 4098 UTF-16 units
    ]
    for text, reason in cases:
        with pytest.raises(BadRequest) as caught:
            await bot.send_message(ALICE, text, parse_mode=ParseMode.HTML)
        assert reason in caught.value.message.lower(), text

    too_much_data = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(ALICE, "buttons", reply_markup=too_much_data)
    fake.fail_next(kind=("bad_request", "message thread not found"))
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(ALICE, "thread")

    longest = await bot.send_message(ALICE, "😀" * 2048)
    assert longest.text is not None
    assert telegram_length(longest.text) == 4096
    assert [r.description for r in fake.rejected][:2] == [
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
        "Bad Request: can't parse entities: Unescaped '&' at byte offset 2: only &lt; &gt; "
        "&amp; &quot; and numeric character references are recognised, write &amp;",
    ]
    assert len(fake.sent) == 1


@pytest.mark.asyncio
async def test_server_errors_drops_and_delays(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next(kind="server_error")
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(ALICE, "500")
    fake.fail_next(kind="bad_gateway")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(ALICE, "502")
    fake.fail_next(kind="drop")
    with pytest.raises(NetworkError):
        await bot.send_message(ALICE, "dropped")
    fake.fail_next("getMe", kind=("delay", 0.3))
    started = time.monotonic()
    me = await bot.get_me()

    assert time.monotonic() - started >= 0.3
    assert me.username == fake.bot_username
    assert [r.status for r in fake.calls("sendMessage")] == [500, 502, 0]
    assert fake.sent == []


@pytest.mark.asyncio
async def test_a_lost_answer_fault_sends_the_message_and_drops_the_answer(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.fail_next(kind="lost")
    with pytest.raises(NetworkError):
        await bot.send_message(ALICE, "sent, answer lost")
    await bot.send_message(ALICE, "next")
    assert [m.text for m in fake.messages_to(ALICE)] == ["sent, answer lost", "next"]


@pytest.mark.asyncio
async def test_faults_can_target_one_chat_several_times(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next(chat_id=BOB, times=2, kind="server_error")

    await bot.send_message(ALICE, "a1")
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(BOB, "b")
    await bot.send_message(BOB, "b3")
    await bot.send_message(ALICE, "a2")

    assert [(m.chat_id, m.plain_text) for m in fake.sent] == [
        (ALICE, "a1"),
        (BOB, "b3"),
        (ALICE, "a2"),
    ]


@pytest.mark.asyncio
async def test_edit_delete_and_callback_rules(fake: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    message = await bot.send_message(ALICE, "first", reply_markup=keyboard)

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("first", ALICE, message.message_id, reply_markup=keyboard)
    edited = await bot.edit_message_text(
        "<i>second</i>", ALICE, message.message_id, parse_mode=ParseMode.HTML
    )
    with pytest.raises(ValueError, match="no button"):
        fake.user_presses(ALICE, (ALICE, message.message_id), "go")  # the edit removed it
    assert await bot.delete_message(ALICE, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(ALICE, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("third", ALICE, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("12345")

    assert isinstance(edited, Message)
    assert edited.text == "second"
    assert edited.reply_markup is None
    assert edited.edit_date is not None
    [edit] = fake.edits
    assert (edit.chat_id, edit.message_id, edit.plain_text) == (ALICE, message.message_id, "second")
    assert fake.deleted == [(ALICE, message.message_id)]


@pytest.mark.asyncio
async def test_chat_registry_and_bot_settings(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(SUPERGROUP, "Team", supergroup=True, creator=BOB, admins=[ALICE], members=[7])
    fake.add_channel(CHANNEL, "@newsdesk", "News desk", admins=[ALICE])
    fake.add_channel(-1009002, "silent", bot_is_admin=False)
    fake.add_user(8, "Outsider")

    statuses = [(await bot.get_chat_member(SUPERGROUP, user)).status for user in (BOB, ALICE, 7, 8)]
    with pytest.raises(BadRequest, match=r"(?i)user not found"):
        await bot.get_chat_member(SUPERGROUP, 424242)  # never seen by the bot
    admins = await bot.get_chat_administrators(SUPERGROUP)
    channel = await bot.get_chat("@newsdesk")
    post = await bot.send_message("@newsdesk", "Good morning")
    with pytest.raises(Forbidden, match="not a member of the channel"):
        await bot.send_message("@silent", "hello?")
    await bot.set_my_commands([("start", "Start"), ("topics", "Your topics")])
    commands = await bot.get_my_commands()
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Start", "Capitals are not allowed")])
    await bot.set_my_description("Watches the news for you")
    assert await bot.send_chat_action(ALICE, "typing")
    assert await bot.leave_chat(SUPERGROUP)

    assert statuses == ["creator", "administrator", "member", "left"]
    assert sorted(a.user.id for a in admins) == [ALICE, BOB]
    assert (channel.id, channel.type, channel.title) == (CHANNEL, "channel", "News desk")
    assert post.chat.id == CHANNEL
    assert post.sender_chat is not None
    assert post.sender_chat.id == CHANNEL
    assert post.from_user is None
    assert [(c.command, c.description) for c in commands] == [
        ("start", "Start"),
        ("topics", "Your topics"),
    ]
    assert fake.commands == [
        {"command": "start", "description": "Start"},
        {"command": "topics", "description": "Your topics"},
    ]
    assert fake.description == "Watches the news for you"
    with pytest.raises(Forbidden, match="not a member of the supergroup"):
        await bot.send_message(SUPERGROUP, "after leaving")


# -- getUpdates --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_get_updates_queue_offsets_and_long_polling(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=10) == ()
    waited = time.monotonic() - started

    first = fake.user_sends(ALICE, "/start@newsbot_test_bot now")
    fake.user_sends(BOB, "hello")
    started = time.monotonic()
    batch = await bot.get_updates(timeout=10, limit=1)
    immediate = time.monotonic() - started
    again = await bot.get_updates(timeout=0)
    rest = await bot.get_updates(offset=batch[0].update_id + 1, timeout=0)
    drained = await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0)

    assert 0.4 <= waited < 2.0  # capped by max_long_poll (0.5 s), not the asked 10 s
    assert immediate < 0.4
    message = batch[0].message
    assert message is not None
    assert message.message_id == first
    assert message.text == "/start@newsbot_test_bot now"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bot_command", 0, 23)]
    assert [u.update_id for u in again] == [batch[0].update_id, batch[0].update_id + 1]
    assert [u.message.text for u in rest if u.message] == ["hello"]
    assert drained == ()
    assert fake.pending_updates == 0


@pytest.mark.asyncio
async def test_long_poll_wakes_up_when_a_user_writes() -> None:
    with FakeTelegram(max_long_poll=5) as slow:
        slow.add_user(ALICE)
        async with Bot(slow.token, base_url=slow.base_url) as client:
            timer = threading.Timer(0.2, slow.user_sends, args=(ALICE, "hi"))
            timer.start()
            started = time.monotonic()
            updates = await client.get_updates(timeout=5)
            elapsed = time.monotonic() - started
            timer.join()
    assert 0.15 <= elapsed < 2.0
    assert [u.message.text for u in updates if u.message] == ["hi"]


@pytest.mark.asyncio
async def test_group_privacy_mode_filters_messages(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP, "Readers", members=[ALICE])
    fake.user_sends(ALICE, "just chatting", chat_id=GROUP)
    fake.user_sends(ALICE, "/topics", chat_id=GROUP)
    fake.user_sends(ALICE, "/help@some_other_bot", chat_id=GROUP)
    fake.user_sends(ALICE, "hey @newsbot_test_bot", chat_id=GROUP)

    updates = await bot.get_updates()

    texts = [u.message.text for u in updates if u.message]
    assert texts == ["/topics", "hey @newsbot_test_bot"]
    assert all(u.effective_chat is not None and u.effective_chat.id == GROUP for u in updates)


def test_a_newer_get_updates_ends_an_older_one_with_409() -> None:
    with FakeTelegram(max_long_poll=5) as fake:
        results: list[tuple[int, float]] = []

        def long_poll() -> None:
            started = time.monotonic()
            status, _ = raw_call(fake, "getUpdates", form={"timeout": "5"})
            results.append((status, time.monotonic() - started))

        poller = threading.Thread(target=long_poll)
        poller.start()
        fake.wait_for(lambda: len(fake.calls("getUpdates")) == 1)
        status, body = raw_call(fake, "getUpdates", form={"timeout": "0"})
        poller.join(3)

    assert (status, body) == (200, {"ok": True, "result": []})
    [(old_status, old_elapsed)] = results
    assert old_status == 409
    assert old_elapsed < 2.0


# -- PTB's Application (long polling) against the fake ------------------------------------------


@pytest.mark.asyncio
async def test_application_handles_commands_presses_and_membership(fake: FakeTelegram) -> None:
    member_statuses: list[str] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("AI", callback_data="sub:ai")]])
        await update.effective_message.reply_html("<b>Welcome!</b>", reply_markup=keyboard)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        assert query.data is not None
        await query.answer("Subscribed")
        await query.edit_message_text(
            f"Subscribed to <i>{query.data.removeprefix('sub:')}</i>", parse_mode=ParseMode.HTML
        )

    async def membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.my_chat_member is not None
        member_statuses.append(update.my_chat_member.new_chat_member.status)

    application = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(pressed, pattern=r"^sub:"))
    application.add_handler(ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        try:
            fake.user_sends(ALICE, "/start")
            [welcome] = await fake.wait_for_messages_async(ALICE, 1)
            query_id = fake.user_presses(ALICE, welcome, "sub:ai")
            await fake.wait_for_async(lambda: bool(fake.edits and fake.callback_answers))
            fake.bot_status_changed(ALICE, "kicked")
            await fake.wait_for_async(lambda: member_statuses == ["kicked"])
        finally:
            await application.updater.stop()
            await application.stop()

    assert welcome.plain_text == "Welcome!"
    assert welcome.parse_mode == "HTML"
    [answer] = fake.callback_answers
    assert (answer.callback_query_id, answer.text, answer.data) == (
        query_id,
        "Subscribed",
        "sub:ai",
    )
    [edit] = fake.edits
    assert (edit.message_id, edit.plain_text) == (welcome.message_id, "Subscribed to ai")
    stored = fake.get_message(ALICE, welcome.message_id)
    assert stored is not None
    assert stored["text"] == "Subscribed to ai"
    assert {"deleteWebhook", "getUpdates"} <= {r.method for r in fake.requests}
    assert fake.pending_updates == 0  # PTB confirmed everything when it stopped


# -- flood limits and chaos --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_flood_limit_violations_are_counted(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP, "Readers")
    for n in range(3):
        await bot.send_message(ALICE, f"private {n}")
    for n in range(21):
        await bot.send_message(GROUP, f"group {n}")
    group_phase = fake.limit_violations()
    users = [fake.add_user(user) for user in range(2000, 2032)]
    await asyncio.gather(*(bot.send_message(user, "broadcast") for user in users))

    violations = fake.limit_violations()

    assert group_phase == {"per_chat": 2, "per_group": 1, "global": 0}
    assert violations["per_chat"] == 2
    assert violations["global"] >= 2  # 32 concurrent sends: the 31st and 32nd break 30/s
    assert len(fake.sent) == 56


@pytest.mark.asyncio
@pytest.mark.usefixtures("timedelta_periods")
async def test_enforced_limits_answer_429() -> None:
    with FakeTelegram(enforce_limits=True, limits=FloodLimits(group_max=2)) as strict:
        strict.add_user(ALICE)
        strict.add_group(GROUP, "Readers")
        async with Bot(strict.token, base_url=strict.base_url) as client:
            await client.send_message(ALICE, "one")
            with pytest.raises(RetryAfter) as private:
                await client.send_message(ALICE, "two")
            await client.send_message(GROUP, "g1")
            await client.send_message(GROUP, "g2")
            with pytest.raises(RetryAfter) as group:
                await client.send_message(GROUP, "g3")

    assert retry_seconds(private.value) == 1
    assert 59 <= retry_seconds(group.value) <= 60
    assert [m.plain_text for m in strict.sent] == ["one", "g1", "g2"]
    assert strict.limit_violations() == {"per_chat": 1, "per_group": 1, "global": 0}


def test_chaos_is_reproducible_from_its_seed() -> None:
    def outcomes(seed: int) -> list[int]:
        with FakeTelegram() as fake:
            fake.add_user(ALICE)
            fake.chaos(seed, p_retry_after=0.2, p_server_error=0.2, p_drop=0.1)
            return [
                raw_call(fake, "sendMessage", form={"chat_id": str(ALICE), "text": "x"})[0]
                for _ in range(30)
            ]

    first, second = outcomes(7), outcomes(7)

    assert first == second
    assert set(first) == {200, 429, 500, 0}
    assert outcomes(8) != first


# -- the wire protocol -------------------------------------------------------------------------


def test_wire_protocol_details(fake: FakeTelegram) -> None:
    fake.add_channel(CHANNEL, "newsdesk")

    wrong_token = raw_call(fake, "getMe", token="654321:WRONG")
    malformed_token = raw_call(fake, "getMe", token="not-a-token")
    unknown_method = raw_call(fake, "sendTelepathy")
    lower_case_json = raw_call(fake, "sendmessage", json_body={"chat_id": ALICE, "text": "123"})
    form_with_json = raw_call(
        fake,
        "sendMessage",
        form={
            "chat_id": "@newsdesk",
            "text": "true",
            "reply_markup": json.dumps({"inline_keyboard": [[{"text": "a", "url": "https://a"}]]}),
            "disable_notification": "true",
            "link_preview_options": json.dumps({"is_disabled": True}),
        },
    )

    assert wrong_token == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert malformed_token == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert unknown_method == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert lower_case_json[0] == 200
    assert lower_case_json[1]["result"]["text"] == "123"  # never JSON-decoded into a number
    assert form_with_json[0] == 200
    channel_post = fake.messages_to(CHANNEL)[0]
    assert channel_post.plain_text == "true"
    assert channel_post.disable_notification is True
    assert channel_post.link_preview_options == {"is_disabled": True}
    assert channel_post.reply_markup == {"inline_keyboard": [[{"text": "a", "url": "https://a"}]]}


@pytest.mark.asyncio
async def test_ptb_maps_a_wrong_token_to_invalid_token(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        await Bot("654321:WRONG", base_url=fake.base_url).initialize()


def test_stop_is_prompt_with_an_open_long_poll_and_keep_alive_connection() -> None:
    fake = FakeTelegram(max_long_poll=30).start()
    fake.add_user(ALICE)
    idle = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    idle.request("POST", f"/bot{fake.token}/getMe")
    assert idle.getresponse().read()  # the connection now idles in keep-alive
    poller = threading.Thread(
        target=raw_call,
        args=(fake, "getUpdates"),
        kwargs={"form": {"timeout": "30"}, "timeout": 30},
    )
    poller.start()
    fake.wait_for(lambda: len(fake.calls("getUpdates")) == 1)

    started = time.monotonic()
    fake.stop()
    elapsed = time.monotonic() - started
    poller.join(2)
    idle.close()

    assert elapsed < 1.0
    assert not poller.is_alive()
    assert _fake_threads() == []


def test_wait_for_reports_what_it_waited_for(fake: FakeTelegram) -> None:
    with pytest.raises(AssertionError, match="3 message\\(s\\) to chat 1001"):
        fake.wait_for_messages(ALICE, 3, timeout=0.05)


@pytest.mark.asyncio
async def test_blocking_wait_for_refuses_to_freeze_the_event_loop(fake: FakeTelegram) -> None:
    with pytest.raises(RuntimeError, match="wait_for_async"):
        fake.wait_for(lambda: True)


# -- the HTML validator ------------------------------------------------------------------------

VALID_HTML = [
    ("plain text", "plain text"),
    ("<b>bold</b> <strong>strong</strong>", "bold strong"),
    ("<i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>", "ieunskd"),
    ('<span class="tg-spoiler">x</span> <tg-spoiler>y</tg-spoiler>', "x y"),
    ('<a href="https://example.com/?a=1&amp;b=2">link</a>', "link"),
    ('<pre><code class="language-python">print(1 &lt; 2)</code></pre>', "print(1 < 2)"),
    ("<pre>raw   text</pre>", "raw   text"),
    ("<code>x &amp;&amp; y</code>", "x && y"),
    ("<blockquote expandable>quote</blockquote>", "quote"),
    ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
    ("&lt;tag&gt; &quot;q&quot; &#65;&#x1F600;", '<tag> "q" A😀'),
    ("<B>upper-case tags</B>", "upper-case tags"),
    ("<b>bold <i>italic <u>both</u></i></b>", "bold italic both"),
    ('<a href="https://x.org"><b>bold link</b></a>', "bold link"),
    ("<b>a</b >", "a"),
    ("שלום <b>עולם</b>", "שלום עולם"),
]

INVALID_HTML = [
    ("Tom & Jerry", "Unescaped '&'"),
    ("a < b", 'Unsupported start tag ""'),
    ("1 > 0", "Unescaped '>'"),
    ("<br>", 'Unsupported start tag "br"'),
    ("<p>paragraph</p>", 'Unsupported start tag "p"'),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<a>no href</a>", 'must have a non-empty "href"'),
    ('<span class="spoiler">x</span>', 'Tag "span" must have class "tg-spoiler"'),
    ('<a href="https://a"><a href="https://b">x</a></a>', "<a> can't contain"),
    ("<code><b>x</b></code>", "<code> can't contain"),
    ("<pre><b>x</b></pre>", "<pre> may only contain"),
    ('<pre><code class="language-py">x</code>y</pre>', "Text after <code>"),
    ('<b class="x">y</b>', 'Unsupported attribute "class"'),
    ("&nbsp;", "Unescaped '&'"),
    ("&amp", "must end with ';'"),
    ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier"),
    ("<blockquote><blockquote>x</blockquote></blockquote>", "can't be nested"),
    ("<a href=https://x>y</a>", "Unexpected end of name token"),
    ("<b", "Unclosed start tag at byte offset 0"),
    ("&#xD83D;", "unmatched surrogate"),
    ("привет <br>", "at byte offset 13"),  # offsets count UTF-8 bytes, like Telegram
]


@pytest.mark.parametrize(("html", "plain"), VALID_HTML)
def test_valid_telegram_html(html: str, plain: str) -> None:
    assert parse_telegram_html(html) == plain


@pytest.mark.parametrize(("html", "reason"), INVALID_HTML)
def test_invalid_telegram_html(html: str, reason: str) -> None:
    with pytest.raises(TelegramHTMLError) as caught:
        parse_telegram_html(html)
    assert reason in str(caught.value)


def test_html_entities_use_utf16_offsets() -> None:
    parsed = parse_telegram_html_entities(
        '😀 <b>bold</b> <pre><code class="language-go">x</code></pre> <blockquote expandable>'
        'q</blockquote> <a href="https://e.com">e</a>'
    )

    assert parsed.text == "😀 bold x q e"
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "pre", "offset": 8, "length": 1, "language": "go"},
        {"type": "expandable_blockquote", "offset": 10, "length": 1},
        {"type": "text_link", "offset": 12, "length": 1, "url": "https://e.com"},
    ]


def test_lenient_mode_accepts_what_telegram_tolerates() -> None:
    assert (
        parse_telegram_html("Tom & Jerry > cats &copy", strict=False) == "Tom & Jerry > cats &copy"
    )
    assert parse_telegram_html("&lt&gt", strict=False) == "<>"
    assert parse_telegram_html('<b title="ignored">x</>', strict=False) == "x"
    assert parse_telegram_html_entities("<a>https://x.org</a>", strict=False).entities == [
        {"type": "text_link", "offset": 0, "length": 13, "url": "https://x.org"}
    ]
    with pytest.raises(TelegramHTMLError, match="Unsupported start tag"):
        parse_telegram_html("a < b", strict=False)


@pytest.mark.parametrize(
    ("text", "units"),
    [("abc", 3), ("😀", 2), ("שלום", 4), ("e\u0301", 2), ("👨‍👩‍👧", 8), ("", 0)],
)
def test_telegram_length_counts_utf16_code_units(text: str, units: int) -> None:
    assert telegram_length(text) == units
