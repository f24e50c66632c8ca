"""The shared gate and budget (issue 11) under attack or bad luck: each test is a defect found by trying
to break ``pacing``, ``gate_files`` and ``gate_redis``, fixed, and kept here so it stays fixed."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

import pytest
import redis
from pydantic import ValidationError

from shared_client.commandline import bad_setting_message
from shared_client.factory import check_redis
from shared_client.gate_files import FileGateBackend
from shared_client.gate_redis import RedisGateBackend
from shared_client.pacing import BudgetSpec, BudgetWait, Gate
from shared_client.redis_support import SharedStateUnavailable
from shared_client.settings import ConfigurationError, Settings
from tests.services import RedisServer
from tests.test_shared_gate import ROOT, Holder, Shared, enter, shared, until

__all__ = ["shared"]  # the fixture: each test that takes it runs on a state directory and on Redis


def _connected_clients(url: str) -> int:
    raw = redis.Redis.from_url(url)
    try:
        return int(raw.info("clients")["connected_clients"])
    finally:
        raw.close()


def test_a_closed_event_loop_s_redis_connections_are_not_kept(redis_server: RedisServer) -> None:
    """Every ``asyncio.run`` (a CLI command, a test, a script calling the client in a loop) used to leave
    its event loop, its Redis client and an open connection to Redis behind for good: the per-loop and
    per-client dictionaries were weak-keyed, but their values (the client, its scripts) hold the key."""
    gate = Gate(RedisGateBackend(redis_server.url, uuid.uuid4().hex, BudgetSpec.none()))

    async def one_request() -> None:
        async with gate.slot():
            pass

    before = _connected_clients(redis_server.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the dropped connections' sockets
        for _ in range(12):
            asyncio.run(one_request())
        gc.collect()
    deadline = time.monotonic() + 10
    while (extra := _connected_clients(redis_server.url) - before) > 1:  # the last loop's may stay
        if time.monotonic() > deadline:
            pytest.fail(f"{extra} connections to Redis are still open after 12 event loops closed")
        time.sleep(0.01)


QUERY_PASSWORD = "hunter2-in-the-query"


async def test_a_password_in_the_redis_url_s_query_is_not_shown(redis_server: RedisServer) -> None:
    """redis-py takes ``?password=...`` as well as ``user:password@``; only the latter was dropped from
    the messages that name the Redis URL."""
    raw = redis.Redis.from_url(redis_server.url)
    raw.config_set("requirepass", QUERY_PASSWORD)
    raw.close()
    url = f"{redis_server.url}?password={QUERY_PASSWORD}"
    authenticated = redis.Redis.from_url(url)
    assert authenticated.ping()  # the query's password is the one Redis wants: a real secret
    authenticated.close()
    assert QUERY_PASSWORD in Settings(uc_workflow_redis_url=url).secrets()  # redacted from logs, files
    redis_server.stop()

    with pytest.raises(SharedStateUnavailable) as unreachable:
        async with Gate(RedisGateBackend(url, uuid.uuid4().hex, BudgetSpec.none())).slot():
            pytest.fail("the gate was taken with Redis stopped")
    assert "UC_WORKFLOW_REDIS_URL" in str(unreachable.value)
    assert QUERY_PASSWORD not in str(unreachable.value)

    with pytest.raises(ConfigurationError) as refused:
        check_redis(url)
    assert "UC_WORKFLOW_REDIS_URL" in str(refused.value)
    assert QUERY_PASSWORD not in str(refused.value)


async def _send(gate: Gate) -> None:
    async with gate.slot(remaining=lambda: 1.0):  # a budget wait longer than 1 s: BudgetWait at once
        pass


async def test_processes_with_different_budgets_still_count_each_other_s_requests(shared: Shared) -> None:
    """A script run with a smaller budget than the server's (``WorkflowClient(budget=...)``) used to keep
    a budget of its own: buckets were named by capacity, so neither saw the other's requests (and in the
    state directory each one's write dropped the other's levels), and together they spent more than
    UltraCart allows. Levels are now shared by period; each process holds them to its own capacity."""
    small = shared.gate(BudgetSpec(limits=((2, 3600.0),), background_share=1.0))
    large = shared.gate(BudgetSpec(limits=((3, 3600.0),), background_share=1.0))
    await _send(small)
    await _send(small)
    await _send(large)  # the third of the hour: room for it in the larger budget only
    with pytest.raises(BudgetWait):
        await _send(large)
    with pytest.raises(BudgetWait):
        await _send(small)


async def test_a_redis_out_of_memory_frees_the_gate_and_is_a_clear_error(redis_server: RedisServer) -> None:
    """Redis answering with an error (out of memory under ``maxmemory`` with its default noeviction, a
    read-only replica after a failover) used to escape as redis-py's own exception: on the way out of a
    request whose answer was in (the caller lost it, and might send the write again), with the gate left
    held for its TTL; and on the way in, as an error naming no setting."""
    fingerprint = uuid.uuid4().hex
    raw = redis.Redis.from_url(redis_server.url)
    gate = Gate(RedisGateBackend(redis_server.url, fingerprint, BudgetSpec(), holder_ttl=60.0))
    async with gate.slot():
        raw.config_set("maxmemory", 1)  # every write that needs memory refused from now on
    # Left without an error (the answer reaches its caller), and freed now, not in 60 s: the script
    # frees the gate first (Redis refuses a script's HSET under maxmemory, not its DEL, and once a
    # script has written it lets it finish).
    assert not raw.exists(f"uc-workflow:{{{fingerprint}}}:holder")  # freed now, not in 60 s

    with pytest.raises(SharedStateUnavailable) as refused:
        async with gate.slot():
            pytest.fail("the gate was taken while Redis refused every write")
    assert str(refused.value).startswith("UC_WORKFLOW_REDIS_URL: Redis at ")
    assert "OutOfMemoryError" in str(refused.value)

    raw.config_set("maxmemory", 0)
    other = Gate(RedisGateBackend(redis_server.url, fingerprint, BudgetSpec(), holder_ttl=60.0))
    async with asyncio.timeout(10):
        async with other.slot():
            pass
    raw.close()


def _share_with_everyone(directory: Path) -> None:
    """What an operator does to let a service user and a human share one state directory."""
    for parent, dirs, files in os.walk(directory):
        os.chmod(parent, 0o777)
        for name in dirs:
            os.chmod(Path(parent) / name, 0o777)
        for name in files:
            os.chmod(Path(parent) / name, 0o666)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv, to run a process as another OS user",
)
async def test_another_os_user_queues_in_a_shared_state_directory() -> None:
    """In a state directory shared by two OS users, the second one's call used to fail with a bare
    PermissionError whenever a ticket of the first one's was ahead of it (tickets were 0600, and opened
    read-write to be checked); now it waits its turn. (Anything else refused is UC_WORKFLOW_STATE_DIR's
    clear error.)"""
    directory = Path(tempfile.mkdtemp(prefix="ucw-shared-state-", dir="/tmp"))
    try:
        shared = Shared("dir", str(directory))
        async with shared.gate().slot():
            pass  # the gate's file and the queue's directory made
        _share_with_everyone(directory)
        async with Holder(shared.gate()) as holder:
            queued = Holder(shared.gate())  # root's ticket, made since: ahead of the other user's
            await until(lambda: _queued(shared, 1), "root's waiter to queue")
            worker = _as_nobody(shared, "wait", "dir", shared.where, shared.fingerprint, "10")
            try:

                async def queued_or_gone() -> bool:
                    return worker.poll() is not None or await _queued(shared, 2)

                await until(queued_or_gone, "the other user's waiter to queue", within=30.0)
                await holder.release()
                await asyncio.wait_for(queued.held.wait(), 10)
                await queued.release()
                said = await asyncio.wait_for(asyncio.to_thread(_line, worker), 30)
                assert said == "held", f"the other user's process said {said!r}: {_stderr(worker)}"
            finally:
                worker.kill()
                worker.wait(10)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _as_nobody(shared: Shared, *args: str) -> subprocess.Popen[str]:
    """``tests.gate_worker`` run as the unprivileged user ``nobody``."""
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    return subprocess.Popen(
        [*command, "-m", "tests.gate_worker", *args],
        cwd=ROOT,
        env={**shared.env(), "HOME": "/tmp"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _queued(shared: Shared, count: int) -> bool:
    return await shared.queued() == count


def _line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline().strip()


def _stderr(process: subprocess.Popen[str]) -> str:
    process.kill()
    assert process.stderr is not None
    return process.stderr.read()[-300:]


@pytest.mark.parametrize("state", ["hold", "wait"])
async def test_a_forked_child_does_not_keep_its_dead_parent_s_gate_or_ticket(
    tmp_path: Path, state: str
) -> None:
    """A process that forks (a worker pool started mid-call) while it holds the gate, or waits in the
    queue, used to hand its flocked descriptors to the child: killed, the parent's gate stayed taken, or
    its ticket stayed "alive" at the head of the queue, for as long as the child lived, and every other
    process on the machine waited behind it."""
    shared = Shared("dir", str(tmp_path / "state"))
    async with contextlib.AsyncExitStack() as stack:
        if state == "wait":
            holder = await stack.enter_async_context(Holder(shared.gate()))
        worker = _spawn("fork", "dir", shared.where, shared.fingerprint, "10", state)
        child: int | None = None
        try:
            said = await asyncio.wait_for(asyncio.to_thread(_line, worker), 30)
            assert said.startswith("forked "), f"the worker said {said!r}: {_stderr(worker)}"
            child = int(said.split()[1])
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            after = Holder(shared.gate())
            if state == "wait":
                await holder.release()
            await asyncio.wait_for(after.held.wait(), 10)  # not for as long as the child lives
            await after.release()
        finally:
            worker.kill()
            worker.wait(10)
            if child is not None:
                with contextlib.suppress(ProcessLookupError):  # the worker's child, not ours to wait for
                    os.kill(child, signal.SIGKILL)


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.gate_worker", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_a_wall_clock_stepped_back_does_not_put_later_waiters_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tickets were ordered by the wall clock: set back an hour (NTP stepping it, a VM restored), every
    process arriving in that hour went ahead of those already waiting, which under load waited until
    their deadline and failed. The queue's order is now the system-wide monotonic clock's."""
    shared = Shared("dir", str(tmp_path / "state"))
    order: list[str] = []
    async with Holder(shared.gate()) as holder:
        first = await enter(shared.gate(), "first", order)
        await until(lambda: _queued(shared, 1), "the first waiter to queue")
        stepped = time.time_ns() - 3600 * 10**9
        monkeypatch.setattr(time, "time_ns", lambda: stepped)
        second = await enter(shared.gate(), "second", order)
        await until(lambda: _queued(shared, 2), "the second waiter to queue")
        await holder.release()
        await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert order == ["first", "second"]


async def test_a_redis_waiter_without_an_expiry_does_not_block_the_queue(redis_url: str) -> None:
    """A waiter's place is purged once its expiry (in ``:alive``) passes; one whose expiry was lost (the
    key evicted under an ``allkeys-*`` maxmemory policy, or deleted by hand) used to stay first in the
    queue for good, and every process waited behind it until its deadline."""
    shared = Shared("redis", redis_url)
    raw = redis.Redis.from_url(redis_url)
    raw.zadd(f"uc-workflow:{{{shared.fingerprint}}}:queue", {"a-waiter-long-gone": 0})
    raw.close()
    async with asyncio.timeout(10):
        async with shared.gate().slot():
            pass


async def test_a_call_cancelled_while_the_gate_s_file_opens_leaves_no_descriptor(tmp_path: Path) -> None:
    """The gate's file is opened in a thread on an event loop's first request; cancelled then (a client
    gone, a timeout), the thread still opened it and the descriptor was never closed."""
    shared = Shared("dir", str(tmp_path / "state"))
    backend = shared.backend()
    assert isinstance(backend, FileGateBackend)
    opening, proceed = threading.Event(), threading.Event()
    opened: list[int] = []
    real_open = backend._open

    def slow_open() -> int:
        opening.set()
        proceed.wait(10)
        fd = real_open()
        opened.append(fd)
        return fd

    backend._open = slow_open  # type: ignore[method-assign]

    async def call() -> None:
        async with Gate(backend).slot():
            pytest.fail("the cancelled call took the gate")

    task = asyncio.ensure_future(call())
    assert await asyncio.to_thread(opening.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    proceed.set()

    async def closed() -> bool:
        if not opened:
            return False
        try:
            return os.readlink(f"/proc/self/fd/{opened[0]}") != str(backend.gate_path)
        except FileNotFoundError:
            return True

    await until(closed, "the gate's file opened for the cancelled call to be closed")


async def test_a_stopped_waiter_first_in_the_queue_does_not_hold_up_the_others(tmp_path: Path) -> None:
    """A process stopped while it waits first in the state directory's queue (Ctrl-Z on a CLI command,
    SIGSTOP, a debugger) keeps its ticket's flock: it was "alive" and first, and no other process on the
    machine tried the gate, free as it was, until that one was resumed. (Redis has the waiters' expiry for
    this.) A waiter now marks its ticket on each poll; one unmarked for a few seconds is passed over."""
    shared = Shared("dir", str(tmp_path / "state"))
    async with Holder(shared.gate()) as holder:
        worker = _spawn("wait", "dir", shared.where, shared.fingerprint, "10")
        try:
            await until(lambda: _queued(shared, 1), "the worker to queue", within=30.0)
            worker.send_signal(signal.SIGSTOP)
            after = Holder(shared.gate())
            await until(lambda: _queued(shared, 2), "the next waiter to queue")
            await holder.release()
            await asyncio.wait_for(after.held.wait(), 15)  # not until the stopped one is resumed
            await after.release()
        finally:
            worker.send_signal(signal.SIGCONT)
            worker.kill()
            worker.wait(10)


def test_a_redis_url_with_a_port_that_is_not_a_number_is_refused_at_start() -> None:
    """It passed the settings (only the scheme was checked) and then failed at start with a bare
    ValueError from urllib, naming no setting. And any refused Redis URL was quoted whole, password and
    all, in the ValidationError's text (pydantic shows a secret field's input as the string given)."""
    with pytest.raises(ValidationError) as refused:
        Settings(uc_workflow_redis_url=f"redis://:{QUERY_PASSWORD}@127.0.0.1:63x9/0")
    said = bad_setting_message(refused.value)
    assert said.startswith("setting UC_WORKFLOW_REDIS_URL: use a redis://"), said
    assert QUERY_PASSWORD not in str(refused.value)
    with pytest.raises(ValidationError) as wrong_scheme:
        Settings(uc_workflow_redis_url=f"http://:{QUERY_PASSWORD}@127.0.0.1:6379/0")
    assert QUERY_PASSWORD not in str(wrong_scheme.value)
