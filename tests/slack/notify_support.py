"""For the notification tests: the change feed's own poller on the sandbox, other UltraCart users acting
straight on the sandbox's REST API, and a clock the tests move."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_harness import FAST_RETRIES, SANDBOX_URL, Bot, MakeBot

from shared_client.client import WorkflowClient
from shared_client.feed.events import Change
from shared_client.feed.poller import ChangeFeed
from shared_client.feed.store import FeedStore
from shared_client.pacing import BudgetSpec
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.tools import ToolContext, get_tool
from slack_bot.notify.notifier import Notifier


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
    """The change feed's own poller (:class:`ChangeFeed`) on the bot's UltraCart client and database."""

    def __init__(self, bot: Bot, store: FeedStore, clock: Clock) -> None:
        self.bot, self.store, self.clock = bot, store, clock
        self.feed = ChangeFeed(bot.ctx.client, store, interval=60.0, leader="test")
        self.fingerprint = self.feed.fingerprint

    async def poll(self) -> list[Change]:
        result = await self.feed.poll()
        assert result.committed
        return result.changes


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


async def started(make_bot: MakeBot) -> tuple[Bot, Feed, Clock]:
    """A bot whose feed took its baseline and whose notifier's cursor starts there."""
    bot = await make_bot()
    clock = Clock()
    feed = Feed(bot, FeedStore(bot.deps.identities.db), clock)
    await feed.poll()  # the baseline
    await notifier(bot, clock)(feed.store, feed.fingerprint)  # the cursor starts here
    return bot, feed, clock


def notifier(bot: Bot, clock: Clock, **options: Any) -> Notifier:
    return Notifier(bot.deps, team_id="T1", clock=clock, sleep=clock.sleep, pace=0.0, **options)


def dms(bot: Bot, member: str, *, after: int = 0) -> list[Any]:
    return [
        c for c in bot.slack.of("chat.postMessage") if c.index >= after and c.args.get("channel") == member
    ]
