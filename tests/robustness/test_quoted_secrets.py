"""Secrets that UltraCart (or a proxy in front of it) quotes back never leave the process.

A real UltraCart answers a bad key with ``UC-REST-ERROR: Invalid simple key <key>``; a proxy's error page
may echo request headers; a task's text may hold a pasted key. The client redacts every configured secret
(its own credential and every value of ``Settings.secrets()``) from what it was answered, so no tool error,
tool result, MCP result or CLI output can show one. Also: a key that cannot be an HTTP header, and a bearer
token too short to guard a non-loopback bind, are each refused with one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.types import TextContent
from pydantic import ValidationError
from robust_support import ROBUST_RETRIES, SleepRecorder, clean_environment, new_client
from test_secrets import assert_clean, exception_texts

from server.app import ERROR_META, build_server
from server.cli import check_http_binding
from shared_client.client import WorkflowClient
from shared_client.commandline import UsageError, bad_setting_message
from shared_client.sandbox import SandboxConfig, create_app
from shared_client.settings import Settings
from shared_client.tools import ToolContext, ToolError, get_tool

MIN_TOKEN_LENGTH = 24  # what the hardening issue asks of a bearer token off loopback
KEY = "CANARY-UC-KEY-0123456789"  # one of test_secrets' canaries, so assert_clean looks for it
CLI = str(Path(sys.executable).parent / "uc-workflow")
MCP_SERVER = str(Path(sys.executable).parent / "uc-workflow-mcp")
Quote = Callable[[str], httpx.Response]


# What UltraCart or a proxy answers, quoting ``secret``.
QUOTES: dict[str, Quote] = {
    "uc-rest-error header": lambda secret: httpx.Response(
        401, headers={"UC-REST-ERROR": f"Invalid simple key {secret}"}
    ),
    "json error body": lambda secret: httpx.Response(
        400,
        json={
            "success": False,
            "error": {"user_message": f"bad key {secret}", "developer_message": f"key={secret}"},
        },
    ),
    "html error page": lambda secret: httpx.Response(
        502,
        headers={"content-type": "text/html"},
        text=f"<html><body>Bad gateway; request header x-ultracart-simple-key: {secret}</body></html>",
    ),
    "not json": lambda secret: httpx.Response(200, text=f"oops {secret}"),
}

QUOTED_IN_MESSAGE = ("uc-rest-error header", "json error body")  # the others are described, not quoted


def quoting_client(quote: Quote, secret: str | None = None) -> WorkflowClient:
    """A client with the canary key on an UltraCart that answers every request by quoting ``secret``
    (default: the key the request carried)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return quote(secret or request.headers["x-ultracart-simple-key"])

    return WorkflowClient(
        api_key=KEY,
        base_url="http://mock/rest/v2",
        transport=httpx.MockTransport(handler),
        gate_key=uuid.uuid4().hex,
        retry_policy=ROBUST_RETRIES,
        sleep=SleepRecorder(),
    )


async def failure(client: WorkflowClient) -> ToolError:
    async with client:
        with pytest.raises(ToolError) as info:
            await get_tool("get_me").run(ToolContext(client), {})
    return info.value


@pytest.mark.parametrize("answer", list(QUOTES))
async def test_a_quoted_key_is_redacted_from_tool_errors(answer: str) -> None:
    error = await failure(quoting_client(QUOTES[answer]))
    assert_clean(answer, [*exception_texts(error), json.dumps(error.to_data())])
    if answer in QUOTED_IN_MESSAGE:
        assert "[redacted]" in error.message, error.message


@pytest.mark.parametrize("answer", list(QUOTES))
async def test_a_quoted_setting_secret_is_redacted_from_tool_errors(
    answer: str, configured_slack_token: str
) -> None:
    error = await failure(quoting_client(QUOTES[answer], secret=configured_slack_token))
    assert_clean(answer, [*exception_texts(error), json.dumps(error.to_data())])


async def test_a_quoted_key_is_redacted_from_mcp_results() -> None:
    client = quoting_client(QUOTES["uc-rest-error header"])
    async with client, Client(build_server(ToolContext(client))) as mcp:
        result = await mcp.call_tool("get_me", {})
    assert result.is_error
    meta = (result.meta or {})[ERROR_META]
    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    assert_clean("MCP result", [*texts, json.dumps(meta), json.dumps(result.structured_content)])
    assert meta["kind"] == "unauthorized" and "[redacted]" in meta["message"]


async def test_a_key_in_a_task_is_redacted_from_tool_results(db_path: Path) -> None:
    """Someone pasted the key into a task: reading it through the client that holds the key shows
    ``[redacted]``."""
    app = create_app(SandboxConfig(db_path=db_path, rate_limit=None))
    async with new_client(app) as writer, new_client(app, key=KEY) as reader:
        created = await get_tool("create_task").run(
            ToolContext(writer), {"name": f"key is {KEY}", "details": f"use {KEY} for the API"}
        )
        task = created.task.uuid
        ctx = ToolContext(reader)
        read = await get_tool("get_task").run(ctx, {"task": task})
        async with Client(build_server(ctx)) as mcp:
            result = await mcp.call_tool("get_task", {"task": task})
    texts = [json.dumps(read.to_data()), read.to_text(), repr(read)]
    texts += [c.text for c in result.content if isinstance(c, TextContent)]
    texts.append(json.dumps(result.structured_content))
    assert_clean("tool results", texts)
    assert read.to_data()["task"]["name"] == "key is [redacted]"


# --------------------------------------------------------------------------- the console scripts


class QuotingUltraCart(BaseHTTPRequestHandler):
    """An UltraCart on a loopback port that refuses every key by quoting it, as the real one does."""

    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("UC-REST-ERROR", f"Invalid simple key {self.headers['x-ultracart-simple-key']}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def quoting_ultracart() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), QuotingUltraCart)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/rest/v2"
    finally:
        server.shutdown()
        server.server_close()


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def refused_at_start(command: list[str], env: dict[str, str], cwd: Path) -> str:
    """The command exits 2 with one line on stderr (no traceback) and nothing on stdout: the line."""
    done = run(command, env, cwd)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_the_cli_never_shows_a_quoted_key(quoting_ultracart: str, tmp_path: Path) -> None:
    env = clean_environment(ULTRACART_API_KEY=KEY, ULTRACART_BASE_URL=quoting_ultracart)
    done = run([CLI, "call", "get_me", "{}"], env, tmp_path)
    assert done.returncode == 1, done.stderr
    assert_clean("uc-workflow call", [done.stdout, done.stderr])
    assert "refused the credential" in done.stdout + done.stderr
    assert "[redacted]" in done.stdout + done.stderr


NON_ASCII_KEY = "CANARY-clé-0123456789"


def test_a_non_ascii_key_is_a_bad_setting() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, ultracart_api_key=NON_ASCII_KEY)
    line = bad_setting_message(info.value)
    assert line.startswith("setting ULTRACART_API_KEY: ") and "ASCII" in line
    assert "clé" not in line
    with pytest.raises(ValidationError, match="ASCII"):
        Settings(_env_file=None, ultracart_oauth_token="tab\tinside-a-token")
    assert Settings(_env_file=None, ultracart_api_key=KEY).ultracart_api_key is not None


@pytest.mark.parametrize(
    "command",
    [[CLI, "call", "get_me", "{}"], [MCP_SERVER], [MCP_SERVER, "--transport", "http"]],
    ids=["cli", "mcp-stdio", "mcp-http"],
)
def test_a_non_ascii_key_is_one_line(command: list[str], tmp_path: Path) -> None:
    # A closed loopback port: were the key sent, nothing could answer.
    env = clean_environment(ULTRACART_API_KEY=NON_ASCII_KEY, ULTRACART_BASE_URL="http://127.0.0.1:9/rest/v2")
    line = refused_at_start(command, env, tmp_path)
    assert "ULTRACART_API_KEY" in line and "ASCII" in line
    assert "clé" not in line


def test_a_short_bearer_token_is_refused_off_loopback() -> None:
    short = "s" * (MIN_TOKEN_LENGTH - 1)
    with pytest.raises(UsageError) as info:
        check_http_binding("0.0.0.0", short)
    message = str(info.value)
    assert "UC_WORKFLOW_MCP_TOKEN" in message and str(MIN_TOKEN_LENGTH) in message
    assert short not in message and "\n" not in message
    check_http_binding("0.0.0.0", "s" * MIN_TOKEN_LENGTH)
    check_http_binding("127.0.0.1", short)  # loopback needs no token, so any token will do


def test_the_server_refuses_a_short_token_with_one_line(tmp_path: Path) -> None:
    token = "short-token"
    db = str(tmp_path / "db.sqlite3")
    env = clean_environment(UC_WORKFLOW_SANDBOX="1", UC_WORKFLOW_SANDBOX_DB=db, UC_WORKFLOW_MCP_TOKEN=token)
    command = [MCP_SERVER, "--transport", "http", "--host", "0.0.0.0", "--port", "0"]
    line = refused_at_start(command, env, tmp_path)
    assert "UC_WORKFLOW_MCP_TOKEN" in line and token not in line
