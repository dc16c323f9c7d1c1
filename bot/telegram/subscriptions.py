"""Following topics from Telegram: /start (with deep links), /help, /rules (pages of buttons),
/subscribe and /unsubscribe (for this chat, or for a channel its admin names), /mine, and the
buttons under alerts and on /rules pages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import quote

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.core.chats import ChatStatus
from bot.core.render import shorten
from bot.core.rules import Rule
from bot.telegram import buttons, texts
from bot.telegram.handlers import Handlers, did_you_mean, esc, plain, suggest, when
from bot.telegram.history import HISTORY, recent_matches
from bot.telegram.i18n import _
from bot.telegram.messenger import chat_id

log = logging.getLogger(__name__)


def topics_and_channel(args: Sequence[str]) -> tuple[list[str], str | None, str | None]:
    """The topic ids and the channel (``@name``) of ``/subscribe`` and ``/unsubscribe``
    arguments (ids may also be separated by commas), and what is wrong with them, if anything.
    Only a word starting with ``@`` names a channel: ``/subscribe drones karabakh`` is two
    topics, never the channel @karabakh."""
    channels = [a for a in args if a.startswith("@")]
    if len(channels) > 1:
        return [], None, _(texts.ONE_CHANNEL)
    ids: list[str] = []
    for arg in args:
        if arg.startswith("@"):
            continue
        for part in arg.split(","):
            wanted = part.strip().lower()
            if wanted and wanted not in ids:
                ids.append(wanted)
    if len(ids) > MAX_TOPICS:
        return [], None, _(texts.TOO_MANY_TOPICS).format(most=MAX_TOPICS)
    return ids, (channels[0] if channels else None), None


def _rule_line(rule: Rule, mine: set[str]) -> str:
    """A topic in a list: followed (✅) or not, its id and its title."""
    mark = "✅" if rule.id in mine else "▫️"
    return _(texts.RULE_LINE).format(mark=mark, id=esc(rule.id), title=esc(rule.title))


CARD_EXAMPLES = 3
"""Recent matches a /rule card shows."""
MAX_TOPICS = 20
"""Topics one command may name."""


class SubscriptionCommands(Handlers):
    """Subscribing and unsubscribing, by command, deep link or button."""

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._note_chat(update)
        if context.args:
            # A deep link t.me/<bot>?start=<rule> subscribes straight away.
            await self._subscribe(update, context, [context.args[0]])
            return
        await self._reply(update, _(texts.WELCOME))

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, _(texts.HELP))

    RULES_PER_PAGE = 8

    async def list_rules(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not [r for r in self.rules().rules if r.subscribable]:
            await self._reply(update, _(texts.NO_RULES))
            return
        if context.args:  # /rules drone: a search
            await self._search_rules(update, " ".join(context.args))
            return
        text, keyboard = await self._rules_page(self._chat(update), 0)
        await self._reply(update, text, keyboard)

    SEARCH_SHOWN = 30

    async def _search_rules(self, update: Update, wanted: str) -> None:
        """The topics whose id, title or description hold every word searched for."""
        words = wanted.casefold().split()
        rules = [r for r in self.rules().rules if r.subscribable]
        found = [
            r
            for r in rules
            if all(w in f"{r.id} {r.title} {r.description} {r.category}".casefold() for w in words)
        ]
        if not found:
            answer = _(texts.RULES_NONE_FOUND).format(wanted=esc(wanted))
            answer += did_you_mean(suggest(wanted.replace(" ", "-"), [r.id for r in rules]))
            await self._reply(update, answer + _(texts.SEE_RULES))
            return
        mine = set(await self.store.subscriptions_of(self._chat(update)))
        lines = []
        for r in found[: self.SEARCH_SHOWN]:
            line = _rule_line(r, mine)
            if r.description:
                line += f" · <i>{esc(shorten(r.description, 80))}</i>"
            lines.append(line)
        if len(found) > self.SEARCH_SHOWN:
            lines.append(_(texts.RULES_MORE_FOUND).format(more=len(found) - self.SEARCH_SHOWN))
        header = _(texts.RULES_FOUND).format(count=len(found), wanted=esc(wanted))
        await self._send_lines(update, header, lines)

    async def rule_card(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/rule id: what a topic covers, whether this chat follows it, and how to share it."""
        if not context.args:
            await self._reply(update, _(texts.RULE_USAGE))
            return
        rule, problem = self._find(context.args[0])
        if rule is None:
            await self._reply(update, problem or "")
            return
        chat = self._chat(update)
        follows = rule.id in await self.store.subscriptions_of(chat)
        link = f"https://t.me/{context.bot.username}?start={rule.id}"
        recent = await recent_matches(
            self.rules(), self.store, self.clock() - HISTORY, rule, CARD_EXAMPLES
        )
        examples = "".join(
            _(texts.RULE_EXAMPLE).format(title=esc(shorten(story.title, 120))) for story in recent
        )
        text = _(texts.RULE_CARD).format(
            title=esc(rule.title),
            id=esc(rule.id),
            description=esc(rule.description) if rule.description else _(texts.RULE_NO_DESCRIPTION),
            state=_(texts.RULE_FOLLOWED) if follows else _(texts.RULE_NOT_FOLLOWED),
            link=esc(link),
            examples=_(texts.RULE_EXAMPLES).format(days=HISTORY.days) + examples if recent else "",
        )
        if follows:
            row = buttons.alert_row(rule.id, "", buttons.Row.NORMAL)
        else:  # once pressed, the card's buttons act as an alert's (mute, unsubscribe, undo)
            label = _(texts.BUTTON_NOT_FOLLOWING).format(title=shorten(rule.title, 40))
            row = [InlineKeyboardButton(label, callback_data=buttons.data("subscribe", rule.id))]
        share = InlineKeyboardButton(
            _(texts.BUTTON_SHARE), url=f"https://t.me/share/url?url={quote(link, safe='')}"
        )
        await self._reply(update, text, InlineKeyboardMarkup([row, [share]]))

    async def _rules_page(self, chat: str, page: int) -> tuple[str, InlineKeyboardMarkup]:
        """One page of /rules: the topics, each a button that follows or stops it."""
        rules = [r for r in self.rules().rules if r.subscribable]
        grouped = len({r.category for r in rules}) > 1
        if grouped:  # by category, in the order the categories first appear
            first = {c: i for i, c in reversed(list(enumerate(r.category for r in rules)))}
            rules.sort(key=lambda r: first[r.category])
        mine = set(await self.store.subscriptions_of(chat))
        size = self.RULES_PER_PAGE
        pages = max(1, -(-len(rules) // size))
        page = min(max(page, 0), pages - 1)
        shown = rules[page * size : (page + 1) * size]
        lines = []
        for n, r in enumerate(shown):
            if grouped and (n == 0 or shown[n - 1].category != r.category):
                lines.append(_(texts.RULES_CATEGORY).format(category=esc(r.category or "-")))
            lines.append(_rule_line(r, mine))
        rows = [
            [
                InlineKeyboardButton(
                    (
                        _(texts.BUTTON_FOLLOWING) if r.id in mine else _(texts.BUTTON_NOT_FOLLOWING)
                    ).format(title=shorten(r.title, 40)),
                    callback_data=buttons.data(
                        "unsubscribe" if r.id in mine else "subscribe", r.id, page
                    ),
                )
            ]
            for r in shown
        ]
        nav = []
        if page > 0:
            nav.append(
                InlineKeyboardButton(
                    _(texts.BUTTON_PREVIOUS), callback_data=buttons.page_data(page - 1)
                )
            )
        if page < pages - 1:
            nav.append(
                InlineKeyboardButton(
                    _(texts.BUTTON_NEXT), callback_data=buttons.page_data(page + 1)
                )
            )
        if nav:
            rows.append(nav)
        text = _(texts.RULES_PAGE).format(page=page + 1, pages=pages) + "\n".join(lines)
        return text, InlineKeyboardMarkup(rows)

    async def subscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        ids, channel, problem = topics_and_channel(context.args or [])
        if problem is not None or not ids:
            await self._reply(update, problem or _(texts.SUBSCRIBE_USAGE))
            return
        await self._note_chat(update)
        await self._subscribe(update, context, ids, channel)

    async def _target(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, channel: str | None
    ) -> tuple[str, str | None] | None:
        """The chat a subscription command is about: this chat, or a channel named after the
        rule (``/subscribe rule @channel``), which only an admin of that channel may change and
        where the bot must be an admin to post. (chat id, channel name) or None if refused."""
        if channel is None:
            if not await self._may_manage(update, context):
                return None
            return self._chat(update), None
        user = update.effective_user
        name = channel if channel.startswith("@") else f"@{channel}"
        try:
            chat = await context.bot.get_chat(name)
            member = await context.bot.get_chat_member(chat.id, user.id) if user else None
            me = await context.bot.get_chat_member(chat.id, context.bot.id)
        except TelegramError as exc:
            log.info("cannot check channel %s: %s", name, exc)
            await self._reply(update, _(texts.CHANNEL_UNKNOWN).format(channel=esc(name)))
            return None
        admin = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        if member is None or member.status not in admin:
            await self._reply(update, _(texts.CHANNEL_ADMINS_ONLY).format(channel=esc(name)))
            return None
        if me.status != ChatMemberStatus.ADMINISTRATOR:
            await self._reply(update, _(texts.CHANNEL_BOT_NOT_ADMIN).format(channel=esc(name)))
            return None
        await self.store.set_chat_status(
            str(chat.id), ChatStatus.ACTIVE, self.clock(), kind=chat.type, title=chat.title or name
        )
        return str(chat.id), name

    async def _subscribe(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        rule_ids: list[str],
        channel: str | None = None,
    ) -> None:
        """Subscribe this chat (or ``channel``) to each topic named; one answer for all."""
        found: dict[str, Rule] = {}
        problems: dict[str, str] = {}
        for rule_id in rule_ids:
            rule, problem = self._find(rule_id)
            if rule is None:
                problems[rule_id] = (problem or "").removesuffix(_(texts.SEE_RULES))
            else:
                found.setdefault(rule.id, rule)
        lines: list[str] = []
        if found:
            target = await self._target(update, context, channel)
            if target is None:
                return
            chat, name = target
            for rule in found.values():
                created = await self.store.subscribe(chat, rule.id, self.clock())
                if name is not None:
                    done, again = _(texts.CHANNEL_SUBSCRIBED), _(texts.CHANNEL_ALREADY_SUBSCRIBED)
                else:
                    done, again = _(texts.SUBSCRIBED), _(texts.ALREADY_SUBSCRIBED)
                template = done if created else again
                lines.append(template.format(title=esc(rule.title), channel=esc(name)))
                if created:
                    log.info("chat %s subscribed to %s", chat, rule.id)
        lines.extend(problems.values())
        if problems:
            lines[-1] += _(texts.SEE_RULES)
            if channel is None and len(rule_ids) > 1:
                lines.append(_(texts.CHANNEL_HINT))
        await self._reply(update, "\n".join(lines))

    async def unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        ids, channel, problem = topics_and_channel(context.args or [])
        if problem is not None or not ids:
            await self._reply(update, problem or _(texts.UNSUBSCRIBE_USAGE))
            return
        target = await self._target(update, context, channel)
        if target is None:
            return
        chat, name = target
        lines: list[str] = []
        theirs: list[str] | None = None
        for wanted in ids:
            if await self.store.unsubscribe(chat, wanted):
                rule = self.rules().by_id.get(wanted)
                title = esc(rule.title if rule else wanted)
                template = _(texts.CHANNEL_UNSUBSCRIBED) if name else _(texts.UNSUBSCRIBED)
                lines.append(template.format(title=title, channel=esc(name)))
                log.info("chat %s unsubscribed from %s", chat, wanted)
                continue
            if theirs is None:
                theirs = await self.store.subscriptions_of(chat)
            lines.append(
                _(texts.NOT_SUBSCRIBED).format(id=esc(wanted))
                + did_you_mean(suggest(wanted, theirs))
            )
        await self._reply(update, "\n".join(lines))

    async def mine(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = self._chat(update)
        chat_muted, subscriptions, mutes = await self.store.chat_settings(chat, self.clock())
        book = self.rules()
        subscriptions = [r for r in subscriptions if r in book.by_id]  # gone topics leave
        managed = await self._managed(update, context)
        if not subscriptions and not managed:
            await self._reply(update, _(texts.MINE_EMPTY))
            return
        prefs = await self._prefs(chat)
        lines = []
        for rule_id in subscriptions:
            title = esc(book.by_id[rule_id].title)
            line = _(texts.RULE_LINE).format(mark="✅", id=esc(rule_id), title=title)
            if rule_id in mutes:
                line += _(texts.MUTED_UNTIL).format(until=when(mutes[rule_id], prefs))
            lines.append(line)
        if managed:
            lines.append(_(texts.MINE_CHANNELS))
            lines.extend(managed)
        header = _(texts.MINE_HEADER) if subscriptions else _(texts.MINE_EMPTY) + "\n"
        if chat_muted is not None:
            header = _(texts.MINE_ALL_MUTED).format(until=when(chat_muted, prefs)) + header
        await self._send_lines(update, header, lines)

    MANAGED_CHECKED = 100
    """Groups and channels /mine asks Telegram about, at most (one request each, a few at
    once)."""

    async def _managed(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> list[str]:
        """In a private chat: one line per group or channel the person administers and the
        bot posts in, with the topics it receives (by subscription or ``notify``)."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None or chat.type != ChatType.PRIVATE:
            return []
        known = await self.store.group_chats()
        aliases = await self.store.aliases()
        for rule in self.rules().rules:
            for target in rule.notify:
                base = aliases.get(target, target)
                if base.startswith("-") and "/" not in base:
                    known.setdefault(base, target if target.startswith("@") else None)
        book = self.rules()
        candidates = sorted(known.items())[: self.MANAGED_CHECKED]
        slots = asyncio.Semaphore(8)

        async def manages(group: str) -> bool:
            async with slots:
                try:
                    member = await context.bot.get_chat_member(chat_id(group), user.id)
                except (TelegramError, ValueError) as exc:
                    log.info("cannot check %s's rights in %s: %s", user.id, group, exc)
                    return False
            return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

        verdicts = await asyncio.gather(*(manages(group) for group, _ in candidates))
        lines = []
        for (group, title), managed in zip(candidates, verdicts, strict=True):
            if not managed:
                continue
            reaching = await self._rules_reaching(group)
            topics = [esc(book.by_id[r].title) for r in reaching if r in book.by_id]
            name = esc(title or group)
            if topics:
                lines.append(_(texts.MINE_CHANNEL).format(channel=name, topics=", ".join(topics)))
            else:
                lines.append(_(texts.MINE_CHANNEL_NOTHING).format(channel=name))
        return lines

    # -- buttons ------------------------------------------------------------------------

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None or query.data is None or chat is None:
            return
        chat_id = self._chat(update)  # the forum topic, if the buttons are in one
        book = self.rules()
        own = (w for w in book.watches.values() if chat_id in w.notify)
        kind, rule, page = buttons.parse(query.data, (*book.rules, *own))
        if kind == "page":
            text, keyboard = await self._rules_page(chat_id, page or 0)
            await query.answer()
            await self._edit(update, text, keyboard)
            return
        if rule is None or kind == "unknown":
            await query.answer(_(texts.BUTTON_GONE), show_alert=True)
            return
        if not await self._may_manage(update, context, quietly=True):
            await query.answer(plain(_(texts.GROUP_ADMINS_ONLY)), show_alert=True)
            return
        now = self.clock()
        until_text = ""
        changed = True
        if kind == "subscribe":
            created = await self.store.subscribe(chat_id, rule.id, now)
            answer = _(texts.SUBSCRIBED) if created else _(texts.ALREADY_SUBSCRIBED)
        elif kind == "unsubscribe":
            removed = await self.store.unsubscribe(chat_id, rule.id)
            answer = _(texts.UNSUBSCRIBED) if removed else _(texts.NOT_SUBSCRIBED)
        elif kind == "unmute":  # the undo of a mute under an alert
            await self.store.mute(chat_id, rule.id, None, now)
            answer = _(texts.UNMUTED)
        else:  # mute, from under an alert: for 24 hours
            until = now + timedelta(hours=24)
            if chat_id in rule.notify or rule.id in await self._rules_reaching(chat_id):
                await self.store.mute(chat_id, rule.id, until, now)
                answer = _(texts.MUTED)
            else:
                answer, changed = _(texts.NOT_SUBSCRIBED), False
            until_text = when(until, await self._prefs(chat_id))
        await query.answer(
            plain(answer.format(title=esc(rule.title), id=esc(rule.id), until=until_text))
        )
        if page is not None:  # a /rules page: show the new state
            text, keyboard = await self._rules_page(chat_id, page)
            await self._edit(update, text, keyboard)
        elif changed and query.message is not None:  # under an alert: offer the undo
            markup = getattr(query.message, "reply_markup", None)
            await self._edit(update, None, buttons.after_press(markup, rule, kind))
        log.info("chat %s pressed %s on %s", chat_id, kind, rule.id)
