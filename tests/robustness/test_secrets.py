"""Secrets: with canary values for every credential, nothing the product shows or logs contains them.

Captured: every log record at every level from every logger (formatted with its arguments and any
exception), stdout and stderr, tool results (structured and text), MCP results, exceptions (message,
repr and traceback with their chain), and the console scripts' output. The UltraCart key is exercised on
happy paths and on error paths, including a 401 for a ``user:`` key (which is then the secret).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import traceback
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from mcp import Client
from mcp.types import TextContent
from robust_support import ROBUST_RETRIES, clean_environment, new_client

from shared_client.client import WorkflowClient
from shared_client.factory import build_backend
from shared_client.pacing import BudgetSpec
from shared_client.retry import RetryPolicy
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.sandbox.wire import error_body
from shared_client.settings import Settings
from shared_client.tools import ToolContext, ToolError, get_tool

OWNER_KEY = "CANARY-UC-KEY-0123456789"
UNKNOWN_USER_KEY = "user:canary-unknown@x"  # the sandbox answers 401: this key is the secret then
SLACK_BOT_TOKEN = "xoxb-CANARY-SLACK-BOT-0123456789"
SLACK_SIGNING_SECRET = "CANARY-SIGNING-SECRET-0123456789"
SLACK_APP_TOKEN = "xapp-CANARY-SLACK-APP-0123456789"
MCP_TOKEN = "CANARY-MCP-TOKEN-0123456789"
OAUTH_TOKEN = "CANARY-OAUTH-TOKEN-0123456789"
SECRET_KEY = (
    "Q0FOQVJZLVVDLVdPUktGTE9XLVNFQ1JFVC1LRVktMDE="  # a Fernet key: b"CANARY-UC-WORKFLOW-SECRET-KEY-01"
)
MEMBER_KEY = "CANARY-MEMBER-KEY-0123456789"  # a Slack member's own key (/task connect); the sandbox's owner
CANARIES = (
    OWNER_KEY, UNKNOWN_USER_KEY, "canary-unknown", SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN,
    MCP_TOKEN, OAUTH_TOKEN, SECRET_KEY, MEMBER_KEY,
)  # fmt: skip
CLI = str(Path(sys.executable).parent / "uc-workflow")
MCP_SERVER = str(Path(sys.executable).parent / "uc-workflow-mcp")
TIMEOUT = 60.0
QUICK = RetryPolicy(
    max_retries=2, max_rate_limit_retries=2, base_delay=0.001, max_delay=0.002,
    rate_limit_base_delay=0.001, rate_limit_max_delay=0.002,
)  # fmt: skip


def assert_clean(where: str, texts: Iterable[str]) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary.lower() not in text.lower(), f"{where} contains a secret ({canary!r}): {text[:500]}"


def exception_texts(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(vars(exc))]
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:  # the whole chain, suppressed or not
        seen.add(id(cause))
        texts += [str(cause), repr(cause), repr(getattr(cause, "body", None))]
        cause = cause.__cause__ or cause.__context__
    return texts


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    out = []
    for record in records:
        out += [record.getMessage(), repr(record.args), formatter.format(record), record.exc_text or ""]
    return out


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at every level into caplog (loggers that set their own level are opened up too)."""
    caplog.set_level(0)
    for name in ["uc_workflow", "server", "slack_bot", "shared_client", "httpx", "httpcore", "mcp",
                 *logging.root.manager.loggerDict]:  # fmt: skip
        caplog.set_level(0, logger=name)
    return caplog


def canary_settings(db: Path, key: str = OWNER_KEY) -> Settings:
    return Settings(
        _env_file=None,
        ultracart_api_key=key,
        uc_workflow_sandbox=True,
        uc_workflow_sandbox_db=db,
        slack_bot_token=SLACK_BOT_TOKEN,
        slack_signing_secret=SLACK_SIGNING_SECRET,
        slack_app_token=SLACK_APP_TOKEN,
        uc_workflow_mcp_token=MCP_TOKEN,
        uc_workflow_secret_key=SECRET_KEY,
    )


def test_settings_never_show_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = canary_settings(tmp_path / "db.sqlite3")
    oauth = Settings(_env_file=None, ultracart_oauth_token=OAUTH_TOKEN)
    for s in (settings, oauth):
        assert_clean(
            "Settings",
            [
                repr(s),
                str(s),
                repr(s.model_dump()),
                s.model_dump_json(),
                json.dumps(s.model_dump(mode="json")),
            ],
        )
    assert set(settings.secrets()) == {
        OWNER_KEY,
        SLACK_BOT_TOKEN,
        SLACK_SIGNING_SECRET,
        SLACK_APP_TOKEN,
        MCP_TOKEN,
        SECRET_KEY,
    }


HAPPY_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_me", {}),
    ("list_assignable_users", {"query": "a"}),
    ("list_assignable_groups", {}),
    ("search_tasks", {"status": "open", "limit": 3}),
    ("count_open_tasks", {}),
    ("list_task_tags", {}),
    ("get_tasks_for_object", {"object_type": "order", "object_id": "DEMO-0001234"}),
    ("get_attachment_upload_url", {"extension": "pdf"}),
]
ERROR_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_task", {"task": "0123456789abcdef0123456789abcdef"}),
    ("get_task", {"task": "#99999999"}),
    ("update_task", {"task": "0123456789abcdef0123456789abcdef", "status": "closed"}),
    ("search_tasks", {"priority": "whenever"}),
    ("create_task", {"name": ""}),
    ("create_task", {"name": "x", "assignee": "nobody-at-all"}),
    ("add_task_note", {"task": "#1", "text": ""}),
    ("attach_file", {"task": "#1", "content_base64": "!!", "file_name": "a.txt"}),
]


async def run_registry(ctx: ToolContext, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    texts: list[str] = []
    for name, args in calls:
        try:
            out = await get_tool(name).run(ctx, args)
        except ToolError as exc:
            texts += exception_texts(exc)
        else:
            texts += [json.dumps(out.to_data()), out.to_text(), repr(out)]
    return texts


async def run_mcp(ctx: ToolContext, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    from server.app import build_server

    texts: list[str] = []
    async with Client(build_server(ctx)) as client:
        texts.append(client.instructions or "")
        for name, args in calls:
            result = await client.call_tool(name, args)
            texts.append(json.dumps(result.structured_content))
            texts += [c.text for c in result.content if isinstance(c, TextContent)]
    return texts


async def test_tools_and_mcp_never_show_the_key(
    everything_logged: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    backend = build_backend(canary_settings(tmp_path / "db.sqlite3"))
    texts: list[str] = []
    async with backend.client:
        ctx = ToolContext(backend.client, sandbox=backend.sandbox, description=backend.description)
        created = await get_tool("create_task").run(ctx, {"name": "Canary task", "note": "n"})
        uuid = created.task.uuid
        writes: list[tuple[str, dict[str, Any]]] = [
            ("get_task", {"task": uuid}),
            ("update_task", {"task": uuid, "priority": "high"}),
            ("add_task_note", {"task": uuid, "text": "another"}),
            ("attach_file", {"task": uuid, "content_base64": "aGVsbG8=", "file_name": "a.txt"}),
        ]
        calls = HAPPY_CALLS + writes + ERROR_CALLS
        texts += await run_registry(ctx, calls)
        texts += await run_mcp(ctx, calls)
    out = capsys.readouterr()
    assert_clean("tool results and errors", texts)
    assert_clean("log records", record_texts(everything_logged.records))
    assert_clean("stdout/stderr", [out.out, out.err])
    assert everything_logged.records, "nothing was logged: the capture is not working"


async def test_a_refused_key_is_never_shown(
    everything_logged: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    backend = build_backend(canary_settings(tmp_path / "db.sqlite3", key=UNKNOWN_USER_KEY))
    calls = [*HAPPY_CALLS, ("create_task", {"name": "x"}), ("add_task_note", {"task": "#1", "text": "n"})]
    async with backend.client:
        ctx = ToolContext(backend.client, sandbox=True)
        texts = await run_registry(ctx, calls)
        texts += await run_mcp(ctx, calls)
        with pytest.raises(ToolError) as refused:
            await get_tool("get_me").run(ctx, {})
    assert "refused the credential" in refused.value.message
    out = capsys.readouterr()
    assert_clean("401 results and errors", texts + exception_texts(refused.value))
    assert_clean("401 log records", record_texts(everything_logged.records))
    assert_clean("401 stdout/stderr", [out.out, out.err])


@pytest.mark.parametrize("kind", ["429", "500", "reset", "timeout"])
async def test_faults_never_show_the_key(
    everything_logged: pytest.LogCaptureFixture, db_path: Path, kind: str
) -> None:
    app = create_app(SandboxConfig(db_path=db_path, rate_limit=None, fault_rate=1.0, fault_kinds=(kind,)))
    async with new_client(app, key=OWNER_KEY, policy=QUICK) as client:
        ctx = ToolContext(client, sandbox=True)
        texts = await run_registry(
            ctx, [("get_me", {}), ("create_task", {"name": "x"}), ("count_open_tasks", {})]
        )
    assert_clean(f"{kind} errors", texts)
    assert_clean(f"{kind} log records", record_texts(everything_logged.records))
    assert ROBUST_RETRIES  # the suite's usual policy is not needed here: QUICK keeps this test short


class RevocableTransport(httpx.AsyncBaseTransport):
    """UltraCart that refuses every key with 401 once ``revoked`` (a member deleted their key)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.revoked = inner, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.revoked:
            return httpx.Response(401, json=error_body(401, "Invalid credentials"))
        return await self.inner.handle_async_request(request)


def database_bytes(directory: Path) -> bytes:
    """The SQLite file and its journals, as they are on disk."""
    return b"".join(p.read_bytes() for p in directory.glob("slack.sqlite3*"))


async def test_a_connected_key_is_never_shown_nor_readable_from_the_database(
    everything_logged: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    db_path: Path,
    tmp_path: Path,
) -> None:
    """A Slack member's own key (slack_bot.keys): verified, stored, read back, used for every tool, then
    refused by UltraCart; in no result, error or log line, and not in the database file."""
    from slack_bot.keys import KeyVault, MemberKeys
    from slack_bot.store import open_database, sqlite_url

    transport = RevocableTransport(
        SandboxTransport(create_app(SandboxConfig(db_path=db_path, rate_limit=None)))
    )

    def client_for(key: str) -> WorkflowClient:
        return WorkflowClient(
            api_key=key, base_url="http://sandbox.test/rest/v2", transport=transport,
            gate_key=uuid.uuid4().hex, budget=BudgetSpec.none(), retry_policy=QUICK,
        )  # fmt: skip

    file = tmp_path / "slack.sqlite3"
    database = await open_database(sqlite_url(file))
    texts: list[str] = []
    try:
        members = MemberKeys(KeyVault(database, SECRET_KEY), client_for, sandbox=True)
        user = await members.verify(MEMBER_KEY)
        texts += [repr(user), repr(await members.vault.save("T1", "U1", MEMBER_KEY, user))]
        member = await members.vault.get("T1", "U1")
        assert member is not None and member.key == MEMBER_KEY
        texts.append(repr(member))
        base = ToolContext(client_for("workspace-key-not-a-canary"), sandbox=True)
        async with members.lease(member, base) as ctx:
            texts += await run_registry(ctx, HAPPY_CALLS + ERROR_CALLS)
            transport.revoked = True
            with pytest.raises(ToolError) as refused:
                await get_tool("search_tasks").run(ctx, {"limit": 1})
            texts += exception_texts(refused.value)
        assert await members.vault.mark_failed(member)
        await members.aclose()
        await base.client.aclose()
        assert await KeyVault(database, Fernet.generate_key().decode()).get("T1", "U1") is None
    finally:
        await database.aclose()
    out = capsys.readouterr()
    assert_clean("a connected key's results and errors", texts)
    assert_clean("a connected key's log records", record_texts(everything_logged.records))
    assert_clean("a connected key's stdout/stderr", [out.out, out.err])
    raw = database_bytes(tmp_path)
    assert MEMBER_KEY.encode() not in raw and SECRET_KEY.encode() not in raw


# --------------------------------------------------------------------------- console scripts


def canary_env(db: Path, key: str = OWNER_KEY) -> dict[str, str]:
    return clean_environment(
        ULTRACART_API_KEY=key,
        UC_WORKFLOW_SANDBOX="1",
        UC_WORKFLOW_SANDBOX_DB=str(db),
        SLACK_BOT_TOKEN=SLACK_BOT_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SIGNING_SECRET,
        SLACK_APP_TOKEN=SLACK_APP_TOKEN,
        UC_WORKFLOW_MCP_TOKEN=MCP_TOKEN,
        UC_WORKFLOW_SECRET_KEY=SECRET_KEY,
    )


@pytest.mark.parametrize(
    ("key", "tool", "args", "code"),
    [
        (OWNER_KEY, "get_me", {}, 0),
        (OWNER_KEY, "search_tasks", {"status": "open", "limit": 2}, 0),
        (OWNER_KEY, "get_task", {"task": "#99999999"}, 1),
        (OWNER_KEY, "search_tasks", {"priority": "whenever"}, 1),
        (UNKNOWN_USER_KEY, "get_me", {}, 1),
        (UNKNOWN_USER_KEY, "create_task", {"name": "x"}, 1),
    ],
)
def test_the_cli_never_shows_a_secret(
    db_path: Path, tmp_path: Path, key: str, tool: str, args: dict[str, Any], code: int
) -> None:
    done = subprocess.run(
        [CLI, "call", tool, json.dumps(args)],
        env=canary_env(db_path, key),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == code, done.stderr
    assert_clean(f"uc-workflow call {tool} output", [done.stdout, done.stderr])


INITIALIZE = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "canary", "version": "0"},
}


def mcp_stdio_session(
    env: dict[str, str], cwd: Path, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[str, str]:
    """Drive ``uc-workflow-mcp --log-level DEBUG`` over stdio with raw JSON-RPC; returns (stdout, stderr)."""
    process = subprocess.Popen(
        [MCP_SERVER, "--log-level", "DEBUG"],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    stdout: list[str] = []
    stderr: list[str] = []

    def pump_out() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stdout.append(line)
            lines.put(line)
        lines.put(None)

    def pump_err() -> None:
        assert process.stderr is not None
        stderr.extend(process.stderr)

    threads = [threading.Thread(target=pump_out, daemon=True), threading.Thread(target=pump_err, daemon=True)]
    for thread in threads:
        thread.start()

    def send(message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()

    def answer(request_id: int) -> dict[str, Any]:
        while True:
            line = lines.get(timeout=TIMEOUT)
            assert line is not None, f"server exited early: {''.join(stderr)[-2000:]}"
            message = json.loads(line)
            if message.get("id") == request_id:
                return dict(message)

    try:
        send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INITIALIZE})
        answer(0)
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        for i, (name, args) in enumerate(calls, start=1):
            send(
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "tools/call",
                    "params": {"name": name, "arguments": args},
                }
            )
            answer(i)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for thread in threads:
            thread.join(timeout=TIMEOUT)
    return "".join(stdout), "".join(stderr)


@pytest.mark.parametrize("key", [OWNER_KEY, UNKNOWN_USER_KEY], ids=["owner", "refused"])
def test_the_stdio_mcp_server_never_shows_a_secret(db_path: Path, tmp_path: Path, key: str) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_me", {}),
        ("search_tasks", {"status": "open", "limit": 2}),
        ("create_task", {"name": "Canary over stdio"}),
        ("get_task", {"task": "#99999999"}),
        ("search_tasks", {"priority": "whenever"}),
    ]
    out, err = mcp_stdio_session(canary_env(db_path, key), tmp_path, calls)
    assert out.strip() and " DEBUG " in err, "expected protocol on stdout and DEBUG logs on stderr"
    assert_clean("uc-workflow-mcp stdout", [out])
    assert_clean("uc-workflow-mcp stderr", [err])


def test_the_capture_would_catch_a_leak(everything_logged: pytest.LogCaptureFixture) -> None:
    """Guard against a vacuous pass: a canary logged at DEBUG by a library logger is seen."""
    logging.getLogger("httpcore.http11").debug(
        "send_request_headers %s", {"x-ultracart-simple-key": OWNER_KEY}
    )
    with pytest.raises(AssertionError, match="contains a secret"):
        assert_clean("log records", record_texts(everything_logged.records))


def test_the_canaries_are_not_in_this_process_environment() -> None:
    """Guard: the canaries come only from these tests, so a hit above is a real leak."""
    assert_clean("os.environ", [json.dumps(dict(os.environ))])
