"""The gate and budget shared by processes: through a state directory (one machine) and through Redis
(several), each test run against both. Two "processes" are two backends on the same directory or Redis;
the tests marked so use real subprocesses."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import asyncio as aioredis

from shared_client.client import WorkflowClient
from shared_client.factory import build_backend
from shared_client.gate_files import FileGateBackend
from shared_client.gate_redis import RedisGateBackend
from shared_client.pacing import (
    Budget,
    BudgetSpec,
    BudgetWait,
    CredentialGate,
    Gate,
    GateBackend,
    GateWait,
    Priority,
    background,
)
from shared_client.redis_support import SharedStateUnavailable
from shared_client.request_loop import WaitBeyondDeadline
from shared_client.settings import ConfigurationError, Settings
from tests.conftest import StartSandbox
from tests.services import RedisServer

ROOT = Path(__file__).resolve().parents[1]
OPEN_COUNT = {"success": True, "open_count": 3, "metadata": {}}
HOURLY_SPENT = "UltraCart's hourly budget for this key is spent; try again in about 30 minutes"


@dataclass
class Shared:
    """One place processes share (a state directory or a Redis) and one credential's fingerprint."""

    kind: str
    where: str
    fingerprint: str = field(default_factory=lambda: uuid.uuid4().hex)

    def backend(
        self, spec: BudgetSpec | None = None, *, clock: Callable[[], float] | None = None, ttl: float = 10.0
    ) -> GateBackend:
        spec = spec or BudgetSpec.none()
        if self.kind == "dir":
            return FileGateBackend(Path(self.where), self.fingerprint, spec, clock=clock or time.time)
        return RedisGateBackend(
            self.where, self.fingerprint, spec, clock=clock, holder_ttl=ttl, waiter_ttl=ttl
        )

    def gate(self, spec: BudgetSpec | None = None, **kwargs: Any) -> Gate:
        """A gate as another process would have it: its own backend object on the same place."""
        return Gate(self.backend(spec, **kwargs))

    def settings(self) -> Settings:
        if self.kind == "dir":
            return Settings(uc_workflow_state_dir=Path(self.where))
        return Settings(uc_workflow_redis_url=self.where)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_"))}
        env["UC_WORKFLOW_STATE_DIR" if self.kind == "dir" else "UC_WORKFLOW_REDIS_URL"] = self.where
        return env

    async def waiting(self) -> list[Priority]:
        """The priorities of the waiters in the shared queue, in order (processes' first waiters: the
        rest wait in their process)."""
        if self.kind == "dir":
            directory = Path(self.where) / "queue" / self.fingerprint
            names = sorted(n for n in (os.listdir(directory) if directory.exists() else []) if n[0] != ".")
            return [Priority(int(name.split("-")[0])) for name in names]
        client = aioredis.Redis.from_url(self.where)
        try:
            entries = await client.zrange(f"uc-workflow:{{{self.fingerprint}}}:queue", 0, -1, withscores=True)
        finally:
            await client.aclose()
        return [Priority(int(score // 10**13)) for _, score in entries]

    async def queued(self) -> int:
        return len(await self.waiting())


@pytest.fixture(params=["dir", "redis"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Shared:
    if request.param == "dir":
        return Shared("dir", str(tmp_path / "state"))
    return Shared("redis", request.getfixturevalue("redis_url"))


async def until(condition: Callable[[], Awaitable[bool]], what: str, within: float = 10.0) -> None:
    """Wait for ``condition`` to hold, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


class Holder:
    """Holds a gate's slot until ``release()``."""

    def __init__(self, gate: Gate) -> None:
        self.held = asyncio.Event()
        self._release = asyncio.Event()
        self.task = asyncio.ensure_future(self._run(gate))

    async def _run(self, gate: Gate) -> None:
        async with gate.slot():
            self.held.set()
            await self._release.wait()

    async def __aenter__(self) -> Holder:
        await asyncio.wait_for(self.held.wait(), 10)
        return self

    async def release(self) -> None:
        self._release.set()
        await asyncio.wait_for(self.task, 10)

    async def __aexit__(self, *exc: object) -> None:
        await self.release()


async def enter(
    gate: Gate, name: str, order: list[str], priority: Priority = Priority.INTERACTIVE
) -> asyncio.Task[None]:
    async def run() -> None:
        async with gate.slot(priority=priority, remaining=lambda: 30.0):
            order.append(name)

    return asyncio.ensure_future(run())


# --------------------------------------------------------------------------- order


async def test_waiters_of_several_processes_go_in_arrival_order(shared: Shared) -> None:
    order: list[str] = []
    async with Holder(shared.gate()) as holder:
        tasks = []
        for i in range(3):
            tasks.append(await enter(shared.gate(), f"process {i}", order))
            await until(lambda i=i: _queued_is(shared, i + 1), f"process {i} to queue")  # type: ignore[misc]
        await holder.release()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert order == ["process 0", "process 1", "process 2"]


async def _queued_is(shared: Shared, count: int) -> bool:
    return await shared.queued() == count


async def _first_is(shared: Shared, priority: Priority) -> bool:
    return (await shared.waiting())[:1] == [priority]


async def test_interactive_waiters_go_before_background_ones(shared: Shared) -> None:
    order: list[str] = []
    async with Holder(shared.gate()) as holder:
        later = await enter(shared.gate(), "background", order, Priority.BACKGROUND)
        await until(lambda: _queued_is(shared, 1), "the background waiter to queue")
        sooner = await enter(shared.gate(), "interactive", order)
        await until(lambda: _queued_is(shared, 2), "the interactive waiter to queue")
        await holder.release()
        await asyncio.wait_for(asyncio.gather(later, sooner), 10)
    assert order == ["interactive", "background"]


async def test_an_interactive_call_overtakes_its_own_process_s_background_waiter(shared: Shared) -> None:
    # The process's background call is already its first waiter in the shared queue: it gives way.
    order: list[str] = []
    gate = shared.gate()
    async with Holder(shared.gate()) as holder:
        later = await enter(gate, "background", order, Priority.BACKGROUND)
        await until(lambda: _queued_is(shared, 1), "the background waiter to queue")
        sooner = await enter(gate, "interactive", order)
        await until(lambda: _first_is(shared, Priority.INTERACTIVE), "the background waiter to give way")
        await holder.release()
        await asyncio.wait_for(asyncio.gather(later, sooner), 10)
    assert order == ["interactive", "background"]


async def test_a_queue_wait_stops_at_the_deadline_and_leaves_the_queue(shared: Shared) -> None:
    async with Holder(shared.gate()):
        started = time.monotonic()
        with pytest.raises(GateWait):
            async with shared.gate().slot(remaining=lambda: 0.2 - (time.monotonic() - started)):
                pytest.fail("the slot was given while another process held it")
        assert time.monotonic() - started < 5.0
        assert await shared.queued() == 0


# --------------------------------------------------------------------------- the budget


async def test_the_budget_is_shared_between_processes(shared: Shared) -> None:
    now = [1_000_000.0]
    spec = BudgetSpec(limits=((3, 3600.0),), background_share=1.0)
    first, second = shared.gate(spec, clock=lambda: now[0]), shared.gate(spec, clock=lambda: now[0])
    for gate in (first, first, second):
        async with gate.slot(remaining=lambda: 1.0):
            pass
    with pytest.raises(BudgetWait) as info:
        async with first.slot(remaining=lambda: 60.0):
            pytest.fail("a fourth request was let through a budget of three")
    assert (info.value.wait, info.value.period) == (pytest.approx(1200.0), 3600.0)
    now[0] += 1200.0  # one has drained
    async with second.slot(remaining=lambda: 1.0):
        pass


async def test_a_429_from_ultracart_fills_the_shared_bucket(shared: Shared) -> None:
    now = [1_000_000.0]
    spec = BudgetSpec(background_share=1.0)
    first, second = shared.gate(spec, clock=lambda: now[0]), shared.gate(spec, clock=lambda: now[0])
    async with first.slot() as held:
        held.rate_limited = "rate of 1000 per 3600 second(s) exceeded"
    with pytest.raises(BudgetWait) as info:
        async with second.slot(remaining=lambda: 1.0):
            pytest.fail("sent into a bucket UltraCart said is full")
    assert (info.value.wait, info.value.period) == (pytest.approx(3.6), 3600.0)


async def test_background_requests_spend_at_most_their_share(shared: Shared) -> None:
    now = [1_000_000.0]
    spec = BudgetSpec(limits=((10, 3600.0),), background_share=0.2)  # 2 of 10 for background
    first, second = shared.gate(spec, clock=lambda: now[0]), shared.gate(spec, clock=lambda: now[0])
    for gate in (first, second):
        async with gate.slot(priority=Priority.BACKGROUND, remaining=lambda: 1.0):
            pass
    with pytest.raises(BudgetWait) as info:
        async with first.slot(priority=Priority.BACKGROUND, remaining=lambda: 60.0):
            pytest.fail("a third background request in a share of two")
    assert info.value.wait == pytest.approx(1800.0)  # the share drains at 2 an hour
    for _ in range(8):  # interactive requests have the rest
        async with second.slot(remaining=lambda: 1.0):
            pass
    with pytest.raises(BudgetWait):
        async with second.slot(remaining=lambda: 1.0):
            pytest.fail("an eleventh request in a budget of ten")


async def test_a_background_wait_for_its_share_does_not_hold_up_interactive_calls(shared: Shared) -> None:
    spec = BudgetSpec(limits=((10, 3600.0),), background_share=0.2)
    gate = shared.gate(spec)
    for _ in range(2):
        async with gate.slot(priority=Priority.BACKGROUND):
            pass
    sleeping = asyncio.Event()

    async def sleep(seconds: float) -> None:
        sleeping.set()
        await asyncio.sleep(seconds)

    async def third() -> None:
        async with gate.slot(priority=Priority.BACKGROUND, sleep=sleep):
            pytest.fail("background went past its share")

    waiting = asyncio.ensure_future(third())
    await asyncio.wait_for(sleeping.wait(), 10)
    async with shared.gate(spec).slot(remaining=lambda: 0.0):  # another process: the gate is free
        pass
    async with gate.slot(remaining=lambda: 0.0):  # and so is this process's queue
        pass
    waiting.cancel()


# --------------------------------------------------------------------------- through the client


def _client(
    shared: Shared, handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any
) -> WorkflowClient:
    """A client on the shared gate of a fresh key; ``shared`` names that key's gate from then on."""
    client = WorkflowClient(
        api_key=f"key-{uuid.uuid4().hex}",
        base_url="http://mock/rest/v2",
        transport=httpx.MockTransport(handler),
        settings=shared.settings(),
        **kwargs,
    )
    shared.fingerprint = client.fingerprint
    return client


async def test_a_shared_budget_wait_past_the_deadline_fails_at_once_saying_when(shared: Shared) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json=OPEN_COUNT)

    client = _client(shared, handler, budget=BudgetSpec(limits=((2, 3600.0),)))
    await client.get_open_count()
    await client.get_open_count()
    started = time.monotonic()
    with pytest.raises(WaitBeyondDeadline) as info:
        await client.get_open_count()
    assert time.monotonic() - started < 1.0
    assert HOURLY_SPENT in info.value.message
    assert len(sent) == 2


async def test_the_client_queues_background_calls_behind_interactive_ones(shared: Shared) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path.rsplit("/", 1)[-1])
        return httpx.Response(200, json={"success": True, "tags": [], "open_count": 1, "metadata": {}})

    client = _client(shared, handler)
    async with Holder(shared.gate()):
        with background():
            later = asyncio.ensure_future(client.get_tags())
        await until(lambda: _queued_is(shared, 1), "the background call to queue")
        sooner = asyncio.ensure_future(client.get_open_count())
        await until(lambda: _first_is(shared, Priority.INTERACTIVE), "the background call to give way")
    await asyncio.wait_for(asyncio.gather(later, sooner), 10)
    assert sent == ["open_count", "tags"]


# --------------------------------------------------------------------------- real processes


def _worker(shared: Shared, mode: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.gate_worker", mode, *args],
        cwd=ROOT,
        env=shared.env(),
        stdout=subprocess.PIPE,
        text=True,
    )


def _said(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    got = process.stdout.readline().strip()
    assert got == line, f"the worker said {got!r}"


async def test_a_process_killed_holding_the_gate_does_not_block_the_others(shared: Shared) -> None:
    ttl = 1.0
    worker = _worker(shared, "hold", shared.kind, shared.where, shared.fingerprint, str(ttl))
    try:
        await asyncio.to_thread(_said, worker, "held")
        with pytest.raises(GateWait):  # it does hold the gate
            async with shared.gate().slot(remaining=lambda: 0.0):
                pass
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        killed = time.monotonic()
        async with shared.gate().slot(remaining=lambda: 10.0 - (time.monotonic() - killed)):
            took = time.monotonic() - killed
    finally:
        worker.kill()
        worker.wait(10)
    # The directory's flock goes with its holder; Redis's holder key within its TTL.
    assert took < (2.0 if shared.kind == "dir" else ttl + 2.0)  # the directory has no TTL to wait out


async def test_a_process_killed_waiting_in_the_queue_does_not_block_the_others(shared: Shared) -> None:
    ttl = 1.0
    async with Holder(shared.gate()) as holder:
        worker = _worker(shared, "wait", shared.kind, shared.where, shared.fingerprint, str(ttl))
        try:
            await until(lambda: _queued_is(shared, 1), "the worker to queue", within=30.0)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            killed = time.monotonic()
            order: list[str] = []
            after = await enter(shared.gate(), "after", order)
            await holder.release()
            await asyncio.wait_for(after, ttl + 5.0)
            took = time.monotonic() - killed
        finally:
            worker.kill()
            worker.wait(10)
    assert order == ["after"]
    assert took < (2.0 if shared.kind == "dir" else ttl + 2.0)  # the directory has no TTL to wait out


async def test_processes_on_one_key_send_one_at_a_time_within_one_budget(
    shared: Shared, start_sandbox: StartSandbox
) -> None:
    # UltraCart's limits on: a second request in flight for the key is answered 429.
    live = start_sandbox("--latency", "0.01")
    key = f"worker-{shared.fingerprint}"
    workers = [_worker(shared, "calls", live.api, "8", "18", key) for _ in range(3)]
    results = []
    for worker in workers:
        out, _ = await asyncio.to_thread(worker.communicate, timeout=120)
        assert worker.returncode == 0
        results.append(json.loads(out))
    stats = live.stats()
    assert stats["rate_limited"] == 0 and stats["max_in_flight"] == 1
    # A budget of 18 an hour between the three: 18 sent, 6 refused before sending.
    assert sum(r["ok"] for r in results) == 18 and sum(r["refused"] for r in results) == 6
    assert stats["requests_total"] == 18


# --------------------------------------------------------------------------- Redis away, or too slow


async def test_redis_stopped_is_a_clear_error_and_nothing_is_sent(redis_server: RedisServer) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json=OPEN_COUNT)

    shared = Shared("redis", redis_server.url)
    client = _client(shared, handler)
    assert (await client.get_open_count()).open_count == 3
    redis_server.stop()
    with pytest.raises(SharedStateUnavailable) as info:
        await client.get_open_count()
    error = info.value
    assert error.request_sent is False and error.operation == "getWorkflowTaskOpenCount"
    assert error.message.startswith(f"UC_WORKFLOW_REDIS_URL: Redis at {redis_server.url} is unreachable")
    assert "nothing was sent" in error.message
    assert len(sent) == 1


def test_the_commands_refuse_to_start_when_redis_does_not_answer(redis_server: RedisServer) -> None:
    redis_server.stop()
    settings = Settings(ultracart_api_key="a-key", uc_workflow_redis_url=redis_server.url)
    with pytest.raises(ConfigurationError) as info:
        build_backend(settings)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"UC_WORKFLOW_REDIS_URL: Redis at {redis_server.url} does not answer")


def test_a_password_in_the_redis_url_is_not_shown(redis_server: RedisServer) -> None:
    redis_server.stop()
    url = redis_server.url.replace("redis://", "redis://:s3cret-CANARY@")
    with pytest.raises(ConfigurationError) as info:
        build_backend(Settings(ultracart_api_key="a-key", uc_workflow_redis_url=url))
    assert "s3cret-CANARY" not in str(info.value)


async def test_a_lease_that_ran_out_in_flight_is_found_and_logged(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    shared = Shared("redis", redis_url)
    gate = shared.gate(ttl=0.3)
    raw = aioredis.Redis.from_url(redis_url)
    try:
        with caplog.at_level(logging.WARNING, logger="uc_workflow.client"):
            async with gate.slot():
                # The holder stalled past its TTL and another process took the gate meanwhile.
                await raw.set(f"uc-workflow:{{{shared.fingerprint}}}:holder", "someone-else", px=10_000)
        assert await raw.get(f"uc-workflow:{{{shared.fingerprint}}}:holder") == b"someone-else"  # not freed
    finally:
        await raw.aclose()
    assert any(
        "lease (0.3 s) ran out while a request was still in flight" in r.message for r in caplog.records
    )


async def test_the_holder_s_lease_is_renewed_while_its_request_is_in_flight(redis_url: str) -> None:
    shared = Shared("redis", redis_url)
    async with shared.gate(ttl=0.3).slot():
        raw = aioredis.Redis.from_url(redis_url)
        try:
            key = f"uc-workflow:{{{shared.fingerprint}}}:holder"
            token = await raw.get(key)
            await until(_renewed(raw, key), "a renewal")
            assert await raw.get(key) == token
        finally:
            await raw.aclose()


def _renewed(raw: aioredis.Redis, key: str) -> Callable[[], Awaitable[bool]]:
    """True once the key's time to live went up: renewed."""
    last = [float("inf")]

    async def check() -> bool:
        left = int(await raw.pttl(key))
        assert left > 0, "the holder's key expired while it was held"
        went_up, last[0] = left > last[0], left
        return went_up

    return check


# --------------------------------------------------------------------------- choosing the backend


def test_the_settings_choose_where_the_gate_lives(tmp_path: Path, redis_url: str) -> None:
    def backend(settings: Settings, **kwargs: Any) -> object:
        client = WorkflowClient(api_key=uuid.uuid4().hex, settings=settings, **kwargs)
        return client._gate.backend

    assert isinstance(backend(Settings(uc_workflow_state_dir=tmp_path)), FileGateBackend)
    assert isinstance(backend(Settings(uc_workflow_redis_url=redis_url)), RedisGateBackend)
    from shared_client.pacing import LocalBackend

    assert isinstance(backend(Settings(uc_workflow_redis_url=redis_url), gate_key="mine"), LocalBackend)


# --------------------------------------------------------------------------- this process only


async def test_in_one_process_interactive_calls_go_before_background_ones() -> None:
    gate = CredentialGate(Budget(BudgetSpec.none()))
    order: list[str] = []
    async with Holder(gate) as holder:
        tasks = [
            await enter(gate, "background 1", order, Priority.BACKGROUND),
            await enter(gate, "interactive 1", order),
            await enter(gate, "background 2", order, Priority.BACKGROUND),
            await enter(gate, "interactive 2", order),
        ]
        await holder.release()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert order == ["interactive 1", "interactive 2", "background 1", "background 2"]


async def test_in_one_process_background_spends_at_most_its_share() -> None:
    now = [0.0]
    gate = CredentialGate(Budget(BudgetSpec(limits=((10, 3600.0),)), clock=lambda: now[0]))
    for _ in range(2):  # 20% of 10
        async with gate.slot(priority=Priority.BACKGROUND):
            pass
    with background(), pytest.raises(BudgetWait) as info:
        async with gate.slot(remaining=lambda: 60.0):
            pytest.fail("a third background request in a share of two")
    assert info.value.wait == pytest.approx(1800.0)
    async with gate.slot(remaining=lambda: 0.0):
        pass


async def test_two_event_loops_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    # flock belongs to an open file: each loop opens its own, or two loops would both "hold" it.
    backend = FileGateBackend(tmp_path, uuid.uuid4().hex, BudgetSpec.none())
    held, done = threading.Event(), threading.Event()

    async def hold_in_other_loop() -> None:
        async with Gate(backend).slot():
            held.set()
            await asyncio.to_thread(done.wait, 10)

    thread = threading.Thread(target=asyncio.run, args=(hold_in_other_loop(),))
    thread.start()
    try:
        assert await asyncio.to_thread(held.wait, 10)
        with pytest.raises(GateWait):
            async with Gate(backend).slot(remaining=lambda: 0.0):
                pytest.fail("two loops held the gate at once")
    finally:
        done.set()
        await asyncio.to_thread(thread.join, 10)
    async with Gate(backend).slot(remaining=lambda: 1.0):
        pass


async def test_a_state_directory_that_cannot_be_used_is_a_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json=OPEN_COUNT)

    client = _client(Shared("dir", str(blocked)), handler)
    with pytest.raises(SharedStateUnavailable) as info:
        await client.get_open_count()
    assert info.value.message.startswith(
        f"UC_WORKFLOW_STATE_DIR: the shared gate cannot be kept in {blocked}"
    )
    assert info.value.request_sent is False and sent == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="wake-ups use Linux's abstract sockets")
async def test_a_released_gate_wakes_the_next_process_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Polls an hour apart: only the wake-up sent on release can let the waiter in within the test.
    import shared_client.gate_files as gate_files

    monkeypatch.setattr(gate_files, "_WOKEN_HEAD_POLL", 3600.0)
    monkeypatch.setattr(gate_files, "_WOKEN_QUEUED_POLL", 3600.0)
    shared = Shared("dir", str(tmp_path / "state"))
    order: list[str] = []
    async with Holder(shared.gate()) as holder:
        first = await enter(shared.gate(), "first", order)
        await until(lambda: _queued_is(shared, 1), "the first waiter to queue")
        second = await enter(shared.gate(), "second", order)
        await until(lambda: _queued_is(shared, 2), "the second waiter to queue")
        await holder.release()
        await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert order == ["first", "second"]


async def test_on_an_event_loop_the_redis_check_runs_off_it(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shared_client.factory as factory

    checked_on: list[threading.Thread] = []
    real_check = factory.check_redis

    def check(url: str) -> None:
        checked_on.append(threading.current_thread())
        real_check(url)

    monkeypatch.setattr(factory, "check_redis", check)
    settings = Settings(
        uc_workflow_redis_url=redis_server.url,
        uc_workflow_sandbox=True,
        uc_workflow_sandbox_db=tmp_path / "sandbox.sqlite3",
    )
    backend = await factory.build_backend_async(settings)
    await backend.client.aclose()
    redis_server.stop()
    with pytest.raises(ConfigurationError, match=r"UC_WORKFLOW_REDIS_URL: Redis at .* does not answer"):
        await factory.build_backend_async(settings)
    assert len(checked_on) == 2 and threading.main_thread() not in checked_on
