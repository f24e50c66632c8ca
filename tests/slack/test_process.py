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
from mock_slack import BOT_TOKEN, MockSlack, signed_form
from slack_harness import SIGNING_SECRET, SLACK_USERS, sign

from tests.services import free_port


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
        body, headers = signed_form(fields, SIGNING_SECRET)
        url = f"http://127.0.0.1:{port}/slack/events"
        async with aiohttp.ClientSession() as http:
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


async def test_an_unreachable_database_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://bot:hunter2-pg@127.0.0.1:{free_port()}/bot"
    code, lines, called = await run_to_exit(
        tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, UC_WORKFLOW_DATABASE_URL=url
    )
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(
        "uc-workflow-slack: UC_WORKFLOW_DATABASE_URL: cannot open the Slack bot's database "
        "postgresql+asyncpg://bot:***@127.0.0.1:"
    )
    assert "hunter2" not in lines[0] and "Traceback" not in lines[0]
    assert called == []  # stopped before anything else started


class BotProcess:
    """One ``uc-workflow-slack`` process in HTTP mode (a replica), and signed requests to it."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, seen: list[str]) -> None:
        self.proc, self.seen = proc, seen
        self.url = f"http://127.0.0.1:{port}/slack/events"
        # Read on as it runs: a full pipe would stop the bot mid-sentence (its feed logs every poll at info).
        self.reading = asyncio.ensure_future(self._read_on())

    async def _read_on(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.seen.append(line.decode(errors="replace"))

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path, *args: str) -> BotProcess:
        command = [sys.executable, "-c", "import sys; from slack_bot.cli import main; sys.exit(main())"]
        proc = await asyncio.create_subprocess_exec(
            *command, "--port", "0", *args, env=env, stderr=asyncio.subprocess.PIPE, cwd=cwd
        )
        seen: list[str] = []
        try:
            port = await asyncio.wait_for(_listening_port(proc, seen), 60)  # bounded: fail, not hang
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
        return cls(proc, port, seen)

    async def post(
        self,
        http: aiohttp.ClientSession,
        body: bytes,
        content_type: str,
        *,
        busy: bool = False,
        **headers: str,
    ) -> str:
        """Signed as Slack signs; the answer's X-Slack-No-Retry header ("" when absent). ``busy``: a 503
        is accepted too (an event another replica claimed and has not marked handled yet), as "503"."""
        ts = int(time.time())
        headers.update({"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts)})
        headers["X-Slack-Signature"] = sign(body, ts)
        async with http.post(self.url, data=body, headers=headers) as response:
            if busy and response.status == 503:
                return "503"
            assert response.status == 200
            return response.headers.get("X-Slack-No-Retry", "")

    async def command(self, http: aiohttp.ClientSession, slack: MockSlack, user: str, text: str) -> None:
        fields = {
            "team_id": "T1",
            "channel_id": "C0GENERAL",
            "user_id": user,
            "command": "/task",
            "text": text,
            "response_url": slack.response_url(f"r-{user}-{text}"),
            "trigger_id": "trig.process",
        }
        await self.post(http, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded")

    async def stop(self) -> str:
        if self.proc.returncode is None:
            self.proc.terminate()
        await asyncio.wait_for(self.reading, 15)
        await asyncio.wait_for(self.proc.wait(), 15)
        return "".join(self.seen)


def event_body(user: str, event_id: str) -> bytes:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": {"type": "app_home_opened", "user": user, "tab": "home"},
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
        }
    ).encode()


async def test_two_replicas_on_one_postgresql_share_links_and_handle_each_event_once(
    tmp_path: Path, postgres_url: str
) -> None:
    slack = MockSlack(users=dict(SLACK_USERS))
    await slack.start()
    env = slack_env(
        tmp_path,
        slack,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        UC_WORKFLOW_DATABASE_URL=postgres_url,
    )
    replicas: list[BotProcess] = []
    try:
        # One after the other: the first seeds the sandbox file both use.
        for _ in range(2):
            replicas.append(await BotProcess.start(env, tmp_path))
        a, b = replicas
        async with aiohttp.ClientSession() as http:
            # A link an admin made through replica A ...
            await a.command(http, slack, "UOWNER", 'link <@USTRANGER> "Sam Rivera"')
            told = await slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == "UOWNER")
            assert "<@USTRANGER> is now *Sam Rivera*" in told.text_of_blocks()
            # ... is who they are through replica B (without it B could not tell: no e-mail match).
            await b.command(http, slack, "USTRANGER", "iam")
            again = await slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == "USTRANGER")
            text = again.text_of_blocks()
            assert "You are *Sam" in text and "linked by a workspace admin" in text

            # One event, delivered to A, then again to B as Slack's retry: one App Home published.
            body = event_body("UALICE", "EvTwoReplicas1")
            assert await a.post(http, body, "application/json") == ""
            await slack.wait_for("views.publish", lambda c: c.args.get("user_id") == "UALICE", timeout=30)
            retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            # Dropped: answered "handled" (200, no retry), or "being handled" (503) if A has not yet
            # marked it handled after its publish.
            assert await b.post(http, body, "application/json", busy=True, **retry) in {"1", "503"}
            # B does handle events of its own: once its publish is seen, B's dropped retry had its chance.
            assert await b.post(http, event_body("UOWNER", "EvTwoReplicas2"), "application/json") == ""
            await slack.wait_for("views.publish", lambda c: c.args.get("user_id") == "UOWNER", timeout=30)
            assert [c.args.get("user_id") for c in slack.of("views.publish")] == ["UALICE", "UOWNER"]
    finally:
        texts = [await replica.stop() for replica in replicas]
        await slack.stop()
    for text in texts:
        assert BOT_TOKEN not in text and SIGNING_SECRET not in text and "Traceback" not in text
