"""Concurrent writers to one task: two OS processes (each with its own embedded sandbox on the same SQLite
file, as the MCP server and the Slack bot run side by side), and many asyncio writers in one process.

UltraCart's PUT replaces the whole task and has no version field, so two read-modify-writes that overlap
erase one another. On one machine the tools serialize them (an asyncio lock per task in the process and a
file lock per task on the machine); the last test shows what happens without the machine lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from robust_support import OWNER_KEY, ROBUST_RETRIES, SANDBOX_URL, MakeRig, clean_environment, new_client

from shared_client.client import WorkflowClient
from shared_client.locks import HeldLock
from shared_client.pacing import BudgetSpec
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.tools import ToolContext, get_tool
from tests.line_process import PROCESS_TIMEOUT, LineProcess, start_line_process

DRIVER = '''
"""Run a list of (tool, arguments) with the real tools on the embedded sandbox, after a go signal."""
import asyncio
import json
import sys
import time

from shared_client.factory import build_backend
from shared_client.tools import ToolContext, ToolError, get_tool


async def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        ops = json.load(f)
    backend = build_backend(force_sandbox=True)
    async with backend.client:
        ctx = ToolContext(backend.client, sandbox=True)
        await backend.client.get_open_count()  # warm up: imports, database, first request
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the go signal
        first = time.monotonic()
        results = []
        for name, args in ops:
            try:
                out = await get_tool(name).run(ctx, args)
                results.append({"ok": True, "warnings": out.to_data().get("warnings")})
            except ToolError as exc:
                results.append({"ok": False, "error": exc.message})
        last = time.monotonic()
    print(json.dumps({"results": results, "first": first, "last": last}), flush=True)


asyncio.run(main())
'''


def start_driver(tmp_path: Path, env: dict[str, str], label: str, ops: list[tuple[str, Any]]) -> LineProcess:
    script = tmp_path / "driver.py"
    if not script.exists():
        script.write_text(DRIVER, encoding="utf-8")
    ops_file = tmp_path / f"ops-{label}.json"
    ops_file.write_text(json.dumps(ops), encoding="utf-8")
    return start_line_process([sys.executable, str(script), str(ops_file)], env, tmp_path)


@contextlib.contextmanager
def drivers(tmp_path: Path, db: Path, **ops: list[tuple[str, Any]]) -> Iterator[dict[str, dict[str, Any]]]:
    """Start one process per entry of ``ops``, wait until each is ready, release them together, and
    yield their reports once both exited."""
    env = clean_environment(
        UC_WORKFLOW_SANDBOX="1", UC_WORKFLOW_SANDBOX_DB=str(db), UC_WORKFLOW_STATE_DIR=str(tmp_path / "state")
    )
    started = {label: start_driver(tmp_path, env, label, steps) for label, steps in ops.items()}
    try:
        for driver in started.values():
            assert driver.next_line() == "ready"
        for driver in started.values():  # the go signal, to both at once
            assert driver.process.stdin is not None
            driver.process.stdin.write("go\n")
            driver.process.stdin.flush()
        reports = {label: json.loads(driver.next_line()) for label, driver in started.items()}
        for driver in started.values():
            assert driver.process.wait(timeout=PROCESS_TIMEOUT) == 0
        yield reports
    finally:
        for driver in started.values():
            driver.close()


def overlapped(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["first"] < b["last"] and b["first"] < a["last"])


@pytest.fixture
async def shared_task(db_path: Path) -> AsyncIterator[tuple[Path, Any]]:
    """A fresh task on the database the processes will share, and a clean client to read it."""
    client = new_client(create_app(SandboxConfig(db_path=db_path, rate_limit=None)))
    async with client:
        out = await get_tool("create_task").run(ToolContext(client), {"name": "Shared by two processes"})
        yield db_path, (client, out.to_data()["task"]["uuid"])


async def note_texts(client: Any, task_uuid: str) -> list[str]:
    task = (await client.get_task(task_uuid)).task
    assert task is not None
    return [n.note or "" for n in task.notes or []]


async def test_two_processes_each_add_25_notes_to_one_task(
    shared_task: tuple[Path, Any], tmp_path: Path
) -> None:
    db, (client, task_uuid) = shared_task
    a = [("add_task_note", {"task": task_uuid, "text": f"A{i}"}) for i in range(25)]
    b = [("add_task_note", {"task": task_uuid, "text": f"B{i}"}) for i in range(25)]
    with drivers(tmp_path, db, a=a, b=b) as reports:
        pass
    assert all(r["ok"] for report in reports.values() for r in report["results"]), reports
    assert overlapped(reports["a"], reports["b"]), "the two processes did not run at the same time"
    texts = await note_texts(client, task_uuid)
    assert len(texts) == 50 and Counter(texts) == Counter(
        [f"A{i}" for i in range(25)] + [f"B{i}" for i in range(25)]
    )
    # Each process's notes are in its own order.
    assert [t for t in texts if t.startswith("A")] == [f"A{i}" for i in range(25)]
    assert [t for t in texts if t.startswith("B")] == [f"B{i}" for i in range(25)]
    assert not any(r.get("warnings") for report in reports.values() for r in report["results"])


async def test_a_status_change_racing_a_note_in_two_processes_both_survive(
    shared_task: tuple[Path, Any], tmp_path: Path
) -> None:
    db, (client, task_uuid) = shared_task
    changes: list[tuple[str, Any]] = []
    for i in range(15):
        status = "closed" if i == 14 else ["delayed", "open", "awaiting customer feedback"][i % 3]
        priority = "critical" if i == 14 else ["low", "high"][i % 2]
        changes.append(("update_task", {"task": task_uuid, "status": status, "priority": priority}))
    notes = [("add_task_note", {"task": task_uuid, "text": f"N{i}"}) for i in range(15)]
    with drivers(tmp_path, db, changes=changes, notes=notes) as reports:
        pass
    assert all(r["ok"] for report in reports.values() for r in report["results"]), reports
    assert overlapped(reports["changes"], reports["notes"]), "the two processes did not run at the same time"
    task = (await client.get_task(task_uuid)).task
    assert task is not None
    assert [n.note for n in task.notes or []] == [f"N{i}" for i in range(15)]
    assert str(task.status) == "closed" and str(task.priority) == "4 - critical"


async def test_fifty_concurrent_notes_in_one_process(make_rig: MakeRig) -> None:
    rig = await make_rig()
    task_uuid = (await get_tool("create_task").run(rig.ctx, {"name": "In-process burst"})).to_data()["task"][
        "uuid"
    ]
    tool = get_tool("add_task_note")
    await asyncio.gather(
        *(tool.run(rig.ctx, {"task": task_uuid, "text": f"{who}{i}"}) for i in range(25) for who in "AB")
    )
    texts = await note_texts(rig.clean, task_uuid)
    assert sorted(texts) == sorted(f"{who}{i}" for i in range(25) for who in "AB")


async def test_status_changes_racing_notes_in_one_process_both_survive(make_rig: MakeRig) -> None:
    """Two tool contexts (two clients, as two front ends in one process) on one task: one changes status
    and priority, the other adds notes, all at once."""
    rig = await make_rig(allow_concurrent=True)
    task_uuid = (await get_tool("create_task").run(rig.ctx, {"name": "Race"})).to_data()["task"]["uuid"]
    changer, noter = (ToolContext(new_client(rig.app)) for _ in range(2))
    statuses = ["delayed", "open", "awaiting customer feedback", "closed"]
    try:
        await asyncio.gather(
            *(
                get_tool("update_task").run(changer, {"task": task_uuid, "status": s, "priority": "critical"})
                for s in statuses
            ),
            *(get_tool("add_task_note").run(noter, {"task": task_uuid, "text": f"N{i}"}) for i in range(12)),
        )
    finally:
        await changer.client.aclose()
        await noter.client.aclose()
    task = (await rig.clean.get_task(task_uuid)).task
    assert task is not None
    assert [n.note for n in task.notes or []] == [f"N{i}" for i in range(12)]
    assert str(task.status) == "closed" and str(task.priority) == "4 - critical"


class ReadTogether(httpx.AsyncBaseTransport):
    """The sandbox in-process, where every GET of a task waits until the other writer read it too: both
    writers then build their PUT from the same version, every round (a deterministic interleaving)."""

    def __init__(self, app: Any, barrier: asyncio.Barrier) -> None:
        self._inner = SandboxTransport(app)
        self._barrier = barrier

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and "/workflow/tasks/" in request.url.path:
            await self._barrier.wait()
        return await self._inner.handle_async_request(request)


async def two_writers(
    app: Any, task_uuid: str, *, read_together: bool = False
) -> tuple[list[str], list[str]]:
    """Two tool contexts on two clients (separate gates, so their requests interleave) in one process,
    each adding 25 notes to one task; returns (the warnings they reported, the notes they added)."""
    barrier = asyncio.Barrier(2)
    contexts = [
        ToolContext(
            WorkflowClient(
                api_key=OWNER_KEY,
                base_url=SANDBOX_URL,
                transport=ReadTogether(app, barrier) if read_together else SandboxTransport(app),
                gate_key=uuid.uuid4().hex,
                budget=BudgetSpec.none(),
                retry_policy=ROBUST_RETRIES,
            )
        )
        for _ in range(2)
    ]
    tool = get_tool("add_task_note")
    added = [f"{who}{i}" for i in range(25) for who in "AB"]
    try:
        outs = await asyncio.gather(
            *(
                tool.run(contexts[0 if text[0] == "A" else 1], {"task": task_uuid, "text": text})
                for text in added
            )
        )
    finally:
        for ctx in contexts:
            await ctx.client.aclose()
    warnings = [w for out in outs for w in (out.to_data().get("warnings") or [])]
    return warnings, added


async def test_two_contexts_in_one_process_are_serialized_by_the_machine_lock(make_rig: MakeRig) -> None:
    rig = await make_rig(allow_concurrent=True)
    task_uuid = (await get_tool("create_task").run(rig.ctx, {"name": "Two contexts"})).to_data()["task"][
        "uuid"
    ]
    warnings, added = await two_writers(rig.app, task_uuid)
    assert sorted(await note_texts(rig.clean, task_uuid)) == sorted(added)
    assert warnings == []


@contextlib.asynccontextmanager
async def no_lock(*_parts: str, **_options: object) -> AsyncIterator[HeldLock]:
    yield HeldLock()


async def lockless_run(make_rig: MakeRig, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """Two writers that share no lock (as on two machines) and always read the same version."""
    monkeypatch.setattr("shared_client.tools.writes.machine_lock", no_lock)
    rig = await make_rig(allow_concurrent=True)
    task_uuid = (await get_tool("create_task").run(rig.ctx, {"name": "No lock"})).to_data()["task"]["uuid"]
    warnings, added = await two_writers(rig.app, task_uuid, read_together=True)
    texts = await note_texts(rig.clean, task_uuid)
    return warnings, sorted(set(added) - set(texts))


async def test_without_the_machine_lock_overlapping_writers_lose_notes(
    make_rig: MakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the lock buys: with it (the test above) all 50 notes survive; without it, two writers that
    read the same version and PUT the whole task one after the other lose one note per round."""
    _warnings, lost = await lockless_run(make_rig, monkeypatch)
    assert len(lost) == 25, lost


async def test_without_the_machine_lock_every_lost_note_is_reported(
    make_rig: MakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UltraCart has no version field, so writers on two machines cannot be prevented from erasing each
    other's note; the promise is that it is never silent: each loss is reported to a writer."""
    warnings, lost = await lockless_run(make_rig, monkeypatch)
    assert lost
    assert len(warnings) >= len(lost), f"{len(lost)} note(s) lost, {len(warnings)} warning(s): {lost}"
