"""Every request the client sends, in one table: UltraCart's operation id, method and path, and what it does.

``is_write`` (the request changes something at UltraCart) is what an error reports as
``UltraCartError.is_write``; ``idempotent`` (sending it twice has the effect of sending it once) is what the
request loop's retries go by. Both are set on every row, deliberately.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    operation_id: str  # as in openapi/workflow-openapi.yaml
    method: str
    path: str  # relative to the base URL; {names} are filled in percent-encoded
    is_write: bool
    idempotent: bool


# PUT, but it only hands out a token for UltraCart's agent websocket: nothing at UltraCart changes.
GET_AGENT_WEBSOCKET_AUTHORIZATION = Operation(
    "getWorkflowAgentWebsocketAuthorization", "PUT", "workflow/agent/auth", is_write=False, idempotent=True
)
GET_ASSIGNMENT_GROUPS = Operation(
    "getWorkflowAssignmentGroups", "GET", "workflow/assignment_groups", is_write=False, idempotent=True
)
GET_ASSIGNMENT_USERS = Operation(
    "getWorkflowAssignmentUsers", "GET", "workflow/assignment_users", is_write=False, idempotent=True
)
GET_ME = Operation("getWorkflowMe", "GET", "workflow/me", is_write=False, idempotent=True)
# A plain POST that UltraCart cannot de-duplicate: retried only when it provably never arrived.
INSERT_TASK = Operation("insertWorkflowTask", "POST", "workflow/tasks", is_write=True, idempotent=False)
# A GET, but it allocates a fresh upload key on every call (and needs the write scope).
GET_ATTACHMENT_UPLOAD_URL = Operation(
    "getWorkflowTaskAttachmentUploadUrl",
    "GET",
    "workflow/tasks/attachments/{extension}",
    is_write=True,
    idempotent=True,
)
GET_TASKS_BY_OBJECT = Operation(
    "getWorkflowTaskByObjectType",
    "GET",
    "workflow/tasks/by/{object_type}/{object_id}",
    is_write=False,
    idempotent=True,
)
GET_OPEN_COUNT = Operation(
    "getWorkflowTaskOpenCount", "GET", "workflow/tasks/open_count", is_write=False, idempotent=True
)
# The search: a POST that only reads.
SEARCH_TASKS = Operation("getWorkflowTasks", "POST", "workflow/tasks/search", is_write=False, idempotent=True)
GET_TAGS = Operation("getWorkflowTaskTags", "GET", "workflow/tasks/tags", is_write=False, idempotent=True)
GET_TASK = Operation("getWorkflowTask", "GET", "workflow/tasks/{task_uuid}", is_write=False, idempotent=True)
# Replaces the whole task, so sending it twice leaves the same task.
UPDATE_TASK = Operation(
    "updateWorkflowTask", "PUT", "workflow/tasks/{task_uuid}", is_write=True, idempotent=True
)
# Not an UltraCart operation: the PUT of a file's bytes to the presigned URL the upload URL call returned.
UPLOAD_ATTACHMENT_BYTES = Operation(
    "uploadAttachmentBytes", "PUT", "{upload_url}", is_write=True, idempotent=True
)

OPERATIONS: Mapping[str, Operation] = {
    op.operation_id: op
    for op in (
        GET_AGENT_WEBSOCKET_AUTHORIZATION,
        GET_ASSIGNMENT_GROUPS,
        GET_ASSIGNMENT_USERS,
        GET_ME,
        INSERT_TASK,
        GET_ATTACHMENT_UPLOAD_URL,
        GET_TASKS_BY_OBJECT,
        GET_OPEN_COUNT,
        SEARCH_TASKS,
        GET_TAGS,
        GET_TASK,
        UPDATE_TASK,
        UPLOAD_ATTACHMENT_BYTES,
    )
}
