"""What instances sharing a database coordinate through it, on SQLite and the real PostgreSQL
server: feed-poll claims and their compare-and-set state writes, the leader lease and the
roles it gives, updates handled once, queued admin notices, and the sending taken over."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.claims import FeedClaims
from bot.core.models import FeedSpec, PollRecord, Story
from bot.core.outbox import DeliveryState
from bot.core.pacing import Pacer
from bot.leadership import Leadership, Role, StoredUpdates
from bot.storage import Store
from tests.builders import delivery

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SPEC = FeedSpec("news", "https://example.invalid/feed", timedelta(minutes=10))
LEASE = timedelta(seconds=20)


async def test_a_claimed_poll_is_refused_to_others_until_its_lease_runs_out(store: Store) -> None:
    await store.sync_feeds([SPEC], NOW)
    mine = await store.claim_feed("news", "a", NOW, LEASE)
    assert mine is not None and mine.granted and mine.state.lease is not None
    theirs = await store.claim_feed("news", "b", NOW + timedelta(seconds=5), LEASE)
    assert theirs is not None and not theirs.granted
    assert theirs.retry_at == NOW + LEASE, "told to ask again when the lease ends"
    assert await store.feed_leases(NOW) == {"news": ("a", NOW + LEASE)}
    # a dies mid-poll: after the lease, b takes the poll over.
    later = await store.claim_feed("news", "b", NOW + LEASE + timedelta(seconds=1), LEASE)
    assert later is not None and later.granted and later.took_over == "a"


async def test_a_renewed_claim_outlasts_its_first_lease(store: Store) -> None:
    await store.sync_feeds([SPEC], NOW)
    mine = await store.claim_feed("news", "a", NOW, LEASE)
    assert mine is not None and mine.state.lease is not None
    renewed = await store.renew_feeds(
        "a", {"news": mine.state.lease}, NOW + timedelta(seconds=15), LEASE
    )
    assert renewed == {"news"}
    assert await store.renew_feeds("b", {"news": mine.state.lease}, NOW, LEASE) == set()
    theirs = await store.claim_feed("news", "b", NOW + LEASE + timedelta(seconds=1), LEASE)
    assert theirs is not None and not theirs.granted


async def test_a_round_of_feeds_is_claimed_in_one_batch_each_feed_on_its_own_terms(
    store: Store,
) -> None:
    specs = [replace(SPEC, name=f"f{i}", url=f"https://example.invalid/{i}") for i in range(4)]
    states = await store.sync_feeds(specs, NOW)
    due = NOW + timedelta(minutes=10)
    assert await store.save_feed_state(replace(states["f1"], seeded=True, next_poll_at=due))
    assert await store.save_feed_state(replace(states["f2"], disabled=True))
    theirs = await store.claim_feed("f3", "b", NOW, LEASE)
    assert theirs is not None and theirs.granted
    claims = await store.claim_feeds(["f0", "f1", "f2", "f3", "gone"], "a", NOW, LEASE)
    assert set(claims) == {"f0", "f1", "f2", "f3"}, "an unknown feed is left out"
    assert claims["f0"].granted and claims["f0"].state.lease is not None
    assert not claims["f1"].granted and claims["f1"].retry_at == due
    assert not claims["f2"].granted and claims["f2"].retry_at is None
    assert not claims["f3"].granted and claims["f3"].retry_at == NOW + LEASE
    forced = await store.claim_feeds(["f0", "f1"], "a", NOW, LEASE, due_only=False)
    assert forced["f0"].granted and forced["f0"].resumed and forced["f1"].granted
    lease = forced["f0"].state.lease
    assert lease is not None and forced["f1"].state.lease == lease, "one token per batch"
    assert await store.renew_feeds("a", {"f0": lease, "f1": lease}, NOW + LEASE, LEASE) == {
        "f0",
        "f1",
    }
    assert (await store.feed_leases(NOW + LEASE + timedelta(seconds=1)))["f1"][0] == "a"


async def test_polls_asking_together_share_one_claim_and_stay_renewed(store: Store) -> None:
    specs = [replace(SPEC, name=f"f{i}", url=f"https://example.invalid/{i}") for i in range(30)]
    await store.sync_feeds(specs, NOW)
    clock = [NOW]
    lease = timedelta(seconds=0.4)
    claims = FeedClaims(store, "a", lease, lambda: clock[0])
    asked: list[list[str]] = []
    claim_feeds = store.claim_feeds

    async def counted(names: list[str], *args: object, **kwargs: object) -> object:
        asked.append(list(names))
        return await claim_feeds(names, *args, **kwargs)  # type: ignore[arg-type]

    store.claim_feeds = counted  # type: ignore[method-assign]
    try:
        got = await asyncio.gather(*(claims.claim(s.name, due_only=False) for s in specs))
        assert len(asked) == 1 and len(asked[0]) == 30, "one transaction for the round"
        assert all(c is not None and c.granted for c in got)
        # The polls wait their turn for longer than the lease: the claims are renewed.
        for _ in range(4):
            await asyncio.sleep(0.2)
            clock[0] += timedelta(seconds=0.2)
        standing = await store.feed_leases(clock[0])
        assert set(standing) == {s.name for s in specs}
        for s in specs[:10]:
            claims.done(s.name)
        for _ in range(4):
            await asyncio.sleep(0.2)
            clock[0] += timedelta(seconds=0.2)
        assert set(await store.feed_leases(clock[0])) == {s.name for s in specs[10:]}
    finally:
        await claims.close()


async def test_a_feed_not_due_is_refused_until_its_next_poll(store: Store) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    due = NOW + timedelta(minutes=10)
    assert await store.save_feed_state(replace(state, seeded=True, next_poll_at=due))
    early = await store.claim_feed("news", "b", NOW, LEASE)
    assert early is not None and not early.granted and early.retry_at == due
    assert early.state.seeded, "the refusal carries the state another instance wrote"
    forced = await store.claim_feed("news", "b", NOW, LEASE, due_only=False)
    assert forced is not None and forced.granted


async def test_the_state_of_a_lost_claim_is_never_written_over_the_newer_one(
    store: Store,
) -> None:
    await store.sync_feeds([SPEC], NOW)
    stale = await store.claim_feed("news", "a", NOW, LEASE)
    assert stale is not None
    later = NOW + LEASE + timedelta(seconds=1)
    fresh = await store.claim_feed("news", "b", later, LEASE)
    assert fresh is not None and fresh.granted
    assert await store.save_feed_state(replace(fresh.state, etag='"b"', seeded=True))
    # a wakes up from its stall and writes what its old poll found: dropped.
    assert not await store.save_feed_state(replace(stale.state, etag='"a"'))
    assert (await store.feed_states())["news"].etag == '"b"'
    assert await store.feed_leases(later) == {}, "b's write ended its claim"


async def test_an_earlier_polls_state_written_behind_leaves_the_later_claim_standing(
    store: Store,
) -> None:
    await store.sync_feeds([SPEC], NOW)
    first = await store.claim_feed("news", "a", NOW, LEASE)
    assert first is not None
    second = await store.claim_feed("news", "a", NOW + timedelta(seconds=2), LEASE)
    assert second is not None and second.granted and second.resumed
    assert await store.save_feed_state(replace(first.state, consecutive_failures=1))
    assert "news" in await store.feed_leases(NOW + timedelta(seconds=3))
    assert await store.save_feed_state(replace(second.state, consecutive_failures=2))
    assert await store.feed_leases(NOW + timedelta(seconds=3)) == {}
    assert (await store.feed_states())["news"].consecutive_failures == 2


async def test_two_instances_claiming_at_once_get_one_poll(db_url: str) -> None:
    stores = [await Store.open(db_url) for _ in range(4)]
    try:
        await stores[0].sync_feeds([SPEC], NOW)
        for round_ in range(5):
            at = NOW + round_ * (LEASE + timedelta(seconds=1))
            claims = await asyncio.gather(
                *(s.claim_feed("news", f"i{n}", at, LEASE) for n, s in enumerate(stores))
            )
            granted = [c for c in claims if c is not None and c.granted]
            assert len(granted) == 1, claims
    finally:
        for s in stores:
            await s.close()


async def test_the_leader_lease_goes_to_one_and_over_to_another_when_it_runs_out(
    store: Store,
) -> None:
    ttl = timedelta(seconds=15)
    first = await store.acquire_lease("telegram", "a", NOW, ttl)
    assert first.held and first.took_over is None
    refused = await store.acquire_lease("telegram", "b", NOW + timedelta(seconds=5), ttl)
    assert not refused.held and refused.holder == "a"
    renewed = await store.acquire_lease("telegram", "a", NOW + timedelta(seconds=10), ttl)
    assert renewed.held and renewed.expires_at == NOW + timedelta(seconds=25)
    assert not (await store.acquire_lease("telegram", "b", NOW + timedelta(seconds=20), ttl)).held
    taken = await store.acquire_lease("telegram", "b", NOW + timedelta(seconds=26), ttl)
    assert taken.held and taken.took_over == "a"
    await store.release_lease("telegram", "b")
    free = await store.acquire_lease("telegram", "c", NOW + timedelta(seconds=27), ttl)
    assert free.held and free.took_over is None, "a released lease is free at once"
    assert await store.leases() == [("telegram", "c", NOW + timedelta(seconds=42), 1)]


class Clock:
    def __init__(self) -> None:
        self.at = NOW
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.mono += seconds


async def test_roles_change_with_the_lease_and_a_silent_leader_steps_down_first(
    store: Store,
) -> None:
    clock = Clock()
    ttl = timedelta(seconds=15)
    events: list[str] = []

    def instance(name: str) -> Leadership:
        lead = Leadership(store, clock, ttl=ttl, instance=name, monotonic=clock.monotonic)

        async def elected() -> None:
            events.append(f"{name} leads")

        async def deposed() -> None:
            events.append(f"{name} follows")

        lead.on_elected.append(elected)
        lead.on_deposed.append(deposed)
        return lead

    a, b = instance("a"), instance("b")
    await a.step()
    await b.step()
    assert (a.role, b.role) == (Role.LEADER, Role.FOLLOWER) and a.leads() and not b.leads()
    # a stops renewing (paused, cut off): it stops acting as leader after two thirds of the
    # lease, before b may take over at its end.
    clock.advance(10.5)
    assert not a.leads(), "a leader that could not renew acts no more"
    await b.step()
    assert b.role == Role.FOLLOWER, "the lease has not run out yet"
    clock.advance(5)
    await b.step()
    assert b.role == Role.LEADER and b.takeovers == 1
    await a.step()
    assert a.role == Role.FOLLOWER
    assert events == ["a leads", "b leads", "a follows"]
    await b.stop()
    await a.step()
    assert a.role == Role.LEADER, "a clean stop hands the lease over at once"
    assert {i.id: i.role for i in await store.instances()} == {"a": "leader", "b": "stopped"}


async def test_an_update_is_handled_once_unless_its_handler_died(store: Store) -> None:
    first = StoredUpdates(store, "a", lambda: NOW)
    second = StoredUpdates(store, "b", lambda: NOW)
    assert await first.begin(7)
    await first.finish(7)
    assert not await second.begin(7), "finished: never again"
    assert await first.begin(8)  # a dies before finishing it
    assert await second.begin(8), "the next leader handles it"


async def test_notices_queued_by_followers_are_taken_once(store: Store) -> None:
    await store.queue_notice("rules invalid", "a", NOW)
    await store.queue_notice("feed gone", "b", NOW)
    assert await store.take_notices() == ["rules invalid", "feed gone"]
    assert await store.take_notices() == []


async def test_a_new_leader_recovers_the_old_ones_leased_deliveries_at_once(
    store: Store,
) -> None:
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    stories = [Story("news", k, f"Story {k}") for k in ("a", "b", "c")]
    await store.commit_poll(
        PollRecord(
            "news",
            state,
            stories,
            frozenset("abc"),
            [delivery(k, "r", chat) for k, chat in (("a", "1"), ("b", "2"), ("c", "3"))],
        ),
        NOW,
    )
    claimed = await store.claim_due(NOW, timedelta(seconds=60), 2)
    assert len(claimed) == 2
    await store.mark_many_sent([claimed[0].delivery_id], 99, NOW)
    assert await store.recover_leased(NOW + timedelta(seconds=1)) == 1
    counts = await store.delivery_counts()
    assert counts[DeliveryState.SENT] == 1 and counts[DeliveryState.PENDING] == 2
    again = {
        a.delivery_id
        for a in await store.claim_due(NOW + timedelta(seconds=1), timedelta(seconds=60), 5)
    }
    assert claimed[1].delivery_id in again and claimed[0].delivery_id not in again
    assert len(again) == 2, "the recovered one and the one never claimed"
    assert await store.recent_sends(NOW - timedelta(seconds=1)) == [(claimed[0].chat, NOW)]


def test_a_seeded_pacer_waits_for_what_the_previous_sender_sent() -> None:
    pacer = Pacer()
    pacer.seed([("-100", True, 100.0 + n) for n in range(20)] + [("5", False, 119.5)])
    assert pacer.delay("5", False, 120.0) > 0.4, "one message a second per chat"
    wait = pacer.delay("-100", True, 120.0)
    assert 39 < wait <= 40.1, "twenty a minute per group, counted from the old sends"
    assert pacer.delay("6", False, 120.0) == 0.0
