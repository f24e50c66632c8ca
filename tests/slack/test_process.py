"""`uc-workflow-slack` as a real process: HTTP mode, signed requests, the mock Slack Web API, the sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import urllib.parse
from pathlib import Path

import aiohttp
from mock_slack import BOT_TOKEN, MockSlack
from slack_harness import SIGNING_SECRET, SLACK_USERS, sign


async def _listening_port(proc: asyncio.subprocess.Process, seen: list[str]) -> int:
    """The port the bot says it listens on (it binds port 0 and reports the one it got); lines kept."""
    assert proc.stderr is not None
    while line := (await proc.stderr.readline()).decode():
        seen.append(line)
        listening = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if listening:
            return int(listening.group(1))
    raise AssertionError(f"uc-workflow-slack exited with {await proc.wait()}: {''.join(seen)}")


async def test_the_command_serves_signed_slash_commands(tmp_path: Path) -> None:
    slack = MockSlack(users=dict(SLACK_USERS))
    await slack.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_", "SLACK_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        UC_WORKFLOW_SANDBOX_DB=str(tmp_path / "sandbox.sqlite3"),
        UC_WORKFLOW_STATE_DIR=str(tmp_path / "state"),
    )
    command = [sys.executable, "-c", "import sys; from slack_bot.cli import main; sys.exit(main())"]
    proc = await asyncio.create_subprocess_exec(
        *command,
        "--port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    seen: list[str] = []
    try:
        # Bounded only so that a bot that never listens fails instead of hanging.
        port = await asyncio.wait_for(_listening_port(proc, seen), 60)
        fields = {
            "team_id": "T1",
            "channel_id": "C0GENERAL",
            "user_id": "UALICE",
            "command": "/task",
            "text": 'new "Call the customer back"',
            "response_url": slack.response_url("r1"),
            "trigger_id": "trig.process",
        }
        body = urllib.parse.urlencode(fields).encode()
        url = f"http://127.0.0.1:{port}/slack/events"
        async with aiohttp.ClientSession() as http:
            ts = int(time.time())
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": str(ts),
                "X-Slack-Signature": sign(body, ts),
            }
            async with http.post(url, data=body, headers=headers) as response:
                assert response.status == 200
            opened = await slack.wait_for("views.open", timeout=20)
            view = opened.args["view"]
            view = json.loads(view) if isinstance(view, str) else view
            assert "Call the customer back" in json.dumps(view)
            # An unsigned request is refused by the real process too.
            async with http.post(
                url, data=body, headers={"Content-Type": headers["Content-Type"]}
            ) as response:
                assert response.status == 401
    finally:
        proc.terminate()
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
        await slack.stop()
    text = "".join(seen) + stderr.decode()
    assert "sandbox" in text  # announced once
    assert BOT_TOKEN not in text and SIGNING_SECRET not in text
    # The token was proved before saying so (at the default level, WARNING, the line still shows).
    assert f"listening on http://127.0.0.1:{port}/slack/events as @taskbot in Test" in text
    assert slack.calls[0].method == "auth.test"
    assert "will be unused" not in text  # Bolt's warning about the token it reads itself


def slack_env(tmp_path: Path, slack: MockSlack, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_", "SLACK_"))}
    env.update(
        SLACK_API_URL=slack.api_url,
        UC_WORKFLOW_SANDBOX_DB=str(tmp_path / "sandbox.sqlite3"),
        UC_WORKFLOW_STATE_DIR=str(tmp_path / "state"),
        **settings,
    )
    return env


async def run_to_exit(tmp_path: Path, **settings: str) -> tuple[int, list[str], list[str]]:
    """The command against a mock Slack until it exits: its code, its stderr lines other than the
    sandbox's announcement, and the Web API methods it called."""
    slack = MockSlack(users=dict(SLACK_USERS))
    await slack.start()
    command = [sys.executable, "-c", "import sys; from slack_bot.cli import main; sys.exit(main())"]
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            "--port",
            "0",
            env=slack_env(tmp_path, slack, **settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await slack.stop()
    assert proc.returncode is not None
    lines = [line for line in stderr.decode().splitlines() if "sandbox" not in line]
    return proc.returncode, lines, [c.method for c in slack.calls]


async def test_a_wrong_bot_token_is_one_line_and_no_listening(tmp_path: Path) -> None:
    code, lines, _ = await run_to_exit(
        tmp_path, SLACK_BOT_TOKEN="xoxb-wrong-0000", SLACK_SIGNING_SECRET=SIGNING_SECRET
    )
    assert code == 1 and lines == [
        "uc-workflow-slack: SLACK_BOT_TOKEN: Slack refused it (invalid_auth); "
        "copy it again from the Slack app's settings"
    ]  # no token shown, nothing said about listening


async def test_socket_mode_needs_no_signing_secret_and_a_wrong_app_token_is_one_line(tmp_path: Path) -> None:
    code, lines, called = await run_to_exit(
        tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN="xapp-wrong-0000"
    )
    assert code == 1 and lines == [
        "uc-workflow-slack: SLACK_APP_TOKEN: Slack refused it (invalid_auth); "
        "copy it again from the Slack app's settings"
    ]  # not the Socket Mode client's endless reconnecting, no token shown
    assert called == ["auth.test"]  # the bot token was good (a call with a wrong token is not recorded)


def test_the_default_log_level_is_warning_like_the_mcp_server() -> None:
    from slack_bot.cli import build_parser

    assert build_parser().parse_args([]).log_level == "warning"
