"""For the notification tests: the change feed's own pieces (``FeedStore.commit`` with ``diff`` and
``became_overdue``) polling the sandbox, other UltraCart users acting straight on the sandbox's REST API,
and a clock the tests move."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_harness import FAST_RETRIES, SANDBOX_URL, Bot

from shared_client.client import WorkflowClient
from shared_client.feed.events import Change, became_overdue, diff
from shared_client.feed.store import FeedStore
from shared_client.models import WorkflowTask, WorkflowTasksRequest
from shared_client.pacing import BudgetSpec
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.tools import ToolContext, get_tool
from slack_bot.notify.notifier import Notifier

FINGERPRINT = "feed-test-fingerprint"


@dataclass
class Clock:
    now: float = field(default_factory=time.time)
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


class Feed:
    """One poll = every task, compared with the snapshot, committed (the feed's own diff and commit)."""

    def __init__(self, bot: Bot, store: FeedStore, clock: Clock) -> None:
        self.bot, self.store, self.clock = bot, store, clock

    async def _all(self) -> list[WorkflowTask]:
        return [t async for t in self.bot.ctx.client.iter_tasks(WorkflowTasksRequest())]

    async def poll(self) -> list[Change]:
        tasks = await self._all()
        state = await self.store.state(FINGERPRINT)
        now = datetime.now(UTC)
        if state is None:  # the baseline: overdue tasks are known as overdue already
            known = [c for t in tasks if (c := became_overdue(t, now, already=None)) is not None]
            assert await self.store.commit(
                FINGERPRINT,
                expected_version=None,
                tasks=tasks,
                changes=known,
                watermark=None,
                baseline_at=now.timestamp(),
                interval=60.0,
                leader="test",
            )
            return []
        snapshots = await self.store.snapshot(FINGERPRINT, [t.workflow_task_uuid or "" for t in tasks])
        changed: list[WorkflowTask] = []
        changes: list[Change] = []
        for task in tasks:
            old = snapshots.get(task.workflow_task_uuid or "")
            # Compared whole: the sandbox's last_update_dts has whole seconds, two writes in one second
            # share it.
            if old is None or _doc(old.task) != _doc(task):
                changed.append(task)
                changes += diff(old.task if old else None, task, baseline=state.baseline)
            overdue = became_overdue(task, now, already=old.overdue_for if old else None)
            if overdue is not None:
                changes.append(overdue)
        assert await self.store.commit(
            FINGERPRINT,
            expected_version=state.version,
            tasks=changed,
            changes=changes,
            watermark=None,
            baseline_at=state.baseline_at,
            interval=60.0,
            leader="test",
        )
        return changes


def _doc(task: WorkflowTask) -> dict[str, Any]:
    wire = task.to_wire()
    wire.pop("histories", None)
    return wire


def other_user(bot: Bot, login: str) -> ToolContext:
    """Another UltraCart user acting on the sandbox's REST API with their own key, as UltraCart's own
    screens would."""
    assert bot.db is not None
    client = WorkflowClient(
        api_key=f"user:{login}",
        base_url=SANDBOX_URL,
        transport=SandboxTransport(create_app(SandboxConfig(db_path=bot.db, rate_limit=None))),
        gate_key=uuid.uuid4().hex,
        budget=BudgetSpec(),
        retry_policy=FAST_RETRIES,
    )
    bot.cleanups.append(client.aclose)
    return ToolContext(client, sandbox=True)


async def update(ctx: ToolContext, **args: Any) -> Any:
    return (await get_tool("update_task").run(ctx, args)).task  # type: ignore[attr-defined]


async def note(ctx: ToolContext, task: str, text: str) -> Any:
    return (await get_tool("add_task_note").run(ctx, {"task": task, "text": text})).task  # type: ignore[attr-defined]


async def open_tasks(bot: Bot, n: int, *, avoid: tuple[str, ...] = (), **filters: Any) -> list[Any]:
    """``n`` open tasks, not overdue, not assigned to any of ``avoid`` (user or group names)."""
    found = await get_tool("search_tasks").run(bot.ctx, {"status": "open", "limit": 100, **filters})
    tasks = [
        t
        for t in found.tasks  # type: ignore[attr-defined]
        if not t.overdue and t.assignee not in avoid and t.group not in avoid
    ]
    assert len(tasks) >= n
    return tasks[:n]


def notifier(bot: Bot, clock: Clock, **options: Any) -> Notifier:
    return Notifier(bot.deps, team_id="T1", clock=clock, sleep=clock.sleep, pace=0.0, **options)


def dms(bot: Bot, member: str, *, after: int = 0) -> list[Any]:
    return [
        c for c in bot.slack.of("chat.postMessage") if c.index >= after and c.args.get("channel") == member
    ]
