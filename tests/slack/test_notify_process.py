"""The change feed and its DMs in real ``uc-workflow-slack`` processes: two replicas (each its own state
directory, as on two machines) on one PostgreSQL and one Redis, against a sandbox over HTTP. Tasks are
assigned to a linked member straight on the sandbox's REST API with another user's key, as UltraCart's own
screens would. Each DM arrives once, whichever replica leads; a replica stopped and started again sends
nothing twice and misses nothing; the first start tells nobody about the tasks already there."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from mock_slack import BOT_TOKEN, Call, MockSlack
from slack_harness import SIGNING_SECRET, SLACK_USERS
from test_process import BotProcess

from shared_client import constants
from shared_client.database import open_database
from slack_bot.identity import LINK, IdentityStore
from tests.conftest import StartSandbox

SAM_UC = 1003
ALICE = {
    "x-ultracart-simple-key": "user:alice@demo.example",
    "X-UltraCart-Api-Version": constants.API_VERSION,
}


def to_sam(call: Call) -> bool:
    return str(call.args.get("channel", "")) in {"USAM", "DSAM"}


def dm_text(call: Call) -> str:
    return json.dumps(call.args.get("blocks"), default=str) + str(call.args.get("text", ""))


async def assign_to_sam(http: httpx.AsyncClient, name: str) -> str:
    """A new task for Sam, then renamed: its DM must name it (and come once)."""
    made = await http.post("/workflow/tasks", json={"task_name": name})
    made.raise_for_status()
    task: dict[str, Any] = made.json()["task"]
    task["assigned_to_user_id"] = SAM_UC
    (await http.put(f"/workflow/tasks/{task['workflow_task_uuid']}", json=task)).raise_for_status()
    return str(task["workflow_task_uuid"])


async def test_replicas_dm_each_assignment_once_across_a_restart(
    tmp_path: Path, start_sandbox: StartSandbox, postgres_url: str, redis_url: str
) -> None:
    sandbox = start_sandbox()
    database = await open_database(postgres_url)
    await IdentityStore(database).set("T1", "USAM", SAM_UC, LINK)  # as an admin's /task link would
    await database.aclose()
    slack = MockSlack(users=dict(SLACK_USERS))
    await slack.start()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_", "SLACK_"))}

    def env(name: str) -> dict[str, str]:
        return {
            **base,
            "ULTRACART_API_KEY": "team-owner-key",
            "ULTRACART_BASE_URL": sandbox.api,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "UC_WORKFLOW_DATABASE_URL": postgres_url,
            "UC_WORKFLOW_REDIS_URL": redis_url,
            "UC_WORKFLOW_STATE_DIR": str(tmp_path / f"state-{name}"),  # "machines": only Redis is shared
            "UC_WORKFLOW_POLL_SECONDS": "1",
        }

    names: list[str] = []
    a = await BotProcess.start(env("a"), tmp_path, "--log-level", "info")  # info: every poll, read on
    b = await BotProcess.start(env("b"), tmp_path)
    running = [a, b]
    try:
        async with httpx.AsyncClient(base_url=sandbox.api, headers=ALICE, timeout=30) as http:
            for step in range(3):
                name = f"Call back customer {step}"
                names.append(name)
                mark = slack.mark()
                await assign_to_sam(http, name)
                dm = await slack.wait_for(
                    "chat.postMessage",
                    lambda c, n=name: to_sam(c) and n in dm_text(c),
                    after=mark,
                    timeout=60,
                )
                assert "assigned" in dm_text(dm).lower()
                if step == 0:
                    await a.stop()  # the leader or not: the other goes on
                    running.remove(a)
                elif step == 1:
                    a = await BotProcess.start(env("a"), tmp_path)  # back, on the same database
                    running.append(a)
                    await b.stop()  # and now the restarted one must lead
                    running.remove(b)
    finally:
        texts = [await replica.stop() for replica in running]
        await slack.stop()
    to_him = [c for c in slack.of("chat.postMessage") if to_sam(c)]
    # Once each, and nothing else: Sam's old tasks (some long overdue) were the baseline.
    assert sorted(n for c in to_him for n in names if n in dm_text(c)) == sorted(names), [
        dm_text(c)[:200] for c in to_him
    ]
    assert len(to_him) == len(names)
    for text in texts:
        assert BOT_TOKEN not in text and SIGNING_SECRET not in text and "Traceback" not in text
