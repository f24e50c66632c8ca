"""Sandbox scale: a search with three filters over 100,000 tasks, p50 and p99, over a loopback port.

Run: ``python bench/sandbox_scale.py``. The sandbox runs with ``--seed-tasks 100000 --rate-limit none``
(a benchmark of the sandbox itself, not of UltraCart's limits). Each sample is one
``POST /workflow/tasks/search`` (status open, priority high, group Customer Service; sorted by due date;
a page of 100) with a plain httpx client, measured from request to parsed JSON. Also shown: the same
search through our client (``WorkflowClient.search_tasks``, pydantic models), and an unfiltered search.
Target: p50 under 50 ms.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Sandbox, Table, bench_main, median, ms, percentile, sandbox
from shared_client import constants
from shared_client.models import WorkflowTasksRequest

SEED = 100_000
SAMPLES = 100
FILTERS = {"status": "open", "priority": "3 - high", "assigned_to_group_id": 201}
HEADERS = {"x-ultracart-simple-key": "bench-scale", "X-UltraCart-Api-Version": constants.API_VERSION}


def raw_samples(sb: Sandbox, body: dict[str, object], samples: int) -> tuple[list[float], int, int]:
    timings: list[float] = []
    with httpx.Client(base_url=sb.api, headers=HEADERS, timeout=60) as http:
        for _ in range(5):
            http.post("/workflow/tasks/search", json=body, params={"_sort": "+due_dts"})
        for _ in range(samples):
            started = time.perf_counter()
            response = http.post("/workflow/tasks/search", json=body, params={"_sort": "+due_dts"})
            data = response.json()
            timings.append(time.perf_counter() - started)
    return timings, len(data["tasks"]), int(data["metadata"]["result_set"]["total_records"])


async def client_samples(sb: Sandbox, samples: int) -> list[float]:
    timings: list[float] = []
    request = WorkflowTasksRequest.model_validate(FILTERS)
    async with sb.client(limits=False) as client:
        for _ in range(5):
            await client.search_tasks(request, limit=100, sort="+due_dts")
        for _ in range(samples):
            started = time.perf_counter()
            await client.search_tasks(request, limit=100, sort="+due_dts")
            timings.append(time.perf_counter() - started)
    return timings


def run(quick: bool = False) -> list[Table]:
    samples = 30 if quick else SAMPLES
    started = time.perf_counter()
    with sandbox("--seed-tasks", str(SEED), "--rate-limit", "none") as sb:
        seeded = time.perf_counter() - started
        three, page, total = raw_samples(sb, FILTERS, samples)
        ours = asyncio.run(client_samples(sb, samples))
        everything, _, all_total = raw_samples(sb, {}, samples)
    table = Table(
        f"8. Sandbox scale — search over {all_total:,} tasks, over loopback (ms)",
        ["search", "matches", "page", "samples", "p50", "p99", "min"],
    )
    table.add(
        "3 filters (status, priority, group), sort due — httpx",
        f"{total:,}",
        page,
        len(three),
        ms(median(three)),
        ms(percentile(three, 99)),
        ms(min(three)),
    )
    table.add(
        "same, through WorkflowClient.search_tasks",
        f"{total:,}",
        page,
        len(ours),
        ms(median(ours)),
        ms(percentile(ours, 99)),
        ms(min(ours)),
    )
    table.add(
        "no filter, sort due — httpx",
        f"{all_total:,}",
        page,
        len(everything),
        ms(median(everything)),
        ms(percentile(everything, 99)),
        ms(min(everything)),
    )
    table.target(
        f"p50 under 50 ms for the three-filter search ({median(three) * 1000:.1f} ms)", median(three) < 0.05
    )
    table.notes.append(
        f"sandbox start with {SEED:,} synthetic tasks (fresh database, seeding included): {seeded:.1f} s"
    )
    return [table]


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
