"""Proves the conformance tooling against conformance/demo_server.py.

Run: /work/venv/bin/python -m pytest conformance/test_conformance_demo.py
(Not under the project's testpaths; the real server's tests should copy this pattern.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from conformance.run_conformance import (
    DEFAULT_SCENARIOS,
    DEMO_SERVER,
    demo_server_command,
    run_conformance,
    run_inspector_cli,
    serve_http,
)

STDIO = [sys.executable, str(DEMO_SERVER), "--transport", "stdio"]


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with serve_http(demo_server_command()) as url:
        yield url


@pytest.mark.parametrize("scenario", DEFAULT_SCENARIOS)
def test_scenario_passes(demo_url: str, scenario: str) -> None:
    report = run_conformance(demo_url, [scenario])
    assert report.passed == {scenario: True}, report.summary() + "\n" + report.output


def test_alias_initialize_runs_server_initialize(demo_url: str) -> None:
    report = run_conformance(demo_url, ["initialize"])
    assert report.results["initialize"].scenario == "server-initialize"
    assert report.all_passed, report.output


def test_unknown_scenario_is_a_failure_not_a_crash(demo_url: str) -> None:
    report = run_conformance(demo_url, ["no-such-scenario"])
    assert report.passed == {"no-such-scenario": False}
    assert report.results["no-such-scenario"].exit_code != 0


def test_inspector_lists_tools() -> None:
    result = run_inspector_cli(STDIO, "tools/list")
    (tool,) = result["tools"]
    assert tool["name"] == "add"
    assert tool["annotations"] == {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False}
    assert tool["outputSchema"]["required"] == ["total", "expression"]


def test_inspector_calls_tool() -> None:
    args = ["--tool-name", "add", "--tool-arg", "a=2", "--tool-arg", "b=40"]
    result = run_inspector_cli(STDIO, "tools/call", args)
    assert result["isError"] is False
    assert result["structuredContent"] == {"total": 42, "expression": "2 + 40"}


def test_inspector_prompt_and_template() -> None:
    prompt = run_inspector_cli(
        STDIO, "prompts/get", ["--prompt-name", "trip_plan", "--prompt-args", "city=Paris"]
    )
    assert prompt["messages"][0]["content"]["text"] == "Plan a three-day trip to Paris."
    templates = run_inspector_cli(STDIO, "resources/templates/list")
    assert [t["uriTemplate"] for t in templates["resourceTemplates"]] == ["demo://weather/{city}"]
    read = run_inspector_cli(STDIO, "resources/read", ["--uri", "demo://weather/oslo"])
    assert read["contents"][0]["text"] == "Weather for oslo: sunny, 21C"


def test_inspector_tool_error_is_returned_not_raised() -> None:
    result = run_inspector_cli(STDIO, "tools/call", ["--tool-name", "nope"])
    assert result["isError"] is True
