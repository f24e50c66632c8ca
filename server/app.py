"""The MCP server: the registry's tools, a task resource template, two prompts and their completions.

No tool is written here. ``RegistryTool`` adapts any registry ``Tool`` to mcp's tool interface: the
input schema is the tool's own input model, the arguments are validated by that model (inside
``Tool.run``), and the result carries both the structured data and a short text.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mcp.server.mcpserver import Context, MCPServer, RequestStateSecurity
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool as MCPTool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    CallToolResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    GetPromptResult,
    InputRequiredResult,
    Prompt,
    PromptReference,
    ResourceTemplateReference,
    TextContent,
    ToolAnnotations,
)
from pydantic import Field

from shared_client.tools import GET_TASK, SEARCH_TASKS, ErrorKind, Tool, ToolContext, ToolError, select_tools
from shared_client.tools.base import UNTRUSTED_GUIDANCE
from shared_client.tools.errors import argument_name
from shared_client.tools.schemas import schemas_of
from shared_client.tools.search import SearchOutput
from shared_client.tools.task_refs import TASK_REF_DESCRIPTION, parse_task_ref
from shared_client.tools.values import shown

if TYPE_CHECKING:
    from server.per_request import CallerContexts

logger = logging.getLogger(__name__)
T = TypeVar("T")

SERVER_NAME = "uc-workflow"
PROGRESS_EVERY = 2.0  # seconds a tool call waits before each progress notification
ERROR_META = "uc-workflow/error"  # a tool error's kind, fields and retry hint, in the result's _meta
TASK_URI_TEMPLATE = "uctask://tasks/{task_uuid}"
TRIAGE_PROMPT = "triage_my_open_tasks"
HANDOVER_PROMPT = "summarize_task_for_handover"
# What completions offer: my open tasks, at most this many.
COMPLETION_SEARCH = {"assignee": "me", "status": "open", "limit": 25}


def _annotations(tool: Tool[Any, Any]) -> ToolAnnotations:
    hints = tool.hints
    return ToolAnnotations(
        title=tool.title,
        read_only_hint=hints.read_only,
        destructive_hint=hints.destructive,
        idempotent_hint=hints.idempotent,
        open_world_hint=hints.open_world,
    )


class Contexts(Protocol):
    """Where a handler gets its ``ToolContext``: one for every call (``FixedContext``), or the calling
    request's own (``server.per_request.CallerContexts``, ``--credentials per-request``)."""

    @property
    def sandbox(self) -> bool: ...

    @property
    def description(self) -> str: ...

    def current(self) -> ToolContext: ...


class FixedContext:
    """The server's one credential: the same context for every call."""

    def __init__(self, context: ToolContext) -> None:
        self.context = context
        self.sandbox = context.sandbox
        self.description = context.description

    def current(self) -> ToolContext:
        return self.context


def _unused(**_: Any) -> None:
    """``RegistryTool.run`` replaces mcp's function call; mcp's model still wants a callable."""


class RegistryTool(MCPTool):
    """One registry tool as mcp sees it. Validation, the call and error wording stay in the registry."""

    registry_tool: Any = Field(exclude=True)
    contexts: Any = Field(exclude=True)  # Contexts
    progress_every: float = Field(default=PROGRESS_EVERY, exclude=True)

    @classmethod
    def adapt(
        cls,
        tool: Tool[Any, Any],
        contexts: ToolContext | Contexts,
        *,
        progress_every: float = PROGRESS_EVERY,
    ) -> RegistryTool:
        schemas = schemas_of(tool)  # committed beside the tools: no pydantic schema work at start
        output_schema = schemas["output"]
        return cls(
            fn=_unused,
            name=tool.name,
            title=tool.title,
            description=tool.description,
            parameters=schemas["input"],
            # mcp only reads ``output_schema`` from this; arguments never reach its ``arg_model``.
            fn_metadata=FuncMetadata(arg_model=ArgModelBase, output_schema=output_schema),
            is_async=True,
            annotations=_annotations(tool),
            registry_tool=tool,
            contexts=FixedContext(contexts) if isinstance(contexts, ToolContext) else contexts,
            progress_every=progress_every,
        )

    async def run(
        self, arguments: dict[str, Any], context: Context[Any, Any], convert_result: bool = False
    ) -> CallToolResult:
        tool: Tool[Any, Any] = self.registry_tool
        contexts: Contexts = self.contexts
        tool_context = contexts.current()  # the caller's own with per-request keys; never another's
        try:
            output = await _reporting_progress(
                tool.run(tool_context, arguments), context, self.progress_every
            )
        except ToolError as exc:
            logger.info("tool %s refused: %s", tool.name, exc.message)
            # The kind and the fields are data too, so a client can act on them without reading the text.
            # They go in _meta: structured content must match the tool's output schema, even on an error
            # (the TypeScript SDK refuses a result whose structured content does not).
            return CallToolResult(
                content=[TextContent(type="text", text=exc.message)],
                _meta={ERROR_META: exc.to_data()},
                is_error=True,
            )
        except Exception as exc:
            # A bug: mcp logs the traceback on the server and tells the client only the tool's name.
            raise UnexpectedToolError(f"Error executing tool {tool.name}") from exc
        return CallToolResult(
            content=[TextContent(type="text", text=output.to_text())],
            structured_content=output.to_data(),
            is_error=False,
        )


class WorkflowServer(MCPServer[Any]):
    """mcp's server, with a bad prompt request answered as invalid params saying what is wrong. mcp itself
    answers an unknown prompt or a missing or unknown argument as "Internal server error", and logs a
    traceback at ERROR for each; a caller's mistake is logged at INFO, without one."""

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[Any, Any] | None = None
    ) -> GetPromptResult | InputRequiredResult:
        try:
            self._check_prompt_request(name, arguments or {}, await self.list_prompts())
            return await super().get_prompt(name, arguments, context)
        except MCPError as exc:
            if exc.error.code == INVALID_PARAMS:  # from the checks here or in the prompt itself
                logger.info("prompt %s refused: %s", shown(name), exc.error.message)
            raise

    @staticmethod
    def _check_prompt_request(name: str, given: dict[str, Any], prompts: list[Prompt]) -> None:
        prompt = next((p for p in prompts if p.name == name), None)
        if prompt is None:
            known = ", ".join(sorted(p.name for p in prompts))
            raise MCPError(INVALID_PARAMS, f"Unknown prompt {shown(name)}; the prompts are {known}")
        expected = {argument.name: argument.required for argument in prompt.arguments or []}
        problems = [
            f"{arg}: is required" for arg, required in expected.items() if required and arg not in given
        ]
        problems += [
            f"{argument_name(arg)}: is not an argument of this prompt" for arg in given if arg not in expected
        ]
        if problems:
            raise MCPError(INVALID_PARAMS, "; ".join(problems))


async def _reporting_progress(work: Awaitable[T], context: Context[Any, Any], every: float) -> T:
    """The tool's result; while it waits for UltraCart (its budget, a retry, a slow answer), a progress
    notification every ``every`` seconds, which mcp sends only when the client gave a progress token."""
    task = asyncio.ensure_future(work)
    waited = 0.0
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            waited += every
            await context.report_progress(waited, None, f"waiting for UltraCart ({waited:.0f} s so far)")
    finally:
        task.cancel()  # a no-op once it is done; a cancelled call stops its tool


def instructions_for(
    context: ToolContext | Contexts, tools: list[Tool[Any, Any]], read_only: bool, *, per_caller: bool = False
) -> str:
    if context.sandbox:
        where = (
            f"This server runs on {context.description}: demo data, safe to change; nothing reaches a real "
            "UltraCart account."
        )
    else:
        where = (
            f"This server runs on {context.description}: a live merchant account. Changes are real; "
            "confirm with the user before creating, reassigning or closing tasks."
        )
    lines = [
        "UltraCart Workflow tasks: back-office to-dos linked to orders, auto orders, items, customer "
        "profiles and storefronts.",
        where,
        "- Start with search_tasks (assignee 'me', status 'open'); refer to a task by its #number or uuid.",
        "- get_task shows notes, attachments and history; read a task before changing it.",
        "- update_task and add_task_note change only what you pass; every other field survives.",
        "- Priorities: low, medium, high, critical. Dates: ISO dates or date-times.",
        f"- {UNTRUSTED_GUIDANCE}",
    ]
    if per_caller:
        lines.append(
            "- Each caller acts with their own UltraCart key: 'me' is the caller, and UltraCart's history "
            "names them for their changes."
        )
    if context.sandbox:
        lines.append(
            "- Attachment URLs here (upload and download) belong to the sandbox inside this server: nobody "
            "else can open them. Attach files with attach_file (content_base64 and file_name)."
        )
    if read_only:
        lines.append("- Read-only mode: tools that change tasks are not served.")
    names = ", ".join(t.name for t in tools)
    lines.append(f"- Tools served: {names}.")
    return "\n".join(lines)


def _open_task_refs(output: SearchOutput) -> list[tuple[str, str]]:
    """(``#number``, uuid) pairs from a search_tasks result, in its order."""
    return [(f"#{t.number}" if t.number is not None else "", t.uuid) for t in output.tasks or []]


def _matching(values: Iterable[str], prefix: str) -> list[str]:
    typed = prefix.strip().lower()
    seen: dict[str, None] = {}
    for value in values:
        if value and value.lower().startswith(typed):
            seen.setdefault(value, None)
    return list(seen)


def build_server(
    context: ToolContext | CallerContexts,
    *,
    read_only: bool = False,
    toolsets: Iterable[str] | None = None,
    progress_every: float = PROGRESS_EVERY,
    request_state_security: RequestStateSecurity | None = None,
) -> MCPServer[Any]:
    """The server. ``request_state_security`` seals multi-round calls' ``requestState``: replicas behind one
    address pass the same one (``server.replicas.request_state_security``); None is a process-local key.
    Replicas also share ``SERVER_NAME``, the audience sealed into that state.

    ``context`` is the server's one (``--credentials server``), or ``CallerContexts``: each request's own,
    from the key it carries (``--credentials per-request``; serve it with ``CallerKeyMiddleware``)."""
    from server.per_request import CallerContextMiddleware, CallerContexts

    per_caller = isinstance(context, CallerContexts)
    contexts: Contexts = context if isinstance(context, CallerContexts) else FixedContext(context)
    tools = select_tools(read_only=read_only, toolsets=toolsets)
    server = WorkflowServer(
        SERVER_NAME,
        title="UltraCart Workflow",
        instructions=instructions_for(contexts, tools, read_only, per_caller=per_caller),
        tools=[RegistryTool.adapt(tool, contexts, progress_every=progress_every) for tool in tools],
        request_state_security=request_state_security,
        middleware=[CallerContextMiddleware()] if per_caller else None,
    )

    @server.resource(
        TASK_URI_TEMPLATE,
        name="task",
        title="Workflow task",
        description=f"One workflow task as JSON, with notes, attachments and history. {UNTRUSTED_GUIDANCE}",
        mime_type="application/json",
    )
    async def read_task(task_uuid: str) -> str:
        try:
            output = await GET_TASK.run(contexts.current(), {"task": task_uuid})
        except ToolError as exc:
            if exc.kind in (ErrorKind.BAD_INPUT, ErrorKind.NOT_FOUND):
                raise ResourceNotFoundError(exc.message) from None
            raise ResourceError(exc.message) from None
        return json.dumps(output.to_data(), ensure_ascii=False)

    @server.prompt(
        name=TRIAGE_PROMPT,
        title="Triage my open tasks",
        description="Review my open tasks (directly or through my groups) and propose what to do first.",
    )
    def triage_my_open_tasks() -> str:
        return (
            "Triage my open UltraCart workflow tasks.\n"
            '1. Call search_tasks with {"assignee": "me", "status": "open", "sort": "-priority"} and page '
            "with next_cursor until has_more is false.\n"
            "2. Group them: overdue first, then critical and high priority, then the rest by due date.\n"
            "3. For each group give #number, name, priority, due date and the linked object, and one "
            "suggested next step per task (do it, reassign, close, or ask for information).\n"
            "4. Propose changes (priority, due date, assignee) as a list for me to confirm; change nothing "
            "yet.\n" + UNTRUSTED_GUIDANCE
        )

    @server.prompt(
        name=HANDOVER_PROMPT,
        title="Summarize a task for handover",
        description="A handover note for one task: state, history, open questions and next step.",
    )
    def summarize_task_for_handover(
        task: str = Field(description=TASK_REF_DESCRIPTION),
    ) -> str:
        try:
            ref = str(parse_task_ref(task))
        except ValueError as exc:
            # An MCPError reaches the client as said; mcp rewords any other exception.
            raise MCPError(INVALID_PARAMS, f"task: {exc}") from None
        return (
            f"Write a handover note for UltraCart workflow task {ref}.\n"
            f'1. Call get_task with {{"task": "{ref}"}} to read it with its notes, attachments '
            "and history.\n"
            "2. Summarize in at most ten lines: what the task is about and its linked object, current "
            "status, priority, assignee and due date, what has been done (from notes and history), open "
            "questions, and the single next step.\n"
            "3. Quote customer-written text only where it matters, marked as a quote.\n" + UNTRUSTED_GUIDANCE
        )

    # mcp's ``completion()`` decorator is not annotated; the handler below is.
    @server.completion()  # type: ignore[no-untyped-call, untyped-decorator]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        completion_context: CompletionContext | None,
    ) -> Completion | None:
        wants_ref = (
            isinstance(ref, PromptReference) and ref.name == HANDOVER_PROMPT and argument.name == "task"
        )
        wants_uuid = (
            isinstance(ref, ResourceTemplateReference)
            and ref.uri == TASK_URI_TEMPLATE
            and argument.name == "task_uuid"
        )
        if not (wants_ref or wants_uuid):
            return None
        try:
            found = await SEARCH_TASKS.run(contexts.current(), dict(COMPLETION_SEARCH))
        except ToolError as exc:
            logger.info("completion search failed: %s", exc.message)
            return Completion(values=[], total=0, has_more=False)
        refs = _open_task_refs(found)
        candidates = [number for number, _ in refs] + [uuid for _, uuid in refs] if wants_ref else []
        if wants_uuid:
            candidates = [uuid for _, uuid in refs]
        values = _matching(candidates, argument.value)[:100]
        return Completion(values=values, total=len(values), has_more=False)

    return server
