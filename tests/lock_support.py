"""What the Redis write-lock tests share: a sandbox in this process with one task on it, and the locks
the tools took, recorded."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared_client import redis_locks
from shared_client.client import WorkflowClient
from shared_client.redis_locks import RedisHeldLock
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.tools import ToolContext, get_tool
from tests.conftest import SANDBOX_URL


async def sandbox_with_task(db_path: Path, name: str) -> tuple[Any, str, WorkflowClient]:
    """A sandbox app (no rate limit) on ``db_path``, the uuid of a new task named ``name`` on it, and the
    client that made it (for reading it back; the caller closes it)."""
    app = create_app(SandboxConfig(db_path=db_path, rate_limit=None))
    reader = WorkflowClient(api_key="owner", base_url=SANDBOX_URL, transport=SandboxTransport(app))
    created = await get_tool("create_task").run(ToolContext(reader, redis_url=None), {"name": name})
    return app, str(created.to_data()["task"]["uuid"]), reader


def record_redis_locks(monkeypatch: pytest.MonkeyPatch) -> list[RedisHeldLock]:
    """Every Redis write lock taken from now on, in order (the list fills as the tools take them)."""
    holds: list[RedisHeldLock] = []
    original = redis_locks.redis_lock

    @contextlib.asynccontextmanager
    async def recorded(*args: Any, **options: Any) -> AsyncIterator[RedisHeldLock]:
        async with original(*args, **options) as held:
            holds.append(held)
            yield held

    monkeypatch.setattr(redis_locks, "redis_lock", recorded)
    return holds
