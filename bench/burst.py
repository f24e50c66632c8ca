"""Burst: 50 concurrent tool calls against a sandbox that answers 429 to a second request in flight from
the same key (UltraCart's rule), with 0 ms and 50 ms of latency per request.

Run: ``python bench/burst.py``. Limits on (rate and concurrency).

The 50 calls are read tools over distinct arguments (40 ``get_task`` on distinct tasks, 10 ``search_tasks``
with distinct filters), so nothing is coalesced. Each run uses a fresh key (its own gate and budget).
"Serialized sum": the same 50 calls awaited one after another, in the same process.
Targets: no error, no 429 served (sandbox ``rate_limited`` = 0), concurrent wall ≤ 1.2x serialized sum.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Sandbox, Table, bench_main, median, ms, sandbox, spread
from shared_client.models import WorkflowTasksRequest
from shared_client.tools import ToolContext, ToolError, get_tool

CALLS = 50
RUNS = 5
LATENCIES = (0.0, 0.05)
SEARCHES: list[dict[str, Any]] = [
    {"status": "open"},
    {"status": "closed"},
    {"priority": "high"},
    {"priority": "critical"},
    {"priority": "low"},
    {"object_type": "order"},
    {"object_type": "item"},
    {"tags": ["fraud"]},
    {"sort": "-priority"},
    {"sort": "due", "limit": 5},
]


async def _uuids(sb: Sandbox, count: int) -> list[str]:
    async with sb.client() as client:
        page = await client.search_tasks(WorkflowTasksRequest(), limit=count)
        return [t.workflow_task_uuid or "" for t in page.tasks or []]


def _calls(uuids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_task", {"task": u}) for u in uuids[: CALLS - len(SEARCHES)]
    ]
    calls += [("search_tasks", s) for s in SEARCHES]
    return calls[:CALLS]


async def _one(ctx: ToolContext, name: str, args: dict[str, Any]) -> tuple[float, str | None]:
    started = time.perf_counter()
    try:
        await get_tool(name).run(ctx, args)
    except ToolError as exc:
        return time.perf_counter() - started, exc.message
    return time.perf_counter() - started, None


async def burst_once(sb: Sandbox, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    async with sb.client() as client:  # fresh key
        ctx = ToolContext(client)
        sb.reset_stats()
        started = time.perf_counter()
        results = await asyncio.gather(*(_one(ctx, n, a) for n, a in calls))
        wall = time.perf_counter() - started
        stats = sb.stats()
    async with sb.client() as client:
        ctx = ToolContext(client)
        serial = 0.0
        serial_errors = 0
        for name, args in calls:
            took, error = await _one(ctx, name, args)
            serial += took
            serial_errors += error is not None
    errors = [e for _, e in results if e is not None]
    return {
        "wall": wall,
        "serial": serial,
        "errors": len(errors) + serial_errors,
        "first_error": errors[0] if errors else None,
        "rate_limited": stats.get("rate_limited", 0),
        "max_in_flight": stats.get("max_in_flight", 0),
        "requests": stats.get("requests_total", 0),
    }


def run(quick: bool = False) -> list[Table]:
    runs = 2 if quick else RUNS
    table = Table(
        f"2. Burst — {CALLS} concurrent tool calls, sandbox answers 429 to concurrent requests",
        [
            "latency",
            "runs",
            "wall ms (median)",
            "wall spread",
            "serialized sum ms (median)",
            "ratio",
            "ratio spread",
            "errors",
            "429 served",
            "max in flight",
            "requests",
        ],
    )
    all_ok = True
    for latency in LATENCIES:
        with sandbox("--latency", str(latency)) as sb:
            calls = _calls(asyncio.run(_uuids(sb, CALLS)))
            asyncio.run(burst_once(sb, calls))  # warm-up (imports, connection pools, SQLite pages)
            results = [asyncio.run(burst_once(sb, calls)) for _ in range(runs)]
        walls = [r["wall"] for r in results]
        ratios = [r["wall"] / r["serial"] for r in results]
        errors = sum(r["errors"] for r in results)
        limited = sum(r["rate_limited"] for r in results)
        ratio = median(ratios)
        ok = errors == 0 and limited == 0 and ratio <= 1.2
        all_ok &= ok
        table.add(
            f"{latency * 1000:.0f} ms",
            runs,
            ms(median(walls)),
            spread([w * 1000 for w in walls]),
            ms(median([r["serial"] for r in results])),
            f"{ratio:.2f}x",
            spread(ratios),
            errors,
            limited,
            max(r["max_in_flight"] for r in results),
            median([r["requests"] for r in results]),
        )
        first = next((r["first_error"] for r in results if r["first_error"]), None)
        if first:
            table.notes.append(f"first error at {latency * 1000:.0f} ms: {first}")
    table.target("no errors, no 429 served, wall ≤ 1.2x the serialized sum (both latencies)", all_ok)
    table.notes.append("ratio = concurrent wall / sum of the same 50 calls run one after another")
    return [table]


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
