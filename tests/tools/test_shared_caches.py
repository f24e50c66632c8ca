"""Caches shared across replicas in Redis (``UC_WORKFLOW_REDIS_URL``), against a real Redis: a replica with a
cold cache spends no UltraCart call another replica already spent; Redis down is a clear error.

Two ``ToolContext`` on two ``WorkflowClient`` are two replicas' views; built with the same key and base
URL, their clients share a fingerprint, as two processes on one credential do.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared_client.client import WorkflowClient
from shared_client.pacing import BudgetSpec
from shared_client.redis_support import redis_client
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.shared_cache import PEOPLE_PREFIX, TASK_NUMBERS_PREFIX
from shared_client.tools import ToolContext, get_tool
from shared_client.tools.errors import ErrorKind, ToolError
from shared_client.tools.task_refs import resolve_task_uuid
from tests.conftest import FAST_RETRIES, SANDBOX_URL
from tests.services import RedisServer


def replica(
    app: Any, key: str, redis_url: str | None, transport: httpx.AsyncBaseTransport | None = None
) -> ToolContext:
    """One replica's context: its own client (no gate key given, so its fingerprint is the credential's)."""
    client = WorkflowClient(
        api_key=key, base_url=SANDBOX_URL, transport=transport or SandboxTransport(app),
        budget=BudgetSpec.none(), retry_policy=FAST_RETRIES,
    )  # fmt: skip
    return ToolContext(client, sandbox=True, redis_url=redis_url)


@pytest.fixture
def app(db_path: Path) -> Any:
    return create_app(SandboxConfig(db_path=db_path, rate_limit=None))


def fresh_key() -> str:
    return (
        f"replica-{uuid.uuid4().hex[:12]}"  # a credential of this test alone: the session's Redis is shared
    )


async def test_a_cold_replica_spends_no_call_on_people_or_task_numbers(app: Any, redis_url: str) -> None:
    key = fresh_key()
    first = replica(app, key, redis_url)
    users = (await get_tool("list_assignable_users").run(first, {})).to_data()
    found = (await get_tool("search_tasks").run(first, {"limit": 5})).to_data()["tasks"]
    numbers = {t["number"]: first.task_numbers[t["number"]] for t in found}
    assert numbers and first.client.requests_sent > 0

    second = replica(app, key, redis_url)
    assert second.client.fingerprint == first.client.fingerprint
    assert (await get_tool("list_assignable_users").run(second, {})).to_data() == users
    await get_tool("list_assignable_groups").run(second, {})
    me = (await get_tool("get_me").run(second, {})).to_data()["me"]
    for number, task_uuid in numbers.items():
        assert await resolve_task_uuid(second, f"#{number}") == task_uuid
    assert second.client.requests_sent == 0
    assert me["user_id"] is not None

    # The lists expire in Redis with the process's TTL; keys hold the fingerprint, never the credential.
    remaining = await redis_client(redis_url).pttl(PEOPLE_PREFIX + first.client.fingerprint)
    assert 0 < remaining <= 300_000
    keys = await redis_client(redis_url).keys(f"*{first.client.fingerprint}*")
    assert {k.decode() for k in keys} == {
        PEOPLE_PREFIX + first.client.fingerprint,
        TASK_NUMBERS_PREFIX + first.client.fingerprint,
    }
    assert not await redis_client(redis_url).keys(f"*{key}*")

    # Without Redis, the same lookups cost calls: what the shared cache saves.
    alone = replica(app, key, None)
    await get_tool("list_assignable_users").run(alone, {})
    await resolve_task_uuid(alone, f"#{next(iter(numbers))}")
    assert alone.client.requests_sent >= 3
    for ctx in (first, second, alone):
        await ctx.client.aclose()


async def test_a_warm_replica_asks_redis_nothing(app: Any, redis_url: str, redis_server: RedisServer) -> None:
    """The process's own cache stays in front: once warm, Redis going away changes nothing for it."""
    ctx = replica(app, fresh_key(), redis_server.url)
    found = (await get_tool("search_tasks").run(ctx, {"limit": 3})).to_data()["tasks"]
    await get_tool("list_assignable_users").run(ctx, {})
    redis_server.stop()
    await get_tool("list_assignable_users").run(ctx, {})
    number = found[0]["number"]
    assert await resolve_task_uuid(ctx, f"#{number}") == ctx.task_numbers[number]
    await ctx.client.aclose()


async def test_credentials_do_not_share_their_people(app: Any, redis_url: str) -> None:
    one = replica(app, fresh_key(), redis_url)
    await get_tool("list_assignable_users").run(one, {})
    other = replica(app, fresh_key(), redis_url)
    await get_tool("list_assignable_users").run(other, {})
    assert other.client.requests_sent > 0  # another key: its own "me", its own lists
    for ctx in (one, other):
        await ctx.client.aclose()


async def test_redis_down_on_a_cold_cache_is_a_clear_error_and_nothing_is_sent(
    app: Any, redis_server: RedisServer
) -> None:
    redis_server.stop()
    ctx = replica(app, fresh_key(), redis_server.url)
    with pytest.raises(ToolError) as info:
        await get_tool("list_assignable_users").run(ctx, {})
    assert info.value.kind is ErrorKind.UPSTREAM
    assert info.value.message.startswith(f"UC_WORKFLOW_REDIS_URL: Redis at {redis_server.url} is unreachable")
    assert info.value.message.endswith("Start Redis or correct UC_WORKFLOW_REDIS_URL, then try again.")
    with pytest.raises(ToolError):
        await get_tool("get_task").run(ctx, {"task": "#1"})
    assert ctx.client.requests_sent == 0
    await ctx.client.aclose()


class StopRedisOnUsers(httpx.AsyncBaseTransport):
    """The sandbox; Redis stops while UltraCart is answering the user list (after the cache was read)."""

    def __init__(self, app: Any, server: RedisServer) -> None:
        self._inner = SandboxTransport(app)
        self._server = server

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/workflow/assignment_users"):
            await asyncio.to_thread(self._server.stop)
        return await self._inner.handle_async_request(request)


async def test_an_answer_that_cannot_be_shared_is_still_used_and_the_loss_logged(
    app: Any, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = replica(app, fresh_key(), redis_server.url, StopRedisOnUsers(app, redis_server))
    with caplog.at_level(logging.WARNING, logger="uc_workflow.cache"):
        users = (await get_tool("list_assignable_users").run(ctx, {})).to_data()
    assert users["count"] > 0
    assert any(
        "could not write the people lists to the shared cache" in r.getMessage() for r in caplog.records
    )
    await ctx.client.aclose()
