"""The change feed: its UltraCart requests per hour, and the time from a change to its DM.

Run: ``python bench/feed.py``.

1. Budget. A sandbox account of 10,000 tasks (``--seed-tasks``); one hour of the feed at the default interval
   (60 s: 60 polls), with 100 changes an hour made with another user's key between polls (priority, status,
   assignee, notes, due dates, new tasks), spread over the hour. The polls run back to back (the hour is
   compressed; what the feed asks for does not depend on the wall clock between polls, only on what changed),
   and every request the feed makes is counted. Target: at most 10% of UltraCart's hourly budget (100 of
   1,000), the baseline (the first poll, once per deployment) shown apart.
2. Latency. The Slack bot's feed at a 5 s interval, its notifier DMing the assignee through a local mock of
   Slack's Web API; a task is assigned to a linked member with another user's key at a random moment (an
   existing task reassigned, or, once those run out, a new task made assigned to them, as UltraCart's rules
   do), and the time until the DM reaches Slack is measured, side by side with the interval.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Sandbox, Table, bench_main, clean_env, median, percentile, sandbox
from shared_client import constants
from shared_client.database import open_database, sqlite_url
from shared_client.feed.poller import ChangeFeed
from shared_client.feed.store import FeedStore

SEED = 10_000
CHANGES_PER_HOUR = 100
POLLS_PER_HOUR = 60  # UC_WORKFLOW_POLL_SECONDS default: 60
HOURLY_BUDGET = 1000
OTHER = {
    "x-ultracart-simple-key": "user:alice@demo.example",
    "X-UltraCart-Api-Version": constants.API_VERSION,
}
PRIORITIES = ["1 - low", "2 - medium", "3 - high", "4 - critical"]
STATUSES = ["open", "delayed", "awaiting customer feedback"]
USERS = [1002, 1003, 1004, 1005, 1006, 1007]


async def _change_one(http: httpx.AsyncClient, uuids: list[str], rng: random.Random) -> None:
    """One change as UltraCart's screens make it: GET the task, change one thing, PUT it whole."""
    what = rng.choice(["priority", "status", "assign", "note", "due", "create"])
    if what == "create":
        made = await http.post("/workflow/tasks", json={"task_name": f"New {rng.random():.6f}"})
        made.raise_for_status()
        return
    uuid = rng.choice(uuids)
    task = (await http.get(f"/workflow/tasks/{uuid}")).json()["task"]
    if what == "priority":
        task["priority"] = rng.choice([p for p in PRIORITIES if p != task.get("priority")])
    elif what == "status":
        task["status"] = rng.choice([s for s in STATUSES if s != task.get("status")])
    elif what == "assign":
        task.pop("assigned_to_group_id", None)
        task["assigned_to_user_id"] = rng.choice([u for u in USERS if u != task.get("assigned_to_user_id")])
    elif what == "note":
        task["notes"] = [*(task.get("notes") or []), {"note": f"Followed up {rng.random():.6f}"}]
    else:
        due = datetime.now(UTC) + timedelta(days=rng.randint(1, 30))
        task["due_dts"] = due.isoformat(timespec="seconds")
    (await http.put(f"/workflow/tasks/{uuid}", json=task)).raise_for_status()


async def budget_hour(sb: Sandbox, polls: int, changes: int) -> dict[str, Any]:
    rng = random.Random(13)
    with tempfile.TemporaryDirectory(prefix="uc-bench-feed-") as tmp:
        db = await open_database(sqlite_url(Path(tmp) / "feed.sqlite3"))
        try:
            async with sb.client(limits=False) as client:
                feed = ChangeFeed(client, FeedStore(db), interval=60, leader="bench")
                started = time.perf_counter()
                baseline = await feed.poll()
                baseline_s = time.perf_counter() - started
                async with httpx.AsyncClient(base_url=sb.api, headers=OTHER, timeout=60) as http:
                    body, limit = {"status": "open"}, {"_limit": 500}
                    page = await http.post("/workflow/tasks/search", json=body, params=limit)
                    uuids = [t["workflow_task_uuid"] for t in page.json()["tasks"]]
                    # `changes` changes over `polls` polls: which poll each falls before, at random.
                    slots = sorted(rng.randrange(polls) for _ in range(changes))
                    calls, found = 0, 0
                    kinds: dict[str, int] = {}
                    poll_times: list[float] = []
                    for number in range(polls):
                        while slots and slots[0] == number:
                            slots.pop(0)
                            await _change_one(http, uuids, rng)
                        t0 = time.perf_counter()
                        result = await feed.poll()
                        poll_times.append(time.perf_counter() - t0)
                        calls += result.calls
                        found += len(result.changes)
                        for change in result.changes:
                            kinds[change.kind.value] = kinds.get(change.kind.value, 0) + 1
        finally:
            await db.aclose()
    return {
        "baseline_calls": baseline.calls,
        "baseline_tasks": baseline.tasks_seen,
        "baseline_s": baseline_s,
        "calls": calls,
        "changes_found": found,
        "kinds": kinds,
        "poll_median": median(poll_times),
        "poll_p95": percentile(poll_times, 95),
    }


SIGNING_SECRET = "bench-feed-signing-secret"
SAM_SLACK, SAM_UC = "USAM", 1003
LATENCY_INTERVAL = 5.0


async def _bot_ready(proc: asyncio.subprocess.Process, seen: list[str]) -> None:
    assert proc.stderr is not None
    while line := (await proc.stderr.readline()).decode(errors="replace"):
        seen.append(line)
        if "listening on http://" in line:
            return
    raise RuntimeError("uc-workflow-slack exited: " + "".join(seen[-20:]))


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stderr is not None
    while await proc.stderr.readline():
        pass


async def change_to_dm(sb: Sandbox, samples: int) -> list[float]:
    """Seconds from a change (a task assigned to Sam with Alice's key) to Sam's DM, through the real bot."""
    from bench._slack import SLACK_TESTS

    if str(SLACK_TESTS) not in sys.path:
        sys.path.insert(0, str(SLACK_TESTS))
    from mock_slack import BOT_TOKEN, MockSlack
    from slack_harness import SLACK_USERS

    from slack_bot.identity import LINK, IdentityStore
    from slack_bot.store import open_database as open_bot_database

    rng = random.Random(5)
    slack = MockSlack(users=dict(SLACK_USERS))
    await slack.start()
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="uc-bench-feed-bot-") as tmp:
        url = sqlite_url(Path(tmp) / "bot.sqlite3")
        db = await open_bot_database(url)
        await IdentityStore(db).set("T1", SAM_SLACK, SAM_UC, LINK)  # as an admin's /task link would
        await db.aclose()
        env = clean_env(
            ULTRACART_API_KEY="bench-feed-owner",
            ULTRACART_BASE_URL=sb.api,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
            UC_WORKFLOW_DATABASE_URL=url,
            UC_WORKFLOW_STATE_DIR=str(Path(tmp) / "state"),
            UC_WORKFLOW_POLL_SECONDS=str(LATENCY_INTERVAL),
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "slack_bot", "--port", "0", "--log-level", "warning",
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        seen: list[str] = []
        try:
            await asyncio.wait_for(_bot_ready(proc, seen), 60)
            draining = asyncio.ensure_future(_drain(proc))
            async with httpx.AsyncClient(base_url=sb.api, headers=OTHER, timeout=60) as http:
                body, limit = {"status": "open"}, {"_limit": 200}
                found = await http.post("/workflow/tasks/search", json=body, params=limit)
                uuids = [
                    t["workflow_task_uuid"]
                    for t in found.json()["tasks"]
                    if t.get("assigned_to_user_id") != SAM_UC
                ]
                await asyncio.sleep(2 * LATENCY_INTERVAL)  # the bot's baseline is done
                for number in range(samples):
                    await asyncio.sleep(rng.uniform(0, LATENCY_INTERVAL))  # a random moment of the interval
                    mark = slack.mark()
                    if number < len(uuids):  # a task reassigned to Sam, as in UltraCart's screens
                        uuid = uuids[number]
                        task = (await http.get(f"/workflow/tasks/{uuid}")).json()["task"]
                        task.pop("assigned_to_group_id", None)
                        task["assigned_to_user_id"] = SAM_UC
                        started = time.perf_counter()
                        (await http.put(f"/workflow/tasks/{uuid}", json=task)).raise_for_status()
                    else:  # a new task assigned to Sam, as UltraCart's rules make them
                        started = time.perf_counter()
                        made = await http.post(
                            "/workflow/tasks",
                            json={"task_name": f"Review {number}", "assigned_to_user_id": SAM_UC},
                        )
                        made.raise_for_status()
                    await slack.wait_for(
                        "chat.postMessage",
                        timeout=10 * LATENCY_INTERVAL,
                        after=mark,
                        where=lambda call: str(call.args.get("channel", "")).endswith(SAM_SLACK[1:]),
                    )
                    latencies.append(time.perf_counter() - started)
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 15)
            await draining
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await slack.stop()
    return latencies


def run(quick: bool = False) -> list[Table]:
    tables: list[Table] = []
    with sandbox("--seed-tasks", str(SEED), "--rate-limit", "none") as sb:
        figures = asyncio.run(budget_hour(sb, POLLS_PER_HOUR, CHANGES_PER_HOUR))
    budget = Table(
        f"13. Change feed — UltraCart requests for one hour at the default interval "
        f"({SEED:,}-task account, {CHANGES_PER_HOUR} changes an hour)",
        ["what", "UltraCart requests", "share of 1,000/hour", "notes"],
    )
    share = figures["calls"] / HOURLY_BUDGET
    budget.add(
        f"{POLLS_PER_HOUR} polls (one hour at 60 s)",
        figures["calls"],
        f"{share:.1%}",
        f"{figures['changes_found']} changes typed; poll median {figures['poll_median'] * 1000:.0f} ms, "
        f"p95 {figures['poll_p95'] * 1000:.0f} ms",
    )
    budget.add(
        "baseline (first poll ever, once per deployment)",
        figures["baseline_calls"],
        f"{figures['baseline_calls'] / HOURLY_BUDGET:.1%}",
        f"{figures['baseline_tasks']:,} tasks listed in {figures['baseline_s']:.1f} s; nobody notified",
    )
    budget.target(f"at most 10% of the hourly budget ({share:.1%})", share <= 0.10)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(figures["kinds"].items()))
    budget.notes.append(f"changes found by kind: {kinds}")
    budget.notes.append(
        "two changes of one kind to one task between two polls are one change (what it became); a poll is "
        "one search of up to 500 changed tasks (a second page only past 500 changes in one interval)"
    )
    tables.append(budget)
    samples = 8 if quick else 20
    with sandbox() as sb:  # UltraCart's limits on
        latencies = asyncio.run(change_to_dm(sb, samples))
    latency = Table(
        "14. Change feed — from a change in UltraCart to the assignee's DM, the real bot at a "
        f"{LATENCY_INTERVAL:g} s interval",
        ["interval", "samples", "median", "p95", "max", "median / interval"],
    )
    latency.add(
        f"{LATENCY_INTERVAL:g} s",
        len(latencies),
        f"{median(latencies):.2f} s",
        f"{percentile(latencies, 95):.2f} s",
        f"{max(latencies):.2f} s",
        f"{median(latencies) / LATENCY_INTERVAL:.2f}",
    )
    latency.target(
        f"every DM within one interval plus a second (p95 {percentile(latencies, 95):.2f} s)",
        percentile(latencies, 95) <= LATENCY_INTERVAL + 1.0,
    )
    latency.notes.append(
        "each change is made at a random moment of the interval with another user's key (a whole-task PUT, "
        "as UltraCart's screens do); the DM is timed when the mock Slack Web API receives chat.postMessage"
    )
    tables.append(latency)
    return tables


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
