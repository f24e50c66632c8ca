"""``uc-workflow``, the registry from a shell, as a subprocess on the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared_client.tools import ALL_TOOLS

CLI = str(Path(sys.executable).parent / "uc-workflow")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ULTRACART_") and k != "UC_WORKFLOW_SANDBOX_DB"
    }
    return {**clean, "UC_WORKFLOW_SANDBOX": "1", "UC_WORKFLOW_SANDBOX_DB": str(tmp_path / "sandbox.sqlite3")}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        env=env,
        cwd=Path(env["UC_WORKFLOW_SANDBOX_DB"]).parent,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tools_lists_every_tool(env: dict[str, str]) -> None:
    done = run(env, "tools")
    assert done.returncode == 0, done.stderr
    rows = done.stdout.strip().splitlines()[1:]
    assert [row.split()[0] for row in rows] == [t.name for t in ALL_TOOLS]
    for row, tool in zip(rows, ALL_TOOLS, strict=True):
        _, read_only, toolset, *title = row.split()
        assert (read_only, toolset, " ".join(title)) == (
            "yes" if tool.read_only else "no",
            tool.toolset,
            tool.title,
        )


def test_tools_json(env: dict[str, str]) -> None:
    done = run(env, "tools", "--json")
    listed = json.loads(done.stdout)
    assert [t["name"] for t in listed] == [t.name for t in ALL_TOOLS]
    assert {"name", "read_only", "toolset", "title"} == set(listed[0])


def test_call_prints_the_structured_result(env: dict[str, str]) -> None:
    done = run(env, "call", "search_tasks", '{"status": "open", "limit": 2}')
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["count"] == 2 and len(data["tasks"]) == 2

    created = run(
        env, "--sandbox", "call", "create_task", "-", stdin='{"name": "From the shell", "priority": "2"}'
    )
    assert created.returncode == 0, created.stderr
    number = json.loads(created.stdout)["task"]["number"]
    got = run(env, "call", "get_task", json.dumps({"task": f"#{number}"}), "--sandbox")
    assert json.loads(got.stdout)["task"]["priority"] == "medium"


def test_call_with_no_arguments(env: dict[str, str]) -> None:
    done = run(env, "call", "count_open_tasks")
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout)["open_count"], int)


def test_tool_failure_exits_1_with_the_message(env: dict[str, str]) -> None:
    done = run(env, "call", "get_task", '{"task": "#99999999"}')
    assert done.returncode == 1
    assert done.stdout == ""
    assert "#99999999" in done.stderr and "Traceback" not in done.stderr

    invalid = run(env, "call", "search_tasks", '{"priority": "whenever"}')
    assert invalid.returncode == 1
    assert "priority" in invalid.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["call", "launch_rockets", "{}"], "unknown tool 'launch_rockets'"),
        (["call", "get_me", "{not json"], "not valid JSON"),
        (["call", "get_me", "[1, 2]"], "must be a JSON object"),
    ],
)
def test_usage_errors_exit_2_with_one_line(env: dict[str, str], args: list[str], expected: str) -> None:
    done = run(env, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_help(env: dict[str, str]) -> None:
    done = run(env, "--help")
    assert done.returncode == 0
    assert "tools" in done.stdout and "call" in done.stdout and "--sandbox" in done.stdout


def test_importable_without_mcp_or_slack() -> None:
    code = (
        "import sys\n"
        "for name in ('mcp', 'slack_sdk', 'slack_bolt'):\n"
        "    sys.modules[name] = None  # any import of them now fails\n"
        "import shared_client.cli\n"
        "from shared_client.tools import ALL_TOOLS\n"
        "print(len(ALL_TOOLS))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(ALL_TOOLS))
