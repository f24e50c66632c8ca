"""The async client for UltraCart's Workflow API.

One request loop (``_call``) owns pacing, retries, timeouts and error mapping; each operation method only
describes its request: operation id, method, path, parameters and the response model.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from shared_client import constants
from shared_client.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    UltraCartError,
    error_for_status,
)
from shared_client.models import (
    BaseResponse,
    Error,
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
from shared_client.pacing import BudgetSpec, CredentialGate, credential_fingerprint, gate_for
from shared_client.retry import (
    Outcome,
    RetryPolicy,
    outcome_for_status,
    parse_retry_after,
    retry_delay,
    should_retry,
)

__all__ = ["WorkflowClient", "encode_sort"]

logger = logging.getLogger("uc_workflow.client")

R = TypeVar("R", bound=BaseResponse)

SORT_DIRECTIONS = ("+", "-")


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: building one costs ~15 ms of CPU, and every client would."""
    return ssl.create_default_context()


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


def _redacted_message(response: httpx.Response) -> tuple[str, Error | None, Any]:
    """UltraCart's message for an error answer: the UC-REST-ERROR header first, then the body."""
    header = response.headers.get("UC-REST-ERROR")
    body: Any = None
    error: Error | None = None
    try:
        body = response.json()
    except ValueError:
        body = response.text[:2000]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        try:
            error = Error.model_validate(body["error"])
        except ValidationError:
            error = None
    if header:
        return header, error, body
    if error and (error.user_message or error.developer_message):
        return (error.user_message or error.developer_message or ""), error, body
    content_type = response.headers.get("content-type", "")
    if "html" in content_type or (isinstance(body, str) and body.lstrip().startswith("<")):
        return (
            f"UltraCart (or a proxy in front of it) answered HTTP {response.status_code} with an HTML page",
            None,
            body,
        )
    reason = response.reason_phrase or "error"
    return f"UltraCart answered HTTP {response.status_code} ({reason})", error, body


class WorkflowClient:
    """Typed async access to every Workflow operation.

    Pass ``api_key`` (a simple key) or ``oauth_token``. ``transport`` lets tests and the embedded sandbox
    plug in below the client. ``budget`` sets the client-side request budget; ``gate_key`` chooses which
    process-wide gate (one in flight at a time) this client shares: by default every client with the same
    base URL and credential shares one.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        oauth_token: str | None = None,
        base_url: str = constants.DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        budget: BudgetSpec | None = None,
        retry_policy: RetryPolicy | None = None,
        gate_key: str | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if bool(api_key) == bool(oauth_token):
            raise ValueError("WorkflowClient needs exactly one of api_key or oauth_token")
        credential = api_key or oauth_token or ""
        auth_headers = (
            {"x-ultracart-simple-key": api_key} if api_key else {"Authorization": f"Bearer {oauth_token}"}
        )
        self._auth_header_names = tuple(auth_headers)
        self.base_url = base_url.rstrip("/")
        if timeout is None:
            timeout = httpx.Timeout(
                connect=constants.CONNECT_TIMEOUT,
                read=constants.READ_TIMEOUT,
                write=constants.WRITE_TIMEOUT,
                pool=constants.POOL_TIMEOUT,
            )
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            transport=transport,
            timeout=timeout,
            verify=_ssl_context(),
            headers={
                **auth_headers,
                "X-UltraCart-Api-Version": constants.API_VERSION,
                "Accept": "application/json",
                "User-Agent": constants.USER_AGENT,
            },
        )
        self._gate: CredentialGate = gate_for(
            gate_key or credential_fingerprint(self.base_url, credential), budget or BudgetSpec()
        )
        self._policy = retry_policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._inflight_gets: dict[tuple[str, str], asyncio.Task[httpx.Response]] = {}
        self.requests_sent = 0

    async def __aenter__(self) -> WorkflowClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def gate(self) -> CredentialGate:
        return self._gate

    # ------------------------------------------------------------------ the request loop

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        model: type[R],
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        idempotent: bool = True,
        share: bool = True,
    ) -> R:
        try:
            request = self._http.build_request(method, path, params=params, json=json)
        except httpx.InvalidURL as exc:
            raise APIConnectionError(
                f"The request for {operation} could not be built ({exc})",
                request_sent=False,
                operation=operation,
            ) from None
        if method == "GET" and share:
            response = await self._shared_get(operation, request)
        else:
            response = await self._send_with_retries(operation, request, idempotent=idempotent)
        return self._parse(operation, response, model)

    async def _shared_get(self, operation: str, request: httpx.Request) -> httpx.Response:
        """Identical GETs in flight at the same time are sent once and share the answer."""
        key = (operation, str(request.url))
        task = self._inflight_gets.get(key)
        if task is None:
            task = asyncio.ensure_future(self._send_with_retries(operation, request, idempotent=True))
            self._inflight_gets[key] = task
            task.add_done_callback(lambda _t: self._inflight_gets.pop(key, None))
        return await asyncio.shield(task)

    async def _send_with_retries(
        self, operation: str, request: httpx.Request, *, idempotent: bool
    ) -> httpx.Response:
        retries_done = 0
        while True:
            retry_after: float | None = None
            error: UltraCartError
            started = time.perf_counter()
            try:
                async with self._gate.slot():
                    self.requests_sent += 1
                    response = await self._http.send(request)
                    await response.aread()
            except httpx.TimeoutException as exc:
                sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
                outcome = Outcome.UNKNOWN if sent else Outcome.NOT_SENT
                error = APITimeoutError(
                    f"UltraCart did not answer {operation} in time ({type(exc).__name__})",
                    request_sent=sent,
                    operation=operation,
                )
            except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
                # Nothing left this process, and trying again cannot help (the message may quote headers).
                raise APIConnectionError(
                    f"The request for {operation} could not be sent ({type(exc).__name__})",
                    request_sent=False,
                    operation=operation,
                ) from None
            except httpx.TransportError as exc:
                sent = not isinstance(exc, httpx.ConnectError)
                outcome = Outcome.UNKNOWN if sent else Outcome.NOT_SENT
                error = APIConnectionError(
                    f"Could not reach UltraCart for {operation} ({type(exc).__name__})"
                    if not sent
                    else f"The connection to UltraCart broke during {operation} ({type(exc).__name__})",
                    request_sent=sent,
                    operation=operation,
                )
            else:
                request_id = response.headers.get("X-UltraCart-Request-Id")
                logger.debug(
                    "%s %s -> %s in %.0f ms (request id %s)",
                    operation,
                    request.method,
                    response.status_code,
                    (time.perf_counter() - started) * 1000,
                    request_id,
                )
                outcome = outcome_for_status(response.status_code)
                if outcome in (Outcome.OK, Outcome.FINAL):
                    return response
                error = self._status_error(operation, response)
                if outcome is Outcome.RATE_LIMITED:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    self._gate.budget.note_rate_limited(error.message)
            if not should_retry(
                outcome, idempotent=idempotent, retries_done=retries_done, policy=self._policy
            ):
                raise error
            delay = retry_delay(
                outcome, retries_done, policy=self._policy, retry_after=retry_after, rng=self._rng
            )
            logger.warning("%s failed (%s); retry %d in %.2f s", operation, error, retries_done + 1, delay)
            await self._sleep(delay)
            retries_done += 1

    def _status_error(self, operation: str, response: httpx.Response) -> APIStatusError:
        message, error, body = _redacted_message(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return error_for_status(
            response.status_code,
            message,
            request_id=response.headers.get("X-UltraCart-Request-Id"),
            error=error,
            body=body,
            operation=operation,
            retry_after=retry_after,
        )

    def _parse(self, operation: str, response: httpx.Response, model: type[R]) -> R:
        request_id = response.headers.get("X-UltraCart-Request-Id")
        if response.status_code >= 400 or response.headers.get("UC-REST-ERROR"):
            raise self._status_error(operation, response)
        try:
            # One pass from bytes to models (no intermediate dicts): the hot path of every listing.
            result = model.model_validate_json(response.content)
        except ValidationError as exc:
            first = exc.errors()[0]
            if first["type"] in {"json_invalid", "model_type"}:
                raise APIResponseError(
                    f"UltraCart answered {operation} with a body that is not a JSON object",
                    status=response.status_code,
                    request_id=request_id,
                    body=response.text[:2000],
                ) from None
            raise APIResponseError(
                f"UltraCart's answer to {operation} did not match its schema: {first['msg']}",
                status=response.status_code,
                request_id=request_id,
            ) from None
        if result.error is not None and not result.success:
            raise self._status_error(operation, response)
        result._request_id = request_id
        if result.warning is not None:
            logger.warning(
                "UltraCart warning on %s (request id %s): %s",
                operation,
                request_id,
                result.warning.warning_message or result.warning.warning_code,
            )
        return result

    # ------------------------------------------------------------------ operations

    async def get_assignment_groups(
        self, *, limit: int = constants.MAX_PAGE_SIZE_PEOPLE, offset: int = 0
    ) -> WorkflowGroupsResponse:
        return await self._call(
            "getWorkflowAssignmentGroups",
            "GET",
            "workflow/assignment_groups",
            WorkflowGroupsResponse,
            params={"_limit": limit, "_offset": offset},
        )

    async def get_assignment_users(
        self, *, limit: int = constants.MAX_PAGE_SIZE_PEOPLE, offset: int = 0
    ) -> WorkflowUsersResponse:
        return await self._call(
            "getWorkflowAssignmentUsers",
            "GET",
            "workflow/assignment_users",
            WorkflowUsersResponse,
            params={"_limit": limit, "_offset": offset},
        )

    async def get_me(self) -> WorkflowUserResponse:
        return await self._call("getWorkflowMe", "GET", "workflow/me", WorkflowUserResponse)

    async def get_task(self, task_uuid: str, *, shared: bool = True) -> WorkflowTaskResponse:
        """One task. ``shared=False`` sends a GET of its own rather than join one already in flight (a
        read-modify-write must read after it took its locks)."""
        return await self._call(
            "getWorkflowTask",
            "GET",
            f"workflow/tasks/{quote(task_uuid, safe='')}",
            WorkflowTaskResponse,
            share=shared,
        )

    async def get_attachment_upload_url(self, extension: str) -> WorkflowAttachmentUploadUrlResponse:
        return await self._call(
            "getWorkflowTaskAttachmentUploadUrl",
            "GET",
            f"workflow/tasks/attachments/{quote(extension, safe='')}",
            WorkflowAttachmentUploadUrlResponse,
        )

    async def get_tasks_by_object(
        self, object_type: ObjectType | str, object_id: str
    ) -> WorkflowTasksResponse:
        # object types contain spaces ("auto order"): percent-encode them, never "+".
        return await self._call(
            "getWorkflowTaskByObjectType",
            "GET",
            f"workflow/tasks/by/{quote(str(object_type), safe='')}/{quote(object_id, safe='')}",
            WorkflowTasksResponse,
        )

    async def search_tasks(
        self,
        request: WorkflowTasksRequest,
        *,
        limit: int = constants.MAX_PAGE_SIZE_TASKS,
        offset: int = 0,
        sort: str | Sequence[str] | None = None,
    ) -> WorkflowTasksResponse:
        params: dict[str, str | int] = {"_limit": limit, "_offset": offset}
        if sort:
            params["_sort"] = encode_sort(sort)
        return await self._call(
            "getWorkflowTasks",
            "POST",
            "workflow/tasks/search",
            WorkflowTasksResponse,
            params=params,
            json=request.to_wire(),
        )

    async def insert_task(self, task: WorkflowTask) -> WorkflowTaskResponse:
        """Create a task. Not idempotent: retried only when the request provably never reached UltraCart."""
        return await self._call(
            "insertWorkflowTask",
            "POST",
            "workflow/tasks",
            WorkflowTaskResponse,
            json=task.to_wire(),
            idempotent=False,
        )

    async def update_task(self, task_uuid: str, task: WorkflowTask) -> WorkflowTaskResponse:
        """Replace the whole task (UltraCart has no PATCH): send every field you want to keep."""
        return await self._call(
            "updateWorkflowTask",
            "PUT",
            f"workflow/tasks/{quote(task_uuid, safe='')}",
            WorkflowTaskResponse,
            json=task.to_wire(),
        )

    async def get_open_count(self) -> WorkflowTaskOpenCountResponse:
        return await self._call(
            "getWorkflowTaskOpenCount", "GET", "workflow/tasks/open_count", WorkflowTaskOpenCountResponse
        )

    async def get_tags(self) -> WorkflowTaskTagsResponse:
        return await self._call("getWorkflowTaskTags", "GET", "workflow/tasks/tags", WorkflowTaskTagsResponse)

    async def get_agent_websocket_authorization(self) -> WorkflowAgentAuthResponse:
        return await self._call(
            "getWorkflowAgentWebsocketAuthorization", "PUT", "workflow/agent/auth", WorkflowAgentAuthResponse
        )

    # ------------------------------------------------------------------ pagination helpers

    @staticmethod
    async def paginate(fetch: Callable[[int, int], Awaitable[R]], page_size: int) -> AsyncIterator[R]:
        """Walk every page: iterate while ``more`` is true (UltraCart leaves it out on the last page)."""
        offset = 0
        while True:
            page = await fetch(page_size, offset)
            yield page
            result_set = page.result_set
            if not result_set or not result_set.more:
                return
            next_offset = result_set.next_offset
            if next_offset is None:
                next_offset = offset + (result_set.count or 0)
            if next_offset <= offset:
                return
            offset = next_offset

    async def list_all_users(self) -> tuple[list[WorkflowUser], int | None]:
        """Every assignable user (all pages, 200 a page) and the caller's own user id."""
        users: list[WorkflowUser] = []
        my_user_id: int | None = None
        pages = self.paginate(
            lambda limit, offset: self.get_assignment_users(limit=limit, offset=offset),
            constants.MAX_PAGE_SIZE_PEOPLE,
        )
        async for page in pages:
            users.extend(page.users or [])
            my_user_id = page.my_user_id if page.my_user_id is not None else my_user_id
        return users, my_user_id

    async def list_all_groups(self) -> list[WorkflowGroup]:
        groups: list[WorkflowGroup] = []
        pages = self.paginate(
            lambda limit, offset: self.get_assignment_groups(limit=limit, offset=offset),
            constants.MAX_PAGE_SIZE_PEOPLE,
        )
        async for page in pages:
            groups.extend(page.groups or [])
        return groups

    async def iter_tasks(
        self,
        request: WorkflowTasksRequest,
        *,
        sort: str | Sequence[str] | None = None,
        page_size: int = constants.MAX_PAGE_SIZE_TASKS,
    ) -> AsyncIterator[WorkflowTask]:
        """Every task matching ``request``, page by page at the maximum page size."""
        pages = self.paginate(
            lambda limit, offset: self.search_tasks(request, limit=limit, offset=offset, sort=sort), page_size
        )
        async for page in pages:
            for task in page.tasks or []:
                yield task

    # ------------------------------------------------------------------ attachments

    async def upload_bytes(self, url: str, content: bytes, *, content_type: str) -> None:
        """PUT a file's bytes to a presigned upload URL. The URL carries its own authorization: our
        UltraCart credential is never sent there, and the upload does not count against UltraCart's budget."""
        request = self._http.build_request(
            "PUT", url, content=content, headers={"Content-Type": content_type}
        )
        for name in self._auth_header_names:
            request.headers.pop(name, None)
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise APIConnectionError(
                f"Could not upload the file ({type(exc).__name__})", request_sent=True, operation="upload"
            ) from None
        if response.status_code >= 300:
            raise APIResponseError(
                f"The upload URL refused the file (HTTP {response.status_code})",
                status=response.status_code,
                body=response.text[:500],
            )
