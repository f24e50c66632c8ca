"""Attacks on the per-task write lock in Redis: interleavings where the lock is no longer ours and the
writer must say so, against a real Redis and the sandbox in process."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared_client.client import WorkflowClient
from shared_client.locks import LockTimeout, lock_name
from shared_client.pacing import BudgetSpec
from shared_client.redis_locks import REDIS_LOCK_PREFIX, RedisHeldLock, redis_lock
from shared_client.redis_support import redis_client
from shared_client.sandbox import SandboxTransport
from shared_client.tools import ToolContext, get_tool
from shared_client.tools.writes import LOCK_LOST_DURING_WRITE
from tests.conftest import FAST_RETRIES, SANDBOX_URL
from tests.lock_support import record_redis_locks, sandbox_with_task


class ExpireDuringPut(httpx.AsyncBaseTransport):
    """The sandbox in process; while the PUT is on its way, a whole TTL passes without a renewal that
    reached Redis (the holder's last confirmation is moved a TTL back: its renewal is still waiting for its
    next turn, or for a socket timeout), and another writer takes the expired key."""

    def __init__(self, app: Any, redis_url: str, key: str, holds: list[RedisHeldLock]) -> None:
        self._inner = SandboxTransport(app)
        self._redis_url = redis_url
        self._key = key
        self._holds = holds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            held = self._holds[0]
            held._confirmed -= held._ttl + 1  # a TTL's worth of failed renewals
            await redis_client(self._redis_url).set(self._key, b"another-writer", px=60_000)
        return await self._inner.handle_async_request(request)


async def test_a_put_answered_after_the_lock_expired_is_not_reported_as_a_clean_success(
    db_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, task_uuid, reader = await sandbox_with_task(db_path, "Expired mid-PUT")
    holds = record_redis_locks(monkeypatch)
    key = REDIS_LOCK_PREFIX + lock_name(SANDBOX_URL, task_uuid)
    client = WorkflowClient(
        api_key="owner", base_url=SANDBOX_URL, transport=ExpireDuringPut(app, redis_url, key, holds),
        gate_key=uuid.uuid4().hex, budget=BudgetSpec.none(), retry_policy=FAST_RETRIES,
    )  # fmt: skip
    out = await get_tool("add_task_note").run(
        ToolContext(client, redis_url=redis_url), {"task": task_uuid, "text": "answered after the TTL"}
    )
    # The renewal (every 5 s of the default 15 s TTL) has not run: only the lock's own clock knows.
    assert holds[0].renewals == 0
    assert LOCK_LOST_DURING_WRITE in (out.to_data().get("warnings") or [])
    assert await redis_client(redis_url).get(key) == b"another-writer"  # the other writer's lock kept
    await client.aclose()
    await reader.aclose()


async def test_a_lock_whose_ttl_lapsed_unrenewed_is_lost_until_released_and_then_judged_once(
    redis_url: str,
) -> None:
    parts = "http://mock/rest/v2", str(uuid.uuid4())
    async with redis_lock(redis_url, *parts, ttl=30.0) as held:
        assert not held.lost
        held._confirmed -= 31  # no renewal reached Redis for a whole TTL
        assert held.lost  # without waiting for the renewal's next turn (10 s away)
    assert held.lost  # kept after the release: the write under it may have been shared
    async with redis_lock(redis_url, *parts, ttl=30.0) as fresh:
        pass
    assert not fresh.lost  # a lock released in time stays not lost, however long ago that was


class TakenDuringPut(httpx.AsyncBaseTransport):
    """The sandbox in process; while the PUT is on its way, the lock's key is evicted (or lost in a
    fail-over) and another writer takes it; the PUT is answered before the renewal's next turn."""

    def __init__(self, app: Any, redis_url: str, key: str) -> None:
        self._inner = SandboxTransport(app)
        self._redis_url = redis_url
        self._key = key

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            await redis_client(self._redis_url).delete(self._key)
            await redis_client(self._redis_url).set(self._key, b"another-writer", px=60_000)
        return await self._inner.handle_async_request(request)


async def test_a_lock_taken_during_the_put_is_reported_even_before_the_renewal_sees_it(
    db_path: Path, redis_url: str
) -> None:
    app, task_uuid, reader = await sandbox_with_task(db_path, "Evicted mid-PUT")
    key = REDIS_LOCK_PREFIX + lock_name(SANDBOX_URL, task_uuid)
    client = WorkflowClient(
        api_key="owner", base_url=SANDBOX_URL, transport=TakenDuringPut(app, redis_url, key),
        gate_key=uuid.uuid4().hex, budget=BudgetSpec.none(), retry_policy=FAST_RETRIES,
    )  # fmt: skip
    out = await get_tool("add_task_note").run(
        ToolContext(client, redis_url=redis_url), {"task": task_uuid, "text": "written while not ours"}
    )
    assert LOCK_LOST_DURING_WRITE in (out.to_data().get("warnings") or [])
    assert await redis_client(redis_url).get(key) == b"another-writer"
    await client.aclose()
    await reader.aclose()


class HeldPut(httpx.AsyncBaseTransport):
    """The sandbox in process; a PUT waits (as one at UltraCart does) until the test lets it land."""

    def __init__(self, app: Any) -> None:
        self._inner = SandboxTransport(app)
        self.put_started = asyncio.Event()
        self.land = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.put_started.set()
            await self.land.wait()
        return await self._inner.handle_async_request(request)


class Said(logging.Handler):
    def __init__(self, words: str) -> None:
        super().__init__()
        self.words = words
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


async def test_a_write_cancelled_while_its_put_is_on_its_way_keeps_the_lock_until_the_answer(
    db_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, task_uuid, reader = await sandbox_with_task(db_path, "Cancelled mid-PUT")
    transport = HeldPut(app)
    client = WorkflowClient(
        api_key="owner", base_url=SANDBOX_URL, transport=transport, gate_key=uuid.uuid4().hex,
        budget=BudgetSpec.none(), retry_policy=FAST_RETRIES,
    )  # fmt: skip
    said = Said("the task's lock is kept until UltraCart answers")
    caplog.set_level(logging.INFO, logger="uc_workflow.tools")
    logging.getLogger("uc_workflow.tools").addHandler(said)
    try:
        writer = asyncio.create_task(
            get_tool("add_task_note").run(
                ToolContext(client, redis_url=redis_url), {"task": task_uuid, "text": "sent, then hung up"}
            )
        )
        await asyncio.wait_for(transport.put_started.wait(), timeout=10)
        writer.cancel()  # the caller hangs up while UltraCart has the PUT
        settled = asyncio.ensure_future(said.event.wait())
        await asyncio.wait([writer, settled], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        # The writer must not have let go (and its lock with it) while the PUT had not landed ...
        assert not writer.done() and said.event.is_set()
        for _ in range(3):  # ... however often it is cancelled again (as anyio's cancel scopes do)
            writer.cancel()
            await asyncio.wait([writer], timeout=0)
        assert not writer.done()
        with pytest.raises(LockTimeout):  # another machine's writer cannot read the task yet
            async with redis_lock(redis_url, SANDBOX_URL, task_uuid, max_wait=0.0):
                pytest.fail("the lock was free while a PUT under it was still on its way")
        transport.land.set()
        with pytest.raises(asyncio.CancelledError):
            await writer
        async with redis_lock(redis_url, SANDBOX_URL, task_uuid, max_wait=5.0):  # released once answered
            pass
        task = (await reader.get_task(task_uuid)).task
        assert task is not None and [n.note for n in task.notes or []] == ["sent, then hung up"]
    finally:
        logging.getLogger("uc_workflow.tools").removeHandler(said)
        transport.land.set()
        await client.aclose()
        await reader.aclose()
