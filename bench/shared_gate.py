"""The shared gate's cost: what taking the credential's gate (queue, exclusion and budget) adds to each
request, in this process only (the first release's gate), through a state directory (one machine) and
through Redis (several machines).

Run: ``python bench/shared_gate.py`` (``--quick`` for fewer requests). Redis is a private
``redis-server`` on loopback started here (the row says so when it is not installed).

- "slot": ``async with gate.slot(): pass`` in a loop, nothing sent: the gate's own cost per request.
- "request": a whole ``get_open_count`` through ``WorkflowClient`` on httpx's ``MockTransport`` (an
  UltraCart that answers at once), for scale.
- "handoff": two gates on the same state, as two processes would have them, taking turns as fast as they
  can (each always has a request waiting): wall time per request, polling included.
The budget has UltraCart's two buckets, sized so that it never binds.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench._common import Table, bench_main, median, percentile, redis
from shared_client.client import WorkflowClient
from shared_client.pacing import Budget as ProcessBudget
from shared_client.pacing import BudgetSpec, Gate, GateBackend, LocalBackend

REQUESTS = 2000
QUICK_REQUESTS = 300
SPEC = BudgetSpec(limits=((10**9, 3600.0), (10**9, 86400.0)))  # UltraCart's arithmetic, never binding
OPEN_COUNT = {"success": True, "open_count": 3, "metadata": {}}

MakeBackend = Callable[[str], GateBackend]


async def _slots(gate: Gate, count: int) -> list[float]:
    took = []
    for _ in range(count):
        started = time.perf_counter()
        async with gate.slot():
            pass
        took.append(time.perf_counter() - started)
    return took


async def _requests(gate: Gate, count: int) -> list[float]:
    client = WorkflowClient(
        api_key="bench",
        base_url="http://mock/rest/v2",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=OPEN_COUNT)),
        gate_key=uuid.uuid4().hex,
    )
    client._gate = gate  # the gate under test, whatever the settings say
    took = []
    async with client:
        for _ in range(count):
            started = time.perf_counter()
            await client.get_open_count()
            took.append(time.perf_counter() - started)
    return took


async def _handoff(first: Gate, second: Gate, count: int) -> float:
    async def turns(gate: Gate) -> None:
        for _ in range(count // 2):
            async with gate.slot():
                await asyncio.sleep(0)  # a request in flight lets the other side queue

    started = time.perf_counter()
    await asyncio.gather(turns(first), turns(second))
    return (time.perf_counter() - started) / (count // 2 * 2)


async def _measure(make: MakeBackend, count: int, shared: bool) -> tuple[list[float], list[float], float]:
    fingerprint = uuid.uuid4().hex
    gate = Gate(make(fingerprint))
    await _slots(gate, 50)  # warm-up: directories, connections, scripts loaded
    slots = await _slots(gate, count)
    requests = await _requests(gate, count)
    # Two processes' gates on one state; in one process, two callers of its one gate.
    handoff = await _handoff(gate, Gate(make(fingerprint)) if shared else gate, count // 2)
    return slots, requests, handoff


def run(quick: bool = False) -> list[Table]:
    count = QUICK_REQUESTS if quick else REQUESTS
    table = Table(
        f"10. Shared gate — added cost per request, {count} requests, uncontended",
        [
            "gate",
            "slot µs (median)",
            "slot µs (p99)",
            "request µs (median)",
            "request µs (p99)",
            "handoff µs / request",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="uc-bench-state-") as state, redis() as redis_url:
        from shared_client.gate_files import FileGateBackend
        from shared_client.gate_redis import RedisGateBackend

        process_budget: dict[str, ProcessBudget] = {}

        def in_process(fingerprint: str) -> GateBackend:
            budget = process_budget.setdefault(fingerprint, ProcessBudget(SPEC))
            return LocalBackend(budget)

        rows: list[tuple[str, MakeBackend | None]] = [
            ("this process only (first release)", in_process),
            ("state directory (flock)", lambda fp: FileGateBackend(Path(state), fp, SPEC)),
            (
                "Redis on loopback (Lua)",
                (lambda fp: RedisGateBackend(redis_url, fp, SPEC)) if redis_url else None,
            ),
        ]
        for name, make in rows:
            if make is None:
                table.add(name, "redis-server not installed", "", "", "", "")
                continue
            slots, requests, handoff = asyncio.run(_measure(make, count, shared=make is not in_process))
            table.add(
                name,
                median(slots) * 1e6,
                percentile(slots, 99) * 1e6,
                median(requests) * 1e6,
                percentile(requests, 99) * 1e6,
                handoff * 1e6,
            )
    table.notes.append(
        "slot: take and free the gate with the budget checked and counted, nothing sent; request: a whole "
        "client call on httpx's MockTransport"
    )
    table.notes.append(
        "handoff: two callers taking turns, each always waiting: in one process, two tasks on its gate; "
        "shared, two gates on the same state as two processes have them (the state directory's next waiter "
        "is woken on release; Redis's polls, 0.5 ms rising to 2 ms)"
    )
    return [table]


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
