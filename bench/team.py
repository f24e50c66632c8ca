"""Team: several processes on one UltraCart key, sharing one gate and one budget.

Run: ``python bench/team.py`` (``--quick``: fewer runs). Redis rows need ``redis-server`` on PATH (or
``UC_WORKFLOW_TEST_REDIS_URL``); without it they are skipped and say so.

1. **Burst across three processes**: the 50 calls of ``bench/burst.py`` split over three processes that
   start together, against a sandbox with UltraCart's limits (429 for a second request in flight). One
   machine (a shared ``UC_WORKFLOW_STATE_DIR``) and several (a state directory each, one Redis).
   Target: no error, no 429 served, wall ≤ 1.2x the serialized sum (the same calls one after another in
   one process, on the same kind of gate).
2. **A shared budget**: N processes each asking for as many requests as they can for a while, against a
   sandbox whose budget is scaled down (60 requests a minute, a leaky bucket like UltraCart's) and clients
   told the same. Target: no 429 served, and all the processes together never exceed the one budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncio

from bench._common import PYTHON, ROOT, Sandbox, Table, bench_main, clean_env, median, ms, redis, sandbox
from bench.burst import CALLS, _calls, _uuids

WORKER = str(Path(__file__).resolve().parent / "_team_worker.py")
PROCESSES = 3
FLOOD_PROCESSES = 4
BUDGET = (60, 60.0)  # requests per seconds, for the sandbox and the clients: UltraCart's, scaled down
FLOOD_SECONDS = 12.0


def _env(state: Path, redis_url: str | None) -> dict[str, str]:
    env = clean_env(UC_WORKFLOW_STATE_DIR=str(state))
    if redis_url:
        env["UC_WORKFLOW_REDIS_URL"] = redis_url
    return env


def run_workers(
    configs: list[dict[str, Any]], envs: list[dict[str, str]], before_go: Callable[[], None] = lambda: None
) -> list[dict[str, Any]]:
    """Start one worker per config, wait until all are ready, say go to all, collect their reports."""
    procs = [
        subprocess.Popen(
            [PYTHON, WORKER, json.dumps(config)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for config, env in zip(configs, envs, strict=True)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a worker did not start: {line!r}")
        before_go()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            assert proc.stdout is not None
            reports.append(json.loads(proc.stdout.readline()))
        return reports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _placements(tmp: Path, redis_url: str | None) -> list[tuple[str, list[dict[str, str]]]]:
    rows = [("one machine (state dir)", [_env(tmp / "state", None)] * PROCESSES)]
    if redis_url:
        rows.append(("machines (Redis)", [_env(tmp / f"state-{i}", redis_url) for i in range(PROCESSES)]))
    return rows


def burst(sb: Sandbox, calls: list[tuple[str, dict[str, Any]]], envs: list[dict[str, str]]) -> dict[str, Any]:
    key = f"bench-{uuid.uuid4().hex[:12]}"
    shares = [calls[i::PROCESSES] for i in range(PROCESSES)]
    sb.reset_stats()
    reports = run_workers([{"api": sb.api, "key": key, "budget": None, "calls": s} for s in shares], envs)
    stats = sb.stats()
    wall = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    # The serialized sum: the same calls one after another in one process, on the same kind of gate.
    (serial,) = run_workers(
        [{"api": sb.api, "key": f"{key}-serial", "budget": None, "calls": calls, "serial": True}], envs[:1]
    )
    serial_total = serial["ended"] - serial["started"]
    return {
        "wall": wall,
        "serial": serial_total,
        "errors": sum(len(r["errors"]) for r in reports),
        "first_error": next((e for r in reports for e in r["errors"]), None),
        "rate_limited": stats.get("rate_limited", 0),
        "max_in_flight": stats.get("max_in_flight", 0),
    }


def budget_run(sb: Sandbox, envs: list[dict[str, str]]) -> dict[str, Any]:
    key = f"bench-{uuid.uuid4().hex[:12]}"
    # One caller per process: identical GETs in flight in one process are sent once, and would not count.
    config = {"api": sb.api, "key": key, "budget": [list(BUDGET)], "flood": FLOOD_SECONDS, "concurrency": 1}
    reports = run_workers([config] * len(envs), envs, before_go=sb.reset_stats)
    stats = sb.stats()
    elapsed = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    capacity, period = BUDGET
    # A leaky bucket admits at most capacity + rate × elapsed; each process's warm-up get_me came first.
    allowed = capacity + capacity / period * elapsed - len(envs)
    return {
        "sent": stats.get("requests_total", 0) - stats.get("rate_limited", 0),
        "allowed": allowed,
        "elapsed": elapsed,
        "errors": sum(len(r["errors"]) for r in reports),
        "rate_limited": stats.get("rate_limited", 0),
    }


def run(quick: bool = False) -> list[Table]:
    runs = 1 if quick else 3
    first = Table(
        f"11. Team burst — {CALLS} calls over {PROCESSES} processes at once on one key (429 for concurrency)",
        ["placement", "latency", "runs", "wall ms (median)", "serialized sum ms", "ratio", "errors",
         "429 served", "max in flight"],
    )  # fmt: skip
    second = Table(
        f"12. Team budget — {FLOOD_PROCESSES} processes flooding one key for {FLOOD_SECONDS:.0f} s, "
        f"budget {BUDGET[0]} per {BUDGET[1]:.0f} s (the sandbox's too)",
        ["placement", "requests admitted", "the budget allows", "errors", "429 served"],
    )
    ok_first = ok_second = True
    with redis() as redis_url, tempfile.TemporaryDirectory(prefix="uc-bench-team-") as tmp_name:
        tmp = Path(tmp_name)
        if redis_url is None:
            first.notes.append("no redis-server on PATH: the Redis rows are skipped")
        for latency in (0.0, 0.05):
            with sandbox("--latency", str(latency)) as sb:
                calls = _calls(asyncio.run(_uuids(sb, CALLS)))
                for label, envs in _placements(tmp, redis_url):
                    results = [burst(sb, calls, envs) for _ in range(runs)]
                    ratio = median([r["wall"] / r["serial"] for r in results])
                    errors = sum(r["errors"] for r in results)
                    limited = sum(r["rate_limited"] for r in results)
                    ok_first &= errors == 0 and limited == 0 and ratio <= 1.2
                    first.add(
                        label, f"{latency * 1000:.0f} ms", runs, ms(median([r["wall"] for r in results])),
                        ms(median([r["serial"] for r in results])), f"{ratio:.2f}x", errors, limited,
                        max(r["max_in_flight"] for r in results),
                    )  # fmt: skip
                    error = next((r["first_error"] for r in results if r["first_error"]), None)
                    if error:
                        first.notes.append(f"first error ({label}, {latency * 1000:.0f} ms): {error}")
        with sandbox("--rate-limit", f"{BUDGET[0]}/minute") as sb:
            for label, envs in _placements(tmp, redis_url):
                envs = (envs * 2)[:FLOOD_PROCESSES]
                result = budget_run(sb, envs)
                ok_second &= result["rate_limited"] == 0 and result["sent"] <= result["allowed"] + 1
                second.add(
                    label,
                    result["sent"],
                    f"{result['allowed']:.0f}",
                    result["errors"],
                    result["rate_limited"],
                )
    first.target("no errors, no 429 served, wall ≤ 1.2x the serialized sum", ok_first)
    second.target("no 429 served; together within the one budget", ok_second)
    first.notes.append("serialized sum: each call run alone, one after another, in one process")
    return [first, second]


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
