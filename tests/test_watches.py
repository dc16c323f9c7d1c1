"""Personal watches below Telegram: the matcher taking watches in and out in place (and agreeing
with a matcher compiled afresh), the states a watch moves through, the store (SQLite and
PostgreSQL), keeping a second instance's matcher in step, and the export as a rule file."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.models import Story
from bot.core.rules import Matcher, Rule, RuleBook, RuleError
from bot.core.watches import (
    Watch,
    WatchError,
    WatchState,
    as_yaml,
    can_move,
    check_query,
    move,
    watch_rule,
)
from bot.rulefiles import load_rules
from bot.storage.store import Store
from bot.watching import WatchSync
from tests.builders import delivery
from tests.test_storage import NOW, SPEC, record
from tests.test_storage import story as stored

WORDS = [
    "shusha",
    "şuşa",
    "шуша",
    "bayraktar",
    "bayraktars",
    "drone",
    "drones",
    "dron",
    "strike",
    "strikes",
    "missile",
    "missiles",
    "karabakh",
    "qarabağ",
    "карабах",
    "zangezur",
    "corridor",
    "border",
    "peace",
    "talks",
    "army",
    "navy",
    "port",
    "grain",
    "ukraine",
    "russia",
    "iran",
    "israel",
    "gaza",
    "turkey",
    "azerbaijan",
    "armenia",
    "akinci",
    "tb2",
    "baykar",
    "ankara",
    "baku",
    "yerevan",
    "moscow",
    "kyiv",
    "tehran",
    "the",
    "a",
    "of",
    "in",
    "on",
    "ceasefire",
    "shelling",
    "village",
    "convoy",
]


def _stories(rng: random.Random, count: int) -> list[Story]:
    out = []
    for n in range(count):
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
        summary = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.2:  # some capitalised, as headlines write names
            title = title.title()
        out.append(Story(feed=rng.choice(["a", "b"]), key=str(n), title=title, summary=summary))
    return out


def _query(rng: random.Random) -> str:
    a, b, c = (rng.choice(WORDS) for _ in range(3))
    p = rng.choice([w for w in WORDS if len(w) >= 4])
    return rng.choice(
        [
            a,
            f"{a} OR {b}",
            f"{a} AND {b}",
            f'"{a} {b}"',
            f'"{a} {b} {c}"',
            f"{p[:4]}*",
            f'"{p[:3]}* {b}"',
            f"{a} AND NOT {b}",
            f"{a} NEAR/2 {b}",
            f"title:{a} OR {b}",
            f"={a.title()}",
            f"({a} OR {b}) AND {c}",
        ]
    )


def _ids(matcher: Matcher, story: Story) -> list[str]:
    return sorted(m.rule_id for m in matcher.match(story))


def test_watches_added_and_removed_in_place_match_as_a_fresh_matcher_does() -> None:
    rng = random.Random(7)
    stories = _stories(rng, 400)
    file_rules = [Rule(id=f"rule-{i}", title="r", query=_query(rng)) for i in range(40)]
    book = RuleBook(file_rules)
    live: dict[str, Rule] = {}
    for n in range(300):
        # Match a few stories between changes, so that the word caches hold what the change
        # must make them forget.
        for story in rng.sample(stories, 5):
            book.matcher.match(story)
        roll = rng.random()
        if live and roll < 0.15:
            gone = rng.choice(sorted(live))
            assert book.drop_watch(gone)
            del live[gone]
        elif live and roll < 0.25:  # edited: the same id, another query
            edited = rng.choice(sorted(live))
            rule = watch_rule(int(edited.split(":")[1]), "1", _query(rng))
            book.put_watch(rule)
            live[edited] = rule
        else:
            rule = watch_rule(n, "1", _query(rng))
            book.put_watch(rule)
            live[rule.id] = rule
        if n % 50 == 49:
            fresh = Matcher([*file_rules, *live.values()])
            for story in stories:
                assert _ids(book.matcher, story) == _ids(fresh, story), (n, story.title)
    assert book.matcher.waste > 0, "removals were made in place, not by rebuilding"
    assert {r.id for r in book.matcher.rules} == {r.id for r in file_rules} | set(live)
    # Every story and the same hits: what a match explains agrees too.
    fresh = Matcher([*file_rules, *live.values()])
    for story in stories[:100]:
        got = {m.rule_id: [h.term for h in m.hits] for m in book.matcher.match(story)}
        want = {m.rule_id: [h.term for h in m.hits] for m in fresh.match(story)}
        assert got == want


def test_a_watch_needing_another_field_rebuilds_and_a_bad_one_changes_nothing() -> None:
    book = RuleBook([Rule(id="t", title="t", query="drone", fields=("title",))])
    matcher = book.matcher
    book.put_watch(watch_rule(1, "1", "shusha"))  # title, summary, content: a new field set
    assert book.matcher is not matcher
    assert _ids(book.matcher, Story(feed="f", key="k", title="", summary="Shusha today")) == [
        "watch:1"
    ]
    kept = book.matcher
    with pytest.raises(RuleError):
        book.put_watch(watch_rule(2, "1", "shusha AND ("))
    assert book.matcher is kept and set(book.watches) == {"watch:1"}
    book.put_watch(watch_rule(3, "1", "drones"))
    assert book.matcher is kept, "a watch on fields already scanned is added in place"
    assert not book.drop_watch("watch:99")


def test_file_rules_reloaded_keep_the_watches_and_routes_name_both() -> None:
    book = RuleBook([Rule(id="drones", title="Drones", query="drone")])
    book.put_watch(watch_rule(5, "42", "shusha"))
    reloaded = RuleBook(
        [Rule(id="drones", title="Drones", query="drone")], watches=book.watches.values()
    )
    story = Story(feed="f", key="k", title="Drone over Shusha")
    assert _ids(reloaded.matcher, story) == ["drones", "watch:5"]
    assert set(reloaded.routes) == {"drones", "watch:5"}
    assert [r.id for r in reloaded.rules] == ["drones"], "watches are not topics"
    assert reloaded.routes["watch:5"].notify == ("42",)
    assert not reloaded.routes["watch:5"].subscribable
    # A watch naming a lexicon list that is gone is left out, not the reload refused.
    with_list = RuleBook([], {"towns": ("shusha",)}, watches=[watch_rule(6, "42", "@towns")])
    without = RuleBook([], {}, watches=with_list.watches.values())
    assert set(with_list.watches) == {"watch:6"} and without.watches == {}


def test_watch_states_move_only_as_allowed() -> None:
    draft, active, paused, deleted = (
        WatchState.DRAFT,
        WatchState.ACTIVE,
        WatchState.PAUSED,
        WatchState.DELETED,
    )
    assert move(draft, active) is active
    assert move(active, paused) is paused and move(paused, active) is active
    assert move(deleted, active) is active, "a delete can be undone"
    assert can_move(paused, paused)
    for current, wanted in ((draft, paused), (active, draft), (deleted, paused)):
        assert not can_move(current, wanted)
        with pytest.raises(WatchError):
            move(current, wanted)


def test_queries_are_checked_like_rules() -> None:
    assert check_query("  Shusha   OR  Şuşa ") == "Shusha OR Şuşa"
    with pytest.raises(RuleError) as broken:
        check_query("Shusha AND (")
    assert broken.value.column is not None
    with pytest.raises(RuleError, match="only NOT"):
        check_query("NOT drone")
    with pytest.raises(RuleError, match="empty"):
        check_query("   ")
    with pytest.raises(RuleError, match="at most"):
        check_query("word " * 200)
    assert check_query("@towns", {"towns": ("shusha",)}) == "@towns"
    with pytest.raises(RuleError):
        check_query("@towns", {})


def test_an_exported_watch_loads_as_the_same_rule(tmp_path: Path) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    query = 'Shusha OR "Zangezur corridor" OR title:Şuşa* OR =TB2 OR "#kara: bağ"'
    watch = Watch(12, "1001", query, WatchState.ACTIVE, now, now)
    (tmp_path / "promoted.yaml").write_text("rules:\n" + as_yaml(watch), encoding="utf-8")
    (rule,) = load_rules(tmp_path, {}).rules
    assert (rule.id, rule.query, rule.title) == ("watch-12", query, query)


async def test_the_store_keeps_watches_and_their_limit(store: Store) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    first = await store.draft_watch("1001", "Shusha", now)
    second = await store.draft_watch("1001", "Zangezur", now)
    assert (first.state, first.chat, first.query) == (WatchState.DRAFT, "1001", "Shusha")
    assert await store.watches_of("1001") == [], "drafts count for nothing"
    assert await store.watches_changed(None) == [], "nor are they loaded"
    later = now + timedelta(seconds=5)
    active = await store.set_watch(first.id, WatchState.ACTIVE, later, limit=1)
    assert (active.state, active.updated_at) == (WatchState.ACTIVE, later)
    with pytest.raises(WatchError, match="1 watches already"):
        await store.set_watch(second.id, WatchState.ACTIVE, later, limit=1)
    with pytest.raises(WatchError, match="cannot become"):
        await store.set_watch(first.id, WatchState.DRAFT, later)
    with pytest.raises(WatchError, match="no watch"):
        await store.set_watch(999, WatchState.ACTIVE, later)
    edited = await store.set_watch(first.id, WatchState.ACTIVE, later, query="Şuşa", limit=1)
    assert edited.query == "Şuşa", "editing a counted watch does not meet the limit"
    assert [w.id for w in await store.watches_of("1001")] == [first.id]
    before = now - timedelta(seconds=1)
    assert [w.id for w in await store.watches_changed(before)] == [second.id, first.id]
    assert await store.watches_changed(later) == []
    assert (await store.watch(first.id)) == edited
    # Old unconfirmed drafts are forgotten when the chat drafts again.
    await store.draft_watch("1001", "Again", now + timedelta(days=2))
    assert await store.watch(second.id) is None


async def test_a_second_instance_follows_the_watches_of_the_first(db_url: str) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    here, there = await Store.open(db_url), await Store.open(db_url)
    try:
        ours = RuleBook([Rule(id="drones", title="Drones", query="drone")])
        theirs = RuleBook([Rule(id="drones", title="Drones", query="drone")])
        draft = await here.draft_watch("1001", "Shusha", now)
        active = await here.set_watch(draft.id, WatchState.ACTIVE, now)
        sync_here = WatchSync(here, lambda: ours)
        sync_here.apply(active)
        sync_there = WatchSync(there, lambda: theirs)
        theirs = await sync_there.load()
        story = Story(feed="f", key="k", title="Shusha drone")
        assert _ids(ours.matcher, story) == _ids(theirs.matcher, story) == ["drones", "watch:1"]
        paused = await here.set_watch(draft.id, WatchState.PAUSED, now + timedelta(seconds=1))
        sync_here.apply(paused)
        assert await sync_there.sync() == 1
        assert _ids(theirs.matcher, story) == ["drones"]
        assert await sync_there.sync() == 0, "a change seen again changes nothing"
        resumed = await here.set_watch(draft.id, WatchState.ACTIVE, now + timedelta(seconds=2))
        assert resumed.live
        assert await sync_there.sync() == 1
        assert _ids(theirs.matcher, story) == ["drones", "watch:1"]
    finally:
        await here.close()
        await there.close()


async def test_a_group_that_became_a_supergroup_keeps_its_watches(db_url: str) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    store = await Store.open(db_url)
    try:
        book = RuleBook([])
        sync = WatchSync(store, lambda: book)
        group, topic = await store.draft_watch("-42", "Shusha", now), None
        sync.apply(await store.set_watch(group.id, WatchState.ACTIVE, now))
        draft = await store.draft_watch("-42/7", "Zangezur", now)  # a forum topic's
        topic = await store.set_watch(draft.id, WatchState.ACTIVE, now)
        sync.apply(topic)
        await store.merge_chat("-42", "-100042", now + timedelta(seconds=1), reason="migrated")
        assert [w.query for w in await store.watches_of("-100042")] == ["Shusha"]
        assert [w.query for w in await store.watches_of("-100042/7")] == ["Zangezur"]
        assert await store.watches_of("-42") == []
        assert await sync.sync() == 2, "the move reaches the matcher: alerts go to the new id"
        assert book.watches[f"watch:{group.id}"].notify == ("-100042",)
        assert book.watches[f"watch:{topic.id}"].notify == ("-100042/7",)
    finally:
        await store.close()


async def test_pausing_or_deleting_a_watch_cancels_its_unsent_alerts(store: Store) -> None:
    now = NOW
    state = (await store.sync_feeds([SPEC], now))["news"]
    paused = await store.draft_watch("1001", "Shusha", now)
    kept = await store.draft_watch("1001", "Zangezur", now)
    for draft in (paused, kept):
        await store.set_watch(draft.id, WatchState.ACTIVE, now)
    alerts = [
        delivery("a", f"watch:{paused.id}", "1001"),  # names only the watch paused
        delivery("b", f"watch:{kept.id}", "1001"),
    ]
    stories = [stored("a"), stored("b")]
    await store.commit_poll(record(state, stories, {"a", "b"}, alerts), now)
    await store.set_watch(paused.id, WatchState.PAUSED, now)
    counts = await store.delivery_counts()
    assert {s.value: n for s, n in counts.items()} == {"cancelled": 1, "pending": 1}


def test_a_watch_left_out_on_a_reload_comes_back_with_its_list() -> None:
    lexicon = {"towns": ("shusha",)}
    book = RuleBook([], lexicon, watches=[watch_rule(1, "42", "@towns")])
    without = RuleBook([], {}, watches=book.every_watch)
    assert without.watches == {} and set(without.refused) == {"watch:1"}
    again = RuleBook([], lexicon, watches=without.every_watch)
    story = Story(feed="f", key="k", title="Shusha today")
    assert _ids(again.matcher, story) == ["watch:1"]


async def test_a_change_read_late_does_not_undo_a_newer_one(store: Store) -> None:
    now = NOW
    book = RuleBook([])
    sync = WatchSync(store, lambda: book)
    draft = await store.draft_watch("1001", "Shusha", now)
    active = await store.set_watch(draft.id, WatchState.ACTIVE, now)
    deleted = await store.set_watch(draft.id, WatchState.DELETED, now + timedelta(seconds=1))
    assert sync.apply(active) and set(book.watches) == {f"watch:{draft.id}"}
    assert sync.apply(deleted) and book.watches == {}
    # The sync read the active row before the delete committed, and applies it after:
    assert sync.apply(active) is False, "the older version, read late, is ignored"
    assert book.watches == {}
