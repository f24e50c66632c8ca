"""One process of ``bench/team.py``: waits for "go" on stdin, runs its work, prints one JSON line.

Config (argv[1], JSON): ``api``, ``key``, ``budget`` ([[requests, seconds], ...] or null for UltraCart's
default), and either ``calls`` ([[tool, args], ...], all at once, or one after another with ``serial``)
or ``flood`` (seconds of ``get_open_count`` from ``concurrency`` coroutines, each waiting for the budget
as long as it takes). The gate and budget it shares come from the environment
(``UC_WORKFLOW_STATE_DIR``, ``UC_WORKFLOW_REDIS_URL``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared_client.client import WorkflowClient
from shared_client.errors import UltraCartError
from shared_client.pacing import BudgetSpec
from shared_client.tools import ToolContext, ToolError, get_tool


async def _tools(ctx: ToolContext, calls: list[list[Any]], serial: bool) -> dict[str, Any]:
    async def one(name: str, args: dict[str, Any]) -> str | None:
        try:
            await get_tool(name).run(ctx, args)
        except ToolError as exc:
            return exc.message
        return None

    started = time.time()
    if serial:  # one after another: the sum of each call's own time
        outcomes = [await one(n, a) for n, a in calls]
    else:
        outcomes = await asyncio.gather(*(one(n, a) for n, a in calls))
    return {"started": started, "ended": time.time(), "errors": [e for e in outcomes if e]}


async def _flood(client: WorkflowClient, seconds: float, concurrency: int) -> dict[str, Any]:
    started = time.time()
    answered: list[float] = []
    errors: list[str] = []

    async def worker() -> None:
        while time.time() - started < seconds:
            try:
                await client.get_open_count()
            except UltraCartError as exc:
                errors.append(str(exc))
                return
            answered.append(time.time())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"started": started, "ended": time.time(), "answered": answered, "errors": errors}


async def main() -> None:
    config = json.loads(sys.argv[1])
    budget = BudgetSpec(tuple((int(n), float(s)) for n, s in config["budget"])) if config["budget"] else None
    client = WorkflowClient(api_key=config["key"], base_url=config["api"], budget=budget, call_deadline=None)
    async with client:
        await client.get_me()  # warm: imports, the connection, the shared gate's files or Redis
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        if "calls" in config:
            result = await _tools(ToolContext(client), config["calls"], bool(config.get("serial")))
        else:
            result = await _flood(client, float(config["flood"]), int(config.get("concurrency", 4)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
