"""The commands' main() in process (their subprocess tests do not count for coverage): exit codes, what
goes to stdout and stderr, and what each builds from its options."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared_client import cli as uc_cli
from shared_client.tools import ALL_TOOLS


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """main() configures logging for a process; put the test process's back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """On the sandbox, never UltraCart; no settings from this machine (run from an empty directory)."""
    for key in list(os.environ):
        if key.startswith(("ULTRACART_", "UC_WORKFLOW_", "SLACK_")):
            monkeypatch.delenv(key)
    db = tmp_path / "sandbox.sqlite3"
    monkeypatch.setenv("UC_WORKFLOW_SANDBOX", "1")
    monkeypatch.setenv("UC_WORKFLOW_SANDBOX_DB", str(db))
    monkeypatch.setenv("UC_WORKFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return db


def _one_line(err: str, prog: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: "), err
    return lines[0]


# --------------------------------------------------------------------------- uc-workflow


def test_uc_workflow_lists_the_tools(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert uc_cli.main(["tools", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == [t.name for t in ALL_TOOLS]


def test_uc_workflow_calls_a_tool(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert uc_cli.main(["call", "search_tasks", '{"status": "open", "limit": 2}']) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 2


def test_uc_workflow_tool_failure_is_1_and_data(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert uc_cli.main(["call", "get_task", '{"task": "#99999999"}']) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["error"]["kind"] == "not_found"
    assert "#99999999" in _one_line(err, "uc-workflow")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["call", "launch_rockets", "{}"], "unknown tool 'launch_rockets'"),
        (["call", "get_me", "{not json"], "not valid JSON"),
        (["call", "get_me", "[1, 2]"], "must be a JSON object"),
    ],
)
def test_uc_workflow_usage_errors_are_2(
    sandbox: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    assert uc_cli.main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and expected in _one_line(err, "uc-workflow")


# --------------------------------------------------------------------------- uc-workflow-mcp


class Built(Exception):
    """Stops serve() once the server is built: what it was built with is the test's."""


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import server.app

    seen: list[dict[str, Any]] = []

    def capture(context: Any, **options: Any) -> Any:
        seen.append({"context": context, **options})
        raise Built

    monkeypatch.setattr(server.app, "build_server", capture)
    return seen


@pytest.mark.parametrize(
    ("transport", "local_files"),
    [(["--transport", "http"], False), ([], True), (["--transport", "stdio"], True)],
)
def test_mcp_reads_local_files_only_over_stdio(
    sandbox: Path, built: list[dict[str, Any]], transport: list[str], local_files: bool
) -> None:
    from server.cli import main

    with pytest.raises(Built):
        main([*transport, "--read-only", "--toolsets", "tasks"])
    [made] = built
    assert made["context"].allow_local_files is local_files
    assert made["context"].sandbox is True
    assert (made["read_only"], made["toolsets"]) == (True, ["tasks"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--transport", "http", "--host", "0.0.0.0"], "UC_WORKFLOW_MCP_TOKEN"),
        (["--transport", "http", "--host", "192.0.2.10"], "not a loopback address"),
        (["--toolsets", "tasks,billing"], "unknown toolset 'billing'"),
    ],
)
def test_mcp_misconfiguration_is_2_before_anything_is_built(
    sandbox: Path,
    built: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    from server.cli import main

    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and expected in _one_line(err, "uc-workflow-mcp")
    assert built == []


def test_mcp_help(capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "--transport" in capsys.readouterr().out


# --------------------------------------------------------------------------- uc-workflow-slack


def test_slack_without_its_tokens_is_2_naming_them(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from slack_bot.cli import main

    assert main([]) == 2
    line = _one_line(capsys.readouterr().err, "uc-workflow-slack")
    assert "SLACK_BOT_TOKEN" in line and "SLACK_SIGNING_SECRET" in line


def test_slack_help(capsys: pytest.CaptureFixture[str]) -> None:
    from slack_bot.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "--database-url" in capsys.readouterr().out
