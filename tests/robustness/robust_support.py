"""Helpers for the robustness suites: sandboxes with fault switches, clients whose retry sleeps are
recorded instead of waited, and a clean (fault-free) view of the same database to check the truth."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared_client.client import WorkflowClient
from shared_client.pacing import BudgetSpec
from shared_client.retry import RetryPolicy
from shared_client.sandbox import SandboxTransport
from shared_client.tools import ToolContext

ROBUST_RETRIES = RetryPolicy(
    max_retries=6, max_rate_limit_retries=8, base_delay=0.005, max_delay=0.02,
    rate_limit_base_delay=0.005, rate_limit_max_delay=0.02,
)  # fmt: skip
"""The same numbers as FAST_RETRIES in tests/conftest.py, named here so the bounds below are explicit."""

SANDBOX_URL = "http://sandbox.test/rest/v2"
OWNER_KEY = "robustness-owner"


@dataclass
class SleepRecorder:
    """The client's injectable ``sleep``: records every retry delay and yields without waiting."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@dataclass
class CallCounter:
    """Counts the client's logical requests (one per call of the request loop, however many attempts)."""

    calls: int = 0


@dataclass
class Rig:
    """One sandbox app (maybe faulty), a client on it and its tool context, plus a clean client on the
    same database to read the truth."""

    app: Any
    client: WorkflowClient
    ctx: ToolContext
    clean: WorkflowClient
    clean_ctx: ToolContext
    sleeps: SleepRecorder
    logical: CallCounter

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(
            transport=SandboxTransport(self.app), base_url="http://sandbox.test"
        ) as http:
            return dict((await http.get("/_sandbox/stats")).json())

    async def reset_stats(self) -> None:
        async with httpx.AsyncClient(
            transport=SandboxTransport(self.app), base_url="http://sandbox.test"
        ) as http:
            await http.post("/_sandbox/stats/reset")


MakeRig = Callable[..., Awaitable[Rig]]


def count_logical_calls(client: WorkflowClient, counter: CallCounter) -> None:
    """Wrap the client's request loop (per instance) so every logical request is counted."""
    inner = client._send_with_retries

    async def counted(operation: str, request: httpx.Request, *, idempotent: bool) -> httpx.Response:
        counter.calls += 1
        return await inner(operation, request, idempotent=idempotent)

    client._send_with_retries = counted  # type: ignore[method-assign]


def new_client(
    app: Any,
    *,
    key: str = OWNER_KEY,
    policy: RetryPolicy = ROBUST_RETRIES,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    gate_key: str | None = None,
) -> WorkflowClient:
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return WorkflowClient(
        api_key=key,
        base_url=SANDBOX_URL,
        transport=SandboxTransport(app),
        gate_key=gate_key or uuid.uuid4().hex,
        # No client-side budget: the sandbox's injected 429s say "per 3600 second(s)", which would make
        # the budget (rightly, for a real hourly limit) wait 3.6 s per request and hide the retry delays.
        budget=BudgetSpec.none(),
        retry_policy=policy,
        **extra,
    )


def clean_environment(**extra: str) -> dict[str, str]:
    """os.environ without any UltraCart, Slack or uc-workflow setting, plus ``extra``."""
    prefixes = ("ULTRACART_", "UC_WORKFLOW_", "SLACK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
