"""What a tool error says about a write, when UltraCart (or a proxy in front of it) answers badly after the
write took effect: the sandbox does the work, and a proxy between it and the client spoils the answer."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared_client.client import WorkflowClient
from shared_client.models import WorkflowTask, WorkflowTasksRequest
from shared_client.pacing import BudgetSpec
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.tools import (
    ADD_TASK_NOTE,
    ATTACH_FILE,
    CREATE_TASK,
    UPDATE_TASK,
    ErrorKind,
    ToolContext,
    ToolError,
)
from shared_client.tools.outputs import summarize, summary_row
from shared_client.tools.writes import MAX_WRITE_ATTEMPTS
from tests.conftest import FAST_RETRIES

HTML = httpx.Response(
    200, text="<html><body>Bad gateway, politely</body></html>", headers={"content-type": "text/html"}
)
Spoil = Callable[[httpx.Request, httpx.Response], httpx.Response | None]


class SpoilingProxy(httpx.AsyncBaseTransport):
    """Passes every request to the sandbox, then lets ``spoil`` replace the answer (None keeps it)."""

    def __init__(self, sandbox: SandboxTransport, spoil: Spoil) -> None:
        self.sandbox, self.spoil = sandbox, spoil

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = await self.sandbox.handle_async_request(request)
        await answer.aread()
        return self.spoil(request, answer) or answer


def _context(db_path: Path, spoil: Spoil) -> tuple[ToolContext, WorkflowClient]:
    return _behind(db_path, lambda sandbox: SpoilingProxy(sandbox, spoil))


def _behind(
    db_path: Path, proxy: Callable[[SandboxTransport], httpx.AsyncBaseTransport]
) -> tuple[ToolContext, WorkflowClient]:
    """A ToolContext whose client reaches the sandbox through ``proxy``, and a client that does not."""
    app = create_app(SandboxConfig(db_path=db_path))
    client = WorkflowClient(
        api_key="test-owner",
        base_url="http://sandbox.test/rest/v2",
        transport=proxy(SandboxTransport(app)),
        gate_key=uuid.uuid4().hex,
        budget=BudgetSpec(),
        retry_policy=FAST_RETRIES,
    )
    truth = WorkflowClient(
        api_key="test-owner",
        base_url="http://sandbox.test/rest/v2",
        transport=SandboxTransport(app),
        gate_key=uuid.uuid4().hex,
        retry_policy=FAST_RETRIES,
    )
    return ToolContext(client, sandbox=True), truth


def _is_insert(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/workflow/tasks")


async def _named(truth: WorkflowClient, name: str) -> list[WorkflowTask]:
    return [t async for t in truth.iter_tasks(WorkflowTasksRequest()) if t.task_name == name]


@pytest.mark.parametrize(
    "spoiled",
    [HTML, httpx.Response(200, json={"success": True})],
    ids=["an html page", "success without the task"],
)
async def test_a_create_answered_badly_is_found_by_its_token_not_made_twice(
    db_path: Path, spoiled: httpx.Response
) -> None:
    ctx, truth = _context(db_path, lambda req, _: spoiled if _is_insert(req) else None)
    created = await CREATE_TASK.run(ctx, {"name": "Answered by a confused proxy"})
    made = await _named(truth, "Answered by a confused proxy")
    assert [t.workflow_task_uuid for t in made] == [created.task.uuid]


async def test_an_update_answered_badly_may_have_been_applied(db_path: Path) -> None:
    ctx, truth = _context(db_path, lambda req, _: HTML if req.method == "PUT" else None)
    target = (await _named(truth, "Review possible fraud on order"))[0]
    with pytest.raises(ToolError) as failed:
        await UPDATE_TASK.run(ctx, {"task": target.workflow_task_uuid, "priority": "low"})
    assert failed.value.kind is ErrorKind.UNKNOWN_OUTCOME and failed.value.write is True
    assert "may or may not have been applied" in failed.value.message


async def test_a_failure_after_a_write_that_did_not_stick_is_an_unknown_outcome(db_path: Path) -> None:
    puts: list[bytes] = []

    def spoil(request: httpx.Request, answer: httpx.Response) -> httpx.Response | None:
        if request.method == "PUT":
            puts.append(request.content)
            # The PUT is answered with the task as it was (the change did not read back) ...
            return httpx.Response(200, json={"success": True, "task": before.to_wire()})
        if request.method == "GET" and puts:
            return httpx.Response(503, headers={"UC-REST-ERROR": "maintenance"})  # ... then reads fail
        return None

    ctx, truth = _context(db_path, spoil)
    before = (await _named(truth, "Review possible fraud on order"))[0]
    with pytest.raises(ToolError) as failed:
        await ADD_TASK_NOTE.run(ctx, {"task": before.workflow_task_uuid or "", "text": "checked the address"})
    assert len(puts) == 1
    assert failed.value.kind is ErrorKind.UNKNOWN_OUTCOME and failed.value.write is True
    assert "look at the task" in failed.value.message


async def test_a_broken_file_upload_changed_no_task(db_path: Path) -> None:
    def spoil(request: httpx.Request, answer: httpx.Response) -> httpx.Response | None:
        if request.method == "PUT" and "/_sandbox/" in request.url.path:
            raise httpx.ReadError("connection reset", request=request)
        return None

    ctx, truth = _context(db_path, spoil)
    target = (await _named(truth, "Review possible fraud on order"))[0]
    args: dict[str, Any] = {
        "task": target.workflow_task_uuid,
        "content_base64": base64.b64encode(b"receipt").decode(),
        "file_name": "r.txt",
    }
    with pytest.raises(ToolError) as failed:
        await ATTACH_FILE.run(ctx, args)
    assert failed.value.kind is not ErrorKind.UNKNOWN_OUTCOME
    assert "may or may not" not in failed.value.message


# --------------------------------------------------------------------------- a change that does not stick


class UnstickingProxy(httpx.AsyncBaseTransport):
    """UltraCart on which the first ``lost`` PUTs of a task do not stick: each is answered with the task as
    it stands and never applied (as if another writer put the old values straight back)."""

    def __init__(self, sandbox: SandboxTransport, lost: int) -> None:
        self.sandbox, self.lost, self.puts = sandbox, lost, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and "/workflow/tasks/" in request.url.path:
            self.puts += 1
            if self.puts <= self.lost:
                headers = {k: v for k, v in request.headers.items() if not k.lower().startswith("content-")}
                read = httpx.Request("GET", request.url, headers=headers)
                current = await self.sandbox.handle_async_request(read)
                await current.aread()
                assert current.status_code == 200
                return httpx.Response(200, json=current.json())
        return await self.sandbox.handle_async_request(request)


async def test_a_change_that_did_not_stick_is_applied_again_once(db_path: Path) -> None:
    proxies: list[UnstickingProxy] = []
    ctx, truth = _behind(db_path, lambda sandbox: proxies.append(UnstickingProxy(sandbox, 1)) or proxies[-1])
    before = (await _named(truth, "Review possible fraud on order"))[0]
    uuid_ = before.workflow_task_uuid or ""
    await ADD_TASK_NOTE.run(ctx, {"task": uuid_, "text": "checked the address"})
    assert proxies[0].puts == 2
    after = (await truth.get_task(uuid_)).task
    assert after is not None
    added = [n.note for n in after.notes or []][len(before.notes or []) :]
    assert added == ["checked the address"], "applied again on the fresh task, and only once"


async def test_a_change_that_never_sticks_gives_up_with_a_conflict(db_path: Path) -> None:
    proxies: list[UnstickingProxy] = []
    ctx, truth = _behind(
        db_path, lambda sandbox: proxies.append(UnstickingProxy(sandbox, MAX_WRITE_ATTEMPTS)) or proxies[-1]
    )
    before = (await _named(truth, "Review possible fraud on order"))[0]
    uuid_ = before.workflow_task_uuid or ""
    with pytest.raises(ToolError) as failed:
        await UPDATE_TASK.run(ctx, {"task": uuid_, "status": "closed"})
    assert proxies[0].puts == MAX_WRITE_ATTEMPTS
    assert failed.value.kind is ErrorKind.CONFLICT and failed.value.write is True
    assert f"after {MAX_WRITE_ATTEMPTS} attempts" in failed.value.message
    assert (await truth.get_task(uuid_)).task == before


# --------------------------------------------------------------------------- the read before a write


class HeldFirstRead(httpx.AsyncBaseTransport):
    """The first GET of a task is answered by the sandbox at once but handed back only on ``release``: a
    read in flight whose answer is out of date by then."""

    def __init__(self, sandbox: SandboxTransport) -> None:
        self.sandbox, self.gets = sandbox, 0
        self.first_answered, self.release = asyncio.Event(), asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" or "/workflow/tasks/" not in request.url.path:
            return await self.sandbox.handle_async_request(request)
        self.gets += 1
        answer = await self.sandbox.handle_async_request(request)
        await answer.aread()
        if self.gets == 1:
            self.first_answered.set()
            await self.release.wait()
        return answer


async def test_the_read_of_a_write_never_joins_a_read_in_flight(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxies: list[HeldFirstRead] = []
    ctx, truth = _behind(db_path, lambda sandbox: proxies.append(HeldFirstRead(sandbox)) or proxies[-1])
    held = proxies[0]
    target = (await _named(truth, "Review possible fraud on order"))[0]
    uuid_ = target.workflow_task_uuid or ""
    reader = asyncio.ensure_future(ctx.client.get_task(uuid_))  # e.g. a get_task for another caller
    await held.first_answered.wait()
    # Another writer changes the task after that read was answered, before our write reads it.
    other = (await truth.get_task(uuid_)).task
    assert other is not None
    other.priority = "1 - low" if other.priority != "1 - low" else "3 - high"
    await truth.update_task(uuid_, other)

    # The stale read is handed back as soon as the write asks for the task (while the read is in flight).
    asks = ctx.client.get_task

    async def ask(task_uuid: str, *, shared: bool = True) -> Any:
        held.release.set()
        return await asks(task_uuid, shared=shared)

    monkeypatch.setattr(ctx.client, "get_task", ask)
    await asyncio.wait_for(ADD_TASK_NOTE.run(ctx, {"task": uuid_, "text": "after the other writer"}), 30)
    stale = (await reader).task
    assert stale is not None and stale.priority == target.priority, "the first read was out of date"
    saved = (await truth.get_task(uuid_)).task
    assert saved is not None
    assert saved.priority == other.priority, "our write put the stale priority back"
    assert [n.note for n in saved.notes or []][-1] == "after the other writer"


# --------------------------------------------------------------------------- input that cannot be written


@pytest.mark.parametrize("due", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_due_date_outside_what_can_be_written_is_bad_input(due: str) -> None:
    with pytest.raises(ToolError) as refused:
        CREATE_TASK.parse_arguments({"name": "x", "due": due})
    assert [f.path for f in refused.value.fields] == ["due"]


@pytest.mark.parametrize("name", ["\u200b\u200b", "\x00\x07", "\u202e"])
def test_a_name_of_invisible_characters_is_bad_input(name: str) -> None:
    for tool, args in ((CREATE_TASK, {"name": name}), (UPDATE_TASK, {"task": "#1", "name": name})):
        with pytest.raises(ToolError) as refused:
            tool.parse_arguments(args)
        assert refused.value.kind is ErrorKind.BAD_INPUT
        assert [f.path for f in refused.value.fields] == ["name"]


def test_a_nested_check_names_its_field_under_its_item() -> None:
    with pytest.raises(ToolError) as refused:
        ADD_TASK_NOTE.parse_arguments(
            {"task": "#1", "text": "t", "attachments": [{"content_base64": "aGk="}]}
        )
    assert [(f.path, f.message) for f in refused.value.fields] == [
        ("attachments.0.file_name", "is required with content_base64")
    ]


def test_a_huge_argument_name_is_not_echoed_whole() -> None:
    with pytest.raises(ToolError) as refused:
        CREATE_TASK.parse_arguments({"name": "x", "a" * 5000: 1})
    assert len(refused.value.message) < 300


def test_a_summary_without_a_number_sends_its_uuid() -> None:
    summary = summarize(WorkflowTask(workflow_task_uuid="4f1e2a7c-0000", task_name="Rule-made"))
    assert summary.to_data()["uuid"] == "4f1e2a7c-0000"
    assert summary_row(summary).startswith("4f1e2a7c-0000 Rule-made")
    numbered = summarize(WorkflowTask(workflow_task_uuid="4f1e2a7c-0000", global_task_number=7))
    assert "uuid" not in numbered.to_data() and summary_row(numbered).startswith("#7 ")
