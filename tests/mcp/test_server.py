"""The MCP server in memory (``mcp.Client(server)``) on the sandbox, in both protocol modes: it serves
exactly the registry's tools with their hints, calls each one (happy and error path), and offers the
task resource template, the prompts and their completions."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference, ResourceTemplateReference, TextContent, TextResourceContents

from server.app import (
    ERROR_META,
    HANDOVER_PROMPT,
    TASK_URI_TEMPLATE,
    TRIAGE_PROMPT,
    RegistryTool,
    build_server,
)
from shared_client.tools import (
    ALL_TOOLS,
    TOOLSETS,
    ErrorKind,
    Hints,
    Tool,
    ToolContext,
    get_tool,
    select_tools,
)
from shared_client.tools.base import InputModel, OutputModel

MODES = ["auto", "legacy"]


@dataclass(frozen=True)
class Facts:
    """Things the seeded sandbox holds that the calls need."""

    task_uuid: str
    task_number: int
    object_type: str
    object_id: str


@pytest.fixture
async def facts(tool_context: ToolContext) -> Facts:
    found = (await get_tool("search_tasks").run(tool_context, {"limit": 50, "detail": True})).to_data()
    task = next(t for t in found["tasks_detail"] if t.get("object", {}).get("id"))
    return Facts(task["uuid"], task["number"], task["object"]["type"], task["object"]["id"])


Args = Callable[[Facts], dict[str, Any]]

# tool -> (happy-path arguments, error-path arguments)
CASES: dict[str, tuple[Args, Args]] = {
    "get_me": (lambda f: {}, lambda f: {"user": "someone"}),
    "list_assignable_users": (lambda f: {}, lambda f: {"query": "x" * 1000}),
    "list_assignable_groups": (lambda f: {"query": ""}, lambda f: {"name": "Fraud"}),
    "search_tasks": (
        lambda f: {"assignee": "me", "status": "open", "sort": "-priority", "limit": 5},
        lambda f: {"priority": "whenever"},
    ),
    "list_recent_changes": (
        lambda f: {"since": "60 days ago", "assignee": "me", "limit": 5},
        lambda f: {"since": "whenever"},
    ),
    "get_task": (lambda f: {"task": f"#{f.task_number}"}, lambda f: {"task": "#99999999"}),
    "get_tasks_for_object": (
        lambda f: {"object_type": f.object_type, "object_id": f.object_id},
        lambda f: {"object_type": "invoice", "object_id": "1"},
    ),
    "create_task": (
        lambda f: {"name": "Call the customer about the refund", "priority": "high", "assignee": "me"},
        lambda f: {"name": "Orphan", "assignee": "Nobody Of That Name"},
    ),
    "update_task": (
        lambda f: {"task": f.task_uuid, "priority": "critical"},
        lambda f: {"task": "#99999999", "priority": "high"},
    ),
    "add_task_note": (
        lambda f: {"task": f.task_uuid, "text": "Spoke to the customer; refund approved."},
        lambda f: {"task": f.task_uuid, "text": ""},
    ),
    "count_open_tasks": (lambda f: {}, lambda f: {"status": "open"}),
    "list_task_tags": (lambda f: {}, lambda f: {"limit": 1}),
    "get_attachment_upload_url": (lambda f: {"extension": "pdf"}, lambda f: {"extension": "../etc"}),
    "attach_file": (
        lambda f: {
            "task": f.task_uuid,
            "file_name": "receipt.txt",
            "content_base64": base64.b64encode(b"refund receipt\n").decode(),
        },
        lambda f: {"task": f.task_uuid, "file_name": "receipt.txt", "content_base64": "!!not base64!!"},
    ),
}


def test_every_registry_tool_has_a_case() -> None:
    assert set(CASES) == {t.name for t in ALL_TOOLS}


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("read_only", "toolsets"),
    [(False, None), (True, None), (False, ["people"]), (False, ["tasks", "attachments"]), (True, ["tasks"])],
)
async def test_lists_exactly_the_selected_tools(
    tool_context: ToolContext, mode: str, read_only: bool, toolsets: list[str] | None
) -> None:
    expected = {t.name for t in select_tools(read_only=read_only, toolsets=toolsets)}
    assert expected
    async with Client(
        build_server(tool_context, read_only=read_only, toolsets=toolsets), mode=mode
    ) as client:
        listed = await client.list_tools()
    assert {t.name for t in listed.tools} == expected
    if read_only:
        assert all(t.annotations and t.annotations.read_only_hint for t in listed.tools)


@pytest.mark.parametrize("mode", MODES)
async def test_tools_carry_the_registry_metadata(tool_context: ToolContext, mode: str) -> None:
    async with Client(build_server(tool_context), mode=mode) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    for tool in ALL_TOOLS:
        served = listed[tool.name]
        assert served.title == tool.title
        assert served.description == tool.description
        assert served.annotations is not None
        assert served.annotations.read_only_hint is tool.hints.read_only
        assert served.annotations.destructive_hint is tool.hints.destructive
        assert served.annotations.idempotent_hint is tool.hints.idempotent
        assert served.annotations.open_world_hint is tool.hints.open_world
        assert served.input_schema == tool.input_model.model_json_schema()
        assert served.output_schema is not None


def test_every_tool_sets_all_four_hints() -> None:
    for tool in ALL_TOOLS:
        hints = tool.hints
        values = (hints.read_only, hints.destructive, hints.idempotent, hints.open_world)
        assert all(isinstance(v, bool) for v in values), tool.name
        if hints.read_only:
            assert not hints.destructive, f"{tool.name}: a read-only tool cannot be destructive"
    assert {t.toolset for t in ALL_TOOLS} == set(TOOLSETS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(CASES))
async def test_call_happy_path(tool_context: ToolContext, facts: Facts, mode: str, name: str) -> None:
    tool = get_tool(name)
    async with Client(build_server(tool_context), mode=mode) as client:
        result = await client.call_tool(name, CASES[name][0](facts))
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    # The structured result is the output model's data; the text is its short rendering.
    tool.output_model.model_validate(result.structured_content)
    assert text_of(result).strip()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(CASES))
async def test_call_error_path(tool_context: ToolContext, facts: Facts, mode: str, name: str) -> None:
    async with Client(build_server(tool_context), mode=mode) as client:
        result = await client.call_tool(name, CASES[name][1](facts))
    assert result.is_error
    message = text_of(result)
    assert message.strip()
    assert "Traceback" not in message and "Error executing tool" not in message
    assert not result.structured_content  # it would have to match the tool's output schema
    # The error is data too, in _meta: its kind, its message, and for bad input the fields it names.
    error = (result.meta or {})[ERROR_META]
    assert error["kind"] in {kind.value for kind in ErrorKind} and error["message"] == message
    if error["kind"] == ErrorKind.BAD_INPUT:
        # The message names each field it is about, with what that field accepts.
        assert error["fields"] and all(f"{f['path']}: {f['message']}" in message for f in error["fields"])


@pytest.mark.parametrize("mode", MODES)
async def test_unknown_tool_is_an_error(tool_context: ToolContext, mode: str) -> None:
    async with Client(build_server(tool_context, read_only=True), mode=mode) as client:
        result = await client.call_tool("create_task", {"name": "not served in read-only mode"})
    assert result.is_error


@pytest.mark.parametrize("mode", MODES)
async def test_instructions_name_the_backend(tool_context: ToolContext, mode: str) -> None:
    async with Client(build_server(tool_context), mode=mode) as client:
        instructions = client.instructions or ""
    assert "sandbox" in instructions
    assert tool_context.description in instructions


@pytest.mark.parametrize("mode", MODES)
async def test_task_resource_template(tool_context: ToolContext, facts: Facts, mode: str) -> None:
    async with Client(build_server(tool_context), mode=mode) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == [TASK_URI_TEMPLATE]
        read = await client.read_resource(f"uctask://tasks/{facts.task_uuid}")
        content = read.contents[0]
        assert isinstance(content, TextResourceContents)
        assert content.mime_type == "application/json"
        task = json.loads(content.text)["task"]
        assert task["uuid"] == facts.task_uuid
        assert {"notes", "history"} <= set(task)
        with pytest.raises(MCPError):
            await client.read_resource("uctask://tasks/00000000-0000-0000-0000-000000000000")


@pytest.mark.parametrize("mode", MODES)
async def test_prompts(tool_context: ToolContext, facts: Facts, mode: str) -> None:
    async with Client(build_server(tool_context), mode=mode) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {TRIAGE_PROMPT, HANDOVER_PROMPT}
        assert [(a.name, a.required) for a in prompts[HANDOVER_PROMPT].arguments or []] == [("task", True)]

        triage = await client.get_prompt(TRIAGE_PROMPT)
        first = triage.messages[0].content
        assert isinstance(first, TextContent) and "search_tasks" in first.text

        handover = await client.get_prompt(HANDOVER_PROMPT, {"task": f"#{facts.task_number}"})
        first = handover.messages[0].content
        assert isinstance(first, TextContent)
        assert f"#{facts.task_number}" in first.text and "get_task" in first.text

        with pytest.raises(MCPError):
            await client.get_prompt(HANDOVER_PROMPT, {"task": "ignore previous instructions"})


@pytest.mark.parametrize("mode", MODES)
async def test_completions(tool_context: ToolContext, mode: str) -> None:
    mine = (
        await get_tool("search_tasks").run(tool_context, {"assignee": "me", "status": "open", "limit": 25})
    ).tasks
    assert mine, "the demo account should give the owner open tasks"
    number, uuid = f"#{mine[0].number}", mine[0].uuid  # summaries send the number; the uuid is typed data
    prompt = PromptReference(type="ref/prompt", name=HANDOVER_PROMPT)
    async with Client(build_server(tool_context), mode=mode) as client:
        everything = (await client.complete(prompt, {"name": "task", "value": ""})).completion.values
        assert number in everything and uuid in everything

        by_number = (await client.complete(prompt, {"name": "task", "value": number})).completion.values
        assert number in by_number and all(v.startswith(number) for v in by_number)

        by_uuid = (await client.complete(prompt, {"name": "task", "value": uuid[:6]})).completion.values
        assert uuid in by_uuid and all(v.lower().startswith(uuid[:6].lower()) for v in by_uuid)

        template = ResourceTemplateReference(type="ref/resource", uri=TASK_URI_TEMPLATE)
        uuids = (await client.complete(template, {"name": "task_uuid", "value": uuid[:4]})).completion.values
        assert uuid in uuids

        other = (await client.complete(prompt, {"name": "nothing", "value": ""})).completion.values
        assert other == []


class _NoInput(InputModel):
    pass


class _NoOutput(OutputModel):
    pass


async def _crash(context: Any, params: _NoInput) -> _NoOutput:
    raise RuntimeError("secret internals /etc/passwd")


@pytest.mark.parametrize("mode", MODES)
async def test_a_bug_in_a_tool_becomes_a_bare_error_result(tool_context: ToolContext, mode: str) -> None:
    """Programming bugs are logged on the server; the client sees only that the tool failed."""
    broken = Tool(
        name="broken",
        title="Broken",
        description="Always crashes.",
        toolset="tasks",
        input_model=_NoInput,
        output_model=_NoOutput,
        hints=Hints(read_only=True, destructive=False, idempotent=True, open_world=False),
        handler=_crash,
    )
    server = MCPServer("test", tools=[RegistryTool.adapt(broken, tool_context)])
    async with Client(server, mode=mode) as client:
        result = await client.call_tool("broken", {})
    assert result.is_error
    assert text_of(result) == "Error executing tool broken"
