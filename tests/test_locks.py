"""The machine-wide per-task write lock: released under cancellation, bounded waits, no thread held."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from shared_client import locks
from shared_client.locks import LockTimeout, held_within, machine_lock
from shared_client.tools import ToolContext
from shared_client.tools.errors import ErrorKind, ToolError
from shared_client.tools.writes import read_modify_write
from tests.conftest import mock_client

POOL_SIZE = 2  # each test's loop gets a small default pool, so "more waiters than workers" is cheap


@pytest.fixture
def lock_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "locks"
    monkeypatch.setattr(locks, "lock_dir", lambda: directory)
    return directory


@pytest.fixture
def small_pool() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=POOL_SIZE)
    yield pool
    pool.shutdown(wait=False)


def _free(directory: Path) -> bool:
    """Whether every lock file there can be taken right now, as another process would try."""
    for path in directory.glob("*.lock"):
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
    return True


async def _hold(entered: asyncio.Event, leave: asyncio.Event, *parts: str) -> None:
    async with machine_lock(*parts):
        entered.set()
        await leave.wait()


async def test_a_write_cancelled_while_the_thread_pool_is_busy_leaves_the_lock_free(
    lock_files: Path, small_pool: ThreadPoolExecutor
) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(small_pool)
    entered = asyncio.Event()
    writer = asyncio.create_task(_hold(entered, asyncio.Event(), "http://mock", "task-1"))
    await entered.wait()

    # Every worker of the pool busy, as under load: a release that needs a worker would queue.
    unblock = threading.Event()
    all_busy = asyncio.Event()
    busy = [0]
    guard = threading.Lock()

    def occupy() -> None:
        with guard:
            busy[0] += 1
            if busy[0] == POOL_SIZE:
                loop.call_soon_threadsafe(all_busy.set)
        unblock.wait()

    occupiers = [loop.run_in_executor(None, occupy) for _ in range(POOL_SIZE)]
    try:
        await all_busy.wait()
        # The caller gives up, and again while the write is unwinding (a timeout, then its task group).
        for _ in range(5):
            if writer.done():
                break
            writer.cancel()
            await asyncio.sleep(0)
        assert writer.done()
        assert writer.cancelled()
        assert _free(lock_files), "the cancelled write still holds the task's lock"
    finally:
        unblock.set()
        await asyncio.gather(*occupiers)


async def test_a_lock_held_elsewhere_times_out_without_sleeping_past_the_limit(lock_files: Path) -> None:
    entered, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold(entered, leave, "http://mock", "task-1"))
    await entered.wait()
    now = [100.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        await asyncio.sleep(0)

    with pytest.raises(LockTimeout) as info:
        async with machine_lock(
            "http://mock", "task-1", max_wait=5.0, clock=lambda: now[0], sleep=fake_sleep
        ):
            pytest.fail("the lock was taken while another writer held it")
    assert info.value.waited == pytest.approx(5.0)
    assert sum(slept) == pytest.approx(5.0)
    assert len(slept) > 1  # polled with a backoff, not one long sleep
    leave.set()
    await holder
    assert _free(lock_files)
    async with machine_lock("http://mock", "task-1", clock=lambda: now[0], sleep=fake_sleep):
        assert not _free(lock_files)


async def test_lock_waiters_do_not_hold_threads_of_the_default_pool(
    lock_files: Path, small_pool: ThreadPoolExecutor
) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(small_pool)
    waiters_count = POOL_SIZE + 2
    entered, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold(entered, leave, "http://mock", "task-1"))
    await entered.wait()

    polled: set[int] = set()
    all_waiting, released = asyncio.Event(), asyncio.Event()
    events: list[str] = []

    async def waiter(index: int) -> None:
        async def sleep(_seconds: float) -> None:
            polled.add(index)
            if len(polled) == waiters_count:
                all_waiting.set()
            await released.wait()
            await asyncio.sleep(0)  # once released, still yield between tries

        async with machine_lock("http://mock", "task-1", sleep=sleep):
            events.append(f"writer {index}")

    waiters = [asyncio.create_task(waiter(i)) for i in range(waiters_count)]
    waiting = asyncio.create_task(all_waiting.wait())
    await asyncio.wait([waiting, *waiters], return_when=asyncio.FIRST_COMPLETED)
    # Every waiter found the lock taken and is waiting for it (none failed, none got it).
    assert waiting.done() and not any(w.done() for w in waiters)
    assert await asyncio.to_thread(lambda: 1) == 1
    events.append("thread call done")
    leave.set()
    await holder
    events.append("released")
    released.set()
    await asyncio.gather(*waiters)
    assert events[:2] == ["thread call done", "released"]
    assert sorted(events[2:]) == sorted(f"writer {i}" for i in range(waiters_count))


LOCKED_TASK = "0f7c39e2-6f7e-4a10-9b8e-3f5e5c1f2a11"


def _unreachable_context() -> ToolContext:
    """A context whose UltraCart fails the test if asked: a write that cannot take its lock asks nothing."""

    def never(request: httpx.Request) -> httpx.Response:
        pytest.fail(f"UltraCart was asked {request.url} although the task's lock was never taken")

    return ToolContext(mock_client(never))


async def test_a_write_that_cannot_take_the_lock_is_a_conflict_that_names_the_task(
    lock_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, uuid = _unreachable_context(), LOCKED_TASK
    entered, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold(entered, leave, ctx.client.base_url, uuid))
    await entered.wait()
    now = [0.0]

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    monkeypatch.setattr(
        "shared_client.tools.writes.machine_lock",
        functools.partial(machine_lock, clock=lambda: now[0], sleep=fake_sleep),
    )
    with pytest.raises(ToolError) as info:
        await read_modify_write(ctx, uuid, lambda task: ["changed"])
    assert info.value.kind is ErrorKind.CONFLICT
    assert f"another write to task {uuid} has held its lock for 30 s; try again" in info.value.message.lower()
    assert not ctx.task_lock(uuid).locked()  # the process's own lock was given back too
    leave.set()
    await holder


async def test_a_write_waiting_for_this_process_s_own_lock_gives_up_too(
    lock_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, uuid = _unreachable_context(), LOCKED_TASK
    monkeypatch.setattr("shared_client.tools.writes.LOCK_TIMEOUT", 0.0)  # no timer: already due
    async with ctx.task_lock(uuid):  # a write of this process that does not finish
        with pytest.raises(ToolError) as info:
            await read_modify_write(ctx, uuid, lambda task: ["changed"])
    assert info.value.kind is ErrorKind.CONFLICT
    assert f"another write to task {uuid} has held its lock" in info.value.message.lower()
    assert _free(lock_files)


async def test_free_locks_are_taken_even_with_no_time_left_to_wait(lock_files: Path) -> None:
    local = asyncio.Lock()
    async with held_within(local, 0.0), machine_lock("http://mock", "task-1", max_wait=0.0):
        assert local.locked()
        assert not _free(lock_files)
    assert not local.locked()
    assert _free(lock_files)
