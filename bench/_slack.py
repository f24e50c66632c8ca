"""Slack helpers for the benchmarks: the real bot over HTTP on 127.0.0.1 with the mock Slack Web API,
both from the Slack suite's own harness (``tests/slack/slack_harness.py``, imported, not copied)."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLACK_TESTS = ROOT / "tests" / "slack"


def available() -> bool:
    """The bot and the suite's harness import (the lead checks that tests/slack passes)."""
    if not (ROOT / "slack_bot" / "app.py").exists():
        return False
    if str(SLACK_TESTS) not in sys.path:
        sys.path.insert(0, str(SLACK_TESTS))
    try:
        import slack_harness  # noqa: F401

        import slack_bot.app  # noqa: F401
    except Exception:
        return False
    return True


class BotSession:
    """``async with BotSession(latency=...) as bot``: a started bot; cleans up after itself."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.cleanups: list[Callable[[], Awaitable[None]]] = []
        self.tmp = tempfile.TemporaryDirectory(prefix="uc-bench-slack-")

    async def __aenter__(self) -> Any:
        from slack_harness import start_bot

        return await start_bot(Path(self.tmp.name), self.cleanups, **self.options)

    async def __aexit__(self, *exc: object) -> None:
        for cleanup in reversed(self.cleanups):
            await cleanup()
        self.tmp.cleanup()


async def timed(coro: Awaitable[Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - started


async def call_economy_day(sb: Any) -> dict[str, Any] | None:
    """``/task mine``, show, reassign, note, close as the credential's own user; UltraCart requests counted
    by the bot's client (``requests_sent``). The harness runs its sandbox in process, not on ``sb``."""
    from collections import Counter

    from shared_client.tools import get_tool

    days: dict[str, Counter[str]] = {}
    async with BotSession(warm_people=False) as bot:
        client = bot.ctx.client
        for day in ("cold", "warm"):
            found = await get_tool("search_tasks").run(bot.ctx, {"status": "open", "sort": "due", "limit": 3})
            number = found.tasks[0].number  # type: ignore[attr-defined]
            before = client.requests_sent
            steps = [
                "mine",
                f"show #{number}",
                f"assign #{number} <@USAM>" if day == "cold" else f"assign #{number} <@UPRIYA>",
                f"note #{number} Called the customer; waiting.",
                f"close #{number}",
            ]
            for text in steps:
                reply, name = await bot.command(text, user="UOWNER")
                if reply.status != 200:
                    raise RuntimeError(f"/task {text}: HTTP {reply.status}")
                await bot.response(name, timeout=30)
            days[day] = Counter({"total": client.requests_sent - before})
    return days
