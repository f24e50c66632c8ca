"""The registry: one flat list of every tool (the table of contents), and one filter (read-only, toolsets).

Read-only is the tool's own annotation; there are no parallel lists. Where each tool lives:

=========================  =============================================================================
``people.py``              get_me, list_assignable_users, list_assignable_groups
``search.py``              search_tasks
``recent.py``              list_recent_changes
``tasks.py``               get_task, get_tasks_for_object, count_open_tasks, list_task_tags
``create.py``              create_task
``update.py``              update_task
``notes.py``               add_task_note
``attachments.py``         get_attachment_upload_url, attach_file
=========================  =============================================================================

What they stand on: ``base.py`` (what a tool is, hint presets), ``errors.py`` (typed tool errors),
``inputs.py`` and ``values.py`` (argument types and friendly values), ``task_refs.py`` (what a task
reference is), ``directory.py`` (people, cached, and resolving names), ``writes.py`` (the checked
read-modify-write), ``files.py`` (file bytes and uploads), ``outputs.py`` (trimmed task views),
``context.py`` (what a handler gets).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared_client.tools.attachments import ATTACH_FILE, GET_ATTACHMENT_UPLOAD_URL
from shared_client.tools.base import TOOLSETS, Hints, InputModel, InT, OutputModel, OutT, Tool
from shared_client.tools.context import ToolContext
from shared_client.tools.create import CREATE_TASK
from shared_client.tools.directory import PeopleDirectory
from shared_client.tools.errors import ErrorKind, FieldError, ToolError, ToolInputError
from shared_client.tools.notes import ADD_TASK_NOTE
from shared_client.tools.people import GET_ME, LIST_ASSIGNABLE_GROUPS, LIST_ASSIGNABLE_USERS
from shared_client.tools.recent import LIST_RECENT_CHANGES
from shared_client.tools.search import SEARCH_TASKS
from shared_client.tools.tasks import COUNT_OPEN_TASKS, GET_TASK, GET_TASKS_FOR_OBJECT, LIST_TASK_TAGS
from shared_client.tools.update import UPDATE_TASK

__all__ = [
    "ADD_TASK_NOTE",
    "ALL_TOOLS",
    "ATTACH_FILE",
    "COUNT_OPEN_TASKS",
    "CREATE_TASK",
    "GET_ATTACHMENT_UPLOAD_URL",
    "GET_ME",
    "GET_TASK",
    "GET_TASKS_FOR_OBJECT",
    "LIST_ASSIGNABLE_GROUPS",
    "LIST_ASSIGNABLE_USERS",
    "LIST_RECENT_CHANGES",
    "LIST_TASK_TAGS",
    "SEARCH_TASKS",
    "TOOLSETS",
    "UPDATE_TASK",
    "ErrorKind",
    "FieldError",
    "Hints",
    "InT",
    "InputModel",
    "OutT",
    "OutputModel",
    "PeopleDirectory",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolInputError",
    "get_tool",
    "select_tools",
]

ALL_TOOLS: tuple[Tool[Any, Any], ...] = (
    GET_ME,
    LIST_ASSIGNABLE_USERS,
    LIST_ASSIGNABLE_GROUPS,
    SEARCH_TASKS,
    LIST_RECENT_CHANGES,
    GET_TASK,
    GET_TASKS_FOR_OBJECT,
    CREATE_TASK,
    UPDATE_TASK,
    ADD_TASK_NOTE,
    COUNT_OPEN_TASKS,
    LIST_TASK_TAGS,
    GET_ATTACHMENT_UPLOAD_URL,
    ATTACH_FILE,
)


def select_tools(*, read_only: bool = False, toolsets: Iterable[str] | None = None) -> list[Tool[Any, Any]]:
    """The tools to serve: only read-only ones under ``read_only``; only the named toolsets if given."""
    wanted = set(toolsets) if toolsets is not None else set(TOOLSETS)
    unknown = wanted - set(TOOLSETS)
    if unknown:
        raise ValueError(f"unknown toolset(s) {', '.join(sorted(unknown))}; use {', '.join(TOOLSETS)}")
    return [t for t in ALL_TOOLS if t.toolset in wanted and (t.read_only or not read_only)]


def get_tool(name: str) -> Tool[Any, Any]:
    for tool in ALL_TOOLS:
        if tool.name == name:
            return tool
    raise KeyError(name)
