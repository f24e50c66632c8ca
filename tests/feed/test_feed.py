"""The change feed (shared_client.feed) on the sandbox and a real database: changes made with another user's
key, as UltraCart's own screens would make them, become typed changes once each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared_client.client import WorkflowClient
from shared_client.database import Database, open_database, sqlite_url
from shared_client.feed.events import ChangeKind
from shared_client.feed.lease import FileLease, RedisLease
from shared_client.feed.poller import ChangeFeed
from shared_client.feed.runner import FeedRunner
from shared_client.feed.store import FeedStore
from shared_client.models import (
    Priority,
    Status,
    WorkflowNote,
    WorkflowTask,
    WorkflowTasksRequest,
)
from tests.conftest import MakeClient

ALICE = "user:alice@demo.example"
SAM_ID = 1003


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(sqlite_url(tmp_path / "feed.sqlite3"))
    yield db
    await db.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def feed_on(client: WorkflowClient, db: Database, clock: Clock | None = None, **kw: Any) -> ChangeFeed:
    return ChangeFeed(client, FeedStore(db), interval=60, leader="test", clock=clock or Clock(), **kw)


async def some_open_task(client: WorkflowClient) -> WorkflowTask:
    """An open task not assigned to Sam, of low or medium priority, without a due date."""
    page = await client.search_tasks(WorkflowTasksRequest(status="open"), limit=100)
    for task in page.tasks or []:
        quiet = task.priority in {Priority.LOW, Priority.MEDIUM} and task.due_dts is None
        if task.assigned_to_user_id != SAM_ID and quiet:
            return task
    raise AssertionError("the demo account has no such task")


async def change(client: WorkflowClient, uuid: str, **fields: Any) -> WorkflowTask:
    """A whole-object PUT as UltraCart's screens do it: read, change, write back."""
    task = (await client.get_task(uuid)).task
    assert task is not None
    for name, value in fields.items():
        setattr(task, name, value)
    updated = (await client.update_task(uuid, task)).task
    assert updated is not None
    return updated


async def test_first_poll_is_a_baseline_that_reports_nothing(
    make_client: MakeClient, database: Database
) -> None:
    rig = make_client()
    feed = feed_on(rig.client, database)
    first = await feed.poll()
    assert first.baseline and first.committed and first.changes == []
    assert first.tasks_seen >= 40  # every task of the demo account, overdue ones included: nothing told
    second = await feed.poll()
    assert not second.baseline and second.changes == []
    assert second.calls == 1  # a quiet poll is one search


async def test_changes_made_elsewhere_are_typed_once(make_client: MakeClient, database: Database) -> None:
    owner, alice = make_client().client, make_client(key=ALICE).client
    feed = feed_on(owner, database)
    await feed.poll()
    task = await some_open_task(owner)
    uuid = task.workflow_task_uuid or ""
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    await change(
        alice,
        uuid,
        assigned_to_user_id=SAM_ID,
        assigned_to_group_id=None,
        priority=Priority.CRITICAL,
        status=Status.DELAYED,
        due_dts=due,
    )
    current = (await alice.get_task(uuid)).task
    assert current is not None
    notes = [*(current.notes or []), WorkflowNote(note="Called the customer")]
    await change(alice, uuid, notes=notes)
    result = await feed.poll()
    kinds = {c.kind for c in result.changes if c.task_uuid == uuid}
    assert {
        ChangeKind.ASSIGNED,
        ChangeKind.PRIORITY,
        ChangeKind.STATUS,
        ChangeKind.DUE,
        ChangeKind.NOTE,
    } <= kinds
    assigned = next(c for c in result.changes if c.kind == ChangeKind.ASSIGNED)
    assert assigned.detail["user_id"] == SAM_ID and assigned.detail["to"] == "Sam Rivera"
    note = next(c for c in result.changes if c.kind == ChangeKind.NOTE)
    assert note.detail["by"] == "Alice Carter" and note.detail["text"] == "Called the customer"
    # Seen again (the overlap re-reads it): nothing new.
    assert (await feed.poll()).changes == []
    store = FeedStore(database)
    recorded = await store.changes_after(owner.fingerprint, 0)
    assert sorted(c.kind for _, c in recorded) == sorted(c.kind for c in result.changes)


async def test_created_closed_reopened(make_client: MakeClient, database: Database) -> None:
    owner, alice = make_client().client, make_client(key=ALICE).client
    feed = feed_on(owner, database)
    await feed.poll()
    made = (await alice.insert_task(WorkflowTask(task_name="Refund check", assigned_to_user_id=SAM_ID))).task
    assert made is not None
    uuid = made.workflow_task_uuid or ""
    created = await feed.poll()
    assert [c.kind for c in created.changes if c.task_uuid == uuid] == [
        ChangeKind.CREATED,
        ChangeKind.ASSIGNED,
    ]
    await change(alice, uuid, status=Status.CLOSED)
    assert [c.kind for c in (await feed.poll()).changes] == [ChangeKind.CLOSED]
    await change(alice, uuid, status=Status.OPEN)
    assert [c.kind for c in (await feed.poll()).changes] == [ChangeKind.REOPENED]


async def test_becoming_overdue_is_found_without_a_change(
    make_client: MakeClient, database: Database
) -> None:
    owner, alice = make_client().client, make_client(key=ALICE).client
    clock = Clock()
    feed = feed_on(owner, database, clock)
    await feed.poll()
    task = await some_open_task(owner)
    uuid = task.workflow_task_uuid or ""
    due = clock.now.replace(microsecond=0) + timedelta(hours=2)
    await change(alice, uuid, due_dts=due)
    assert ChangeKind.OVERDUE not in {c.kind for c in (await feed.poll()).changes}
    clock.now += timedelta(hours=3)  # nothing changes on the task: the due date passes
    overdue = [c for c in (await feed.poll()).changes if c.kind == ChangeKind.OVERDUE]
    assert [c.task_uuid for c in overdue] == [uuid]
    assert (await feed.poll()).changes == []  # reported once
    # A new due date that passes again is a new overdue.
    await change(alice, uuid, due_dts=clock.now.replace(microsecond=0) + timedelta(hours=1))
    clock.now += timedelta(hours=2)
    later = await feed.poll()
    assert [c.kind for c in later.changes if c.kind == ChangeKind.OVERDUE] == [ChangeKind.OVERDUE]


async def test_a_restart_goes_on_from_where_it_stopped(make_client: MakeClient, database: Database) -> None:
    owner, alice = make_client().client, make_client(key=ALICE).client
    await feed_on(owner, database).poll()
    task = await some_open_task(owner)
    await change(alice, task.workflow_task_uuid or "", priority=Priority.HIGH)
    # "Restarted": a new feed on the same database.
    again = feed_on(owner, database)
    result = await again.poll()
    assert not result.baseline
    assert [c.kind for c in result.changes] == [ChangeKind.PRIORITY]
    assert (await feed_on(owner, database).poll()).changes == []


async def test_a_leader_that_lost_its_lease_commits_nothing(
    make_client: MakeClient, database: Database
) -> None:
    owner, alice = make_client().client, make_client(key=ALICE).client
    await feed_on(owner, database).poll()
    store = FeedStore(database)
    state = await store.state(owner.fingerprint)
    assert state is not None
    task = await some_open_task(owner)
    await change(alice, task.workflow_task_uuid or "", priority=Priority.HIGH)
    first = await feed_on(owner, database).poll()
    assert first.committed and first.changes
    # A stale leader: its poll started from the state version before the one just committed.
    stale = await store.commit(
        owner.fingerprint,
        expected_version=state.version,
        tasks=[],
        changes=first.changes,
        watermark=None,
        baseline_at=state.baseline_at,
        interval=60,
        leader="stale",
    )
    assert stale is False
    assert len(await store.changes_after(owner.fingerprint, 0)) == len(first.changes)


async def test_paging_by_update_time_misses_nothing(make_client: MakeClient, database: Database) -> None:
    owner, alice = make_client().client, make_client(key=ALICE).client
    feed = feed_on(owner, database, page_size=3)
    await feed.poll()
    uuids = []
    for number in range(7):
        made = (await alice.insert_task(WorkflowTask(task_name=f"Batch {number}"))).task
        assert made is not None
        uuids.append(made.workflow_task_uuid)
    result = await feed.poll()
    created = {c.task_uuid for c in result.changes if c.kind == ChangeKind.CREATED}
    assert created == set(uuids)
    assert result.calls >= 3


async def test_leases(tmp_path: Path, redis_url: str) -> None:
    for first, second in (
        (FileLease(tmp_path, "fp"), FileLease(tmp_path, "fp")),
        (RedisLease(redis_url, "fp-lease-test", ttl=5), RedisLease(redis_url, "fp-lease-test", ttl=5)),
    ):
        assert await first.acquire()
        assert await first.acquire()  # renewed
        assert not await second.acquire()
        await first.release()
        assert await second.acquire()
        await second.release()


async def test_a_redis_lease_expires_when_its_holder_stops(redis_url: str) -> None:
    from shared_client.redis_support import redis_client

    holder = RedisLease(redis_url, "fp-expiry", ttl=5)
    other = RedisLease(redis_url, "fp-expiry", ttl=5)
    assert await holder.acquire()
    assert not await other.acquire()
    await redis_client(redis_url).delete(holder.key)  # what its TTL running out does (without the wait)
    assert await other.acquire()
    assert not await holder.acquire()  # the old holder, back, does not lead


async def test_only_the_leader_polls_and_consumers_follow(
    make_client: MakeClient, database: Database, tmp_path: Path
) -> None:
    owner = make_client().client
    seen: list[str] = []

    async def consumer(store: FeedStore, fingerprint: str) -> None:
        seen.append(fingerprint)

    one = FeedRunner(feed_on(owner, database), FileLease(tmp_path, owner.fingerprint), consumers=[consumer])
    two = FeedRunner(feed_on(owner, database), FileLease(tmp_path, owner.fingerprint), consumers=[consumer])
    first, second = await one.run_round(), await two.run_round()
    assert first.leader and first.result is not None and first.result.baseline
    assert not second.leader and second.result is None
    assert seen == [owner.fingerprint]
    await one.lease.release()
    assert (await two.run_round()).leader


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowFeed(ChangeFeed):
    """A real feed whose polls take ``took`` seconds on a fake clock (as when the budget makes them wait)."""

    took = 0.0
    fail: Exception | None = None
    clock_ref: FakeMonotonic | None = None

    async def poll(self) -> Any:
        assert self.clock_ref is not None
        self.clock_ref.now += self.took
        if self.fail is not None:
            raise self.fail
        return await super().poll()


async def test_a_tight_budget_or_a_failure_puts_the_next_poll_off(
    make_client: MakeClient, database: Database, tmp_path: Path
) -> None:
    from shared_client.pacing import Priority, current_priority

    owner = make_client().client
    mono = FakeMonotonic()
    feed = SlowFeed(owner, FeedStore(database), interval=60, leader="t", clock=Clock())
    feed.clock_ref = mono
    priorities: list[Priority] = []

    async def consumer(store: FeedStore, fingerprint: str) -> None:
        priorities.append(current_priority())
        raise RuntimeError("a consumer's failure is logged, not the runner's")

    runner = FeedRunner(feed, FileLease(tmp_path, owner.fingerprint), consumers=[consumer], monotonic=mono)
    assert (await runner.run_round()).result is not None and runner.stretch == 1
    assert priorities == [Priority.BACKGROUND]  # the round is background work, behind interactive calls
    feed.took = 40.0  # its requests waited for the budget
    await runner.run_round()
    assert runner.stretch == 2
    await runner.run_round()
    assert runner.stretch == 4
    feed.took, feed.fail = 0.0, RuntimeError("UltraCart is down")
    failed = await runner.run_round()
    assert failed.leader and failed.result is None and failed.error and runner.stretch == 8
    assert len(priorities) == 4  # consumers run after a failed poll too (left-over Slack posts go out)
    await runner.run_round()
    assert runner.stretch == 8  # capped
    feed.fail = None
    await runner.run_round()
    assert runner.stretch == 1


async def test_the_loop_polls_every_interval_and_on_wake(
    make_client: MakeClient, database: Database, tmp_path: Path
) -> None:
    owner = make_client().client
    feed = ChangeFeed(owner, FeedStore(database), interval=3600, leader="t")
    runner = FeedRunner(feed, FileLease(tmp_path, owner.fingerprint))
    task = asyncio.ensure_future(runner.run())
    try:
        async with asyncio.timeout(20):
            await runner.wait_rounds(1)
            runner.wake()  # an hour's interval, yet the next round comes at once
            await runner.wait_rounds(1)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # Stopped: its lease is free for another replica.
    assert await FileLease(tmp_path, owner.fingerprint).acquire()


async def test_changes_older_than_a_month_are_forgotten(make_client: MakeClient, database: Database) -> None:
    owner, alice = make_client().client, make_client(key=ALICE).client
    now = [1_800_000_000.0]
    store = FeedStore(database, clock=lambda: now[0])
    feed = ChangeFeed(owner, store, interval=60, leader="t", clock=Clock())
    await feed.poll()
    task = await some_open_task(owner)
    await change(alice, task.workflow_task_uuid or "", priority=Priority.HIGH)
    assert (await feed.poll()).changes
    assert await store.prune(owner.fingerprint) == 0  # a fresh change is kept
    now[0] += 31 * 86400
    assert await store.prune(owner.fingerprint) == 1
    assert await store.changes_after(owner.fingerprint, 0) == []
