"""The sandbox's HTTP face: UltraCart's Workflow API under /rest/v2, plus /_sandbox helpers.

Every /rest/v2 request goes through one pipeline (`RestApi.__call__`): route, credentials,
in-flight and rate limits, version header, injected faults, latency, then the operation on the
database thread. SQLite work never runs on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import SandboxConfig
from .faults import IN_PROCESS_SCOPE_KEY, SandboxConnectionReset, SandboxReadTimeout
from .limits import LeakyBuckets, Stats
from .search import build_search, parse_page
from .store import Store
from .tasks import validate_task
from .wire import (
    MERCHANT_ID,
    ApiError,
    bad_request,
    dumps,
    error_body,
    header_safe,
    new_request_id,
    normalise_object_type,
    stored_to_wire,
    task_context_for,
)

log = logging.getLogger("uc_workflow.sandbox")

T = TypeVar("T")
MAX_BODY = 5 * 1024 * 1024
MAX_UPLOAD = 10 * 1024 * 1024
REQUEST_ID_HEADER = "X-UltraCart-Request-Id"
_EXTENSION = re.compile(r"^[A-Za-z0-9]{1,10}$")
_TASK_DATES = ("created_dts", "last_update_dts", "due_dts", "delay_until_dts", "expiration_dts")


@dataclass
class Call:
    """What an operation handler gets."""

    caller: dict[str, Any]
    path: dict[str, str]
    query: dict[str, str]
    body: bytes
    base_url: str
    ip: str | None

    def json(self, empty: Any = None) -> Any:
        if not self.body.strip():
            if empty is not None:
                return empty
            raise bad_request("A JSON request body is required")
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            raise bad_request(f"Invalid JSON in the request body: {exc}") from None


Handler = Callable[["Sandbox", Call], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Operation:
    method: str
    pattern: re.Pattern[str]
    operation_id: str
    handler: Handler


@dataclass
class Sandbox:
    """State shared by the routes of one app: config, store, database thread, limits, stats."""

    config: SandboxConfig
    store: Store
    executor: ThreadPoolExecutor
    stats: Stats
    buckets: LeakyBuckets
    rng: random.Random
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self.executor.submit(fn, *args))


# --- rendering --------------------------------------------------------------------------------------


def _render_attachments(attachments: list[dict[str, Any]], base_url: str) -> list[dict[str, Any]]:
    out = []
    for attachment in attachments:
        item = dict(attachment)
        if item.get("file_uuid"):
            item["download_key"] = f"{base_url}/_sandbox/files/{item['file_uuid']}"
        out.append(item)
    return out


def render_task(doc: dict[str, Any], base_url: str) -> dict[str, Any]:
    task = dict(doc)
    for key in _TASK_DATES:
        if key in task:
            task[key] = stored_to_wire(task[key])
    if task.get("attachments"):
        task["attachments"] = _render_attachments(task["attachments"], base_url)
    notes = []
    for raw in task.get("notes") or []:
        note = dict(raw)
        for key in ("note_dts", "edit_dts"):
            if key in note:
                note[key] = stored_to_wire(note[key])
        if note.get("attachments"):
            note["attachments"] = _render_attachments(note["attachments"], base_url)
        notes.append(note)
    if "notes" in task:
        task["notes"] = notes
    if "histories" in task:
        task["histories"] = [
            {**h, "activity_dts": stored_to_wire(h.get("activity_dts"))} for h in task["histories"]
        ]
    return dict(sorted(task.items()))


def result_set(count: int, offset: int, limit: int, total: int) -> dict[str, Any]:
    """`more` and `next_offset` are left out on the last page, as UltraCart does."""
    page: dict[str, Any] = {"count": count, "offset": offset, "limit": limit, "total_records": total}
    if offset + count < total:
        page["more"] = True
        page["next_offset"] = offset + count
    return page


# --- operations -------------------------------------------------------------------------------------


async def agent_auth(sb: Sandbox, call: Call) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"merchant_id": MERCHANT_ID, "user_id": call.caller["user_id"], "exp": int(time.time()) + 3600}
    token = f"{header}.{b64(json.dumps(claims).encode())}.{b64(os.urandom(32))}"
    ws_url = re.sub(r"^http", "ws", call.base_url) + "/_sandbox/agent"
    return {"agent_auth": {"jwt": token, "merchant_id": MERCHANT_ID, "websocket_url": ws_url}}


async def assignment_groups(sb: Sandbox, call: Call) -> dict[str, Any]:
    limit, offset = parse_page(call.query, 100, 200)
    groups, total = await sb.db(sb.store.list_groups, limit, offset)
    return {"groups": groups, "metadata": {"result_set": result_set(len(groups), offset, limit, total)}}


async def assignment_users(sb: Sandbox, call: Call) -> dict[str, Any]:
    limit, offset = parse_page(call.query, 100, 200)
    users, total = await sb.db(sb.store.list_users, limit, offset)
    return {
        "users": users,
        "my_user_id": call.caller["user_id"],
        "metadata": {"result_set": result_set(len(users), offset, limit, total)},
    }


async def me(sb: Sandbox, call: Call) -> dict[str, Any]:
    return {"user": dict(call.caller)}


async def get_task(sb: Sandbox, call: Call) -> dict[str, Any]:
    doc = await sb.db(sb.store.get_task, call.path["task_uuid"])
    return {"task": render_task(doc, call.base_url)}


async def upload_url(sb: Sandbox, call: Call) -> dict[str, Any]:
    extension = call.path["extension"]
    if not _EXTENSION.match(extension):
        raise bad_request("extension must be 1 to 10 letters or digits, e.g. pdf or png")
    key = await sb.db(sb.store.create_upload, extension)
    return {"workflow_attachment_upload_url": {"key": key, "url": f"{call.base_url}/_sandbox/uploads/{key}"}}


async def tasks_by_object(sb: Sandbox, call: Call) -> dict[str, Any]:
    object_type = normalise_object_type(call.path["object_type"])
    if object_type is None:
        raise bad_request(
            f"Unknown object_type {call.path['object_type']!r}: use order, auto order, item, "
            "customer profile or storefront (URL-encode the space)"
        )
    object_id = call.path["object_id"]
    docs = await sb.db(sb.store.tasks_by_object, object_type, object_id)
    context = next((d["task_context"] for d in docs if d.get("task_context")), None)
    return {
        "task_context": context or task_context_for(object_type, object_id, None),
        "tasks": [render_task(d, call.base_url) for d in docs],
    }


async def open_count(sb: Sandbox, call: Call) -> dict[str, Any]:
    return {"open_count": await sb.db(sb.store.open_count)}


async def search_tasks(sb: Sandbox, call: Call) -> dict[str, Any]:
    query = build_search(call.json(empty={}), call.query)
    docs, total = await sb.db(sb.store.search, query, call.caller["user_id"])
    return {
        "tasks": [render_task(d, call.base_url) for d in docs],
        "metadata": {"result_set": result_set(len(docs), query.offset, query.limit, total)},
    }


async def task_tags(sb: Sandbox, call: Call) -> dict[str, Any]:
    return {"tags": await sb.db(sb.store.tags)}


async def insert_task(sb: Sandbox, call: Call) -> dict[str, Any]:
    body = validate_task(call.json())
    doc = await sb.db(sb.store.insert_task, body, call.caller, call.ip)
    return {"task": render_task(doc, call.base_url)}


async def update_task(sb: Sandbox, call: Call) -> dict[str, Any]:
    body = validate_task(call.json())
    doc = await sb.db(sb.store.update_task, call.path["task_uuid"], body, call.caller, call.ip)
    return {"task": render_task(doc, call.base_url)}


def _op(method: str, path: str, operation_id: str, handler: Handler) -> Operation:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Operation(method, re.compile(f"^{pattern}$"), operation_id, handler)


# Order matters: the literal task paths come before /workflow/tasks/{task_uuid}.
OPERATIONS: tuple[Operation, ...] = (
    _op("PUT", "/workflow/agent/auth", "getWorkflowAgentWebsocketAuthorization", agent_auth),
    _op("GET", "/workflow/assignment_groups", "getWorkflowAssignmentGroups", assignment_groups),
    _op("GET", "/workflow/assignment_users", "getWorkflowAssignmentUsers", assignment_users),
    _op("GET", "/workflow/me", "getWorkflowMe", me),
    _op("POST", "/workflow/tasks", "insertWorkflowTask", insert_task),
    _op("GET", "/workflow/tasks/attachments/{extension}", "getWorkflowTaskAttachmentUploadUrl", upload_url),
    _op(
        "GET", "/workflow/tasks/by/{object_type}/{object_id}", "getWorkflowTaskByObjectType", tasks_by_object
    ),
    _op("GET", "/workflow/tasks/open_count", "getWorkflowTaskOpenCount", open_count),
    _op("POST", "/workflow/tasks/search", "getWorkflowTasks", search_tasks),
    _op("GET", "/workflow/tasks/tags", "getWorkflowTaskTags", task_tags),
    _op("GET", "/workflow/tasks/{task_uuid}", "getWorkflowTask", get_task),
    _op("PUT", "/workflow/tasks/{task_uuid}", "updateWorkflowTask", update_task),
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


# --- HTTP plumbing ----------------------------------------------------------------------------------


def base_url_of(scope: Scope) -> str:
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "127.0.0.1"
    return f"{scope.get('scheme', 'http')}://{host}"


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _headers(request_id: str, body: bytes, error: str | None) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", b"application/json; charset=UTF-8"),
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
    ]
    if error is not None:
        headers.append((b"uc-rest-error", header_safe(error).encode("latin-1")))
    return headers


class RestApi:
    """The /rest/v2 pipeline as a plain ASGI app."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = new_request_id()
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else scope["path"]
        if path.startswith("/rest/v2"):
            path = path[len("/rest/v2") :]
        path = path.rstrip("/") or "/"
        method = scope["method"]
        status, body, error, fault = await self._handle(scope, receive, method, path)
        log.info(
            "%s %s -> %s%s (%s, %.1f ms)",
            method,
            scope["path"],
            status,
            f" [{fault} fault]" if fault else "",
            request_id,
            (time.perf_counter() - started) * 1000,
        )
        headers = _headers(request_id, body, error)
        in_process = bool(scope.get(IN_PROCESS_SCOPE_KEY))
        if fault == "reset":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            if in_process:
                raise SandboxConnectionReset("connection reset by the sandbox after the request took effect")
            return  # the server closes the connection on an incomplete response
        if fault == "timeout":
            if in_process:
                raise SandboxReadTimeout("the sandbox never answered, after the request took effect")
            await asyncio.sleep(self.sb.config.fault_timeout)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _handle(
        self, scope: Scope, receive: Receive, method: str, path: str
    ) -> tuple[int, bytes, str | None, str | None]:
        """(status, body, UC-REST-ERROR message, network fault to emulate)."""
        sb = self.sb
        sb.stats.requests_total += 1
        op, params, path_exists = match_operation(method, path)
        if op is None:
            if path_exists:
                return self._error(ApiError(405, f"Method {method} is not allowed on {path}"))
            return self._error(ApiError(404, f"No such resource: /rest/v2{path}"))
        sb.stats.requests[op.operation_id] += 1

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        credential = headers.get("x-ultracart-simple-key", "").strip()
        if not credential:
            auth = headers.get("authorization", "").strip()
            if auth[:7].lower() == "bearer ":
                credential = auth[7:].strip()
        if not credential:
            return self._error(
                ApiError(401, "Missing credentials: send x-ultracart-simple-key or Authorization: Bearer")
            )
        key = hashlib.sha256(credential.encode()).hexdigest()[:24]
        caller = await self._identify(key, credential)
        if caller is None:
            return self._error(ApiError(401, "Invalid credentials: no demo user has that email"))

        in_flight = sb.stats.enter(key)
        try:  # the slot is released before a `timeout` fault hangs (in __call__)
            if in_flight > 1 and not sb.config.allow_concurrent:
                sb.stats.rate_limited += 1
                return self._error(
                    ApiError(429, "Concurrent requests are not allowed: wait for the previous response")
                )
            exceeded = sb.buckets.admit(key)
            if exceeded is not None:
                sb.stats.rate_limited += 1
                return self._error(ApiError(429, exceeded))
            if not headers.get("x-ultracart-api-version", "").strip():
                return self._error(
                    ApiError(400, "Missing required header X-UltraCart-Api-Version: 2017-03-01")
                )
            fault = self._pick_fault()
            if fault in ("429", "500", "503"):
                return self._fault_error(int(fault))
            if sb.config.latency > 0:
                await asyncio.sleep(sb.config.latency)
            body = await read_body(receive, MAX_BODY)
            if body is None:
                status, data, error, _ = self._error(ApiError(400, "The request body is too large"))
                return status, data, error, fault
            call = Call(
                caller={k: v for k, v in caller.items() if v is not None},
                path=params,
                query=dict(
                    parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                ),
                body=body,
                base_url=base_url_of(scope),
                ip=(scope.get("client") or (None,))[0],
            )
            try:
                payload = await op.handler(sb, call)
            except ApiError as exc:
                status, data, error, _ = self._error(exc)
                return status, data, error, fault
            except Exception:
                log.exception("sandbox bug in %s", op.operation_id)
                status, data, error, _ = self._error(ApiError(500, "Internal server error"))
                return status, data, error, fault
            metadata = payload.pop("metadata", {})
            return 200, dumps({"success": True, **payload, "metadata": metadata}), None, fault
        finally:
            sb.stats.leave(key)

    async def _identify(self, key: str, credential: str) -> dict[str, Any] | None:
        cached = self.sb.identities.get(key)
        if cached is not None:
            return cached
        email = credential[5:] if credential.lower().startswith("user:") else None
        user = await self.sb.db(self.sb.store.user_for_credential, email)
        if user is not None:
            self.sb.identities[key] = user
        return user

    def _pick_fault(self) -> str | None:
        config = self.sb.config
        if config.fault_rate <= 0 or not config.fault_kinds:
            return None
        if self.sb.rng.random() >= config.fault_rate:
            return None
        self.sb.stats.faults_injected += 1
        return self.sb.rng.choice(config.fault_kinds)

    def _fault_error(self, status: int) -> tuple[int, bytes, str | None, str | None]:
        message = {
            429: "rate of 1000 per 3600 second(s) exceeded",
            500: "An internal server error occurred (sandbox fault injection)",
            503: "Service temporarily unavailable (sandbox fault injection)",
        }[status]
        return self._error(ApiError(status, message))

    @staticmethod
    def _error(exc: ApiError) -> tuple[int, bytes, str | None, str | None]:
        return exc.status, dumps(error_body(exc.status, exc.message, exc.object_id)), exc.message, None


# --- /_sandbox helpers and the app ------------------------------------------------------------------


def error_response(status: int, message: str) -> Response:
    return Response(
        dumps(error_body(status, message)),
        status_code=status,
        media_type="application/json",
        headers={"UC-REST-ERROR": header_safe(message)},
    )


class RequestIdMiddleware:
    """Every response carries X-UltraCart-Request-Id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if not any(k.lower() == b"x-ultracart-request-id" for k, _ in headers):
                    headers.append((b"x-ultracart-request-id", new_request_id().encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(config: SandboxConfig) -> Starlette:
    """Open (and seed on first use) the database, and build the app."""
    from starlette.middleware import Middleware

    from .limits import LeakyBuckets

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uc-sandbox-db")
    store = Store(config.resolved_db_path())
    executor.submit(store.initialise, config.reset, config.seed_tasks).result()
    sb = Sandbox(
        config=config,
        store=store,
        executor=executor,
        stats=Stats(OPERATION_IDS),
        buckets=LeakyBuckets(config.rate_limit),
        rng=random.Random(config.seed),
    )
    rest = RestApi(sb)

    async def stats(request: Request) -> Response:
        return JSONResponse(sb.stats.snapshot())

    async def stats_reset(request: Request) -> Response:
        sb.stats.reset()
        return JSONResponse(sb.stats.snapshot())

    async def put_upload(request: Request) -> Response:
        key = request.path_params["key"]
        data = await read_body(request.receive, MAX_UPLOAD)
        if data is None:
            return error_response(413, "Uploads are limited to 10 MB")
        if not await sb.db(store.store_upload, key, data):
            return error_response(
                404, "Unknown upload key: ask /workflow/tasks/attachments/{extension} first"
            )
        return Response(status_code=200)

    async def get_file(request: Request) -> Response:
        found = await sb.db(store.get_file, request.path_params["file_uuid"])
        if found is None:
            return error_response(404, "No such file")
        data, mime, name = found
        safe_name = header_safe(name).replace('"', "")
        return Response(
            data, media_type=mime, headers={"Content-Disposition": f'inline; filename="{safe_name}"'}
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return error_response(status, f"No such resource: {request.url.path}")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.wrap_future(executor.submit(store.close))
        executor.shutdown(wait=False)

    routes = [
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/stats/reset", stats_reset, methods=["POST"]),
        Route("/_sandbox/uploads/{key:path}", put_upload, methods=["PUT"]),
        Route("/_sandbox/files/{file_uuid}", get_file, methods=["GET"]),
        Route("/rest/v2/{rest:path}", rest),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    app.state.sandbox = sb
    return app


__all__ = ["OPERATION_IDS", "create_app", "render_task"]
