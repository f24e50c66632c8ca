"""Helpers for the tool behaviour tests: run a registry tool on an in-process sandbox and read the
sandbox's request counters around it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from shared_client.client import WorkflowClient
from shared_client.models import WorkflowTask
from shared_client.tools import ToolContext, ToolError, ToolInputError, get_tool

WRITES = ("insertWorkflowTask", "updateWorkflowTask", "getWorkflowTaskAttachmentUploadUrl")
PEOPLE_CALLS = ("getWorkflowAssignmentUsers", "getWorkflowAssignmentGroups", "getWorkflowMe")


@dataclass
class Tools:
    """One sandbox, one client on it, one ToolContext (with its caches)."""

    sandbox: Any  # tests.conftest.InProcess
    ctx: ToolContext

    @property
    def client(self) -> WorkflowClient:
        return self.ctx.client

    async def run(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """The tool's structured result, as a front end would send it."""
        data: dict[str, Any] = (await get_tool(name).run(self.ctx, args or {})).to_data()
        return data

    async def fail(self, name: str, args: dict[str, Any]) -> ToolError:
        with pytest.raises(ToolError) as info:
            await get_tool(name).run(self.ctx, args)
        return info.value

    async def fail_input(self, name: str, args: dict[str, Any]) -> ToolInputError:
        with pytest.raises(ToolInputError) as info:
            await get_tool(name).run(self.ctx, args)
        return info.value

    async def counts(self) -> dict[str, int]:
        stats = await self.sandbox.stats()
        return {str(k): int(v) for k, v in stats["requests"].items()}

    async def raw(self, task_uuid: str) -> dict[str, Any]:
        """The whole task as UltraCart sends it (no tool in between)."""
        task = (await self.client.get_task(task_uuid)).task
        assert task is not None
        return task.to_wire()

    async def insert_raw(self, **fields: Any) -> dict[str, Any]:
        """A task written straight through the client, bypassing the tools (e.g. hostile text)."""
        fields.setdefault("task_name", "raw task")
        created = (await self.client.insert_task(WorkflowTask(**fields))).task
        assert created is not None
        return created.to_wire()


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Requests per operation made between two stats snapshots (zero counts left out)."""
    keys = set(before) | set(after)
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) != before.get(k, 0)}


def assert_nothing_written(before: dict[str, int], after: dict[str, int]) -> None:
    made = delta(before, after)
    assert not any(op in made for op in WRITES), made


def assert_one_line(error: ToolError, *must_contain: str) -> None:
    """One message, on one line, naming what it must name."""
    assert "\n" not in error.message, error.message
    lowered = error.message.lower()
    for part in must_contain:
        assert part.lower() in lowered, (part, error.message)
