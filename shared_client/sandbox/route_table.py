"""The route table of /rest/v2: the 12 operations of the OpenAPI document, each to its handler."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from .calls import Handler
from .routes import attachments, people, tasks


@dataclass(frozen=True)
class Operation:
    method: str
    pattern: re.Pattern[str]
    operation_id: str
    handler: Handler


def _op(method: str, path: str, operation_id: str, handler: Handler) -> Operation:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Operation(method, re.compile(f"^{pattern}$"), operation_id, handler)


# Order matters: the literal task paths come before /workflow/tasks/{task_uuid}.
OPERATIONS: tuple[Operation, ...] = (
    _op("PUT", "/workflow/agent/auth", "getWorkflowAgentWebsocketAuthorization", people.agent_auth),
    _op("GET", "/workflow/assignment_groups", "getWorkflowAssignmentGroups", people.assignment_groups),
    _op("GET", "/workflow/assignment_users", "getWorkflowAssignmentUsers", people.assignment_users),
    _op("GET", "/workflow/me", "getWorkflowMe", people.me),
    _op("POST", "/workflow/tasks", "insertWorkflowTask", tasks.insert_task),
    _op(
        "GET",
        "/workflow/tasks/attachments/{extension}",
        "getWorkflowTaskAttachmentUploadUrl",
        attachments.upload_url,
    ),
    _op(
        "GET",
        "/workflow/tasks/by/{object_type}/{object_id}",
        "getWorkflowTaskByObjectType",
        tasks.tasks_by_object,
    ),
    _op("GET", "/workflow/tasks/open_count", "getWorkflowTaskOpenCount", tasks.open_count),
    _op("POST", "/workflow/tasks/search", "getWorkflowTasks", tasks.search_tasks),
    _op("GET", "/workflow/tasks/tags", "getWorkflowTaskTags", tasks.task_tags),
    _op("GET", "/workflow/tasks/{task_uuid}", "getWorkflowTask", tasks.get_task),
    _op("PUT", "/workflow/tasks/{task_uuid}", "updateWorkflowTask", tasks.update_task),
)
OPERATION_IDS = tuple(sorted({op.operation_id for op in OPERATIONS}))


def match_operation(method: str, path: str) -> tuple[Operation | None, dict[str, str], bool]:
    """(operation, path params, path exists with another method)."""
    path_exists = False
    for op in OPERATIONS:
        found = op.pattern.match(path)
        if found is None:
            continue
        if op.method == method:
            return op, {k: unquote(v) for k, v in found.groupdict().items()}, True
        path_exists = True
    return None, {}, path_exists
