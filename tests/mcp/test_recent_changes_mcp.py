"""list_recent_changes through a real MCP client (served read-only, answering, with the change feed of the
server's ToolContext and of each caller's under ``--credentials per-request``), and ``server.changes``: the
change log the server reads, on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import TextContent

from server.app import build_server
from server.changes import RETRY_AFTER, DatabaseChangeLog, change_log_for
from server.per_request import CallerContexts
from shared_client.database import Database, open_database, sqlite_url
from shared_client.feed.events import Change, ChangeKind, RecentChanges
from shared_client.models import WorkflowTasksRequest
from shared_client.settings import Settings
from shared_client.tools import ToolContext, get_tool
from tests.change_logs import HandMadeChangeLog
from tests.conftest import MakeClient, free_port

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def test_served_as_read_only_and_answers(tool_context: ToolContext) -> None:
    async with Client(build_server(tool_context, read_only=True)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("list_recent_changes", {"since": "60 days ago", "limit": 5})
        refused = await client.call_tool("list_recent_changes", {"since": "soon"})
    served = listed["list_recent_changes"]
    assert served.annotations is not None and served.annotations.read_only_hint is True
    assert served.annotations.destructive_hint is False and "since" in served.input_schema["properties"]
    assert not result.is_error
    data = result.structured_content
    assert isinstance(data, dict) and data["count"] == 5 and data["has_more"] is True
    assert all(t["changes_source"] == "history" and t["changes"] for t in data["tasks"])
    text = "\n".join(c.text for c in result.content if isinstance(c, TextContent))
    assert "5 task(s) of" in text and "changed since" in text
    assert refused.is_error
    message = "\n".join(c.text for c in refused.content if isinstance(c, TextContent))
    assert "since: " in message and "24 hours ago" in message and "\n" not in message


async def test_the_servers_change_feed_answers_through_mcp(tool_context: ToolContext) -> None:
    args = {"since": "60 days ago", "limit": 1, "detail": True}
    (task,) = (await get_tool("list_recent_changes").run(tool_context, args)).to_data()["tasks_detail"]
    uuid, seen = task["uuid"], task["updated"]
    log = HandMadeChangeLog(
        {uuid: [Change(uuid, ChangeKind.PRIORITY, seen, {"was": "2 - medium", "to": "3 - high"})]},
        watching_since=datetime(2020, 1, 1, tzinfo=UTC),
        polled_at=datetime.now(UTC),
    )
    context = ToolContext(tool_context.client, sandbox=True, description="the sandbox", change_log=log)
    async with Client(build_server(context)) as client:
        result = await client.call_tool("list_recent_changes", {"since": "60 days ago", "limit": 500})
    data = result.structured_content
    assert isinstance(data, dict) and data["complete"] is True
    fed = [t for t in data["tasks"] if t["changes_source"] == "feed"]
    assert len(fed) == 1 and fed[0]["changes"][0].endswith("priority: 2 - medium → 3 - high")


async def test_each_caller_reads_the_feed_with_their_own_key(make_client: MakeClient) -> None:
    log = HandMadeChangeLog({}, watching_since=datetime(2020, 1, 1, tzinfo=UTC), polled_at=datetime.now(UTC))
    callers = CallerContexts(
        lambda key: make_client(key=key).client, sandbox=True, description="the sandbox", change_log=log
    )
    alice = await callers.acquire("user:alice@demo.example")
    sam = await callers.acquire("user:sam@demo.example")
    try:
        assert alice.change_log is log and sam.change_log is log
        for context in (alice, sam):
            await get_tool("list_recent_changes").run(context, {"since": "60 days ago", "limit": 3})
    finally:
        callers.release(alice)
        callers.release(sam)
    assert [fingerprint for fingerprint, _, _ in log.asked] == [
        alice.client.fingerprint,
        sam.client.fingerprint,
    ]
    assert alice.client.fingerprint != sam.client.fingerprint


# --------------------------------------------------------------------------- server.changes


class SelectStore:
    """A store that reads the database for real (one SELECT), standing in for the feed's FeedStore."""

    made = 0

    def __init__(self, database: Database) -> None:
        type(self).made += 1
        self.database = database

    async def changes_since(
        self, fingerprint: str, task_uuids: Sequence[str], since: datetime
    ) -> RecentChanges | None:
        from sqlalchemy import text

        async with self.database.connect() as connection:
            answer = (await connection.execute(text("SELECT 41 + 1"))).scalar_one()
        return RecentChanges({"answer": []} if answer == 42 else {}, since, since + timedelta(minutes=1))


@pytest.fixture(autouse=True)
def _count_stores() -> None:
    SelectStore.made = 0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def settings_on(url: str) -> Settings:
    return Settings(uc_workflow_database_url=url)


async def test_the_feed_of_the_deployment_says_what_changed(make_client: MakeClient, tmp_path: Path) -> None:
    """The change feed (as the Slack bot runs it) writes to the deployment's database; the MCP server's
    list_recent_changes reads it there, through the default store, and says what changed."""
    from shared_client.feed.poller import ChangeFeed
    from shared_client.feed.store import FeedStore
    from shared_client.models import Priority

    url = sqlite_url(tmp_path / "slack.sqlite3")
    owner, alice = make_client().client, make_client(key="user:alice@demo.example").client
    database = await open_database(url)
    try:
        feed = ChangeFeed(owner, FeedStore(database), interval=60)
        await feed.poll()  # the baseline
        task = (await owner.search_tasks(WorkflowTasksRequest(status="open"), limit=1)).tasks[0]  # type: ignore[index]
        uuid = task.workflow_task_uuid or ""
        full = (await alice.get_task(uuid)).task
        assert full is not None
        full.priority = Priority.CRITICAL if full.priority != Priority.CRITICAL else Priority.LOW
        await alice.update_task(uuid, full)
        await feed.poll()
    finally:
        await database.aclose()
    log = change_log_for(settings_on(url))
    assert isinstance(log, DatabaseChangeLog)
    context = ToolContext(owner, sandbox=True, description="the sandbox", change_log=log)
    async with Client(build_server(context)) as client:
        result = await client.call_tool("list_recent_changes", {"since": "1 minute ago", "limit": 500})
    data = result.structured_content
    assert isinstance(data, dict) and data["complete"] is True
    (row,) = [t for t in data["tasks"] if t["number"] == task.global_task_number]
    assert row["changes_source"].startswith("feed")
    assert any("priority:" in line and str(full.priority) in line for line in row["changes"])


async def test_an_sqlite_file_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "slack.sqlite3"
    log = change_log_for(settings_on(sqlite_url(path)), SelectStore)
    assert isinstance(log, DatabaseChangeLog)
    assert await log.changes_since("fp", ["u"], NOW) is None
    assert not path.exists() and SelectStore.made == 0

    database = await open_database(sqlite_url(path))  # the Slack bot creates it
    await database.aclose()
    found = await log.changes_since("fp", ["u"], NOW)
    assert found is not None and found.changes == {"answer": []} and SelectStore.made == 1


async def test_on_postgresql(postgres_url: str) -> None:
    log = change_log_for(settings_on(postgres_url), SelectStore)
    assert log is not None
    found = await log.changes_since("fp", ["u"], NOW)
    assert found is not None and found.changes == {"answer": []}


async def test_a_database_that_fails_is_one_log_line_then_a_rest(caplog: pytest.LogCaptureFixture) -> None:
    password = "CANARY-DB-PASSWORD-81726354"
    url = f"postgresql+asyncpg://feed:{password}@127.0.0.1:{free_port()}/feed"
    clock = Clock()
    log = DatabaseChangeLog(url, SelectStore, clock=clock)
    caplog.set_level(logging.INFO, logger="server.changes")
    assert await log.changes_since("fp", ["u"], NOW) is None
    assert await log.changes_since("fp", ["u"], NOW) is None  # resting: not asked again
    assert SelectStore.made == 1
    clock.now += RETRY_AFTER + 1
    assert await log.changes_since("fp", ["u"], NOW) is None
    assert SelectStore.made == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "server.changes"]
    assert len(lines) == 1, lines
    assert "cannot read the change feed" in lines[0] and "***" in lines[0] and password not in caplog.text


async def test_a_url_this_project_cannot_use_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    password = "CANARY-DB-PASSWORD-5551212"
    caplog.set_level(logging.WARNING, logger="server.changes")
    log = change_log_for(settings_on(f"mysql://feed:{password}@db.example/feed"), SelectStore)
    assert await log.changes_since("fp", ["u"], NOW) is None
    assert await log.changes_since("fp", ["u"], NOW) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "server.changes"]
    assert len(lines) == 1 and "UC_WORKFLOW_DATABASE_URL" in lines[0] and password not in caplog.text


def test_the_server_starts_without_sqlalchemy() -> None:
    """SQLAlchemy costs a fifth of the MCP server's start: imported at the first question, not before."""
    import subprocess
    import sys

    code = (
        "import sys, server.cli, server.changes\n"
        "from shared_client.settings import Settings\n"
        "server.changes.change_log_for(Settings())\n"
        "assert 'sqlalchemy' not in sys.modules, 'imported at start'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
