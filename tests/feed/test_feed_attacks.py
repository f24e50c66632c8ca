"""Attacks on the change feed (shared_client.feed): pages that move while they are read, clocks that disagree,
replicas that race, leaders that stall, and a database or Redis that is not what the feed expected. Real
sandbox, real SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from shared_client.client import WorkflowClient
from shared_client.database import Database, DatabaseUnavailable, open_database, sqlite_url
from shared_client.feed.events import ChangeKind
from shared_client.feed.lease import RedisLease
from shared_client.feed.poller import ChangeFeed
from shared_client.feed.runner import FeedRunner
from shared_client.feed.store import FeedStore
from shared_client.models import Priority, WorkflowNote, WorkflowTask, WorkflowTasksRequest
from tests.conftest import MakeClient
from tests.feed.test_feed import ALICE, SAM_ID, Clock, FakeMonotonic, change, feed_on, some_open_task


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(sqlite_url(tmp_path / "feed.sqlite3"))
    yield db
    await db.aclose()


@pytest.fixture
async def any_database(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url)
    yield db
    await db.aclose()


# --- the runner ------------------------------------------------------------------------------------------


async def test_slow_consumers_do_not_put_the_next_poll_off(
    make_client: MakeClient, database: Database, tmp_path: Path
) -> None:
    """Slack's posting limits make consumers slow (a queue at one message a second): that is not a tight
    UltraCart budget, and the next poll must still come one interval later."""
    from shared_client.feed.lease import FileLease

    owner = make_client().client
    mono = FakeMonotonic()

    async def slow_consumer(store: FeedStore, fingerprint: str) -> None:
        mono.now += 120.0  # two minutes of Slack posts

    runner = FeedRunner(
        feed_on(owner, database),
        FileLease(tmp_path, owner.fingerprint),
        consumers=[slow_consumer],
        monotonic=mono,
    )
    await runner.run_round()
    await runner.run_round()
    assert runner.stretch == 1


class FailingFeed(ChangeFeed):
    async def poll(self) -> Any:
        raise RuntimeError("this replica cannot reach its database")


class WaitedFeed(ChangeFeed):
    """A real feed whose polls take 40 s on a fake monotonic clock (its requests waited for the budget)."""

    mono: FakeMonotonic

    async def poll(self) -> Any:
        self.mono.now += 40.0
        return await super().poll()


class Recording(FeedRunner):
    led: list[bool]

    async def run_round(self) -> Any:
        outcome = await super().run_round()
        self.led.append(outcome.leader)
        return outcome


async def _follower_rounds_during_the_leaders_wait(leader: FeedRunner, follower: Recording) -> list[bool]:
    """The follower's rounds (one an interval) from the end of the leader's first round to its next one."""
    follower.led = []
    leading = asyncio.ensure_future(leader.run())
    following: asyncio.Future[None] | None = None
    try:
        async with asyncio.timeout(20):
            await leader.wait_rounds(1)
            assert leader.stretch == 8  # the next round is 8 intervals (past the lease's TTL) away
            following = asyncio.ensure_future(follower.run())
            await leader.wait_rounds(1)
    finally:
        for task in (leading, following):
            if task is not None:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    return follower.led


async def test_a_stretched_leader_keeps_its_lease_while_it_waits(
    make_client: MakeClient, database: Database, redis_url: str
) -> None:
    """A tight budget stretches the leader's wait to several intervals; if its lease lapses meanwhile, another
    replica (never stretched) takes over and polls at once: the back-off is lost across replicas."""
    owner = make_client().client
    name = f"stretch-{owner.fingerprint[:8]}-{id(database)}"
    interval, store, mono = 0.3, FeedStore(database), FakeMonotonic()
    feed = WaitedFeed(owner, store, interval=interval, leader="one", clock=Clock())
    feed.mono = mono
    leader = FeedRunner(feed, RedisLease(redis_url, name, ttl=1.0), monotonic=mono)
    follower = Recording(
        ChangeFeed(owner, store, interval=interval, leader="two", clock=Clock()),
        RedisLease(redis_url, name, ttl=1.0),
    )
    leader.stretch = 4  # after rounds that waited for the budget; this one waits too: 2.4 s to the next
    led = await _follower_rounds_during_the_leaders_wait(leader, follower)
    assert len(led) >= 3 and not any(led)


async def test_a_leader_whose_polls_fail_lets_another_replica_try(
    make_client: MakeClient, database: Database, redis_url: str
) -> None:
    """Failures are not a tight budget: a replica that cannot poll (its own database or network) does not
    keep the feed to itself while it backs off; a healthy replica takes over once the lease lapses."""
    owner = make_client().client
    name = f"failing-{owner.fingerprint[:8]}-{id(database)}"
    interval, store = 0.3, FeedStore(database)
    leader = FeedRunner(
        FailingFeed(owner, store, interval=interval, leader="one"), RedisLease(redis_url, name, ttl=1.0)
    )
    follower = Recording(
        ChangeFeed(owner, store, interval=interval, leader="two", clock=Clock()),
        RedisLease(redis_url, name, ttl=1.0),
    )
    leader.stretch = 4
    led = await _follower_rounds_during_the_leaders_wait(leader, follower)
    assert any(led)


# --- helpers on the sandbox's own data (as UltraCart's bulk operations or an empty account would leave it) --


def _sandbox(db_path: Path, sql: str, *args: Any) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(sql, args)


async def stamp(db_path: Path, uuids: list[str], epoch: int) -> None:
    """Give these tasks one last_update_dts, as a bulk change by one of UltraCart's rules would."""

    def run() -> None:
        iso = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with sqlite3.connect(db_path) as conn:
            for uuid in uuids:
                (gtn,) = conn.execute("SELECT gtn FROM tasks WHERE uuid = ?", (uuid,)).fetchone()
                conn.execute("UPDATE tasks SET updated_ts = ? WHERE gtn = ?", (epoch, gtn))
                (doc,) = conn.execute("SELECT doc FROM task_docs WHERE gtn = ?", (gtn,)).fetchone()
                data = json.loads(doc)
                data["last_update_dts"] = iso
                conn.execute("UPDATE task_docs SET doc = ? WHERE gtn = ?", (json.dumps(data), gtn))

    await asyncio.to_thread(run)


class Interfering:
    """The real client, with something happening on UltraCart just before the second request that walks one
    second by offset (``last_update_dts_end`` set): the hook gets the page read just before."""

    def __init__(self, client: WorkflowClient, hook: Callable[[list[WorkflowTask]], Awaitable[None]]) -> None:
        self.client = client
        self.fingerprint = client.fingerprint
        self.hook = hook
        self.pinned = 0
        self.last: list[WorkflowTask] = []

    async def search_tasks(self, request: WorkflowTasksRequest, **kw: Any) -> Any:
        if request.last_update_dts_end is not None:
            self.pinned += 1
            if self.pinned == 2:
                await self.hook(self.last)
        page = await self.client.search_tasks(request, **kw)
        self.last = page.tasks or []
        return page


# --- clocks ------------------------------------------------------------------------------------------------


async def test_our_clock_ahead_of_ultracarts_still_reports_new_tasks(
    make_client: MakeClient, database: Database
) -> None:
    """Our clock 10 minutes ahead of UltraCart's: a task created after the baseline is still `created` (and
    `assigned`): the baseline's time must be on UltraCart's clock, which created_dts is on."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    clock = Clock()
    clock.now += timedelta(minutes=10)
    feed = feed_on(owner, database, clock)
    assert (await feed.poll()).baseline
    made = (await alice.insert_task(WorkflowTask(task_name="Chargeback", assigned_to_user_id=SAM_ID))).task
    assert made is not None
    result = await feed.poll()
    kinds = [c.kind for c in result.changes if c.task_uuid == made.workflow_task_uuid]
    assert kinds == [ChangeKind.CREATED, ChangeKind.ASSIGNED]


async def test_an_empty_account_with_our_clock_ahead_misses_no_task(
    make_client: MakeClient, database: Database, db_path: Path
) -> None:
    """An account with no task yet: the watermark must not come from our clock (3 minutes ahead), or the
    first tasks UltraCart stamps before our "now" less the overlap are never read."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    await asyncio.to_thread(_sandbox, db_path, "DELETE FROM task_docs")
    await asyncio.to_thread(_sandbox, db_path, "DELETE FROM tasks")
    clock = Clock()
    clock.now += timedelta(minutes=3)
    feed = feed_on(owner, database, clock)
    first = await feed.poll()
    assert first.baseline and first.tasks_seen == 0
    made = (await alice.insert_task(WorkflowTask(task_name="First task"))).task
    assert made is not None
    second = await feed.poll()
    assert second.tasks_seen == 1
    assert await FeedStore(database).task(owner.fingerprint, made.workflow_task_uuid or "") is not None


# --- paging ------------------------------------------------------------------------------------------------


async def test_a_task_leaving_a_crowded_second_while_it_is_walked_hides_no_other(
    make_client: MakeClient, database: Database, db_path: Path
) -> None:
    """Seven tasks stamped in one second, read three a page: that second is walked by offset. One of the
    tasks already read changes (it leaves the second) before the next page: every later offset shifts by one,
    and the task that slid into the gap must still be read, in this poll or the next (the second is older than
    the next poll's overlap)."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    base = feed_on(owner, database, page_size=3)
    await base.poll()
    state = await FeedStore(database).state(owner.fingerprint)
    assert state is not None and state.watermark is not None
    uuids = []
    for number in range(7):
        made = (await alice.insert_task(WorkflowTask(task_name=f"Bulk {number}"))).task
        assert made is not None
        uuids.append(made.workflow_task_uuid or "")
    second = int(state.watermark - base.overlap)  # the oldest second the next poll reads
    await stamp(db_path, uuids, second)

    async def move(already_read: list[WorkflowTask]) -> None:
        await change(alice, already_read[0].workflow_task_uuid or "", priority=Priority.HIGH)

    shaken = ChangeFeed(
        cast(WorkflowClient, Interfering(owner, move)),
        FeedStore(database),
        interval=60,
        leader="test",
        clock=Clock(),
        page_size=3,
    )
    first = await shaken.poll()
    later = await feed_on(owner, database, page_size=3).poll()
    created = {c.task_uuid for c in [*first.changes, *later.changes] if c.kind == ChangeKind.CREATED}
    assert created == set(uuids)


# --- replicas and restarts ---------------------------------------------------------------------------------


async def test_two_replicas_starting_at_once_record_one_baseline(
    make_client: MakeClient, any_database: Database
) -> None:
    """Both find no state and list every task; one baseline is kept, the other poll commits nothing and
    raises nothing (SQLite and PostgreSQL: the conflict is a row count of 0 on both)."""
    owner = make_client().client
    one, two = feed_on(owner, any_database), feed_on(owner, any_database)
    first, second = await asyncio.gather(one.poll(), two.poll())
    assert first.baseline and second.baseline
    assert sorted([first.committed, second.committed]) == [False, True]
    state = await FeedStore(any_database).state(owner.fingerprint)
    assert state is not None and state.version == 1
    assert (await feed_on(owner, any_database).poll()).changes == []


async def test_two_leaders_polling_at_once_record_each_change_once(
    make_client: MakeClient, any_database: Database
) -> None:
    """A leader paused past its lease and its successor poll from one state version at the same time: one
    commits, the other writes nothing."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    await feed_on(owner, any_database).poll()
    task = await some_open_task(owner)
    await change(alice, task.workflow_task_uuid or "", priority=Priority.HIGH)
    first, second = await asyncio.gather(
        feed_on(owner, any_database).poll(), feed_on(owner, any_database).poll()
    )
    assert sorted([first.committed, second.committed]) == [False, True]
    recorded = await FeedStore(any_database).changes_after(owner.fingerprint, 0)
    assert [c.kind for _, c in recorded] == [ChangeKind.PRIORITY]
    state = await FeedStore(any_database).state(owner.fingerprint)
    assert state is not None and state.version == 2


async def test_a_restart_after_a_long_outage_pages_through_everything_once(
    make_client: MakeClient, database: Database
) -> None:
    """More changes since the watermark than a page holds (3 here, 500 in production): every one is found,
    and the next poll finds nothing again."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    await feed_on(owner, database, page_size=3).poll()
    task = await some_open_task(owner)
    uuids = []
    for number in range(8):
        made = (await alice.insert_task(WorkflowTask(task_name=f"While down {number}"))).task
        assert made is not None
        uuids.append(made.workflow_task_uuid or "")
    await change(alice, task.workflow_task_uuid or "", priority=Priority.HIGH)
    result = await feed_on(owner, database, page_size=3).poll()
    assert {c.task_uuid for c in result.changes if c.kind == ChangeKind.CREATED} == set(uuids)
    assert [c.kind for c in result.changes if c.task_uuid == task.workflow_task_uuid] == [ChangeKind.PRIORITY]
    assert result.calls >= 3
    assert (await feed_on(owner, database, page_size=3).poll()).changes == []


async def test_a_crash_between_the_poll_and_the_commit_loses_and_repeats_nothing(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """The database goes away after UltraCart answered and before the commit (the process dies there): the
    restarted feed finds the same change once."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    url = sqlite_url(tmp_path / "crash.sqlite3")
    db = await open_database(url)
    await feed_on(owner, db).poll()
    task = await some_open_task(owner)
    await change(alice, task.workflow_task_uuid or "", priority=Priority.CRITICAL)

    class Dying(FeedStore):
        async def commit(self, *args: Any, **kw: Any) -> bool:
            raise DatabaseUnavailable("UC_WORKFLOW_DATABASE_URL", OSError("killed"))

    with pytest.raises(DatabaseUnavailable):
        await ChangeFeed(owner, Dying(db), interval=60, leader="dying", clock=Clock()).poll()
    await db.aclose()
    again = await open_database(url)
    try:
        result = await feed_on(owner, again).poll()
        assert [c.kind for c in result.changes] == [ChangeKind.PRIORITY]
        assert (await feed_on(owner, again).poll()).changes == []
    finally:
        await again.aclose()


# --- what UltraCart sends ----------------------------------------------------------------------------------


async def test_an_edited_note_and_a_new_download_key_are_not_changes(
    make_client: MakeClient, database: Database
) -> None:
    owner, alice = make_client().client, make_client(key=ALICE).client
    task = await some_open_task(owner)
    uuid = task.workflow_task_uuid or ""
    current = (await alice.get_task(uuid)).task
    assert current is not None
    await change(alice, uuid, notes=[*(current.notes or []), WorkflowNote(note="Frist draft")])
    feed = feed_on(owner, database)
    await feed.poll()
    edited = (await alice.get_task(uuid)).task
    assert edited is not None and edited.notes
    edited.notes[-1].note = "First draft"
    await change(alice, uuid, notes=edited.notes)
    assert (await feed.poll()).changes == []  # an edit is not a new note
    with_files = next(
        t for t in (await owner.search_tasks(WorkflowTasksRequest(), limit=500)).tasks or [] if t.attachments
    )
    one = (await owner.get_task(with_files.workflow_task_uuid or "")).task
    assert one is not None and one.attachments
    # Seen again and again (the overlap), its temporary download URL is new each time: no attachment event.
    await change(alice, with_files.workflow_task_uuid or "", priority=Priority.HIGH)
    result = await feed.poll()
    assert [c.kind for c in result.changes if c.task_uuid == with_files.workflow_task_uuid] == [
        ChangeKind.PRIORITY
    ]
    assert (await feed.poll()).changes == []


async def test_two_changes_to_a_task_in_one_second_either_side_of_a_poll_are_both_found(
    make_client: MakeClient, database: Database, db_path: Path
) -> None:
    """UltraCart's timestamps have seconds: the second change keeps the first one's last_update_dts."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    feed = feed_on(owner, database)
    await feed.poll()
    task = await some_open_task(owner)
    uuid = task.workflow_task_uuid or ""
    moment = int(datetime.now(UTC).timestamp())
    await change(alice, uuid, priority=Priority.HIGH)
    await stamp(db_path, [uuid], moment)
    assert [c.kind for c in (await feed.poll()).changes] == [ChangeKind.PRIORITY]
    await change(alice, uuid, priority=Priority.CRITICAL)
    await stamp(db_path, [uuid], moment)
    later = await feed.poll()
    assert [(c.kind, c.detail.get("to")) for c in later.changes] == [(ChangeKind.PRIORITY, "4 - critical")]
    recorded = await FeedStore(database).changes_after(owner.fingerprint, 0)
    assert len(recorded) == 2


async def test_a_task_without_last_update_dts_has_each_change_recorded(
    make_client: MakeClient, database: Database, db_path: Path
) -> None:
    """UltraCart leaves last_update_dts out of a task: every change still counts once, even one that brings a
    field back to an earlier value (high, then critical, then high again)."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    clock = Clock()
    feed = feed_on(owner, database, clock)
    await feed.poll()
    task = await some_open_task(owner)
    uuid = task.workflow_task_uuid or ""

    def drop_marker() -> None:
        with sqlite3.connect(db_path) as conn:
            (gtn,) = conn.execute("SELECT gtn FROM tasks WHERE uuid = ?", (uuid,)).fetchone()
            (doc,) = conn.execute("SELECT doc FROM task_docs WHERE gtn = ?", (gtn,)).fetchone()
            data = json.loads(doc)
            data.pop("last_update_dts", None)
            conn.execute("UPDATE task_docs SET doc = ? WHERE gtn = ?", (json.dumps(data), gtn))

    found = []
    for priority in (Priority.HIGH, Priority.CRITICAL, Priority.HIGH):
        await change(alice, uuid, priority=priority)
        await asyncio.to_thread(drop_marker)
        clock.now += timedelta(seconds=60)  # one interval later
        found += [c.detail.get("to") for c in (await feed.poll()).changes if c.task_uuid == uuid]
    assert found == ["3 - high", "4 - critical", "3 - high"]
    assert len(await FeedStore(database).changes_after(owner.fingerprint, 0)) == 3


# --- secrets -----------------------------------------------------------------------------------------------


async def test_the_runners_log_lines_carry_no_secret(
    make_client: MakeClient, database: Database, redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis down (its URL has a password), then UltraCart refusing the key: the warnings name neither."""
    password, key = "hunter2-redis-secret", "user:nobody-0123456789abcdef@demo.example"
    url = redis_server.url.replace("redis://", f"redis://:{password}@", 1)
    owner = make_client(key=key).client
    redis_server.stop()
    caplog.set_level(logging.DEBUG, logger="shared_client")
    runner = FeedRunner(feed_on(owner, database), RedisLease(url, owner.fingerprint, ttl=30))
    down = await runner.run_round()
    assert not down.leader and down.error
    from shared_client.feed.lease import FileLease

    refused = FeedRunner(feed_on(owner, database), FileLease(database.sqlite_path.parent, owner.fingerprint))  # type: ignore[union-attr]
    failed = await refused.run_round()
    assert failed.leader and failed.error
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage()
        assert password not in text and key not in text


async def test_a_feed_backing_off_for_a_tight_budget_is_still_running(
    make_client: MakeClient, database: Database
) -> None:
    """The runner may put polls off by up to MAX_STRETCH intervals: list_recent_changes must not take such a
    feed for stopped (and drop what it knows) between two of its polls."""
    from shared_client.feed.runner import MAX_STRETCH

    owner = make_client().client
    await feed_on(owner, database).poll()
    state = await FeedStore(database).state(owner.fingerprint)
    assert state is not None
    between = state.polled_at + state.interval * MAX_STRETCH - 1  # just before a fully stretched next poll
    reader = FeedStore(database, clock=lambda: between)
    assert await reader.changes_since(owner.fingerprint, [], datetime.now(UTC)) is not None
    gone = FeedStore(database, clock=lambda: state.polled_at + state.interval * (MAX_STRETCH + 3))
    assert await gone.changes_since(owner.fingerprint, [], datetime.now(UTC)) is None


# --- big accounts ------------------------------------------------------------------------------------------


async def test_the_baselines_snapshot_is_written_in_few_statements(
    make_client: MakeClient, any_database: Database
) -> None:
    """A baseline is one transaction over every task of the account: written row by row, 10,000 tasks held
    SQLite's write lock (every other writer of the bot waits, up to its 10 s busy timeout) for about 6 s on
    this machine (PostgreSQL: 5 s). The snapshot rows and the overdue marks go in batches (0.6 s)."""
    from sqlalchemy import event

    owner = make_client().client
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if "feed_tasks" in statement:
            statements.append(statement)

    event.listen(any_database.engine.sync_engine, "before_cursor_execute", count)
    try:
        result = await feed_on(owner, any_database).poll()
    finally:
        event.remove(any_database.engine.sync_engine, "before_cursor_execute", count)
    assert result.baseline and result.tasks_seen >= 40
    assert 1 <= len(statements) <= 3  # the rows, the overdue marks
    uuids = [
        t.workflow_task_uuid or ""
        for t in (await owner.search_tasks(WorkflowTasksRequest(), limit=500)).tasks or []
    ]
    snapshot = await FeedStore(any_database).snapshot(owner.fingerprint, uuids)
    assert len(snapshot) == len(uuids) == result.tasks_seen
    assert any(s.overdue_for for s in snapshot.values())  # those overdue already, marked silently


async def test_one_task_stamped_in_the_future_does_not_blind_the_feed(
    make_client: MakeClient, database: Database, db_path: Path
) -> None:
    """One task whose last_update_dts UltraCart has a year ahead (an import, a bug): the watermark must not
    jump there, or every later poll asks only for tasks changed after next year and finds none."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    feed = feed_on(owner, database)
    await feed.poll()
    task = await some_open_task(owner)  # low or medium priority
    bogus = next(
        t
        for t in (await owner.search_tasks(WorkflowTasksRequest(status="open"), limit=100)).tasks or []
        if t.workflow_task_uuid != task.workflow_task_uuid
    )
    await change(alice, bogus.workflow_task_uuid or "", priority=Priority.HIGH)
    await stamp(db_path, [bogus.workflow_task_uuid or ""], int(datetime.now(UTC).timestamp()) + 365 * 86400)
    await feed.poll()
    await change(alice, task.workflow_task_uuid or "", priority=Priority.CRITICAL)
    result = await feed.poll()
    assert [c.kind for c in result.changes if c.task_uuid == task.workflow_task_uuid] == [ChangeKind.PRIORITY]


async def test_a_stale_answer_with_an_older_version_changes_nothing(
    make_client: MakeClient, database: Database, db_path: Path
) -> None:
    """The search answers with an older version of a task than the feed has already seen (a lagging replica
    or index behind it): that is no change back, and the snapshot must not go back either."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    feed = feed_on(owner, database)
    await feed.poll()
    task = await some_open_task(owner)
    uuid = task.workflow_task_uuid or ""

    def doc() -> str:
        with sqlite3.connect(db_path) as conn:
            (text,) = conn.execute(
                "SELECT doc FROM task_docs WHERE gtn = (SELECT gtn FROM tasks WHERE uuid = ?)", (uuid,)
            ).fetchone()
            return str(text)

    def put_back(text: str) -> None:
        with sqlite3.connect(db_path) as conn:
            conn.execute(
                "UPDATE task_docs SET doc = ? WHERE gtn = (SELECT gtn FROM tasks WHERE uuid = ?)",
                (text, uuid),
            )

    await change(alice, uuid, priority=Priority.LOW if task.priority != Priority.LOW else Priority.MEDIUM)
    older = json.loads(await asyncio.to_thread(doc))
    await change(alice, uuid, priority=Priority.CRITICAL)
    await feed.poll()
    newer = await asyncio.to_thread(doc)
    # The older version, ten seconds before the newer one (UltraCart's timestamps have seconds).
    then = datetime.fromisoformat(json.loads(newer)["last_update_dts"]) - timedelta(seconds=10)
    older["last_update_dts"] = then.strftime("%Y-%m-%dT%H:%M:%SZ")
    await asyncio.to_thread(
        put_back, json.dumps(older)
    )  # the search (still finding it as changed) answers the old one
    assert (await feed.poll()).changes == []
    snapshot = await FeedStore(database).task(owner.fingerprint, uuid)
    assert snapshot is not None and snapshot.priority == Priority.CRITICAL
    await asyncio.to_thread(put_back, newer)
    assert (await feed.poll()).changes == []


async def test_a_task_stamped_in_the_future_and_then_corrected_is_followed_again(
    make_client: MakeClient, database: Database, db_path: Path
) -> None:
    """The bogus date is corrected: the task's real, earlier version is no stale answer."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    feed = feed_on(owner, database)
    await feed.poll()
    task = await some_open_task(owner)
    uuid = task.workflow_task_uuid or ""
    await stamp(db_path, [uuid], int(datetime.now(UTC).timestamp()) + 365 * 86400)
    await feed.poll()
    await change(alice, uuid, priority=Priority.CRITICAL)  # UltraCart stamps it now again
    result = await feed.poll()
    assert [c.kind for c in result.changes if c.task_uuid == uuid] == [ChangeKind.PRIORITY]


async def test_with_redis_down_nobody_polls_and_the_state_stays(
    make_client: MakeClient, database: Database, redis_server: Any
) -> None:
    """The lease's Redis goes away after a round: no replica can be sure to lead, so none polls (the contract:
    no silent fall-back to per-machine behaviour); the feed's state is untouched, and the error names the
    setting."""
    owner = make_client().client
    runner = FeedRunner(feed_on(owner, database), RedisLease(redis_server.url, owner.fingerprint, ttl=30))
    assert (await runner.run_round()).leader
    before = await FeedStore(database).state(owner.fingerprint)
    redis_server.kill()
    down = await runner.run_round()
    assert not down.leader and down.result is None
    assert down.error and "UC_WORKFLOW_REDIS_URL" in down.error
    assert await FeedStore(database).state(owner.fingerprint) == before


class WithoutPaging:
    """The real client, its answers without the paging metadata (UltraCart leaving out result_set)."""

    def __init__(self, client: WorkflowClient) -> None:
        self.client = client
        self.fingerprint = client.fingerprint

    async def search_tasks(self, request: WorkflowTasksRequest, **kw: Any) -> Any:
        page = await self.client.search_tasks(request, **kw)
        page.metadata = None
        return page


async def test_answers_without_paging_metadata_still_page_through_the_baseline(
    make_client: MakeClient, database: Database
) -> None:
    """Without result_set nothing says there is a next page: a full page must be taken to mean there may be
    one, or the baseline records the first page only and the next polls report the rest of the account's
    old tasks as created."""
    owner = make_client().client
    bare = cast(WorkflowClient, WithoutPaging(owner))
    feed = ChangeFeed(bare, FeedStore(database), interval=60, leader="t", clock=Clock(), page_size=3)
    first = await feed.poll()
    assert first.baseline and first.tasks_seen >= 40
    assert (await feed.poll()).changes == []


async def test_a_new_task_without_created_dts_is_still_created(
    make_client: MakeClient, database: Database, db_path: Path
) -> None:
    """UltraCart leaves created_dts out of a task that appears after the baseline: it was not there when the
    baseline listed every task, so it is new (its assignee is told), not learned silently."""
    owner, alice = make_client().client, make_client(key=ALICE).client
    feed = feed_on(owner, database)
    await feed.poll()
    made = (await alice.insert_task(WorkflowTask(task_name="No birth date", assigned_to_user_id=SAM_ID))).task
    assert made is not None
    uuid = made.workflow_task_uuid or ""

    def drop_created() -> None:
        with sqlite3.connect(db_path) as conn:
            (gtn,) = conn.execute("SELECT gtn FROM tasks WHERE uuid = ?", (uuid,)).fetchone()
            (doc,) = conn.execute("SELECT doc FROM task_docs WHERE gtn = ?", (gtn,)).fetchone()
            data = json.loads(doc)
            data.pop("created_dts", None)
            conn.execute("UPDATE task_docs SET doc = ? WHERE gtn = ?", (json.dumps(data), gtn))

    await asyncio.to_thread(drop_created)
    result = await feed.poll()
    assert [c.kind for c in result.changes if c.task_uuid == uuid] == [
        ChangeKind.CREATED,
        ChangeKind.ASSIGNED,
    ]
