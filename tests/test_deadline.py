"""Every tool call has a deadline: a wait for UltraCart (a Retry-After, a spent budget, another write's
lock) that would end past it fails at once, saying when to try again, and never sleeps holding locks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from shared_client import locks
from shared_client.client import WorkflowClient
from shared_client.errors import RateLimitError
from shared_client.factory import build_backend
from shared_client.locks import machine_lock
from shared_client.pacing import BudgetSpec
from shared_client.settings import Settings
from shared_client.tools import ToolContext
from shared_client.tools.errors import ErrorKind, ToolError
from shared_client.tools.tasks import COUNT_OPEN_TASKS, LIST_TASK_TAGS
from shared_client.tools.writes import read_modify_write

OPEN_COUNT = {"success": True, "open_count": 3, "metadata": {}}
RATE_LIMITED = {"error": {"user_message": "rate of 1000 per 3600 second(s) exceeded"}, "metadata": {}}


class FakeTime:
    """A clock that only the client's injected sleep moves."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def client_on(
    handler: Callable[[httpx.Request], httpx.Response],
    time: FakeTime,
    *,
    deadline: float = 60.0,
    budget: BudgetSpec | None = None,
) -> WorkflowClient:
    return WorkflowClient(
        api_key="k",
        base_url="http://mock/rest/v2",
        transport=httpx.MockTransport(handler),
        gate_key=uuid.uuid4().hex,
        budget=budget or BudgetSpec.none(),
        sleep=time.sleep,
        clock=time.clock,
        call_deadline=deadline,
    )


def answers(*responses: httpx.Response) -> tuple[Callable[[httpx.Request], httpx.Response], list[str]]:
    sent: list[str] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler, sent


async def test_a_429_asking_for_300_s_fails_at_once_with_its_retry_after() -> None:
    time = FakeTime()
    handler, sent = answers(httpx.Response(429, json=RATE_LIMITED, headers={"Retry-After": "300"}))
    ctx = ToolContext(client_on(handler, time))
    with pytest.raises(ToolError) as info:
        await COUNT_OPEN_TASKS.run(ctx, {})
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert info.value.retry_after == pytest.approx(300.0)
    assert "300 s" in info.value.message
    assert time.slept == []
    assert len(sent) == 1


async def test_a_direct_client_call_has_a_deadline_too() -> None:
    time = FakeTime()
    handler, sent = answers(httpx.Response(429, json=RATE_LIMITED, headers={"Retry-After": "300"}))
    with pytest.raises(RateLimitError) as info:
        await client_on(handler, time).get_open_count()
    assert info.value.retry_after == pytest.approx(300.0)
    assert (time.slept, len(sent)) == ([], 1)


async def test_a_wait_within_the_deadline_is_still_waited_out() -> None:
    time = FakeTime()
    handler, sent = answers(
        httpx.Response(429, json=RATE_LIMITED, headers={"Retry-After": "5"}),
        httpx.Response(200, json=OPEN_COUNT),
    )
    out = await COUNT_OPEN_TASKS.run(ToolContext(client_on(handler, time)), {})
    assert out.to_data()["open_count"] == 3
    assert time.slept == [5.0]
    assert len(sent) == 2


async def test_the_retries_of_one_tool_call_share_its_deadline() -> None:
    time = FakeTime()
    handler, sent = answers(httpx.Response(429, json=RATE_LIMITED, headers={"Retry-After": "4"}))
    with pytest.raises(ToolError) as info:
        await COUNT_OPEN_TASKS.run(ToolContext(client_on(handler, time, deadline=10.0)), {})
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert time.slept == [4.0, 4.0]  # a third wait would end at 12 s, past the 10 s deadline
    assert len(sent) == 3


async def test_a_spent_hourly_budget_fails_at_once_saying_when() -> None:
    time = FakeTime()
    handler, sent = answers(httpx.Response(200, json=OPEN_COUNT))
    ctx = ToolContext(client_on(handler, time, budget=BudgetSpec(limits=((2, 3600.0),))))
    for _ in range(2):
        await COUNT_OPEN_TASKS.run(ctx, {})
    with pytest.raises(ToolError) as info:
        await COUNT_OPEN_TASKS.run(ctx, {})
    error = info.value
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.retry_after == pytest.approx(1800.0, abs=5.0)
    assert "UltraCart's hourly budget for this key is spent; try again in about 30 minutes" in error.message
    assert time.slept == []
    assert len(sent) == 2


async def test_a_call_queued_behind_a_slow_request_gives_up_at_its_deadline() -> None:
    time = FakeTime()
    sent: list[str] = []
    answering, answer = asyncio.Event(), asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        answering.set()
        await answer.wait()
        return httpx.Response(200, json=OPEN_COUNT)

    slow_client = client_on(slow, time, deadline=0.0)  # no time to wait: any queue is too long
    ctx = ToolContext(slow_client)
    first = asyncio.create_task(COUNT_OPEN_TASKS.run(ctx, {}))  # the slot is free: it is sent
    await answering.wait()
    with pytest.raises(ToolError) as info:
        await LIST_TASK_TAGS.run(ctx, {})  # one request in flight per key: this one would queue
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert "still answering this key's earlier requests" in info.value.message
    answer.set()
    assert (await first).to_data()["open_count"] == 3
    assert sent == ["/rest/v2/workflow/tasks/open_count"]
    assert time.slept == []


async def test_waiting_for_another_write_s_lock_stops_at_the_call_s_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "lock_dir", lambda: tmp_path / "locks")
    time = FakeTime()

    def never(request: httpx.Request) -> httpx.Response:
        pytest.fail(f"UltraCart was asked {request.url} although the task's lock was never taken")

    client = client_on(never, time, deadline=0.0)
    ctx = ToolContext(client)
    task_uuid = "0f7c39e2-6f7e-4a10-9b8e-3f5e5c1f2a11"
    async with machine_lock(client.base_url, task_uuid):
        with client.call_scope(), pytest.raises(ToolError) as info:
            await read_modify_write(ctx, task_uuid, lambda task: ["changed"])
    assert info.value.kind is ErrorKind.CONFLICT
    assert f"another write to task {task_uuid} has held its lock" in info.value.message.lower()


def test_the_deadline_is_a_setting_the_backend_passes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().uc_workflow_call_deadline == 60.0
    monkeypatch.setenv("UC_WORKFLOW_CALL_DEADLINE", "12.5")
    monkeypatch.setenv("ULTRACART_API_KEY", "a-key")
    monkeypatch.delenv("UC_WORKFLOW_SANDBOX", raising=False)
    settings = Settings()
    assert settings.uc_workflow_call_deadline == 12.5
    assert build_backend(settings).client.call_deadline == 12.5
    assert build_backend(settings, force_sandbox=True).client.call_deadline == 12.5
