"""The per-task write lock across machines (``UC_WORKFLOW_REDIS_URL``), against a real Redis.

In process: exclusive, renewed past its TTL, released under cancellation, a lock taken from its holder is
found before the PUT (nothing written), Redis stopped is one clear error. Across OS processes ("machines":
separate ``UC_WORKFLOW_STATE_DIR``, so no shared file lock; the same Redis) against a sandbox served over
HTTP: concurrent notes to one task all kept, and a holder killed with SIGKILL lets the next writer go on
within the lock's TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from shared_client import redis_locks
from shared_client.client import WorkflowClient
from shared_client.commandline import bad_setting_message
from shared_client.locks import LockTimeout, lock_name
from shared_client.pacing import BudgetSpec
from shared_client.redis_locks import REDIS_LOCK_PREFIX, RedisHeldLock, redis_lock
from shared_client.redis_support import redis_client
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.settings import Settings
from shared_client.tools import ToolContext, get_tool
from shared_client.tools.errors import ErrorKind, ToolError
from shared_client.tools.writes import LOCK_LOST_DURING_WRITE
from tests.conftest import FAST_RETRIES, SANDBOX_URL, StartSandbox
from tests.line_process import PROCESS_TIMEOUT, LineProcess, start_line_process
from tests.lock_support import record_redis_locks, sandbox_with_task
from tests.services import RedisServer

CLI = str(Path(sys.executable).parent / "uc-workflow")


def fresh_parts() -> tuple[str, str]:
    """A base URL and task uuid no other test locks (the session's Redis is shared)."""
    return "http://mock/rest/v2", str(uuid.uuid4())


# --------------------------------------------------------------------------- in process


async def test_a_redis_lock_is_exclusive_and_renewed_past_its_ttl(redis_url: str) -> None:
    parts = fresh_parts()
    async with redis_lock(redis_url, *parts, ttl=1.5) as held:
        for _ in range(4):  # four renewals, a third of the TTL apart: longer than the TTL itself
            held.renewed.clear()
            await asyncio.wait_for(held.renewed.wait(), timeout=10)
        with pytest.raises(LockTimeout):
            async with redis_lock(redis_url, *parts, max_wait=0.0):
                pytest.fail("a second holder got a lock that was being renewed")
        await held.ensure_held()
        keys = [k.decode() for k in await redis_client(redis_url).keys(REDIS_LOCK_PREFIX + "*")]
        name = REDIS_LOCK_PREFIX + lock_name(*parts)
        assert name in keys
        assert parts[1] not in name and len(name) == len(REDIS_LOCK_PREFIX) + 32  # hashed, not the task
    assert not held.lost
    async with redis_lock(redis_url, *parts, max_wait=0.0):  # released: free at once
        pass


async def test_a_redis_lock_wait_is_bounded_and_polls(redis_url: str) -> None:
    parts = fresh_parts()
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        await asyncio.sleep(0)

    async with redis_lock(redis_url, *parts):
        with pytest.raises(LockTimeout) as info:
            async with redis_lock(redis_url, *parts, max_wait=3.0, clock=lambda: now[0], sleep=fake_sleep):
                pytest.fail("the lock was taken while another writer held it")
    assert info.value.waited == pytest.approx(3.0)
    assert len(slept) > 1 and sum(slept) == pytest.approx(3.0)


async def test_a_holder_cancelled_lets_the_lock_go(redis_url: str) -> None:
    parts = fresh_parts()
    entered = asyncio.Event()

    async def hold() -> None:
        async with redis_lock(redis_url, *parts):
            entered.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold())
    await entered.wait()
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    async with redis_lock(redis_url, *parts, max_wait=5.0):  # not left held for a TTL
        pass


class StealOnRead(httpx.AsyncBaseTransport):
    """The sandbox in-process; when the writer reads the task, its lock's key is taken over in Redis, as
    when the TTL ran out while the writer was stalled and another writer then took the lock."""

    def __init__(self, app: Any, redis_url: str, key: str) -> None:
        self._inner = SandboxTransport(app)
        self._redis_url = redis_url
        self._key = key
        self.stolen = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and "/workflow/tasks/" in request.url.path and not self.stolen:
            await redis_client(self._redis_url).set(self._key, b"another-writer", px=60_000)
            self.stolen = True
        return await self._inner.handle_async_request(request)


async def sandbox_stats(app: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://sandbox.test") as http:
        return dict((await http.get("/_sandbox/stats")).json())


async def test_a_lock_lost_while_held_writes_nothing_and_says_so(
    db_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, task_uuid, reader = await sandbox_with_task(db_path, "Lock lost")
    transport = StealOnRead(app, redis_url, REDIS_LOCK_PREFIX + lock_name(SANDBOX_URL, task_uuid))
    client = WorkflowClient(
        api_key="owner", base_url=SANDBOX_URL, transport=transport, gate_key=uuid.uuid4().hex,
        budget=BudgetSpec.none(), retry_policy=FAST_RETRIES,
    )  # fmt: skip
    before = (await sandbox_stats(app))["requests"].get("updateWorkflowTask", 0)
    with caplog.at_level(logging.WARNING, logger="uc_workflow.locks"), pytest.raises(ToolError) as info:
        await get_tool("add_task_note").run(
            ToolContext(client, redis_url=redis_url), {"task": task_uuid, "text": "never written"}
        )
    assert transport.stolen
    assert info.value.kind is ErrorKind.CONFLICT
    assert info.value.message == (
        f"The write lock on task {task_uuid} expired before the change was sent (another writer may hold it "
        "now), so nothing was written; try again."
    )
    assert (await sandbox_stats(app))["requests"].get("updateWorkflowTask", 0) == before  # no PUT
    task = (await reader.get_task(task_uuid)).task
    assert task is not None and not task.notes
    assert any("had expired before its write finished" in r.getMessage() for r in caplog.records)
    # The other writer's lock was left alone (a token-checked release).
    assert await redis_client(redis_url).get(transport._key) == b"another-writer"
    await client.aclose()
    await reader.aclose()


class StealDuringPut(httpx.AsyncBaseTransport):
    """The sandbox in-process; while the PUT is on its way, the lock's key is taken over in Redis and the
    PUT waits until the holder's renewal has found that out."""

    def __init__(self, app: Any, redis_url: str, key: str, holds: list[RedisHeldLock]) -> None:
        self._inner = SandboxTransport(app)
        self._redis_url = redis_url
        self._key = key
        self._holds = holds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            await redis_client(self._redis_url).set(self._key, b"another-writer", px=60_000)
            await asyncio.wait_for(self._holds[0].wait_lost(), timeout=10)
        return await self._inner.handle_async_request(request)


async def test_a_lock_lost_during_the_put_is_reported_with_the_result(
    db_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, task_uuid, reader = await sandbox_with_task(db_path, "Lost mid-PUT")
    holds = record_redis_locks(monkeypatch)
    monkeypatch.setattr(redis_locks, "REDIS_LOCK_TTL", 1.5)  # renewed every 0.5 s
    key = REDIS_LOCK_PREFIX + lock_name(SANDBOX_URL, task_uuid)
    client = WorkflowClient(
        api_key="owner", base_url=SANDBOX_URL, transport=StealDuringPut(app, redis_url, key, holds),
        gate_key=uuid.uuid4().hex, budget=BudgetSpec.none(), retry_policy=FAST_RETRIES,
    )  # fmt: skip
    out = await get_tool("add_task_note").run(
        ToolContext(client, redis_url=redis_url), {"task": task_uuid, "text": "sent before the loss was seen"}
    )
    assert LOCK_LOST_DURING_WRITE in (out.to_data().get("warnings") or [])
    await client.aclose()
    await reader.aclose()


async def test_redis_stopped_is_one_clear_error_from_a_write_tool(
    redis_server: RedisServer, db_path: Path
) -> None:
    app = create_app(SandboxConfig(db_path=db_path, rate_limit=None))
    client = WorkflowClient(api_key="owner", base_url=SANDBOX_URL, transport=SandboxTransport(app))
    ctx = ToolContext(client, redis_url=None)
    task_uuid = (await get_tool("create_task").run(ctx, {"name": "No Redis"})).to_data()["task"]["uuid"]
    redis_server.stop()
    sent = client.requests_sent
    with pytest.raises(ToolError) as info:
        await get_tool("add_task_note").run(
            ToolContext(client, redis_url=redis_server.url), {"task": task_uuid, "text": "not sent"}
        )
    assert client.requests_sent == sent  # nothing reached UltraCart
    assert info.value.kind is ErrorKind.UPSTREAM
    assert info.value.write is None  # no request was made, write or not
    assert info.value.message == (
        f"UC_WORKFLOW_REDIS_URL: Redis at {redis_server.url} is unreachable (ConnectionError); uc-workflow "
        "shares its UltraCart gate, budget and locks there and does not fall back to per-machine pacing, so "
        "nothing was sent. Start Redis or correct UC_WORKFLOW_REDIS_URL, then try again."
    )
    await client.aclose()


# --------------------------------------------------------------------------- across OS processes

MACHINE = '''
"""One "machine": add notes to one task with the real tools, after a go signal."""
import asyncio
import contextlib
import json
import sys
import time

from shared_client.commandline import load_settings
from shared_client.factory import build_backend
from shared_client.tools import ToolContext, ToolError, get_tool


async def main() -> None:
    task, label, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    backend = build_backend(load_settings())
    async with backend.client:
        ctx = ToolContext(backend.client)
        await backend.client.get_open_count()  # warm up: imports, the first connection
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the go signal
        first = time.monotonic()
        results = []
        for i in range(count):
            try:
                out = await get_tool("add_task_note").run(ctx, {"task": task, "text": f"{label}{i}"})
                results.append({"ok": True, "warnings": out.to_data().get("warnings")})
            except ToolError as exc:
                results.append({"ok": False, "error": exc.message})
        last = time.monotonic()
    print(json.dumps({"results": results, "first": first, "last": last}), flush=True)


asyncio.run(main())
'''

HOLDER = '''
"""Take a task's write lock in Redis, as a write would, say so, and hold it until killed."""
import asyncio
import sys

from shared_client.redis_locks import redis_lock


async def main() -> None:
    url, base_url, task, ttl = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    async with redis_lock(url, base_url, task, ttl=ttl):
        print("holding", flush=True)
        await asyncio.Event().wait()


asyncio.run(main())
'''


def machine_env(tmp_path: Path, name: str, api: str, redis_url: str, key: str) -> dict[str, str]:
    """One machine's environment: its own state directory, the shared Redis and UltraCart (the sandbox)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_", "SLACK_"))}
    state = tmp_path / f"state-{name}"
    state.mkdir(exist_ok=True)
    env.update(
        PYTHONUNBUFFERED="1",
        ULTRACART_API_KEY=key,
        ULTRACART_BASE_URL=api,
        UC_WORKFLOW_STATE_DIR=str(state),
        UC_WORKFLOW_REDIS_URL=redis_url,
    )
    return env


start = start_line_process


@pytest.fixture
def processes() -> Iterator[list[LineProcess]]:
    started: list[LineProcess] = []
    yield started
    for running in started:
        running.close()


async def new_task(api: str, key: str, name: str) -> str:
    async with WorkflowClient(api_key=key, base_url=api, retry_policy=FAST_RETRIES) as client:
        out = await get_tool("create_task").run(ToolContext(client, redis_url=None), {"name": name})
        return str(out.to_data()["task"]["uuid"])


async def note_texts(api: str, key: str, task_uuid: str) -> list[str]:
    async with WorkflowClient(api_key=key, base_url=api, retry_policy=FAST_RETRIES) as client:
        task = (await client.get_task(task_uuid)).task
    assert task is not None
    return [n.note or "" for n in task.notes or []]


NOTES_EACH = 15


async def test_two_machines_adding_notes_to_one_task_keep_every_note(
    start_sandbox: StartSandbox, redis_url: str, tmp_path: Path, processes: list[LineProcess]
) -> None:
    live = start_sandbox("--allow-concurrent", "--rate-limit", "none")
    key = f"machines-{uuid.uuid4().hex[:8]}"
    task_uuid = await new_task(live.api, key, "Written from two machines")
    script = tmp_path / "machine.py"
    script.write_text(MACHINE, encoding="utf-8")
    for name in "AB":
        env = machine_env(tmp_path, name, live.api, redis_url, key)
        processes.append(
            start([sys.executable, str(script), task_uuid, name, str(NOTES_EACH)], env, tmp_path)
        )
    for running in processes:
        assert running.next_line() == "ready"
    for running in processes:  # the go signal, to both at once
        assert running.process.stdin is not None
        running.process.stdin.write("go\n")
        running.process.stdin.flush()
    a, b = (json.loads(running.next_line()) for running in processes)
    for running in processes:
        assert running.process.wait(timeout=PROCESS_TIMEOUT) == 0
    assert all(r["ok"] for report in (a, b) for r in report["results"]), (a, b)
    assert a["first"] < b["last"] and b["first"] < a["last"], "the two machines did not write at once"
    texts = await note_texts(live.api, key, task_uuid)
    assert sorted(texts) == sorted(f"{who}{i}" for who in "AB" for i in range(NOTES_EACH))
    for who in "AB":  # each machine's notes in its own order
        assert [t for t in texts if t.startswith(who)] == [f"{who}{i}" for i in range(NOTES_EACH)]
    assert not any(r.get("warnings") for report in (a, b) for r in report["results"])


HOLDER_TTL = 2.0


async def test_a_holder_killed_with_sigkill_lets_the_next_writer_go_on_within_the_ttl(
    start_sandbox: StartSandbox, redis_url: str, tmp_path: Path, processes: list[LineProcess]
) -> None:
    live = start_sandbox("--allow-concurrent", "--rate-limit", "none")
    key = f"killed-{uuid.uuid4().hex[:8]}"
    task_uuid = await new_task(live.api, key, "Its writer was killed")
    script = tmp_path / "holder.py"
    script.write_text(HOLDER, encoding="utf-8")
    holder_env = machine_env(tmp_path, "A", live.api, redis_url, key)
    holder = start(
        [sys.executable, str(script), redis_url, live.api, task_uuid, str(HOLDER_TTL)], holder_env, tmp_path
    )
    processes.append(holder)
    assert holder.next_line() == "holding"
    # The next writer, on another machine, is the real command; it waits for the lock (up to 30 s).
    writer_env = machine_env(tmp_path, "B", live.api, redis_url, key)
    arguments = json.dumps({"task": task_uuid, "text": "after the crash"})
    writer = start([CLI, "call", "add_task_note", arguments], writer_env, tmp_path)
    processes.append(writer)
    holder.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    holder.process.wait(timeout=PROCESS_TIMEOUT)
    code = await asyncio.to_thread(writer.process.wait, PROCESS_TIMEOUT)
    elapsed = time.monotonic() - killed_at
    stderr = writer.process.stderr.read() if writer.process.stderr else ""
    assert code == 0, stderr
    assert await note_texts(live.api, key, task_uuid) == ["after the crash"]
    # Within the lock's TTL (plus the command's own start-up): not the 30 s a lock that never expires costs.
    assert elapsed < HOLDER_TTL + 10.0, elapsed


def test_a_redis_url_that_is_not_redis_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UC_WORKFLOW_REDIS_URL", "http://user:s3cret-pw@example.invalid/0")
    with pytest.raises(ValidationError) as info:
        Settings()
    message = bad_setting_message(info.value)
    assert message == (
        "setting UC_WORKFLOW_REDIS_URL: use a redis://, rediss:// or unix:// URL such as redis://127.0.0.1:6379/0"
    )
