"""The /rest/v2 pipeline (`RestApi`): route, credentials, in-flight and rate limits, version header,
injected faults, latency, then the operation's handler, whose SQLite work runs on the database thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from .asgi import base_url_of, json_headers, read_body
from .calls import Call, Sandbox
from .faults import IN_PROCESS_SCOPE_KEY, SandboxConnectionReset, SandboxReadTimeout
from .route_table import match_operation
from .wire import ApiError, dumps, error_body, new_request_id

log = logging.getLogger("uc_workflow.sandbox")

MAX_BODY = 5 * 1024 * 1024
# (status, body, UC-REST-ERROR message, network fault to emulate)
Answer = tuple[int, bytes, str | None, str | None]


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
        headers = json_headers(request_id, body, error)
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

    async def _handle(self, scope: Scope, receive: Receive, method: str, path: str) -> Answer:
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
            return self._error(ApiError(401, "Invalid credentials: no demo user has that login"))

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
                return self._error(ApiError(400, "The request body is too large"), fault)
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
                return self._error(exc, fault)
            except Exception:
                log.exception("sandbox bug in %s", op.operation_id)
                return self._error(ApiError(500, "Internal server error"), fault)
            metadata = payload.pop("metadata", {})
            return 200, dumps({"success": True, **payload, "metadata": metadata}), None, fault
        finally:
            sb.stats.leave(key)

    async def _identify(self, key: str, credential: str) -> dict[str, Any] | None:
        cached = self.sb.identities.get(key)
        if cached is not None:
            return cached
        login = credential[5:] if credential.lower().startswith("user:") else None
        user = await self.sb.run(self.sb.people.user_for_credential, login)
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

    def _fault_error(self, status: int) -> Answer:
        message = {
            429: "rate of 1000 per 3600 second(s) exceeded",
            500: "An internal server error occurred (sandbox fault injection)",
            503: "Service temporarily unavailable (sandbox fault injection)",
        }[status]
        return self._error(ApiError(status, message))

    @staticmethod
    def _error(exc: ApiError, fault: str | None = None) -> Answer:
        """The error answer; `fault` is a network fault still to emulate (the operation already ran)."""
        return exc.status, dumps(error_body(exc.status, exc.message, exc.object_id)), exc.message, fault
