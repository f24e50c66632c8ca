"""Every front end on one UltraCart key at once: two MCP HTTP servers, the Slack bot and CLI processes,
against a sandbox served over HTTP with UltraCart's limits on (a second request in flight from the key is
answered 429, as UltraCart does).

They share one gate: every call succeeds, the sandbox serves no 429 and never sees two requests from the
key in flight. On one machine they share it through ``UC_WORKFLOW_STATE_DIR``; across machines through
``UC_WORKFLOW_REDIS_URL`` (here each process gets a state directory of its own, so only Redis can be
what they share).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import ListeningProcess, LiveSandbox, StartSandbox, start_listening
from tests.slack.mock_slack import BOT_TOKEN, MockSlack, SlackUser, signed_form

KEY = "team-owner-key"  # the sandbox's owner: any key that is not a demo user's e-mail
SIGNING_SECRET = "team-signing-secret-0123456789"
MCP_READY = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/mcp")
SLACK_READY = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/slack/events")
MCP_CALLS = 6  # per server
SLACK_COMMANDS = 4
CLI_PROCESSES = 4


@dataclass
class Team:
    sandbox: LiveSandbox
    mcp_urls: list[str]
    slack_url: str
    slack: MockSlack
    env_for: Any  # (label) -> environment of a process of this team
    task_number: int


def environment(sandbox: LiveSandbox, state_dir: Path, redis_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_", "SLACK_"))}
    env.update(ULTRACART_API_KEY=KEY, ULTRACART_BASE_URL=sandbox.api, UC_WORKFLOW_STATE_DIR=str(state_dir))
    if redis_url:
        env["UC_WORKFLOW_REDIS_URL"] = redis_url
    env.update(extra)
    return env


async def first_task_number(sandbox: LiveSandbox, env: dict[str, str], cwd: Path) -> int:
    out = await run_cli(env, cwd, "search_tasks", {"status": "open", "limit": 1})
    return int(out["tasks"][0]["number"])


async def run_cli(env: dict[str, str], cwd: Path, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from shared_client.cli import main; sys.exit(main())",
        "call", tool, json.dumps(args),
        env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    return dict(json.loads(stdout))


@pytest.fixture(params=["one machine", "redis"])
async def team(
    request: pytest.FixtureRequest, tmp_path: Path, start_sandbox: StartSandbox
) -> AsyncIterator[Team]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    sandbox = start_sandbox()  # UltraCart's limits are on by default
    shared_state = tmp_path / "state"

    def env_for(label: str, **extra: str) -> dict[str, str]:
        # Across machines nothing but Redis is shared: each process gets a state directory of its own.
        state = shared_state if redis_url is None else tmp_path / f"state-{label}"
        return environment(sandbox, state, redis_url, **extra)

    slack = MockSlack(users={"UOWNER": SlackUser("UOWNER", "Demo Owner", "owner@demo.example")})
    await slack.start()
    started: list[ListeningProcess] = []
    try:
        for label in ("mcp-a", "mcp-b"):
            command = [sys.executable, "-m", "server", "--transport", "http", "--port", "0"]
            started.append(
                await asyncio.to_thread(
                    start_listening, command, ready=MCP_READY, env=env_for(label), cwd=tmp_path
                )
            )
        bot_env = env_for(
            "slack",
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
            UC_WORKFLOW_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'slack.sqlite3'}",
        )
        bot_command = [sys.executable, "-c", "import sys; from slack_bot.cli import main; sys.exit(main())"]
        # The bot proves its token against the mock Slack (served by this event loop) before it listens.
        started.append(
            await asyncio.to_thread(
                start_listening, [*bot_command, "--port", "0"], ready=SLACK_READY, env=bot_env, cwd=tmp_path
            )
        )
        number = await first_task_number(sandbox, env_for("setup"), tmp_path)
        yield Team(
            sandbox=sandbox,
            mcp_urls=[f"http://127.0.0.1:{p.port}/mcp" for p in started[:2]],
            slack_url=f"http://127.0.0.1:{started[2].port}/slack/events",
            slack=slack,
            env_for=env_for,
            task_number=number,
        )
    finally:
        for process in started:
            await asyncio.to_thread(process.stop)
        await slack.stop()


async def mcp_session(url: str, number: int, label: str) -> list[str]:
    """Reads and writes through one MCP server, all at once; the notes it added."""
    notes = [f"{label} note {i}" for i in range(MCP_CALLS // 3)]
    async with Client(streamable_http_client(url)) as client:
        calls = [client.call_tool("add_task_note", {"task": str(number), "text": text}) for text in notes]
        calls += [client.call_tool("get_task", {"task": str(number)}) for _ in range(MCP_CALLS // 3)]
        calls += [
            client.call_tool("search_tasks", {"status": "open", "limit": 5 + i})
            for i in range(MCP_CALLS - len(calls))
        ]
        for result in await asyncio.gather(*calls):
            assert not result.is_error, result.content
    return notes


async def slash_command(url: str, slack: MockSlack, text: str, name: str) -> None:
    fields = {
        "team_id": "T1",
        "channel_id": "C0GENERAL",
        "user_id": "UOWNER",
        "command": "/task",
        "text": text,
        "response_url": slack.response_url(name),
        "trigger_id": f"trig.{name}",
    }
    body, headers = signed_form(fields, SIGNING_SECRET)
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as response:
        assert response.status == 200


async def replies(slack: MockSlack, method: str, count: int, after: int) -> list[str]:
    """The text of the first ``count`` calls to ``method`` recorded after ``after``."""
    texts: list[str] = []
    for _ in range(count):
        call = await slack.wait_for(method, after=after, timeout=120)
        texts.append(json.dumps(call.args))
        after = call.index + 1
    return texts


async def test_every_front_end_on_one_key_shares_one_gate(team: Team, tmp_path: Path) -> None:
    team.sandbox.reset_stats()
    mark = team.slack.mark()
    number = team.task_number
    cli_notes = [f"cli note {i}" for i in range(CLI_PROCESSES // 2)]
    slack_notes = [f"slack note {i}" for i in range(SLACK_COMMANDS // 2)]
    jobs: list[Any] = [
        mcp_session(url, number, label) for url, label in zip(team.mcp_urls, ("mcp-a", "mcp-b"), strict=True)
    ]
    jobs += [
        run_cli(team.env_for(f"cli-{i}"), tmp_path, "add_task_note", {"task": str(number), "text": text})
        for i, text in enumerate(cli_notes)
    ]
    jobs += [
        run_cli(team.env_for(f"cli-r{i}"), tmp_path, "search_tasks", {"status": "open", "limit": 10})
        for i in range(CLI_PROCESSES - len(cli_notes))
    ]
    jobs += [
        slash_command(team.slack_url, team.slack, f"note #{number} {t}", f"n{i}")
        for i, t in enumerate(slack_notes)
    ]
    jobs += [
        slash_command(team.slack_url, team.slack, "search status:open", f"s{i}")
        for i in range(SLACK_COMMANDS - len(slack_notes))
    ]
    results = await asyncio.gather(*jobs)
    # A note is announced in the channel; a search answers the person who asked.
    answers = await replies(team.slack, "chat.postMessage", len(slack_notes), mark)
    answers += await replies(team.slack, "chat.postEphemeral", SLACK_COMMANDS - len(slack_notes), mark)
    for answer in answers:
        assert "went wrong" not in answer and "try again" not in answer.lower(), answer
    stats = team.sandbox.stats()
    assert stats["rate_limited"] == 0, stats  # no 429 served: nobody sent while another was in flight
    assert stats["max_in_flight"] <= 1, stats
    assert stats["requests_total"] > MCP_CALLS * 2 + CLI_PROCESSES  # they all reached UltraCart

    # Every note made it, whoever wrote it and from where (whole-object PUTs, serialized per task).
    task = await run_cli(team.env_for("check"), tmp_path, "get_task", {"task": str(number)})
    texts = json.dumps(task)
    expected = [*results[0], *results[1], *cli_notes, *slack_notes]
    missing = [note for note in expected if note not in texts]
    assert not missing, missing
