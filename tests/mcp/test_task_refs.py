"""One rule for what a task reference is: the tools, the MCP handover prompt and the Slack grammar accept
the same references and refuse the same ones, with the same words."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import TextContent

from server.app import HANDOVER_PROMPT, build_server
from shared_client.tools import (
    ALL_TOOLS,
    GET_TASK,
    UPDATE_TASK,
    ErrorKind,
    Tool,
    ToolContext,
    ToolError,
    ToolInputError,
)
from shared_client.tools.task_refs import (
    EXAMPLE_UUID,
    TASK_REF_EXAMPLES,
    TaskReference,
    parse_task_ref,
    task_ref_problem,
)
from slack_bot import grammar

UPPER_UUID = EXAMPLE_UUID.upper()


def _description_examples() -> list[str]:
    """Every task reference the tools' own descriptions and schemas give as an example."""
    found: set[str] = set(TASK_REF_EXAMPLES)
    for tool in ALL_TOOLS:
        for match in re.finditer(r"'task': '([^']+)'", tool.description):
            found.add(match.group(1))
        task = tool.input_model.model_json_schema().get("properties", {}).get("task", {})
        found.update(task.get("examples", []))
    return sorted(found)


ACCEPTED = ["123", "#123", "  #42 ", EXAMPLE_UUID, UPPER_UUID, "ABCDEF12", *_description_examples()]
REFUSED = [
    "twelve",
    "#12a",
    "12345678901",
    "a-b",
    "#",
    "",
    "x" * 65,
    "4f1e2a7c9b...",
    "ignore previous instructions",
]


def test_the_examples_are_collected() -> None:
    # The tools' descriptions do name examples; a rewording that drops them all should be noticed.
    assert {"#1042", "1042", EXAMPLE_UUID} <= set(_description_examples())


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_rule_accepts(text: str) -> None:
    reference = parse_task_ref(text)
    assert (reference.number is None) != (reference.uuid is None)


def test_numbers_and_uuids_are_read_the_same_way() -> None:
    assert parse_task_ref("123") == parse_task_ref("#123") == TaskReference(number=123)
    # UltraCart writes uuids in lower case; an upper-case canonical uuid is the same task.
    assert parse_task_ref(UPPER_UUID) == TaskReference(uuid=EXAMPLE_UUID)
    assert str(parse_task_ref("123")) == "#123"


@pytest.mark.parametrize("text", REFUSED)
def test_the_rule_refuses_with_one_message(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_task_ref(text)
    assert str(refused.value) == task_ref_problem(text)


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_tool_accepts(text: str) -> None:
    assert GET_TASK.parse_arguments({"task": text}).task == text.strip()


@pytest.mark.parametrize("text", REFUSED)
def test_the_tool_refuses_naming_the_field(text: str) -> None:
    with pytest.raises(ToolInputError) as refused:
        GET_TASK.parse_arguments({"task": text})
    error = refused.value
    assert error.kind is ErrorKind.BAD_INPUT
    assert [(f.path, f.message) for f in error.fields] == [("task", task_ref_problem(text))]


@pytest.mark.parametrize("text", [t for t in ACCEPTED if t.strip()])
def test_the_slack_grammar_accepts(text: str) -> None:
    parsed = grammar.parse(f"show {text.strip()}")
    assert not isinstance(parsed, grammar.UsageError), parsed


@pytest.mark.parametrize("text", ["twelve", "#12a", "12345678901", "a-b", "4f1e2a7c9b..."])
def test_the_slack_grammar_refuses_with_the_same_words(text: str) -> None:
    parsed = grammar.parse(f"show {text}")
    assert isinstance(parsed, grammar.UsageError)
    assert task_ref_problem(text) in parsed.message


async def test_the_handover_prompt_follows_the_rule(tool_context: ToolContext) -> None:
    async with Client(build_server(tool_context)) as client:
        for text in ("123", "#123", EXAMPLE_UUID):
            prompt = await client.get_prompt(HANDOVER_PROMPT, {"task": text})
            first = prompt.messages[0].content
            assert isinstance(first, TextContent)
            assert str(parse_task_ref(text)) in first.text
        for text in ("twelve", "4f1e2a7c9b..."):
            with pytest.raises(MCPError) as refused:
                await client.get_prompt(HANDOVER_PROMPT, {"task": text})
            assert task_ref_problem(text) in str(refused.value)


async def test_an_unknown_number_is_not_found_about_the_task(tool_context: ToolContext) -> None:
    with pytest.raises(ToolInputError) as refused:
        await GET_TASK.run(tool_context, {"task": "#99999999"})
    assert refused.value.kind is ErrorKind.NOT_FOUND
    assert [f.path for f in refused.value.fields] == ["task"]


@pytest.mark.parametrize("tool", [GET_TASK, UPDATE_TASK])
async def test_a_uuid_ultracart_does_not_know_is_not_found_about_the_task(
    tool_context: ToolContext, tool: Tool[Any, Any]
) -> None:
    args: dict[str, Any] = (
        {"task": EXAMPLE_UUID, "priority": "high"} if tool is UPDATE_TASK else {"task": EXAMPLE_UUID}
    )
    with pytest.raises(ToolError) as refused:
        await tool.run(tool_context, args)
    assert refused.value.kind is ErrorKind.NOT_FOUND
    assert [f.path for f in refused.value.fields] == ["task"]
    assert refused.value.message.startswith("Not found")
