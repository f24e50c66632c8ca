"""Fixtures for the robustness suites (helpers live in robust_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from robust_support import (
    OWNER_KEY,
    ROBUST_RETRIES,
    CallCounter,
    MakeRig,
    Rig,
    SleepRecorder,
    count_logical_calls,
    new_client,
)

from shared_client.client import WorkflowClient
from shared_client.retry import RetryPolicy
from shared_client.sandbox import SandboxConfig, create_app
from shared_client.tools import ToolContext


@pytest.fixture
async def make_rig(db_path: Path) -> AsyncIterator[MakeRig]:
    """``await make_rig(key=..., policy=..., **SandboxConfig fields)``; rate limits off unless given."""
    made: list[WorkflowClient] = []
    clean_app = create_app(SandboxConfig(db_path=db_path, rate_limit=None, allow_concurrent=True))

    async def make(*, key: str = OWNER_KEY, policy: RetryPolicy = ROBUST_RETRIES, **config: Any) -> Rig:
        config.setdefault("db_path", db_path)
        config.setdefault("rate_limit", None)
        app = create_app(SandboxConfig(**config))
        sleeps = SleepRecorder()
        logical = CallCounter()
        client = new_client(app, key=key, policy=policy, sleep=sleeps)
        count_logical_calls(client, logical)
        clean = new_client(clean_app, key=key)
        made.extend([client, clean])
        return Rig(
            app=app,
            client=client,
            ctx=ToolContext(client, sandbox=True),
            clean=clean,
            clean_ctx=ToolContext(clean, sandbox=True),
            sleeps=sleeps,
            logical=logical,
        )

    yield make
    for client in made:
        await client.aclose()
