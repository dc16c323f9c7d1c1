"""Personal watches from Telegram (edge): ``/watch <query>`` previews what a query would have
found and offers to watch it; ``/watches`` lists a chat's watches, to edit, pause, resume,
delete (with undo) and, for the bot's admins, export as a rule file entry.

Each change is written to the store first, then put in force on this instance at once
(:attr:`~bot.telegram.handlers.Handlers.on_watch`); other instances pick it up from the store.
The buttons name a watch by its number (``w:<action>:<number>``), so they keep working after a
restart or on another instance.
"""

from __future__ import annotations

import html
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.core.render import shorten
from bot.core.rules import RuleError
from bot.core.watches import (
    Watch,
    WatchError,
    WatchState,
    as_yaml,
    can_move,
    check_query,
    watch_rule,
)
from bot.telegram import texts
from bot.telegram.handlers import Handlers, esc, plain
from bot.telegram.history import HISTORY, preview, query_error, story_lines
from bot.telegram.i18n import _

log = logging.getLogger(__name__)

PREVIEW_SHOWN = 5
"""Stories a preview lists."""

ACTIONS = {
    "c": WatchState.ACTIVE,  # confirm a draft
    "x": WatchState.DELETED,  # cancel a draft
    "p": WatchState.PAUSED,
    "r": WatchState.ACTIVE,  # resume
    "d": WatchState.DELETED,
    "u": WatchState.ACTIVE,  # undo a delete
}
"""Button action -> the state it asks for."""


PER_PAGE = 10
"""Watches one page of /watches lists (a chat may keep hundreds)."""
SHOWN_QUERY = 200
"""Characters of a query the list shows (a page stays far below Telegram's 4,096)."""


def button(action: str, number: int, label: str, page: int | None = None) -> InlineKeyboardButton:
    """A watch button; one under a /watches page names its page, to show it again after."""
    tail = "" if page is None else f":{page}"
    return InlineKeyboardButton(label, callback_data=f"w:{action}:{number}{tail}")


class WatchCommands(Handlers):
    """/watch and /watches, and their buttons."""

    async def watch(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self.watch_limit <= 0:
            await self._reply(update, _(texts.WATCHES_OFF))
            return
        text = " ".join(context.args or []).strip()
        if not text:
            await self._reply(update, _(texts.WATCH_USAGE))
            return
        if not await self._may_manage(update, context):
            return
        query = await self._checked(update, text)
        if query is None:
            return
        chat = self._chat(update)
        await self._note_chat(update)
        mine = await self.store.watches_of(chat)
        same = next((w for w in mine if w.query == query), None)
        if same is not None:
            await self._reply(
                update, _(texts.WATCH_DUPLICATE).format(query=esc(query), number=same.id)
            )
            return
        if len(mine) >= self.watch_limit:
            await self._reply(update, _(texts.WATCH_LIMIT).format(count=len(mine)))
            return
        now = self.clock()
        draft = await self.store.draft_watch(chat, query, now)
        found, total = await preview(
            self.rules(),
            self.store,
            now - HISTORY,
            watch_rule(draft.id, chat, query),
            PREVIEW_SHOWN,
        )
        if found:
            head = _(texts.WATCH_PREVIEW).format(query=esc(query), days=HISTORY.days, count=total)
            answer = head + "\n".join(story_lines(found))
        else:
            answer = _(texts.WATCH_PREVIEW_NONE).format(query=esc(query), days=HISTORY.days)
        keyboard = InlineKeyboardMarkup(
            [
                [
                    button("c", draft.id, _(texts.BUTTON_WATCH_CONFIRM)),
                    button("x", draft.id, _(texts.BUTTON_WATCH_CANCEL)),
                ]
            ]
        )
        await self._reply(update, f"{answer}\n\n{_(texts.WATCH_CONFIRM)}", keyboard)

    async def _checked(self, update: Update, text: str) -> str | None:
        """The query made canonical, or None after telling why it cannot be a watch."""
        try:
            return check_query(text, self.rules().lexicon)
        except RuleError as exc:
            await self._reply(update, query_error(exc))
            return None

    async def watches(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/watches, or /watches edit|pause|resume|delete|export N [query]."""
        args = list(context.args or [])
        if not args:
            text, keyboard = await self._listing(self._chat(update))
            await self._reply(update, text, keyboard)
            return
        verb = args[0].lower()
        wanted = {"pause": WatchState.PAUSED, "resume": WatchState.ACTIVE}
        known = ("edit", "pause", "resume", "delete", "export")
        if verb not in known or len(args) < 2 or not args[1].isdigit():
            await self._reply(update, _(texts.WATCHES_USAGE))
            return
        if verb == "edit" and len(args) < 3:
            await self._reply(update, _(texts.WATCHES_USAGE))
            return
        number = int(args[1])
        if verb == "export":
            if not await self._is_admin(update):
                return
            watch = await self._own(update, number)
            if watch is not None:
                yaml = html.escape(as_yaml(watch))
                await self._reply(update, _(texts.WATCH_EXPORT).format(number=number, yaml=yaml))
            return
        if not await self._may_manage(update, context):
            return
        watch = await self._own(update, number)
        if watch is None:
            return
        if verb == "edit":
            query = await self._checked(update, " ".join(args[2:]))
            if query is None:
                return
            changed = await self._change(watch, watch.state, query=query)
            answer = _(texts.WATCH_UPDATED).format(number=number, query=esc(query))
        elif verb == "delete":
            changed = await self._change(watch, WatchState.DELETED)
            answer = _(texts.WATCH_DELETED).format(number=number)
        else:
            changed = await self._change(watch, wanted[verb])
            done = texts.WATCH_PAUSED if verb == "pause" else texts.WATCH_RESUMED
            answer = _(done).format(number=number)
        if changed is None:
            answer = _(texts.WATCH_UNKNOWN).format(number=number)
        keyboard = None
        if changed is not None and changed.state is WatchState.DELETED:
            label = _(texts.BUTTON_WATCH_RESTORE).format(number=number)
            keyboard = InlineKeyboardMarkup([[button("u", number, label)]])
        await self._reply(update, answer, keyboard)

    async def _own(self, update: Update, number: int) -> Watch | None:
        """This chat's watch ``number`` (active or paused), or None after saying so."""
        watch = await self.store.watch(number)
        if (
            watch is None
            or watch.chat != self._chat(update)
            or watch.state
            not in (
                WatchState.ACTIVE,
                WatchState.PAUSED,
            )
        ):
            await self._reply(update, _(texts.WATCH_UNKNOWN).format(number=number))
            return None
        return watch

    async def _change(
        self,
        watch: Watch,
        state: WatchState,
        *,
        query: str | None = None,
        limit: int | None = None,
    ) -> Watch | None:
        """Write the change and put it in force here; None when the store refused it."""
        try:
            changed = await self.store.set_watch(
                watch.id, state, self.clock(), query=query, limit=limit
            )
        except WatchError as exc:
            log.info("watch %d not changed: %s", watch.id, exc)
            return None
        self.on_watch(changed)
        log.info("chat %s: watch %d is %s", changed.chat, changed.id, changed.state.value)
        return changed

    async def _listing(self, chat: str, page: int = 0) -> tuple[str, InlineKeyboardMarkup | None]:
        """One page of the chat's watches, with their buttons and the way to the others."""
        mine = await self.store.watches_of(chat)
        if not mine:
            return _(texts.WATCHES_EMPTY), None
        pages = (len(mine) + PER_PAGE - 1) // PER_PAGE
        page = min(max(page, 0), pages - 1)
        lines = [_(texts.WATCHES_HEADER).format(count=len(mine), limit=self.watch_limit)]
        rows = []
        for w in mine[page * PER_PAGE : (page + 1) * PER_PAGE]:
            mark = "👁" if w.live else "⏸"
            query = esc(shorten(w.query, SHOWN_QUERY))
            lines.append(_(texts.WATCH_LINE).format(mark=mark, number=w.id, query=query))
            toggle = (
                button("p", w.id, _(texts.BUTTON_WATCH_PAUSE).format(number=w.id), page)
                if w.live
                else button("r", w.id, _(texts.BUTTON_WATCH_RESUME).format(number=w.id), page)
            )
            delete = button("d", w.id, _(texts.BUTTON_WATCH_DELETE).format(number=w.id), page)
            rows.append([toggle, delete])
        nav = []
        if page > 0:
            nav.append(button("g", page - 1, _(texts.BUTTON_PREVIOUS)))
        if page < pages - 1:
            nav.append(button("g", page + 1, _(texts.BUTTON_NEXT)))
        if nav:
            rows.append(nav)
        lines.append(_(texts.WATCHES_FOOTER))
        return "\n".join(lines), InlineKeyboardMarkup(rows)

    async def on_watch_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None or update.effective_chat is None:
            return
        parts = query.data.split(":")
        if (
            len(parts) not in (3, 4)
            or parts[1] not in (*ACTIONS, "g")
            or not all(p.isdigit() for p in parts[2:])
        ):
            await query.answer(plain(_(texts.BUTTON_GONE)), show_alert=True)
            return
        action, number = parts[1], int(parts[2])
        listed = int(parts[3]) if len(parts) == 4 else None  # the /watches page it sits on
        chat = self._chat(update)
        if action == "g":  # another page of the list
            await query.answer()
            text, keyboard = await self._listing(chat, number)
            await self._edit(update, text, keyboard)
            return
        watch = await self.store.watch(number)
        if watch is None or watch.chat != chat:
            await query.answer(plain(_(texts.BUTTON_GONE)), show_alert=True)
            return
        if not await self._may_manage(update, context, quietly=True):
            await query.answer(plain(_(texts.GROUP_ADMINS_ONLY)), show_alert=True)
            return
        wanted = ACTIONS[action]
        drafting = action in ("c", "x")
        if drafting != (watch.state is WatchState.DRAFT) or not can_move(watch.state, wanted):
            await query.answer(plain(_(texts.WATCH_EXPIRED)), show_alert=True)
            await self._edit(update, None, None)
            return
        limit = self.watch_limit if wanted is WatchState.ACTIVE else None
        changed = await self._change(watch, wanted, limit=limit)
        if changed is None:  # the limit was reached meanwhile
            mine = await self.store.watches_of(chat)
            refusal = _(texts.WATCH_LIMIT).format(count=len(mine))
            await query.answer(plain(refusal), show_alert=True)
            return
        if action == "c":
            done = _(texts.WATCH_CREATED).format(query=esc(watch.query), number=number)
            await query.answer()
            await self._edit(update, done, None)
        elif action == "x":
            await query.answer()
            await self._edit(update, _(texts.WATCH_CANCELLED), None)
        elif action == "u" and listed is not None:
            await query.answer(plain(_(texts.WATCH_RESUMED).format(number=number)))
            text, keyboard = await self._listing(chat, listed)
            await self._edit(update, text, keyboard)
        elif action == "u":
            await query.answer()
            await self._edit(update, _(texts.WATCH_RESUMED).format(number=number), None)
        else:
            note = {
                "p": texts.WATCH_PAUSED,
                "r": texts.WATCH_RESUMED,
                "d": texts.WATCH_DELETED,
            }[action]
            await query.answer(plain(_(note).format(number=number)))
            text, keyboard = await self._listing(chat, listed or 0)
            if action == "d":  # the undo, under the list
                restore = _(texts.BUTTON_WATCH_RESTORE).format(number=number)
                undo = button("u", number, restore, listed or 0)
                rows = list(keyboard.inline_keyboard) if keyboard else []
                keyboard = InlineKeyboardMarkup([*rows, [undo]])
            await self._edit(update, text, keyboard)
