"""The official MCP conformance suite (@modelcontextprotocol/conformance) against
``uc-workflow-mcp --transport http``, and the MCP Inspector CLI against the stdio server.

Needs node and npm (CI has them); node_modules are installed from conformance/package-lock.json on first
use. On Node 20 the suite runs through conformance/node20-compat (see conformance/run_conformance.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from conformance.run_conformance import (  # noqa: E402
    DEFAULT_SCENARIOS,
    run_conformance,
    run_inspector_cli,
    serve_http,
)
from shared_client.tools import ALL_TOOLS, select_tools  # noqa: E402

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None, reason="node and npm are needed"
)

SERVER_COMMAND = str(Path(sys.executable).parent / "uc-workflow-mcp")


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    db = tmp_path_factory.mktemp("conformance") / "sandbox.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("ULTRACART_") or key == "UC_WORKFLOW_MCP_TOKEN":
                patch.delenv(key)
        patch.chdir(db.parent)
        yield {"UC_WORKFLOW_SANDBOX": "1", "UC_WORKFLOW_SANDBOX_DB": str(db)}


@pytest.fixture(scope="module")
def server_url(server_env: dict[str, str]) -> Iterator[str]:
    command = [SERVER_COMMAND, "--transport", "http", "--host", "{host}", "--port", "{port}"]
    with serve_http(command, env=server_env) as url:
        yield url


@pytest.mark.parametrize("scenario", DEFAULT_SCENARIOS)
def test_conformance_scenario(server_url: str, scenario: str) -> None:
    report = run_conformance(server_url, [scenario])
    assert report.all_passed, report.summary() + "\n" + report.output


def test_inspector_cli_lists_the_tools(server_env: dict[str, str]) -> None:
    listed = run_inspector_cli([SERVER_COMMAND], "tools/list", env=server_env)
    tools = {t["name"]: t for t in listed["tools"]}
    assert set(tools) == {t.name for t in ALL_TOOLS}
    for tool in ALL_TOOLS:
        hints = tools[tool.name]["annotations"]
        assert hints["readOnlyHint"] is tool.hints.read_only
        assert hints["destructiveHint"] is tool.hints.destructive
        assert hints["idempotentHint"] is tool.hints.idempotent
        assert hints["openWorldHint"] is tool.hints.open_world
        assert tools[tool.name]["outputSchema"]["type"] == "object"

    read_only = run_inspector_cli([SERVER_COMMAND, "--read-only"], "tools/list", env=server_env)
    assert {t["name"] for t in read_only["tools"]} == {t.name for t in select_tools(read_only=True)}


def test_inspector_cli_calls_tools(server_env: dict[str, str]) -> None:
    counted = run_inspector_cli(
        [SERVER_COMMAND], "tools/call", ["--tool-name", "count_open_tasks"], env=server_env
    )
    assert not counted.get("isError")
    assert isinstance(counted["structuredContent"]["open_count"], int)

    found = run_inspector_cli(
        [SERVER_COMMAND],
        "tools/call",
        ["--tool-name", "search_tasks", "--tool-arg", "status=open", "--tool-arg", "limit=2"],
        env=server_env,
    )
    assert not found.get("isError"), found
    assert found["structuredContent"]["count"] == 2

    failed = run_inspector_cli(
        [SERVER_COMMAND],
        "tools/call",
        ["--tool-name", "get_task", "--tool-arg", "task=#99999999"],
        env=server_env,
    )
    assert failed["isError"] is True
