"""``/task connect`` in the real ``uc-workflow-slack`` process: the wiring (UC_WORKFLOW_SECRET_KEY, the
members' keys going to the same sandbox), and the key absent from its logs even at DEBUG."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet
from mock_slack import BOT_TOKEN, MockSlack, signed_form
from slack_harness import SIGNING_SECRET, SLACK_USERS
from test_connect import ALICE, ALICE_KEY
from test_process import _listening_port, run_to_exit, slack_env

from slack_bot.listeners.connect import KEY_ACTION, KEY_BLOCK


async def test_a_secret_key_that_is_not_a_fernet_key_is_one_line(tmp_path: Path) -> None:
    code, lines, called = await run_to_exit(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        UC_WORKFLOW_SECRET_KEY="hunter2-not-fernet",
    )
    assert code == 2 and len(lines) == 1, lines
    assert "UC_WORKFLOW_SECRET_KEY" in lines[0] and "Fernet.generate_key()" in lines[0]
    assert "hunter2" not in lines[0] and called == []


async def post(http: aiohttp.ClientSession, url: str, fields: dict[str, str]) -> tuple[int, str]:
    body, headers = signed_form(fields, SIGNING_SECRET)
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await response.text()


async def _drain(proc: asyncio.subprocess.Process, seen: list[str]) -> None:
    assert proc.stderr is not None
    while line := await proc.stderr.readline():
        seen.append(line.decode(errors="replace"))


async def test_the_bot_connects_a_members_key_and_never_logs_it(tmp_path: Path) -> None:
    slack = MockSlack(users=dict(SLACK_USERS))
    await slack.start()
    env = slack_env(
        tmp_path,
        slack,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        UC_WORKFLOW_SECRET_KEY=Fernet.generate_key().decode(),
    )
    command = [sys.executable, "-c", "import sys; from slack_bot.cli import main; sys.exit(main())"]
    proc = await asyncio.create_subprocess_exec(
        *command, "--port", "0", "--log-level", "debug", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    seen: list[str] = []
    draining: asyncio.Future[None] | None = None
    try:
        port = await asyncio.wait_for(_listening_port(proc, seen), 60)
        # Read on: at debug level the bot (its change feed's first poll, its database) says a lot, and a
        # full pipe would stop it.
        draining = asyncio.ensure_future(_drain(proc, seen))
        url = f"http://127.0.0.1:{port}/slack/events"
        async with aiohttp.ClientSession() as http:
            command_fields = {
                "team_id": "T1", "channel_id": "C0GENERAL", "user_id": "USTRANGER", "command": "/task",
                "text": "connect", "response_url": slack.response_url("r1"), "trigger_id": "trig.connect",
            }  # fmt: skip
            assert (await post(http, url, command_fields))[0] == 200
            view = (await slack.wait_for("views.open", timeout=20)).args["view"]
            view = json.loads(view) if isinstance(view, str) else view
            payload = {
                "type": "view_submission",
                "team": {"id": "T1"},
                "user": {"id": "USTRANGER", "team_id": "T1"},
                "api_app_id": "A1",
                "view": {
                    **view,
                    "id": "V1",
                    "state": {
                        "values": {KEY_BLOCK: {KEY_ACTION: {"type": "plain_text_input", "value": ALICE_KEY}}}
                    },
                },
            }
            status, text = await post(http, url, {"payload": json.dumps(payload)})
            assert status == 200
            assert f"Connected as *{ALICE}*" in text and ALICE_KEY not in text
            command_fields.update(text="search assignee:me", response_url=slack.response_url("r2"))
            assert (await post(http, url, command_fields))[0] == 200
            # Answered with her key's 'me' (ephemerally: this process posts only to Slack's response_urls).
            answer = await slack.wait_for("chat.postEphemeral", timeout=20)
            assert "can't tell who" not in json.dumps(answer.args)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)
        if draining is not None:
            await asyncio.wait_for(draining, 15)
        await slack.stop()
    logged = "".join(seen)
    assert " DEBUG " in logged  # the capture is real
    assert ALICE_KEY not in logged
    assert all(ALICE_KEY not in json.dumps(c.args, default=str) for c in slack.calls)
