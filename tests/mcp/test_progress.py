"""A tool call that waits on UltraCart tells a client that asked for progress that it is still at work, and
still answers once UltraCart does."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
from mcp import Client

from server.app import build_server
from shared_client.client import WorkflowClient
from shared_client.pacing import BudgetSpec
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.tools import ToolContext
from tests.conftest import FAST_RETRIES


class HeldUltraCart(httpx.AsyncBaseTransport):
    """The sandbox, answering only once ``answer`` is set."""

    def __init__(self, inner: httpx.AsyncBaseTransport, answer: asyncio.Event) -> None:
        self.inner, self.answer = inner, answer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.answer.wait()
        return await self.inner.handle_async_request(request)


async def test_a_waiting_call_reports_progress_then_answers(db_path: Path) -> None:
    answer = asyncio.Event()
    transport = HeldUltraCart(SandboxTransport(create_app(SandboxConfig(db_path=db_path))), answer)
    client = WorkflowClient(
        api_key="test-owner",
        base_url="http://sandbox.test/rest/v2",
        transport=transport,
        gate_key=uuid.uuid4().hex,
        budget=BudgetSpec(),
        retry_policy=FAST_RETRIES,
    )
    notes: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        notes.append((done, message))
        if len(notes) == 3:
            answer.set()  # UltraCart answers once the client has heard three times

    async with client, Client(build_server(ToolContext(client, sandbox=True), progress_every=0.01)) as mcp:
        # Bounded only so that a server that never reports fails instead of hanging (UltraCart never answers).
        result = await asyncio.wait_for(mcp.call_tool("count_open_tasks", {}, progress_callback=progress), 30)
    assert not result.is_error and (result.structured_content or {})["open_count"] > 0
    assert len(notes) >= 3 and [n for n, _ in notes] == sorted(n for n, _ in notes)
    assert all("waiting for UltraCart" in (m or "") for _, m in notes)


async def test_a_call_without_a_progress_token_still_answers(db_path: Path) -> None:
    client = WorkflowClient(
        api_key="test-owner",
        base_url="http://sandbox.test/rest/v2",
        transport=SandboxTransport(create_app(SandboxConfig(db_path=db_path))),
        gate_key=uuid.uuid4().hex,
        retry_policy=FAST_RETRIES,
    )
    async with client, Client(build_server(ToolContext(client, sandbox=True), progress_every=0.001)) as mcp:
        result = await mcp.call_tool("count_open_tasks", {})
    assert not result.is_error
