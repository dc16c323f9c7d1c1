"""How and when a chat gets its alerts: /mute and /unmute, /digest, /quiet, /timezone, and
/settings showing all of it."""

from __future__ import annotations

import difflib
import functools
import logging
import zoneinfo
from datetime import datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot.core.digest import (
    ALL_RULES,
    DEFAULT_DAILY_AT,
    PERIODS,
    ChatPrefs,
    Digest,
    parse_clock,
    parse_quiet,
)
from bot.settings import parse_duration
from bot.telegram import texts
from bot.telegram.handlers import Handlers, did_you_mean, esc, suggest, when
from bot.telegram.i18n import LANGUAGES, _, language

log = logging.getLogger(__name__)


@functools.cache
def _zones() -> dict[str, str]:
    """Every IANA zone name this system knows, by its lower-case spelling."""
    names = {n for n in zoneinfo.available_timezones() if not n.startswith(("posix/", "right/"))}
    return {n.lower(): n for n in names | {"UTC"}}


_REGIONS = ("Europe", "Asia", "America", "Africa", "Australia", "Pacific", "Atlantic", "Indian")


def _region_rank(name: str) -> int:
    region = name.split("/", 1)[0]
    return _REGIONS.index(region) if region in _REGIONS else len(_REGIONS)


def find_timezone(wanted: str) -> tuple[str | None, list[str]]:
    """(the zone's proper name, or None and the closest names). Case does not matter, and a
    city alone finds its zone (``istanbul`` -> ``Europe/Istanbul``)."""
    key = wanted.strip().lower().replace(" ", "_")
    zones = _zones()
    if key in zones:
        return zones[key], []
    by_city = sorted(
        (name for low, name in zones.items() if low.rsplit("/", 1)[-1] == key), key=_region_rank
    )
    if by_city and (len(by_city) == 1 or _region_rank(by_city[0]) < _region_rank(by_city[1])):
        # Old aliases (Asia/Istanbul for Europe/Istanbul) lose to the region's own name.
        return by_city[0], []
    close = difflib.get_close_matches(key, list(zones), n=3, cutoff=0.6)
    return None, sorted(by_city) or [zones[c] for c in close]


def _local(prefs: ChatPrefs, now: datetime) -> str:
    return now.astimezone(prefs.tz).strftime("%H:%M")


def _grouping(prefs: ChatPrefs) -> str:
    return _(texts.GROUPING_STATE_ON if prefs.grouping else texts.GROUPING_STATE_OFF)


def _describe(digest: Digest, prefs: ChatPrefs) -> str:
    if digest.period == "hourly":
        return _(texts.DIGEST_HOURLY)
    if digest.period == "daily":
        at = (digest.at or DEFAULT_DAILY_AT).strftime("%H:%M")
        return _(texts.DIGEST_DAILY).format(at=at, tz=esc(prefs.tz_name))
    return _(texts.DIGEST_OFF)


class PreferenceCommands(Handlers):
    """A chat's delivery preferences."""

    async def mute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []
        if not args:
            await self._reply(update, _(texts.MUTE_USAGE))
            return
        duration = args[1] if len(args) > 1 else "24h"
        try:
            length = parse_duration(duration)
        except ValueError:
            await self._reply(update, _(texts.BAD_DURATION).format(value=esc(duration)))
            return
        await self._set_mute(update, context, args[0], self.clock() + length)

    async def unmute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not context.args:
            await self._reply(update, _(texts.UNMUTE_USAGE))
            return
        await self._set_mute(update, context, context.args[0], None)

    async def _set_mute(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        target: str,
        until: datetime | None,
    ) -> None:
        if not await self._may_manage(update, context):
            return
        chat = self._chat(update)
        now = self.clock()
        wanted = target.strip().lower()
        if wanted == "all":
            await self.store.mute(chat, None, until, now)
            text = _(texts.MUTED_ALL) if until else _(texts.UNMUTED_ALL)
            until_text = when(until, await self._prefs(chat)) if until else ""
            await self._reply(update, text.format(until=until_text))
            return
        reaching = await self._rules_reaching(chat)
        if wanted not in reaching:
            answer = _(texts.NOT_SUBSCRIBED).format(id=esc(wanted))
            answer += did_you_mean(suggest(wanted, list(reaching)))
            await self._reply(update, answer)
            return
        await self.store.mute(chat, wanted, until, now)
        rule = self.rules().by_id.get(wanted)
        title = esc(rule.title if rule else wanted)
        text = _(texts.MUTED) if until else _(texts.UNMUTED)
        until_text = when(until, await self._prefs(chat)) if until else ""
        await self._reply(update, text.format(title=title, until=until_text))

    # -- digests, quiet hours, time zone ---------------------------------------------------

    async def digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []
        if len(args) < 2:
            await self._reply(update, _(texts.DIGEST_USAGE))
            return
        target, period = args[0].strip().lower(), args[1].strip().lower()
        if period not in PERIODS:
            await self._reply(update, _(texts.BAD_PERIOD).format(value=esc(args[1])))
            return
        at = None
        if period == "daily" and len(args) > 2:
            try:
                at = parse_clock(args[2])
            except ValueError:
                await self._reply(update, _(texts.BAD_TIME).format(value=esc(args[2])))
                return
        title = None
        if target != "all":
            rule = self.rules().by_id.get(target)
            if rule is None:
                answer = _(texts.UNKNOWN_RULE).format(id=esc(target))
                answer += did_you_mean(suggest(target, [r.id for r in self.rules().rules]))
                await self._reply(update, answer + _(texts.SEE_RULES))
                return
            title = rule.title
        if not await self._may_manage(update, context):
            return
        chat = self._chat(update)
        choice = Digest(period, at)  # one of PERIODS, checked above
        await self.store.set_digest(
            chat, ALL_RULES if title is None else target, choice, self.clock()
        )
        described = _describe(choice, await self._prefs(chat))
        if title is None:
            await self._reply(update, _(texts.DIGEST_SET_ALL).format(digest=described))
        else:
            await self._reply(
                update, _(texts.DIGEST_SET).format(title=esc(title), digest=described)
            )
        log.info("chat %s: digest for %s set to %s %s", chat, target, period, at or "")

    async def quiet(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []
        chat = self._chat(update)
        if not args:
            prefs = await self._prefs(chat)
            await self._reply(update, _(texts.QUIET_USAGE).format(tz=esc(prefs.tz_name)))
            return
        text = "".join(args)
        window = None
        if text.lower() not in ("off", "none"):
            try:
                window = parse_quiet(text)
            except ValueError:
                await self._reply(update, _(texts.BAD_QUIET).format(value=esc(text)))
                return
        if not await self._may_manage(update, context):
            return
        await self.store.set_quiet(chat, window, self.clock())
        if window is None:
            await self._reply(update, _(texts.QUIET_OFF))
            return
        prefs = await self._prefs(chat)
        await self._reply(
            update,
            _(texts.QUIET_SET).format(
                window=window.describe(), tz=esc(prefs.tz_name), end=window.end.strftime("%H:%M")
            ),
        )

    async def timezone(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []
        chat = self._chat(update)
        now = self.clock()
        if not args:
            prefs = await self._prefs(chat)
            await self._reply(
                update,
                _(texts.TIMEZONE_USAGE).format(tz=esc(prefs.tz_name), local=_local(prefs, now)),
            )
            return
        name, close = find_timezone(" ".join(args))
        if name is None:
            answer = _(texts.UNKNOWN_TIMEZONE).format(value=esc(" ".join(args)))
            await self._reply(update, answer + did_you_mean(close))
            return
        if not await self._may_manage(update, context):
            return
        await self.store.set_timezone(chat, None if name == "UTC" else name, now)
        prefs = await self._prefs(chat)
        await self._reply(
            update, _(texts.TIMEZONE_SET).format(tz=esc(prefs.tz_name), local=_local(prefs, now))
        )

    async def grouping(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/grouping on|off: whether other outlets' versions of a story join its message."""
        args = [a.lower() for a in context.args or []]
        chat = self._chat(update)
        if not args:
            prefs = await self._prefs(chat)
            await self._reply(update, _(texts.GROUPING_USAGE).format(state=_grouping(prefs)))
            return
        if args[0] not in ("on", "off") or len(args) > 1:
            await self._reply(update, _(texts.BAD_GROUPING))
            return
        if not await self._may_manage(update, context):
            return
        on = args[0] == "on"
        await self.store.set_grouping(chat, on, self.clock())
        await self._reply(update, _(texts.GROUPING_ON if on else texts.GROUPING_OFF))
        log.info("chat %s: grouping of a story's versions %s", chat, args[0])

    async def settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = self._chat(update)
        now = self.clock()
        prefs = await self._prefs(chat)
        chat_muted, subscriptions, mutes = await self.store.chat_settings(chat, now)
        lines = [_(texts.SETTINGS_TIMEZONE).format(tz=esc(prefs.tz_name), local=_local(prefs, now))]
        if prefs.quiet is not None:
            lines.append(
                _(texts.SETTINGS_QUIET).format(
                    window=prefs.quiet.describe(), end=prefs.quiet.end.strftime("%H:%M")
                )
            )
        else:
            lines.append(_(texts.SETTINGS_NO_QUIET))
        lines.append(
            _(texts.SETTINGS_DIGEST).format(digest=_describe(prefs.digest_for(ALL_RULES), prefs))
        )
        if chat_muted is not None:
            lines.append(_(texts.SETTINGS_MUTED).format(until=when(chat_muted, prefs)))
        how = "" if prefs.language else _(texts.LANGUAGE_FROM_TELEGRAM)
        lines.append(_(texts.SETTINGS_LANGUAGE).format(name=LANGUAGES[language()], how=how))
        lines.append(_(texts.SETTINGS_GROUPING).format(state=_grouping(prefs)))
        book = self.rules()
        subscriptions = [r for r in subscriptions if r in book.by_id]  # gone topics leave
        reaching = await self._rules_reaching(chat)
        topics = list(dict.fromkeys([*subscriptions, *reaching]))
        lines.append(_(texts.SETTINGS_TOPICS))
        if not topics:
            lines.append(_(texts.SETTINGS_NO_TOPICS))
        for rule_id in topics:
            rule = book.by_id.get(rule_id)
            extra = []
            own = prefs.digests.get(rule_id)
            if own is not None:
                extra.append(_describe(own, prefs))
            if rule_id in mutes:
                extra.append(
                    _(texts.MUTED_UNTIL).format(until=when(mutes[rule_id], prefs)).strip(" ()")
                )
            if rule_id not in subscriptions:
                extra.append(_(texts.SETTINGS_BY_CONFIG).strip(" ()"))
            lines.append(
                _(texts.SETTINGS_TOPIC).format(
                    mark="✅",
                    id=esc(rule_id),
                    title=esc(rule.title if rule else "?"),
                    extra=f" ({'; '.join(extra)})" if extra else "",
                )
            )
        lines.append(_(texts.SETTINGS_FOOTER))
        await self._send_lines(update, _(texts.SETTINGS_HEADER), lines)
