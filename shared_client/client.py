"""The async client for UltraCart's Workflow API: one method per operation, and the page walks.

Each operation method only describes its request: a row of the operation table
(``shared_client.operations``), its parameters and the response model. The request loop it inherits
(``shared_client.request_loop``) owns pacing, retries, timeouts and error mapping; the page walks live in
``shared_client.pagination``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx

from shared_client import constants
from shared_client import operations as op
from shared_client.errors import APIConnectionError, APIResponseError
from shared_client.models import (
    ObjectType,
    WorkflowAgentAuthResponse,
    WorkflowAttachmentUploadUrlResponse,
    WorkflowGroup,
    WorkflowGroupsResponse,
    WorkflowTask,
    WorkflowTaskOpenCountResponse,
    WorkflowTaskResponse,
    WorkflowTasksRequest,
    WorkflowTasksResponse,
    WorkflowTaskTagsResponse,
    WorkflowUser,
    WorkflowUserResponse,
    WorkflowUsersResponse,
)
from shared_client.pagination import all_groups, all_tasks, all_users, paginate
from shared_client.request_loop import RequestLoop

__all__ = ["WorkflowClient", "encode_sort"]

SORT_DIRECTIONS = ("+", "-")


def encode_sort(fields: str | Sequence[str]) -> str:
    """UltraCart's ``_sort``: ``+field,-field``; a bare field is ascending. Every field gets an explicit sign.

    The ``+`` must reach UltraCart as ``%2B``; httpx's query encoding does that (pinned by a test).
    """
    items = [f.strip() for f in (fields.split(",") if isinstance(fields, str) else fields)]
    out = []
    for item in items:
        if not item:
            continue
        out.append(item if item[0] in SORT_DIRECTIONS else f"+{item}")
    return ",".join(out)


def _page(limit: int, offset: int) -> dict[str, str | int]:
    return {"_limit": limit, "_offset": offset}


class WorkflowClient(RequestLoop):
    """Typed async access to every Workflow operation (see ``RequestLoop`` for the constructor)."""

    # ------------------------------------------------------------------ people

    async def get_assignment_groups(
        self, *, limit: int = constants.MAX_PAGE_SIZE_PEOPLE, offset: int = 0
    ) -> WorkflowGroupsResponse:
        return await self._call(op.GET_ASSIGNMENT_GROUPS, WorkflowGroupsResponse, params=_page(limit, offset))

    async def get_assignment_users(
        self, *, limit: int = constants.MAX_PAGE_SIZE_PEOPLE, offset: int = 0
    ) -> WorkflowUsersResponse:
        return await self._call(op.GET_ASSIGNMENT_USERS, WorkflowUsersResponse, params=_page(limit, offset))

    async def get_me(self) -> WorkflowUserResponse:
        return await self._call(op.GET_ME, WorkflowUserResponse)

    async def get_agent_websocket_authorization(self) -> WorkflowAgentAuthResponse:
        return await self._call(op.GET_AGENT_WEBSOCKET_AUTHORIZATION, WorkflowAgentAuthResponse)

    # ------------------------------------------------------------------ tasks

    async def get_task(self, task_uuid: str, *, shared: bool = True) -> WorkflowTaskResponse:
        """One task. ``shared=False`` sends a GET of its own rather than join one already in flight (a
        read-modify-write must read after it took its locks)."""
        return await self._call(
            op.GET_TASK, WorkflowTaskResponse, path_params={"task_uuid": task_uuid}, share=shared
        )

    async def get_tasks_by_object(
        self, object_type: ObjectType | str, object_id: str
    ) -> WorkflowTasksResponse:
        return await self._call(
            op.GET_TASKS_BY_OBJECT,
            WorkflowTasksResponse,
            path_params={"object_type": str(object_type), "object_id": object_id},
        )

    async def search_tasks(
        self,
        request: WorkflowTasksRequest,
        *,
        limit: int = constants.MAX_PAGE_SIZE_TASKS,
        offset: int = 0,
        sort: str | Sequence[str] | None = None,
    ) -> WorkflowTasksResponse:
        params = _page(limit, offset)
        if sort:
            params["_sort"] = encode_sort(sort)
        return await self._call(op.SEARCH_TASKS, WorkflowTasksResponse, params=params, json=request.to_wire())

    async def insert_task(self, task: WorkflowTask) -> WorkflowTaskResponse:
        """Create a task. Not idempotent: retried only when the request provably never reached UltraCart."""
        return await self._call(op.INSERT_TASK, WorkflowTaskResponse, json=task.to_wire())

    async def update_task(self, task_uuid: str, task: WorkflowTask) -> WorkflowTaskResponse:
        """Replace the whole task (UltraCart has no PATCH): send every field you want to keep."""
        return await self._call(
            op.UPDATE_TASK, WorkflowTaskResponse, path_params={"task_uuid": task_uuid}, json=task.to_wire()
        )

    async def get_open_count(self) -> WorkflowTaskOpenCountResponse:
        return await self._call(op.GET_OPEN_COUNT, WorkflowTaskOpenCountResponse)

    async def get_tags(self) -> WorkflowTaskTagsResponse:
        return await self._call(op.GET_TAGS, WorkflowTaskTagsResponse)

    # ------------------------------------------------------------------ attachments

    async def get_attachment_upload_url(self, extension: str) -> WorkflowAttachmentUploadUrlResponse:
        return await self._call(
            op.GET_ATTACHMENT_UPLOAD_URL,
            WorkflowAttachmentUploadUrlResponse,
            path_params={"extension": extension},
        )

    async def upload_bytes(self, url: str, content: bytes, *, content_type: str) -> None:
        """PUT a file's bytes to a presigned upload URL. The URL carries its own authorization: our
        UltraCart credential is never sent there, and the upload does not count against UltraCart's budget."""
        upload = op.UPLOAD_ATTACHMENT_BYTES
        request = self._build_request(upload, url, content=content, headers={"Content-Type": content_type})
        for name in self._auth_header_names:
            request.headers.pop(name, None)
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            refused = isinstance(exc, httpx.ConnectError)  # refused: the bytes never left this machine
            message = f"Could not upload the file ({type(exc).__name__})"
            raise APIConnectionError(
                message, request_sent=not refused, operation=upload.operation_id
            ) from None
        if response.status_code >= 300:
            raise APIResponseError(
                f"The upload URL refused the file (HTTP {response.status_code})",
                status=response.status_code,
                operation=upload.operation_id,
                body=response.text[:500],
            )

    # ------------------------------------------------------------------ everything, page by page

    paginate = staticmethod(paginate)

    async def list_all_users(self) -> tuple[list[WorkflowUser], int | None]:
        """Every assignable user (all pages, 200 a page) and the caller's own user id."""
        return await all_users(
            lambda limit, offset: self.get_assignment_users(limit=limit, offset=offset),
            constants.MAX_PAGE_SIZE_PEOPLE,
        )

    async def list_all_groups(self) -> list[WorkflowGroup]:
        return await all_groups(
            lambda limit, offset: self.get_assignment_groups(limit=limit, offset=offset),
            constants.MAX_PAGE_SIZE_PEOPLE,
        )

    def iter_tasks(
        self,
        request: WorkflowTasksRequest,
        *,
        sort: str | Sequence[str] | None = None,
        page_size: int = constants.MAX_PAGE_SIZE_TASKS,
    ) -> AsyncIterator[WorkflowTask]:
        """Every task matching ``request``, page by page at the maximum page size."""
        return all_tasks(
            lambda limit, offset: self.search_tasks(request, limit=limit, offset=offset, sort=sort), page_size
        )
