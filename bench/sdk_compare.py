"""Against UltraCart's own SDK (``ultracart-rest-sdk``): fetch every task of a large sandbox account
(10,000 synthetic tasks plus the demo ones) through both clients, limits off.

Run: ``python bench/sdk_compare.py``. The sandbox runs with ``--seed-tasks 10000 --rate-limit none
--allow-concurrent`` in its own process, so the CPU time measured here (``time.process_time`` of this
process) is the client's alone. Both walk the same pages: ``POST /workflow/tasks/search`` with an empty
filter, 500 a page (the maximum), sorted by ``-global_task_number``, until ``more`` is absent.

- ours: ``WorkflowClient.iter_tasks`` (async, httpx, pydantic models);
- SDK: ``WorkflowApi.get_workflow_tasks`` (sync, urllib3, its generated models), configured by hand because
  ``WorkflowApi.fromApiKey`` raises NameError in 4.1.208.

Target: at least 5 times less CPU per task.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Sandbox, Table, bench_main, median, sandbox, spread
from shared_client import constants
from shared_client.models import WorkflowTasksRequest

SEED = 10_000
RUNS = 3
PAGE = 500


async def _ours(sb: Sandbox) -> int:
    count = 0
    async with sb.client(limits=False) as client:
        async for _task in client.iter_tasks(
            WorkflowTasksRequest(), sort="-global_task_number", page_size=PAGE
        ):
            count += 1
    return count


def fetch_ours(sb: Sandbox) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    count = asyncio.run(_ours(sb))
    return time.perf_counter() - wall, time.process_time() - cpu, count


def sdk_api(sb: Sandbox) -> Any:
    from ultracart.api.workflow_api import WorkflowApi
    from ultracart.api_client import ApiClient
    from ultracart.configuration import Configuration

    config = Configuration(host=sb.api)
    config.api_key["x-ultracart-simple-key"] = "bench-sdk"
    client = ApiClient(
        configuration=config, header_name="X-UltraCart-Api-Version", header_value=constants.API_VERSION
    )
    return WorkflowApi(client)


def fetch_sdk(sb: Sandbox) -> tuple[float, float, int]:
    from ultracart.model.workflow_tasks_request import WorkflowTasksRequest as SdkRequest

    wall, cpu = time.perf_counter(), time.process_time()
    api = sdk_api(sb)
    count, offset = 0, 0
    while True:
        page = api.get_workflow_tasks(SdkRequest(), limit=PAGE, offset=offset, sort="-global_task_number")
        tasks = page.tasks or []
        count += len(tasks)
        result_set = page.metadata.result_set
        if not getattr(result_set, "more", False):
            break
        offset = getattr(result_set, "next_offset", None) or offset + len(tasks)
    return time.perf_counter() - wall, time.process_time() - cpu, count


def run(quick: bool = False) -> list[Table]:
    runs = 1 if quick else RUNS
    results: dict[str, list[tuple[float, float, int]]] = {"ours": [], "sdk": []}
    with sandbox("--seed-tasks", str(SEED), "--rate-limit", "none", "--allow-concurrent") as sb:
        fetch_ours(sb)  # warm-up: imports, SQLite pages, the sandbox's JSON paths
        fetch_sdk(sb)
        for _ in range(runs):
            results["ours"].append(fetch_ours(sb))
            results["sdk"].append(fetch_sdk(sb))
    table = Table(
        f"6. Against UltraCart's SDK — fetch every task ({SEED:,} synthetic + demo), limits off",
        [
            "client",
            "tasks",
            "runs",
            "wall s (median)",
            "wall spread",
            "CPU s (median)",
            "CPU spread",
            "CPU µs/task",
            "ratio (SDK / ours)",
        ],
    )
    cpu_per_task = {}
    for key in ("ours", "sdk"):
        rows = results[key]
        tasks = rows[0][2]
        cpu_per_task[key] = median([r[1] for r in rows]) / tasks
    for key, label in (("ours", "uc-workflow WorkflowClient"), ("sdk", "ultracart-rest-sdk 4.1.208")):
        rows = results[key]
        walls, cpus = [r[0] for r in rows], [r[1] for r in rows]
        table.add(
            label,
            rows[0][2],
            len(rows),
            f"{median(walls):.2f}",
            spread(walls),
            f"{median(cpus):.2f}",
            spread(cpus),
            f"{cpu_per_task[key] * 1e6:.0f}",
            f"{cpu_per_task[key] / cpu_per_task['ours']:.1f}x CPU, "
            f"{median(walls) / median([r[0] for r in results['ours']]):.1f}x wall",
        )
    ratio = cpu_per_task["sdk"] / cpu_per_task["ours"]
    table.target(f"at least 5x less CPU per task than the SDK ({ratio:.1f}x)", ratio >= 5)
    if results["ours"][0][2] != results["sdk"][0][2]:
        table.notes.append("the two clients counted different numbers of tasks!")
    table.notes.append("CPU = this process only (the sandbox serves from another process)")
    return [table]


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
