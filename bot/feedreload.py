"""Keeping the feed list in force current, like the rules: reload when ``config.yaml`` changes
(debounced), on SIGHUP or /reload. A valid file's feeds replace the feeds in force: new feeds
are added (their first poll records what they hold, as at start), removed ones stop being
polled (their stories stay, for history and de-duplication), changed ones take their new
URL, interval or title. A feed renamed with its URL unchanged keeps its history: its stories,
its cache validators and its place in the schedule move to the new name, so nothing it already
sent is taken for new. An invalid file is refused with every problem's line, the last good
list keeps running, and the admins are told once per distinct refusal. Other settings are
read at start only: a change to them is logged as needing a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path

from bot.config import Config, load_config
from bot.core.errors import ConfigError, Problem
from bot.polling import FeedPoller
from bot.scheduler import FeedScheduler
from bot.storage import Store

log = logging.getLogger(__name__)


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class FeedReloader:
    """Owns the config in force (:attr:`config`) and why the last feed reload was refused."""

    def __init__(
        self,
        config: Config,
        poller: FeedPoller,
        store: Store,
        *,
        notify_admins: Callable[[str], Awaitable[None]],
        scheduler: Callable[[], FeedScheduler | None],
        titles: MutableMapping[str, str],
        tags: MutableMapping[str, tuple[str, ...]],
    ) -> None:
        self.config = config
        self.path = Path(config.source)
        self.poller = poller
        self.store = store
        self.notify_admins = notify_admins
        self.scheduler = scheduler
        self.titles = titles
        """Feed name -> title, as alerts show it (updated in place)."""
        self.tags = tags
        """Feed name -> tags, as rules scoped by tag see them (updated in place)."""
        self.error: str | None = None
        self._fingerprint = _fingerprint(self.path)
        self._changing: tuple[int, int] | None = None

    async def watch(self) -> bool:
        """Reload when the file changed and then stayed the same for one check (an editor may
        still be writing it); True if the feeds in force changed."""
        seen = _fingerprint(self.path)
        if seen == self._fingerprint:
            self._changing = None
            return False
        if seen != self._changing:
            self._changing = seen
            return False
        self._changing = None
        _, changed = await self.reload()
        return changed

    async def reload(self) -> tuple[str, bool]:
        """Read the file again; returns a one-line report and whether the feeds changed."""
        self._fingerprint = _fingerprint(self.path)
        try:
            config = load_config(self.path)
        except Exception as exc:  # a hostile or half-written file must not stop the bot
            if not isinstance(exc, ConfigError):
                log.exception("reading %s failed", self.path)
                exc = ConfigError([Problem(str(self.path), f"cannot read: {exc}")])
            report = str(exc)
            new_error, self.error = report != self.error, report
            if new_error:
                log.error("feeds not reloaded, the previous feeds stay in force:\n%s", report)
                await self.notify_admins(
                    f"Feed list change refused; the previous feeds stay in force.\n{report}"
                )
            return f"Feeds not reloaded: {len(exc.problems)} problem(s).\n{report}", False
        self.error = None
        report, changed = await self._apply(config)
        self._warn_restart(config)
        self.config = config
        return report, changed

    async def _apply(self, config: Config) -> tuple[str, bool]:
        poller = self.poller
        before = dict(poller.specs)
        poller.specs = {s.name: s for s in config.feed_specs()}  # in the file's order
        moved = await poller.sync()  # renames followed, new feeds added
        wanted = poller.specs
        removed = [n for n in before if n not in wanted and n not in moved]
        added = [n for n in wanted if n not in before and n not in moved.values()]
        changed = [n for n, s in wanted.items() if n in before and before[n] != s]
        scheduler = self.scheduler()
        if scheduler is not None:
            for name in [*removed, *moved]:
                scheduler.unschedule(name)
            for name in [*added, *moved.values(), *changed]:
                state = poller.states[name]
                scheduler.unschedule(name)
                if not state.disabled:
                    scheduler.schedule(name, state.next_poll_at or poller.clock())
        self.titles.clear()
        self.titles.update(config.feed_titles())
        self.tags.clear()
        self.tags.update({f.name: f.tags for f in config.feeds})
        parts = [
            f"{len(added)} added" if added else "",
            f"{len(removed)} removed" if removed else "",
            f"{len(moved)} renamed" if moved else "",
            f"{len(changed)} changed" if changed else "",
        ]
        summary = ", ".join(p for p in parts if p) or "no change"
        if added or removed or moved or changed:
            log.info(
                "feeds reloaded: %d in force (%s)%s%s",
                len(wanted),
                summary,
                f"; added {', '.join(added)}" if added else "",
                f"; removed {', '.join(removed)}" if removed else "",
            )
        return f"Feeds reloaded: {len(wanted)} in force ({summary}).", bool(
            added or removed or moved or changed
        )

    def _warn_restart(self, config: Config) -> None:
        before = self.config.model_dump(exclude={"feeds"})
        after = config.model_dump(exclude={"feeds"})
        differ = sorted(k for k in after if before.get(k) != after.get(k))
        if differ:
            log.warning(
                "%s: changes to %s apply at the next start (only the feeds reload)",
                self.path,
                ", ".join(differ),
            )
