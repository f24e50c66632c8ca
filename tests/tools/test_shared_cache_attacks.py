"""Attacks on the caches shared in Redis: a key that holds something of another type (another version's
layout, an operator's mistake) is a miss that heals, never "Redis is unreachable" on every call."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared_client.client import WorkflowClient
from shared_client.pacing import BudgetSpec
from shared_client.redis_support import redis_client
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.shared_cache import PEOPLE_PREFIX, TASK_NUMBERS_PREFIX
from shared_client.tools import ToolContext, get_tool
from shared_client.tools.task_refs import resolve_task_uuid
from tests.conftest import FAST_RETRIES, SANDBOX_URL


def replica(app: Any, key: str, redis_url: str) -> ToolContext:
    client = WorkflowClient(
        api_key=key, base_url=SANDBOX_URL, transport=SandboxTransport(app),
        budget=BudgetSpec.none(), retry_policy=FAST_RETRIES,
    )  # fmt: skip
    return ToolContext(client, sandbox=True, redis_url=redis_url)


async def test_shared_cache_keys_of_another_type_are_a_miss_not_redis_unreachable(
    db_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(SandboxConfig(db_path=db_path, rate_limit=None))
    key = f"wrongtype-{uuid.uuid4().hex[:12]}"
    ctx = replica(app, key, redis_url)
    redis = redis_client(redis_url)
    fingerprint = ctx.client.fingerprint
    await redis.hset(PEOPLE_PREFIX + fingerprint, mapping={"users": "[]"})  # a hash where a string goes
    await redis.set(TASK_NUMBERS_PREFIX + fingerprint, b"a string where a hash goes")
    with caplog.at_level(logging.WARNING, logger="uc_workflow.cache"):
        users = (await get_tool("list_assignable_users").run(ctx, {})).to_data()
        found = (await get_tool("search_tasks").run(ctx, {"limit": 1})).to_data()["tasks"]
        number = found[0]["number"]
        task_uuid = ctx.task_numbers[number]
        ctx.task_numbers.clear()  # a cold process: the number goes to Redis first
        assert await resolve_task_uuid(ctx, f"#{number}") == task_uuid
    assert users["count"] > 0
    assert any("shared" in r.getMessage() and "WRONGTYPE" in r.getMessage() for r in caplog.records)
    # Healed: what this replica fetched is there for the next one, of the right type.
    assert await redis.type(PEOPLE_PREFIX + fingerprint) == b"string"
    assert await redis.type(TASK_NUMBERS_PREFIX + fingerprint) == b"hash"
    other = replica(app, key, redis_url)
    await get_tool("list_assignable_users").run(other, {})
    assert await resolve_task_uuid(other, f"#{number}") == task_uuid
    assert other.client.requests_sent == 0
    await other.client.aclose()
    await ctx.client.aclose()
