"""A loopback fake of the Telegram Bot API for end-to-end and reliability tests.

:class:`FakeTelegram` runs a :class:`http.server.ThreadingHTTPServer` on ``127.0.0.1`` (an
ephemeral port) in a daemon thread and speaks the Bot API's JSON protocol closely enough that
python-telegram-bot works against it unmodified::

    with FakeTelegram() as fake:
        alice = fake.add_user(1001, "Alice")
        application = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
        ...  # start it, then act as Alice:
        fake.user_sends(alice, "/start")
        [reply] = await fake.wait_for_messages_async(alice, 1)

How it mirrors the real server:

* URLs are ``/bot<token>/<method>`` (PTB appends the token to ``base_url`` and then
  ``/<method>``); method names are case-insensitive. A wrong token answers 401, a malformed
  path or unknown method 404, like api.telegram.org.
* Parameters come form-urlencoded (PTB: strings as-is, everything else JSON-encoded), as a
  JSON body or in the query string; each is decoded by what the parameter is
  (``reply_markup`` is JSON, ``chat_id`` an int or ``"@username"``, ...), never by how it looks,
  so a text of ``"123"`` stays a string.
* Answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ...,
  "description": ..., "parameters": {...}}`` with the matching HTTP status, which is what PTB
  maps to its exceptions (it relies on the status, then on ``parameters.retry_after`` and
  ``parameters.migrate_to_chat_id``).
* Sent texts are checked like Telegram does: HTML through :mod:`tests.fakes.telegram_html`,
  leading/trailing whitespace trimmed, at most 4096 UTF-16 code units, not empty; inline
  keyboards need an action per button and ``callback_data`` of at most 64 bytes.
* ``getUpdates`` long-polls with a :class:`threading.Condition`; updates stay queued until
  confirmed with ``offset``; a newer ``getUpdates`` ends an older one with 409 Conflict.
* Group messages obey privacy mode; basic groups can migrate to supergroups; users who never
  started the bot cannot be messaged; channels need the bot to be an administrator.

Acting as users: :meth:`FakeTelegram.user_sends`, :meth:`FakeTelegram.user_presses`,
:meth:`FakeTelegram.bot_status_changed`, :meth:`FakeTelegram.bot_added_to_group`.

Faults: :meth:`FakeTelegram.fail_next` (per method, optionally per chat), :meth:`block`,
:meth:`remove_bot_from`, seeded :meth:`chaos` for ``sendMessage``, and flood-limit accounting
(:meth:`limit_violations`, optionally enforced with 429s).

Inspection: :attr:`sent`, :meth:`messages_to`, :attr:`requests`, :attr:`rejected`,
:attr:`edits`, :attr:`callback_answers`, :attr:`commands`, and waiting helpers. The blocking
:meth:`wait_for` refuses to run inside an event loop (it would freeze the bot under test); use
the ``*_async`` twins there.

Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import random
import re
import socket
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, TypeAlias
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.telegram_html import (
    TelegramHTMLError,
    parse_telegram_html_entities,
    telegram_length,
)

__all__ = [
    "CallbackAnswer",
    "EditRecord",
    "FakeTelegram",
    "Fault",
    "FaultKind",
    "FaultSpec",
    "FloodLimits",
    "RecordedRequest",
    "RejectedSend",
    "SentMessage",
]

JSONDict: TypeAlias = dict[str, Any]
ChatStatus: TypeAlias = Literal["creator", "administrator", "member", "left", "kicked"]
FaultKind: TypeAlias = Literal[
    "retry_after", "forbidden", "bad_request", "migrate", "server_error", "bad_gateway", "drop",
    "delay", "hang", "lost",
]  # fmt: skip

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
GET_UPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post",
        "business_connection", "business_message", "edited_business_message",
        "deleted_business_messages", "inline_query", "chosen_inline_result", "callback_query",
        "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer",
        "my_chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
    }
)  # fmt: skip
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip

# How form values are decoded, by parameter name (the real server knows each method's types).
_CHAT_ID_PARAMS = frozenset({"chat_id", "from_chat_id"})
_INT_PARAMS = frozenset(
    {"message_id", "offset", "limit", "message_thread_id", "user_id", "cache_time",
     "reply_to_message_id", "until_date"}
)  # fmt: skip
_FLOAT_PARAMS = frozenset({"timeout"})
_BOOL_PARAMS = frozenset(
    {"disable_notification", "protect_content", "show_alert", "drop_pending_updates",
     "allow_sending_without_reply", "disable_web_page_preview", "allow_paid_broadcast",
     "revoke_messages", "only_if_banned"}
)  # fmt: skip
_JSON_PARAMS = frozenset(
    {"reply_markup", "entities", "link_preview_options", "reply_parameters", "commands",
     "scope", "allowed_updates", "caption_entities", "message_ids"}
)  # fmt: skip
_TRUE_STRINGS = frozenset({"true", "1", "yes", "on"})
_FALSE_STRINGS = frozenset({"false", "0", "no", "off", ""})

_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_PATH_RE = re.compile(r"/bot(?P<token>[^/]*)/(?P<method>[A-Za-z0-9_]+)/?")
_COMMAND_RE = re.compile(r"/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]{3,32}))?")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_INLINE_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip


# -- public records ----------------------------------------------------------------------


@dataclass(frozen=True)
class SentMessage:
    """A message the bot sent successfully (``sendMessage`` that answered ``ok``)."""

    chat_id: int
    message_id: int
    text: str  # as sent, markup included
    parse_mode: str | None
    plain_text: str  # what the user sees: entities parsed, whitespace trimmed
    reply_markup: JSONDict | None
    disable_notification: bool
    link_preview_options: JSONDict | None
    message_thread_id: int | None
    time: float  # time.monotonic()
    entities: list[JSONDict] = field(default_factory=list)
    reply_to_message_id: int | None = None


@dataclass
class RecordedRequest:
    """One HTTP call; ``status`` is ``None`` while in flight and ``0`` if the fake hung up."""

    method: str
    params: JSONDict
    time: float
    status: int | None = None


@dataclass(frozen=True)
class RejectedSend:
    """A ``sendMessage``/``editMessage*`` that failed, with Telegram's reason."""

    method: str
    chat_id: int | str | None
    text: str | None
    error_code: int  # 0 for a dropped connection
    description: str
    time: float


@dataclass(frozen=True)
class EditRecord:
    """A successful ``editMessageText`` / ``editMessageReplyMarkup``."""

    method: str
    chat_id: int
    message_id: int
    text: str | None
    parse_mode: str | None
    plain_text: str | None
    reply_markup: JSONDict | None
    time: float


@dataclass(frozen=True)
class CallbackAnswer:
    """An ``answerCallbackQuery`` for a press made with :meth:`FakeTelegram.user_presses`."""

    callback_query_id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    time: float


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's documented broadcast limits, as counted by :meth:`limit_violations`.

    A send is a violation when it comes less than ``private_min_interval`` seconds after the
    previous one to the same private chat (Telegram: about one per second; the 0.1 s slack
    absorbs scheduling jitter), when a group/supergroup/channel already had ``group_max``
    sends in the last ``group_window`` seconds, or when ``global_max`` sends already went out
    in the last ``global_window`` seconds.
    """

    private_min_interval: float = 0.9
    group_window: float = 60.0
    group_max: int = 20
    global_window: float = 1.0
    global_max: int = 30


@dataclass(frozen=True)
class Fault:
    """One injected failure; see :meth:`FakeTelegram.fail_next` for what each kind answers."""

    kind: FaultKind
    value: float | str | None = None

    @classmethod
    def of(cls, spec: FaultSpec) -> Fault:
        """Build from the short forms ``"forbidden"`` or ``("retry_after", 5)`` etc."""
        if isinstance(spec, Fault):
            return spec
        if isinstance(spec, str):
            if spec not in ("forbidden", "server_error", "bad_gateway", "drop", "lost"):
                raise ValueError(f"fault {spec!r} needs a value, e.g. ({spec!r}, ...)")
            return cls(spec)
        kind, value = spec
        if kind in ("retry_after", "delay", "hang") and isinstance(value, int | float):
            return cls(kind, value)
        if kind == "migrate" and isinstance(value, int):
            return cls(kind, value)
        if kind == "bad_request" and isinstance(value, str):
            return cls(kind, value)
        raise ValueError(f"not a fault: {spec!r}")


FaultSpec: TypeAlias = (
    Fault
    | Literal["forbidden", "server_error", "bad_gateway", "drop", "lost"]
    | tuple[Literal["retry_after", "delay", "hang"], float]
    | tuple[Literal["bad_request"], str]
    | tuple[Literal["migrate"], int]
)


# -- internals ---------------------------------------------------------------------------


class _ApiError(Exception):
    """An error answer: HTTP status, Telegram description and optional ``parameters``."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class _Drop(Exception):
    """Close the connection without answering."""


def _retry_after_error(seconds: float) -> _ApiError:
    value: float = int(seconds) if float(seconds).is_integer() else seconds
    return _ApiError(429, f"Too Many Requests: retry after {value}", {"retry_after": value})


def _fault_error(fault: Fault) -> _ApiError:
    match fault.kind:
        case "retry_after":
            return _retry_after_error(float(fault.value or 0))
        case "forbidden":
            return _ApiError(403, "Forbidden: bot was blocked by the user")
        case "bad_request":
            description = str(fault.value)
            if not description.startswith("Bad Request"):
                description = f"Bad Request: {description}"
            return _ApiError(400, description)
        case "migrate":
            return _migrate_error(int(fault.value or 0))
        case "server_error":
            return _ApiError(500, "Internal Server Error")
    raise AssertionError(fault)  # drop, delay and bad_gateway are handled by the caller


def _migrate_error(new_chat_id: int) -> _ApiError:
    return _ApiError(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_chat_id},
    )


@dataclass
class _User:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "en"
    last_name: str | None = None

    def to_json(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


@dataclass
class _Chat:
    id: int
    type: Literal["private", "group", "supergroup", "channel"]
    title: str | None = None
    username: str | None = None
    creator: int | None = None
    admins: set[int] = field(default_factory=set)
    members: set[int] = field(default_factory=set)
    bot_status: ChatStatus = "member"
    migrated_to: int | None = None
    last_message_id: int = 0
    topics: set[int] | None = None  # forum supergroups: the ids of their topics

    def status_of(self, user_id: int) -> ChatStatus:
        if self.type == "private":
            return "member" if user_id == self.id else "left"
        if user_id == self.creator:
            return "creator"
        if user_id in self.admins:
            return "administrator"
        return "member" if user_id in self.members else "left"


@dataclass
class _PendingFault:
    method: str  # lower-case
    chat_id: int | None
    remaining: int
    fault: Fault


@dataclass
class _Chaos:
    rng: random.Random
    p_retry_after: float
    retry_after: float
    p_server_error: float
    p_drop: float
    p_delay: float
    delay: float
    p_hang: float = 0.0
    hang: float = 0.0
    p_lost: float = 0.0

    def roll(self) -> Fault | None:
        draw = self.rng.random()
        for probability, fault in (
            (self.p_retry_after, Fault("retry_after", self.retry_after)),
            (self.p_server_error, Fault("server_error")),
            (self.p_drop, Fault("drop")),
            (self.p_delay, Fault("delay", self.delay)),
            (self.p_hang, Fault("hang", self.hang)),
            (self.p_lost, Fault("lost")),
        ):
            if draw < probability:
                return fault
            draw -= probability
        return None


@dataclass
class _CallbackQuery:
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answered: bool = False


def _coerce(name: str, value: Any) -> Any:
    """Decode one parameter the way the Bot API's schema would."""
    if name in _CHAT_ID_PARAMS:
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        return value
    if name in _INT_PARAMS or name in _FLOAT_PARAMS:
        number_type = int if name in _INT_PARAMS else float
        if isinstance(value, bool):
            raise _ApiError(400, f"Bad Request: invalid {name} specified")
        try:
            return number_type(value)
        except (TypeError, ValueError):
            raise _ApiError(400, f"Bad Request: invalid {name} specified") from None
    if name in _BOOL_PARAMS:
        if isinstance(value, str):
            if value.strip().lower() in _TRUE_STRINGS | _FALSE_STRINGS:
                return value.strip().lower() in _TRUE_STRINGS
            raise _ApiError(400, f"Bad Request: invalid {name} specified")
        return bool(value)
    if name in _JSON_PARAMS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            what = "reply keyboard markup" if name == "reply_markup" else name
            raise _ApiError(400, f"Bad Request: can't parse {what} JSON object") from None
    return value


def _trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Strip surrounding whitespace like Telegram, moving and clipping the entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = telegram_length(text[: len(text) - len(text.lstrip())])
    end = telegram_length(stripped)
    moved: list[JSONDict] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        stop = min(entity["offset"] + entity["length"] - shift, end)
        if stop > start:
            moved.append({**entity, "offset": start, "length": stop - start})
    return stripped, moved


def _inline_buttons(markup: JSONDict | None) -> list[JSONDict]:
    if not markup or not isinstance(markup.get("inline_keyboard"), list):
        return []
    return [button for row in markup["inline_keyboard"] for button in row]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self._thread_counter = 0
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Like ThreadingMixIn, but with named, tracked threads so ``stop()`` can join them."""
        self._thread_counter += 1
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"FakeTelegram-conn-{self._thread_counter}",
            daemon=True,
        )
        self.fake._track_thread(thread)
        thread.start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like api.telegram.org and httpx's pool
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._untrack_connection(self.connection)

    def do_POST(self) -> None:
        self.server.fake._handle_http(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; every call is in FakeTelegram.requests


# -- the fake ----------------------------------------------------------------------------


class FakeTelegram:
    """A fake Bot API server; see the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "newsbot_test_bot",
        bot_id: int = 123456,
        *,
        bot_first_name: str = "Newsbot Test",
        enforce_limits: bool = False,
        limits: FloodLimits | None = None,
        max_long_poll: float = 0.5,
        strict_html: bool = True,
        privacy_mode: bool = True,
    ) -> None:
        self._token = token
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.bot_first_name = bot_first_name
        #: Answer sends that break the flood limits with 429 instead of accepting them.
        self.enforce_limits = enforce_limits
        self.limits = limits or FloodLimits()
        #: Upper bound for a getUpdates long poll, whatever ``timeout`` the bot asks for.
        self.max_long_poll = max_long_poll
        #: Validate HTML with the documented rules (True) or exactly as leniently as Telegram.
        self.strict_html = strict_html
        #: Group privacy mode: in groups the bot only sees commands, mentions and replies.
        self.privacy_mode = privacy_mode

        self._cond = threading.Condition(threading.RLock())
        self._stop_event = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._threads: set[threading.Thread] = set()
        self._connections: set[socket.socket] = set()

        self._users: dict[int, _User] = {}
        self._chats: dict[int, _Chat] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._updates: list[JSONDict] = []
        self._last_update_id = 0
        self._allowed_updates = DEFAULT_ALLOWED_UPDATES
        self._latest_poll_seq = 0
        self._request_seq = 0
        self._callback_queries: dict[str, _CallbackQuery] = {}
        self._callback_counter = 0
        self._faults: list[_PendingFault] = []
        self._chaos: _Chaos | None = None
        self._command_sets: dict[tuple[str, str], list[JSONDict]] = {}
        self._last_commands: list[JSONDict] | None = None
        self._descriptions: dict[tuple[str, str], str] = {}
        self._chat_send_times: dict[int, deque[float]] = {}
        self._all_send_times: deque[float] = deque()
        self._violations = {"per_chat": 0, "per_group": 0, "global": 0}

        self._sent: list[SentMessage] = []
        self._requests: list[RecordedRequest] = []
        self._rejected: list[RejectedSend] = []
        self._edits: list[EditRecord] = []
        self._callback_answers: list[CallbackAnswer] = []
        self._deleted: list[tuple[int, int]] = []
        #: Tracebacks of bugs inside the fake itself (answered as 500); should stay empty.
        self.internal_errors: list[str] = []
        #: The webhook set with setWebhook (url, secret token), and every push made to it:
        #: (update_id, HTTP status, or 0 if the connection failed).
        self.webhook: tuple[str, str] | None = None
        self.webhook_pushes: list[tuple[int, int]] = []
        self._served: dict[int, JSONDict] = {}
        self._pusher: threading.Thread | None = None

        self._handlers: dict[str, Callable[[JSONDict], Any]] = {
            "getMe": self._api_get_me,
            "logOut": self._api_true,
            "close": self._api_true,
            "deleteWebhook": self._api_delete_webhook,
            "setWebhook": self._api_set_webhook,
            "getWebhookInfo": self._api_get_webhook_info,
            "sendMessage": self._api_send_message,
            "editMessageText": self._api_edit_message_text,
            "editMessageReplyMarkup": self._api_edit_message_reply_markup,
            "deleteMessage": self._api_delete_message,
            "answerCallbackQuery": self._api_answer_callback_query,
            "setMyCommands": self._api_set_my_commands,
            "getMyCommands": self._api_get_my_commands,
            "deleteMyCommands": self._api_delete_my_commands,
            "setMyDescription": self._api_set_my_description,
            "getMyDescription": self._api_get_my_description,
            "setMyShortDescription": self._api_set_my_short_description,
            "getMyShortDescription": self._api_get_my_short_description,
            "getChat": self._api_get_chat,
            "getChatMember": self._api_get_chat_member,
            "getChatAdministrators": self._api_get_chat_administrators,
            "getChatMemberCount": self._api_get_chat_member_count,
            "sendChatAction": self._api_send_chat_action,
            "leaveChat": self._api_leave_chat,
        }
        self._method_names = {name.lower(): name for name in [*self._handlers, "getUpdates"]}

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def token(self) -> str:
        return self._token

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """For ``Bot(token, base_url=...)``: PTB appends the token and ``/<method>``."""
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> Self:
        if self._server is not None or self._stopping:
            raise RuntimeError("FakeTelegram can be started once")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeTelegram-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving, cut open connections (long polls included) and join every thread."""
        with self._cond:
            if self._server is None or self._stopping:
                return
            self._stopping = True
            self._cond.notify_all()
        self._stop_event.set()
        self._server.shutdown()
        with self._cond:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        deadline = time.monotonic() + timeout
        with self._cond:
            threads = [*self._threads, self._thread]
        for thread in threads:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _track_thread(self, thread: threading.Thread) -> None:
        with self._cond:
            self._threads = {t for t in self._threads if t.is_alive()}
            self._threads.add(thread)

    def _track_connection(self, connection: socket.socket) -> None:
        with self._cond:
            self._connections.add(connection)
            if self._stopping:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def _untrack_connection(self, connection: socket.socket) -> None:
        with self._cond:
            self._connections.discard(connection)

    # -- registry ----------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str = "User",
        username: str | None = None,
        language_code: str | None = "en",
        *,
        last_name: str | None = None,
    ) -> int:
        """Register a user who has started the bot (so their private chat ``user_id`` exists)."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        with self._cond:
            self._users[user_id] = _User(user_id, first_name, username, language_code, last_name)
            self._chats.setdefault(user_id, _Chat(user_id, "private"))
        return user_id

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        supergroup: bool = False,
        admins: Iterable[int] = (),
        members: Iterable[int] = (),
        creator: int | None = None,
        username: str | None = None,
        bot_is_admin: bool = False,
        topics: Iterable[int] | None = None,
    ) -> int:
        """Register a group (or supergroup) the bot is a member of; ``topics`` makes it a
        forum supergroup with those topic ids.

        Users only named here are known to Telegram but have not started the bot: the bot
        cannot message them privately (403) until :meth:`add_user` is called for them.
        """
        if chat_id >= 0:
            raise ValueError("group ids are negative (supergroups look like -100xxxxxxxxxx)")
        chat = _Chat(
            chat_id,
            "supergroup" if supergroup else "group",
            title=title,
            username=username.lstrip("@") if username else None,
            creator=creator,
            bot_status="administrator" if bot_is_admin else "member",
            topics=set(topics) if topics is not None else None,
        )
        if chat.topics is not None and not supergroup:
            raise ValueError("only supergroups can be forums")
        with self._cond:
            self._register_members(chat, admins, members)
            self._chats[chat_id] = chat
        return chat_id

    def add_channel(
        self,
        chat_id: int,
        username: str | None,
        title: str | None = None,
        *,
        admins: Iterable[int] = (),
        creator: int | None = None,
        bot_is_admin: bool = True,
    ) -> int:
        """Register a channel; the bot can post only as an administrator."""
        if chat_id >= 0:
            raise ValueError("channel ids are negative (they look like -100xxxxxxxxxx)")
        name = username.lstrip("@") if username else None
        chat = _Chat(
            chat_id,
            "channel",
            title=title or name or f"Channel {chat_id}",
            username=name,
            creator=creator,
            bot_status="administrator" if bot_is_admin else "left",
        )
        with self._cond:
            self._register_members(chat, admins, ())
            self._chats[chat_id] = chat
        return chat_id

    def _register_members(self, chat: _Chat, admins: Iterable[int], members: Iterable[int]) -> None:
        chat.admins = set(admins)
        chat.members = set(members) | chat.admins | ({chat.creator} if chat.creator else set())
        for user_id in chat.members:
            self._users.setdefault(user_id, _User(user_id, f"User {user_id}"))

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to them answer 403 until :meth:`unblock`."""
        with self._cond:
            self._private_chat(user_id).bot_status = "kicked"

    def unblock(self, user_id: int) -> None:
        with self._cond:
            self._private_chat(user_id).bot_status = "member"

    def remove_bot_from(self, chat_id: int) -> None:
        """Kick the bot from a group or channel: later sends there answer 403."""
        with self._cond:
            self._known_chat(chat_id).bot_status = "kicked"

    def migrate_group(self, chat_id: int, new_chat_id: int) -> None:
        """Upgrade a basic group: its id stops working (400 + migrate_to_chat_id)."""
        with self._cond:
            old = self._known_chat(chat_id)
            if old.type != "group":
                raise ValueError(f"chat {chat_id} is a {old.type}, only basic groups migrate")
            self._migrate(old, new_chat_id)

    def _migrate(self, old: _Chat, new_chat_id: int) -> None:
        old.migrated_to = new_chat_id
        self._chats[new_chat_id] = _Chat(
            new_chat_id,
            "supergroup",
            title=old.title,
            creator=old.creator,
            admins=set(old.admins),
            members=set(old.members),
            bot_status=old.bot_status,
        )

    # -- acting as users ---------------------------------------------------------------------

    def user_sends(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
        topic: int | None = None,
    ) -> int:
        """The user types ``text`` (in their private chat or in group ``chat_id``, in forum
        topic ``topic`` if given).

        Enqueues a ``message`` update if the bot would get one (it must be in the chat; in
        groups with privacy mode only commands, @mentions and replies to the bot) and returns
        the new message's id.
        """
        with self._cond:
            user = self._known_user(user_id)
            chat = self._known_chat(user_id if chat_id is None else chat_id)
            if chat.type == "private" and chat.id != user_id:
                raise ValueError(f"user {user_id} cannot write in the private chat {chat.id}")
            if chat.type == "channel":
                raise ValueError("users cannot write in channels with user_sends")
            if chat.migrated_to is not None:
                raise ValueError(f"chat {chat.id} migrated to {chat.migrated_to}")
            if chat.type != "private":
                chat.members.add(user_id)
            chat.last_message_id += 1
            message: JSONDict = {
                "message_id": chat.last_message_id,
                "from": user.to_json(),
                "chat": self._chat_json(chat),
                "date": int(time.time()),
                "text": text,
            }
            if topic is not None:
                if chat.topics is None or topic not in chat.topics:
                    raise ValueError(f"chat {chat.id} has no forum topic {topic}")
                message["message_thread_id"] = topic
                message["is_topic_message"] = True
            command = _COMMAND_RE.match(text)
            if command:
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": telegram_length(command[0])}
                ]
            replied = None
            if reply_to_message_id is not None:
                replied = self._messages.get((chat.id, reply_to_message_id))
                if replied is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat.id}")
                message["reply_to_message"] = copy.deepcopy(replied)
            self._messages[(chat.id, message["message_id"])] = message
            if self._bot_sees(chat, text, command, replied):
                self._enqueue("message", message)
            return int(message["message_id"])

    def _bot_sees(
        self, chat: _Chat, text: str, command: re.Match[str] | None, replied: JSONDict | None
    ) -> bool:
        if chat.type == "private":
            return True
        if chat.bot_status in ("left", "kicked"):
            return False
        if command and command["bot"] and command["bot"].lower() != self.bot_username.lower():
            return not self.privacy_mode
        if not self.privacy_mode or chat.bot_status == "administrator" or command:
            return True
        if f"@{self.bot_username.lower()}" in text.lower():
            return True
        return replied is not None and replied.get("from", {}).get("id") == self.bot_id

    def user_presses(
        self,
        user_id: int,
        message: SentMessage | tuple[int, int],
        callback_data: str,
    ) -> str:
        """The user presses the inline button with ``callback_data`` under a bot message.

        The button must currently be on the message (edits count). Returns the query id.
        """
        chat_id, message_id = (
            (message.chat_id, message.message_id) if isinstance(message, SentMessage) else message
        )
        with self._cond:
            user = self._known_user(user_id)
            chat = self._known_chat(chat_id)
            if chat.type == "private" and chat.id != user_id:
                raise ValueError(f"user {user_id} cannot see messages in private chat {chat_id}")
            stored = self._messages.get((chat_id, message_id))
            if stored is None:
                raise ValueError(f"no message {message_id} in chat {chat_id} (deleted?)")
            available = [
                b.get("callback_data") for b in _inline_buttons(stored.get("reply_markup"))
            ]
            if callback_data not in available:
                raise ValueError(
                    f"message {message_id} in chat {chat_id} has no button with callback_data "
                    f"{callback_data!r}; it has {available!r}"
                )
            self._callback_counter += 1
            query_id = str(4_000_000_000_000_000 + self._callback_counter)
            self._callback_queries[query_id] = _CallbackQuery(
                user_id, chat_id, message_id, callback_data
            )
            self._enqueue(
                "callback_query",
                {
                    "id": query_id,
                    "from": user.to_json(),
                    "message": copy.deepcopy(stored),
                    "chat_instance": str(abs(chat_id) * 7919 + 104729),
                    "data": callback_data,
                },
            )
            return query_id

    def bot_status_changed(
        self, chat_id: int, new_status: ChatStatus, by_user_id: int | None = None
    ) -> int:
        """Change the bot's membership and enqueue the ``my_chat_member`` update for it.

        In a private chat ``"kicked"`` means the user blocked the bot and ``"member"`` that
        they (re)started it. Returns the update id.
        """
        with self._cond:
            chat = self._known_chat(chat_id)
            if chat.type == "private" and new_status not in ("member", "kicked"):
                raise ValueError("in private chats the bot is either 'member' or 'kicked'")
            actor_id = by_user_id
            if actor_id is None:
                actor_id = chat.id if chat.type == "private" else chat.creator
            if actor_id is None:
                raise ValueError(f"who changed the bot's status in {chat_id}? pass by_user_id")
            actor = self._known_user(actor_id)
            old_status = chat.bot_status
            chat.bot_status = new_status
            return self._enqueue(
                "my_chat_member",
                {
                    "chat": self._chat_json(chat),
                    "from": actor.to_json(),
                    "date": int(time.time()),
                    "old_chat_member": self._member_json(chat, self._bot_json(), old_status),
                    "new_chat_member": self._member_json(chat, self._bot_json(), new_status),
                },
            )

    def bot_added_to_group(
        self,
        chat_id: int,
        by_user_id: int,
        title: str = "Test group",
        *,
        supergroup: bool = False,
        as_admin: bool = False,
    ) -> int:
        """A user adds the bot to a (new or known) group; returns the update id."""
        with self._cond:
            if chat_id not in self._chats:
                self.add_group(chat_id, title, supergroup=supergroup, members=[by_user_id])
                self._chats[chat_id].bot_status = "left"
            self._chats[chat_id].members.add(by_user_id)
            return self.bot_status_changed(
                chat_id, "administrator" if as_admin else "member", by_user_id
            )

    def redeliver(self, update_id: int) -> None:
        """Serve an update the bot already got once more, as Telegram does when the offset
        that confirms it never came (the instance that received it died)."""
        with self._cond:
            self._updates.append(copy.deepcopy(self._served[update_id]))
            self._cond.notify_all()

    def _enqueue(self, kind: str, payload: JSONDict) -> int:
        self._last_update_id += 1
        if kind in self._allowed_updates:
            self._updates.append({"update_id": self._last_update_id, kind: payload})
            self._cond.notify_all()
        return self._last_update_id

    # -- fault injection ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str = "sendMessage",
        *,
        chat_id: int | None = None,
        times: int = 1,
        kind: FaultSpec = "server_error",
    ) -> None:
        """Make the next ``times`` calls of ``method`` (to ``chat_id``, if given) fail.

        ``("retry_after", s)``: 429 with ``parameters.retry_after`` (PTB: RetryAfter; it only
        raises that for s > 0). ``"forbidden"``: 403 blocked by the user. ``("bad_request",
        description)``: 400. ``("migrate", new_id)``: 400 with ``migrate_to_chat_id``; a basic
        group targeted by the call really migrates (its old id keeps failing). ``"server_error"``:
        500. ``"bad_gateway"``: 502 with an HTML body, like Telegram's front-end. ``"drop"``:
        the connection is closed without an answer. ``("delay", s)``: answer normally after s.
        ``"lost"``: the call is carried out (the message sent), then the connection is closed
        without an answer.
        """
        fault = Fault.of(kind)
        with self._cond:
            self._faults.append(_PendingFault(method.lower(), chat_id, times, fault))

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    def chaos(
        self,
        seed: int,
        *,
        p_retry_after: float = 0.0,
        retry_after: float = 1,
        p_server_error: float = 0.0,
        p_drop: float = 0.0,
        p_delay: float = 0.0,
        delay: float = 0.0,
        p_hang: float = 0.0,
        hang: float = 0.0,
        p_lost: float = 0.0,
    ) -> None:
        """Random faults on every ``sendMessage``, reproducible from ``seed``. ``hang``: the
        server stalls for ``hang`` seconds and drops the connection without sending. ``lost``:
        the message is sent, then the connection drops before the answer."""
        total = p_retry_after + p_server_error + p_drop + p_delay + p_hang + p_lost
        if not 0.0 <= total <= 1.0:
            raise ValueError("the probabilities must add up to at most 1")
        with self._cond:
            self._chaos = _Chaos(
                random.Random(seed),
                p_retry_after,
                retry_after,
                p_server_error,
                p_drop,
                p_delay,
                delay,
                p_hang,
                hang,
                p_lost,
            )

    def chaos_off(self) -> None:
        with self._cond:
            self._chaos = None

    def _take_fault(self, method: str, chat_id: int | None) -> Fault | None:
        for pending in self._faults:
            if pending.method == method.lower() and pending.chat_id in (None, chat_id):
                pending.remaining -= 1
                if pending.remaining <= 0:
                    self._faults.remove(pending)
                return pending.fault
        if method == "sendMessage" and self._chaos is not None:
            return self._chaos.roll()
        return None

    # -- inspection --------------------------------------------------------------------------

    @property
    def sent(self) -> list[SentMessage]:
        """Every accepted ``sendMessage``, oldest first (a snapshot)."""
        with self._cond:
            return list(self._sent)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def rejected(self) -> list[RejectedSend]:
        with self._cond:
            return list(self._rejected)

    @property
    def edits(self) -> list[EditRecord]:
        with self._cond:
            return list(self._edits)

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        with self._cond:
            return list(self._callback_answers)

    @property
    def deleted(self) -> list[tuple[int, int]]:
        """``(chat_id, message_id)`` of every deleted message."""
        with self._cond:
            return list(self._deleted)

    @property
    def commands(self) -> list[JSONDict] | None:
        """The ``commands`` of the last ``setMyCommands`` (any scope), or ``None``."""
        with self._cond:
            return copy.deepcopy(self._last_commands)

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        with self._cond:
            return copy.deepcopy(
                self._command_sets.get(self._commands_key(scope, language_code), [])
            )

    @property
    def description(self) -> str:
        with self._cond:
            return self._descriptions.get(("description", ""), "")

    @property
    def short_description(self) -> str:
        with self._cond:
            return self._descriptions.get(("short_description", ""), "")

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by the bot (a later getUpdates ``offset``)."""
        with self._cond:
            return len(self._updates)

    @property
    def last_update_id(self) -> int:
        with self._cond:
            return self._last_update_id

    def calls(self, method: str) -> list[RecordedRequest]:
        """The recorded requests of one method (case-insensitive)."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    def get_message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """The current Bot API ``Message`` (after edits), or ``None`` if unknown/deleted."""
        with self._cond:
            return copy.deepcopy(self._messages.get((chat_id, message_id)))

    def limit_violations(self) -> dict[str, int]:
        """Sends that broke :class:`FloodLimits` (accepted or, if enforced, refused)."""
        with self._cond:
            return dict(self._violations)

    def clear_records(self) -> None:
        """Forget sent messages, requests, rejections, edits, answers and violations."""
        with self._cond:
            for records in (self._sent, self._requests, self._rejected, self._edits):
                records.clear()
            self._callback_answers.clear()
            self._deleted.clear()
            self._violations = dict.fromkeys(self._violations, 0)

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 5.0, *, message: str = ""
    ) -> None:
        """Poll ``predicate`` until true; AssertionError with a summary on timeout.

        Blocking: don't call it from a coroutine running the bot (use :meth:`wait_for_async`).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "FakeTelegram.wait_for() blocks the event loop the bot runs on; "
                "use 'await fake.wait_for_async(...)' in async tests"
            )
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_report(predicate, timeout, message))
            time.sleep(0.01)

    async def wait_for_async(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,
        *,
        message: str = "",
    ) -> None:
        """:meth:`wait_for` for async tests: sleeps with asyncio so the bot keeps running."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_report(predicate, timeout, message))
            await asyncio.sleep(0.01)

    def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 5.0
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages went to ``chat_id``; returns all of them."""
        self.wait_for(
            lambda: len(self.messages_to(chat_id)) >= count,
            timeout,
            message=f"{count} message(s) to chat {chat_id}",
        )
        return self.messages_to(chat_id)

    async def wait_for_messages_async(
        self,
        chat_id: int,
        count: int,
        timeout: float = 5.0,
    ) -> list[SentMessage]:
        """:meth:`wait_for_messages` for async tests."""
        await self.wait_for_async(
            lambda: len(self.messages_to(chat_id)) >= count,
            timeout,
            message=f"{count} message(s) to chat {chat_id}",
        )
        return self.messages_to(chat_id)

    def _timeout_report(self, predicate: Callable[[], bool], timeout: float, what: str) -> str:
        name = what or getattr(predicate, "__qualname__", repr(predicate))
        with self._cond:
            calls = [f"{r.method} -> {r.status}" for r in self._requests[-15:]]
            sent = [f"{m.chat_id}#{m.message_id}: {m.plain_text[:60]!r}" for m in self._sent[-10:]]
            rejected = [f"{r.method} {r.chat_id}: {r.description}" for r in self._rejected[-5:]]
            pending = len(self._updates)
        return (
            f"timed out after {timeout}s waiting for {name}\n"
            f"  last requests: {calls}\n  last sent: {sent}\n  last rejected: {rejected}\n"
            f"  unconfirmed updates: {pending}; fake errors: {self.internal_errors[-1:]}"
        )

    # -- HTTP --------------------------------------------------------------------------------

    def _handle_http(self, handler: _Handler) -> None:
        url = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        match = _PATH_RE.fullmatch(url.path)
        method = self._method_names.get(match["method"].lower(), match["method"]) if match else ""
        raw: JSONDict = dict(parse_qsl(url.query, keep_blank_values=True))
        with self._cond:
            self._request_seq += 1
            seq = self._request_seq
            record = RecordedRequest(method or url.path, raw, time.monotonic())
            self._requests.append(record)
        try:
            raw.update(self._parse_body(handler.headers.get("Content-Type", ""), body))
            if match is None:
                raise _ApiError(404, "Not Found")
            if match["token"] != self._token:
                if _TOKEN_RE.fullmatch(match["token"]):
                    raise _ApiError(401, "Unauthorized")
                raise _ApiError(404, "Not Found")
            if method not in self._method_names.values():
                raise _ApiError(404, "Not Found")
            params = {name: _coerce(name, value) for name, value in raw.items()}
            record.params = params
            result = self._call(method, params, seq)
        except _Drop:
            self._record_rejection(method, raw, 0, "connection dropped")
            self._finish(handler, record, None)
        except _ApiError as error:
            self._record_rejection(method, raw, error.status, error.description)
            payload: JSONDict = {
                "ok": False,
                "error_code": error.status,
                "description": error.description,
            }
            if error.parameters:
                payload["parameters"] = error.parameters
            self._finish(handler, record, (error.status, payload))
        except Exception as error:  # a bug in the fake: answer like a broken server
            self.internal_errors.append(traceback.format_exc())
            payload = {"ok": False, "error_code": 500, "description": f"Fake error: {error!r}"}
            self._finish(handler, record, (500, payload))
        else:
            self._finish(handler, record, (200, {"ok": True, "result": result}))

    @staticmethod
    def _parse_body(content_type: str, body: bytes) -> JSONDict:
        if not body:
            return {}
        media_type = content_type.split(";")[0].strip().lower()
        if media_type == "application/json":
            try:
                data = json.loads(body)
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse JSON request body") from None
            if not isinstance(data, dict):
                raise _ApiError(400, "Bad Request: the JSON request body must be an object")
            return data
        if media_type == "multipart/form-data":
            raise _ApiError(400, "Bad Request: FakeTelegram does not accept file uploads")
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))

    def _finish(
        self,
        handler: _Handler,
        record: RecordedRequest,
        answer: tuple[int, JSONDict] | None,
    ) -> None:
        """Write the answer (``None``: hang up) and note its status in the request record."""
        with self._cond:
            record.status = 0 if answer is None else answer[0]
        if answer is None:
            handler.close_connection = True
            return
        status, payload = answer
        if status == HTTPStatus.BAD_GATEWAY:
            content_type = "text/html"
            body = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
        else:
            content_type = "application/json"
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            handler.close_connection = True  # the client went away (e.g. a cancelled poll)

    def _record_rejection(
        self, method: str, params: JSONDict, status: int, description: str
    ) -> None:
        if method not in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            return
        chat_id = params.get("chat_id")
        with self._cond:
            self._rejected.append(
                RejectedSend(
                    method,
                    _coerce("chat_id", chat_id) if chat_id is not None else None,
                    params.get("text"),
                    status,
                    description,
                    time.monotonic(),
                )
            )

    def _call(self, method: str, params: JSONDict, seq: int) -> Any:
        """Apply an injected fault, if any, then run the method under the state lock."""
        with self._cond:
            chat = self._find_chat(params.get("chat_id"))
            fault = self._take_fault(method, chat.id if chat else None)
            if fault is not None and fault.kind == "migrate" and chat and chat.type == "group":
                self._migrate(chat, int(fault.value or 0))
        if fault is not None:
            if fault.kind == "drop":
                raise _Drop
            if fault.kind == "bad_gateway":
                raise _ApiError(502, "Bad Gateway")
            if fault.kind == "hang":
                # A server that never gets to the request: the client times out, nothing is sent.
                self._stop_event.wait(float(fault.value or 0))
                raise _Drop
            if fault.kind == "delay":
                if self._stop_event.wait(float(fault.value or 0)):
                    raise _Drop
            elif fault.kind != "lost":  # "lost" drops the answer after the call, below
                raise _fault_error(fault)
        with self._cond:
            if self._stopping:
                raise _Drop
            if method == "getUpdates":
                return self._api_get_updates(params, seq)
            result = self._handlers[method](params)
        if fault is not None and fault.kind == "lost":
            raise _Drop
        return result

    # -- state helpers (call with the lock held) ----------------------------------------------

    def _known_user(self, user_id: int) -> _User:
        try:
            return self._users[user_id]
        except KeyError:
            raise ValueError(f"unknown user {user_id}; call add_user() first") from None

    def _known_chat(self, chat_id: int) -> _Chat:
        try:
            return self._chats[chat_id]
        except KeyError:
            raise ValueError(f"unknown chat {chat_id}; register it first") from None

    def _private_chat(self, user_id: int) -> _Chat:
        chat = self._known_chat(user_id)
        if chat.type != "private":
            raise ValueError(f"{user_id} is not a private chat")
        return chat

    def _find_chat(self, chat_id: Any) -> _Chat | None:
        if isinstance(chat_id, int):
            return self._chats.get(chat_id)
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            name = chat_id[1:].lower()
            for chat in self._chats.values():
                if chat.type != "private" and chat.username and chat.username.lower() == name:
                    return chat
        return None

    def _chat_for(self, params: JSONDict, *, for_sending: bool = False) -> _Chat:
        """Resolve ``chat_id`` like Telegram, including migration and membership errors."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        chat = self._find_chat(chat_id)
        if chat is None:
            if for_sending and isinstance(chat_id, int) and chat_id in self._users:
                raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise _ApiError(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            raise _migrate_error(chat.migrated_to)
        if for_sending:
            self._check_can_send(chat)
        return chat

    @staticmethod
    def _check_can_send(chat: _Chat) -> None:
        status = chat.bot_status
        if chat.type == "private":
            if status == "kicked":
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
        elif chat.type == "channel":
            if status in ("left", "kicked"):
                raise _ApiError(403, "Forbidden: bot is not a member of the channel chat")
            if status == "member":
                raise _ApiError(400, "Bad Request: need administrator rights in the channel chat")
        elif status == "kicked":
            raise _ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        elif status == "left":
            raise _ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")

    def _bot_json(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _user_json(self, user_id: int) -> JSONDict:
        if user_id == self.bot_id:
            return self._bot_json()
        return self._known_user(user_id).to_json()

    def _chat_json(self, chat: _Chat) -> JSONDict:
        data: JSONDict = {"id": chat.id, "type": chat.type}
        if chat.type == "private":
            user = self._users[chat.id]
            data["first_name"] = user.first_name
            if user.last_name:
                data["last_name"] = user.last_name
        else:
            data["title"] = chat.title
        if chat.topics is not None:
            data["is_forum"] = True
        username = self._users[chat.id].username if chat.type == "private" else chat.username
        if username:
            data["username"] = username
        return data

    @staticmethod
    def _member_json(chat: _Chat, user: JSONDict, status: ChatStatus) -> JSONDict:
        member: JSONDict = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=True,
                can_edit_stories=True,
                can_delete_stories=True,
            )
            if chat.type == "channel":
                member.update(can_post_messages=True, can_edit_messages=True)
            else:
                member["can_pin_messages"] = True
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _render(self, text: Any, parse_mode: Any, entities: Any) -> tuple[str, list[JSONDict]]:
        """Entity parsing and the text checks of sendMessage/editMessageText."""
        text = "" if text is None else str(text)
        mode = str(parse_mode or "").lower()
        if mode == "html":
            try:
                parsed = parse_telegram_html_entities(text, strict=self.strict_html)
            except TelegramHTMLError as error:
                raise _ApiError(400, f"Bad Request: can't parse entities: {error}") from None
            plain, found = parsed.text, parsed.entities
        elif mode in ("", "markdown", "markdownv2"):  # Markdown is not validated by the fake
            plain = text
            found = list(entities) if isinstance(entities, list) and not mode else []
        else:
            raise _ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")
        plain, found = _trim(plain, found)
        if not plain:
            raise _ApiError(400, "Bad Request: message text is empty")
        if telegram_length(plain) > MAX_MESSAGE_LENGTH:
            raise _ApiError(400, "Bad Request: message is too long")
        return plain, found

    @staticmethod
    def _check_reply_markup(markup: Any) -> JSONDict | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array')
            for button in (button for row in rows for button in row):
                if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                    raise _ApiError(400, "Bad Request: inline keyboard button text is empty")
                if not any(action in button for action in _INLINE_BUTTON_ACTIONS):
                    raise _ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _check_flood(self, chat: _Chat, now: float) -> None:
        """Count limit violations of a send about to be accepted; 429 when enforced."""
        limits = self.limits
        waits: dict[str, float] = {}
        history = self._chat_send_times.setdefault(chat.id, deque())
        if chat.type == "private":
            if history and now - history[-1] < limits.private_min_interval:
                waits["per_chat"] = limits.private_min_interval - (now - history[-1])
        else:
            recent = [t for t in history if now - t < limits.group_window]
            if len(recent) >= limits.group_max:
                waits["per_group"] = limits.group_window - (now - recent[-limits.group_max])
        recent_all = [t for t in self._all_send_times if now - t < limits.global_window]
        if len(recent_all) >= limits.global_max:
            waits["global"] = limits.global_window - (now - recent_all[-limits.global_max])
        for kind in waits:
            self._violations[kind] += 1
        if waits and self.enforce_limits:
            raise _retry_after_error(max(1, math.ceil(max(waits.values()))))

    def _note_send(self, chat: _Chat, now: float) -> None:
        history = self._chat_send_times.setdefault(chat.id, deque())
        history.append(now)
        keep = max(self.limits.group_window, self.limits.private_min_interval)
        while history and now - history[0] >= keep:
            history.popleft()
        self._all_send_times.append(now)
        while self._all_send_times and now - self._all_send_times[0] >= self.limits.global_window:
            self._all_send_times.popleft()

    def _commands_key(self, scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def _message_for_edit(self, params: JSONDict) -> tuple[_Chat, JSONDict]:
        if params.get("inline_message_id"):
            raise _ApiError(400, "Bad Request: FakeTelegram does not support inline messages")
        chat = self._chat_for(params, for_sending=True)
        message = self._messages.get((chat.id, params.get("message_id", 0)))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        sent_by_bot = message.get("from", {}).get("id") == self.bot_id
        if not sent_by_bot and not (chat.type == "channel" and "from" not in message):
            raise _ApiError(400, "Bad Request: message can't be edited")
        return chat, message

    # -- Bot API methods (called with the lock held) ----------------------------------------

    def _api_true(self, params: JSONDict) -> bool:
        return True

    def _api_get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self._bot_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_delete_webhook(self, params: JSONDict) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        return True

    def _api_set_webhook(self, params: JSONDict) -> bool:
        url = params.get("url") or ""
        if not url:
            return self._api_delete_webhook(params)
        self.webhook = (url, params.get("secret_token") or "")
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        if self._pusher is None:
            self._pusher = threading.Thread(target=self._push, name="FakeTelegram-webhook")
            self._pusher.daemon = True
            self._threads.add(self._pusher)
            self._pusher.start()
        self._cond.notify_all()
        return True

    def _push(self) -> None:
        """Deliver queued updates to the webhook one at a time, as Telegram does, until one is
        answered 2xx; a failure is retried after a pause."""
        while True:
            with self._cond:
                while not self._stopping and (self.webhook is None or not self._updates):
                    self._cond.wait(0.5)
                if self._stopping:
                    return
                assert self.webhook is not None
                url, secret = self.webhook
                update = copy.deepcopy(self._updates[0])
            status = self.push_update(update, url, secret)
            with self._cond:
                if 200 <= status < 300:
                    done = update["update_id"]
                    self._updates = [u for u in self._updates if u["update_id"] != done]
            if not 200 <= status < 300:
                self._stop_event.wait(0.5)

    def push_update(self, update: JSONDict, url: str, secret: str) -> int:
        """POST one update to ``url`` as Telegram would; returns the HTTP status (0: failed).
        Tests call it directly to play a retried or misdirected delivery."""
        request = urllib.request.Request(
            url,
            data=json.dumps(update).encode(),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        with self._cond:
            self.webhook_pushes.append((int(update["update_id"]), status))
        return status

    def _api_get_webhook_info(self, params: JSONDict) -> JSONDict:
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _api_get_updates(self, params: JSONDict, seq: int) -> list[JSONDict]:
        if self.webhook is not None:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        if seq < self._latest_poll_seq:
            raise _ApiError(409, GET_UPDATES_CONFLICT)
        self._latest_poll_seq = seq
        self._cond.notify_all()  # an older poll still waiting now ends with 409
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        offset = params.get("offset") or 0
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        limit = min(max(params.get("limit") or 100, 1), 100)
        wait = min(max(params.get("timeout") or 0.0, 0.0), self.max_long_poll)
        deadline = time.monotonic() + wait
        while not self._updates and not self._stopping and self._latest_poll_seq == seq:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        if self._stopping:
            raise _Drop
        if self._latest_poll_seq != seq:
            raise _ApiError(409, GET_UPDATES_CONFLICT)
        for update in self._updates[:limit]:
            self._served[update["update_id"]] = copy.deepcopy(update)
        return copy.deepcopy(self._updates[:limit])

    def _api_send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for(params, for_sending=True)
        plain, entities = self._render(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        markup = self._check_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        thread = params.get("message_thread_id")
        if thread is not None and (chat.topics is None or thread not in chat.topics):
            raise _ApiError(400, "Bad Request: message thread not found")
        now = time.monotonic()
        self._check_flood(chat, now)
        self._note_send(chat, now)

        chat.last_message_id += 1
        message: JSONDict = {"message_id": chat.last_message_id}
        if chat.type == "channel":
            message["sender_chat"] = self._chat_json(chat)
        else:
            message["from"] = self._bot_json()
        message.update(chat=self._chat_json(chat), date=int(time.time()), text=plain)
        if thread is not None:
            message.update(message_thread_id=thread, is_topic_message=True)
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = {
                k: v for k, v in reply_to.items() if k != "reply_to_message"
            }
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat.id, chat.last_message_id)] = message
        self._sent.append(
            SentMessage(
                chat_id=chat.id,
                message_id=chat.last_message_id,
                text=str(params.get("text")),
                parse_mode=params.get("parse_mode"),
                plain_text=plain,
                reply_markup=markup,
                disable_notification=bool(params.get("disable_notification", False)),
                link_preview_options=params.get("link_preview_options"),
                message_thread_id=params.get("message_thread_id"),
                time=now,
                entities=entities,
                reply_to_message_id=reply_to["message_id"] if reply_to else None,
            )
        )
        return copy.deepcopy(message)

    def _reply_target(self, chat: _Chat, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict):
            if params.get("reply_to_message_id") is None:
                return None
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        target = self._messages.get((chat.id, reply.get("message_id", 0)))
        if target is None and not reply.get("allow_sending_without_reply"):
            raise _ApiError(400, "Bad Request: message to be replied not found")
        return target

    def _api_edit_message_text(self, params: JSONDict) -> JSONDict:
        chat, message = self._message_for_edit(params)
        plain, entities = self._render(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        markup = self._check_reply_markup(params.get("reply_markup"))
        inline = markup if markup and "inline_keyboard" in markup else None
        if (plain, entities, inline) == (
            message.get("text"),
            message.get("entities", []),
            message.get("reply_markup"),
        ):
            raise _ApiError(400, NOT_MODIFIED)
        message["text"] = plain
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        self._set_markup(message, inline)
        message["edit_date"] = int(time.time())
        self._edits.append(
            EditRecord(
                "editMessageText",
                chat.id,
                message["message_id"],
                str(params.get("text")),
                params.get("parse_mode"),
                plain,
                inline,
                time.monotonic(),
            )
        )
        return copy.deepcopy(message)

    def _api_edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        chat, message = self._message_for_edit(params)
        markup = self._check_reply_markup(params.get("reply_markup"))
        inline = markup if markup and "inline_keyboard" in markup else None
        if inline == message.get("reply_markup"):
            raise _ApiError(400, NOT_MODIFIED)
        self._set_markup(message, inline)
        message["edit_date"] = int(time.time())
        self._edits.append(
            EditRecord(
                "editMessageReplyMarkup",
                chat.id,
                message["message_id"],
                None,
                None,
                None,
                inline,
                time.monotonic(),
            )
        )
        return copy.deepcopy(message)

    @staticmethod
    def _set_markup(message: JSONDict, markup: JSONDict | None) -> None:
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup

    def _api_delete_message(self, params: JSONDict) -> bool:
        chat = self._chat_for(params)
        key = (chat.id, params.get("message_id", 0))
        if self._messages.pop(key, None) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        self._deleted.append(key)
        return True

    def _api_answer_callback_query(self, params: JSONDict) -> bool:
        query = self._callback_queries.get(str(params.get("callback_query_id", "")))
        if query is None or query.answered:
            raise _ApiError(400, QUERY_INVALID)
        query.answered = True
        self._callback_answers.append(
            CallbackAnswer(
                callback_query_id=str(params["callback_query_id"]),
                user_id=query.user_id,
                chat_id=query.chat_id,
                message_id=query.message_id,
                data=query.data,
                text=params.get("text"),
                show_alert=bool(params.get("show_alert", False)),
                url=params.get("url"),
                cache_time=params.get("cache_time"),
                time=time.monotonic(),
            )
        )
        return True

    def _api_set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise _ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND_NAME_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._command_sets[key] = copy.deepcopy(commands)
        self._last_commands = copy.deepcopy(commands)
        return True

    def _api_get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self._command_sets.get(key, []))

    def _api_delete_my_commands(self, params: JSONDict) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._command_sets.pop(key, None)
        return True

    def _set_description(self, kind: str, params: JSONDict, max_length: int) -> bool:
        text = str(params.get(kind) or "")
        if len(text) > max_length:
            raise _ApiError(400, f"Bad Request: {kind.replace('_', ' ')} is too long")
        self._descriptions[(kind, str(params.get("language_code") or ""))] = text
        return True

    def _api_set_my_description(self, params: JSONDict) -> bool:
        return self._set_description("description", params, 512)

    def _api_set_my_short_description(self, params: JSONDict) -> bool:
        return self._set_description("short_description", params, 120)

    def _api_get_my_description(self, params: JSONDict) -> JSONDict:
        key = ("description", str(params.get("language_code") or ""))
        return {"description": self._descriptions.get(key, "")}

    def _api_get_my_short_description(self, params: JSONDict) -> JSONDict:
        key = ("short_description", str(params.get("language_code") or ""))
        return {"short_description": self._descriptions.get(key, "")}

    def _api_get_chat(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for(params)
        return {
            **self._chat_json(chat),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    def _api_get_chat_member(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for(params)
        user_id = params.get("user_id")
        if user_id == self.bot_id:
            return self._member_json(chat, self._bot_json(), chat.bot_status)
        if user_id not in self._users:
            raise _ApiError(400, "Bad Request: user not found")
        return self._member_json(chat, self._user_json(user_id), chat.status_of(user_id))

    def _api_get_chat_administrators(self, params: JSONDict) -> list[JSONDict]:
        chat = self._chat_for(params)
        if chat.type == "private":
            raise _ApiError(400, "Bad Request: there are no administrators in the private chat")
        admins = [
            self._member_json(chat, self._user_json(user_id), chat.status_of(user_id))
            for user_id in sorted(chat.admins | ({chat.creator} if chat.creator else set()))
        ]
        if chat.bot_status == "administrator":
            admins.append(self._member_json(chat, self._bot_json(), "administrator"))
        return admins

    def _api_get_chat_member_count(self, params: JSONDict) -> int:
        chat = self._chat_for(params)
        if chat.type == "private":
            return 2
        return len(chat.members) + (chat.bot_status in ("member", "administrator"))

    def _api_send_chat_action(self, params: JSONDict) -> bool:
        self._chat_for(params, for_sending=True)
        if params.get("action") not in CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _api_leave_chat(self, params: JSONDict) -> bool:
        chat = self._chat_for(params)
        if chat.type == "private":
            raise _ApiError(
                400, "Bad Request: chat member status can't be changed in private chats"
            )
        if chat.bot_status in ("left", "kicked"):
            raise _ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        old_status = chat.bot_status
        chat.bot_status = "left"
        self._enqueue(
            "my_chat_member",
            {
                "chat": self._chat_json(chat),
                "from": self._bot_json(),
                "date": int(time.time()),
                "old_chat_member": self._member_json(chat, self._bot_json(), old_status),
                "new_chat_member": self._member_json(chat, self._bot_json(), "left"),
            },
        )
        return True
