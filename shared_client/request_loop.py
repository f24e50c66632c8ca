"""The client's one request loop: the HTTP transport, pacing, retries, timeouts and error mapping.

``RequestLoop._call`` takes a row of the operation table (``shared_client.operations``) and a response
model; the operation methods of ``WorkflowClient`` only describe their requests through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from shared_client import constants
from shared_client.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    UltraCartError,
    error_for_status,
)
from shared_client.logs import redact, redactable
from shared_client.models import BaseResponse, Error
from shared_client.operations import Operation
from shared_client.pacing import (
    BudgetSpec,
    BudgetWait,
    Gate,
    GateWait,
    credential_fingerprint,
    gate_for,
    shared_gate_for,
)
from shared_client.redis_support import SharedStateUnavailable
from shared_client.retry import (
    Outcome,
    RetryPolicy,
    outcome_for_status,
    parse_retry_after,
    retry_delay,
    should_retry,
)
from shared_client.settings import Settings, configured_secrets, current_settings

__all__ = ["DEFAULT_CALL_DEADLINE", "RequestLoop", "WaitBeyondDeadline"]

logger = logging.getLogger("uc_workflow.client")

R = TypeVar("R", bound=BaseResponse)

DEFAULT_CALL_DEADLINE = 60.0  # seconds: Settings.uc_workflow_call_deadline's default

# When the current tool call must be done, on the clock of the client that opened it (``call_scope``).
_call_deadline: ContextVar[float | None] = ContextVar("uc_workflow_call_deadline", default=None)


class WaitBeyondDeadline(RateLimitError):
    """The client refused to wait, in UltraCart's stead: the budget has no room (or this credential's
    earlier requests hold its one slot) for longer than the call may still take. Its message says when to
    try again; nothing was sent."""

    def __init__(self, message: str, *, retry_after: float | None, operation: str) -> None:
        super().__init__(message, retry_after=retry_after, status=429, operation=operation)


def _budget_spent(operation: str, spent: BudgetWait) -> WaitBeyondDeadline:
    budget = {3600.0: "hourly", 86400.0: "daily"}.get(spent.period, f"{spent.period:g}-second")
    when = (
        f"about {math.ceil(spent.wait)} seconds"
        if spent.wait < 120
        else f"about {math.ceil(spent.wait / 60)} minutes"
    )
    return WaitBeyondDeadline(
        f"UltraCart's {budget} budget for this key is spent; try again in {when}",
        retry_after=spent.wait,
        operation=operation,
    )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: building one costs ~15 ms of CPU, and every client would."""
    return ssl.create_default_context()


def _redacted_message(response: httpx.Response, secrets: tuple[str, ...]) -> tuple[str, Error | None, Any]:
    """UltraCart's message for an error answer: the UC-REST-ERROR header first, then the body. A secret
    it quotes (``Invalid simple key <key>``) is redacted here, so no error built on it can show it."""
    header = redact(response.headers.get("UC-REST-ERROR") or "", secrets)
    text = redact(response.text, secrets)
    body: Any = None
    error: Error | None = None
    try:
        body = json.loads(text)
    except ValueError:
        body = text[:2000]
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


class RequestLoop:
    """Sends requests to UltraCart: one credential, its process-wide gate, retries and error mapping.

    Pass ``api_key`` (a simple key) or ``oauth_token``. ``transport`` lets tests and the embedded sandbox
    plug in below the client. ``budget`` sets the client-side request budget. The gate (one request in
    flight at a time, the budget) is shared by every client with the same base URL and credential in every
    process using ``settings``' state (default ``current_settings()``): in ``UC_WORKFLOW_REDIS_URL`` when
    set, else in ``UC_WORKFLOW_STATE_DIR`` (``pacing.shared_gate_for``). ``gate_key`` instead names a gate
    of this process only (tests, the embedded sandbox). Requests made within ``pacing.background()`` queue
    behind interactive ones and spend at most the budget's background share.

    ``call_deadline`` bounds how long one call may wait for UltraCart (the budget, retries): a wait that
    would end past it fails at once instead. Within ``call_scope()`` (one tool call) every request shares
    one deadline; outside one, each operation has its own. ``clock`` and ``sleep`` are injectable for tests.
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
        settings: Settings | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        call_deadline: float | None = DEFAULT_CALL_DEADLINE,
    ) -> None:
        if bool(api_key) == bool(oauth_token):
            raise ValueError("WorkflowClient needs exactly one of api_key or oauth_token")
        credential = api_key or oauth_token or ""
        # Nothing UltraCart (or a proxy) answers leaves the client with a secret in it, quoted or not.
        self._secrets = redactable((credential, *configured_secrets()))
        self._secret_bytes = tuple(secret.encode() for secret in self._secrets)
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
        # The HTTP client (and its TLS context) is made on the first request: a server that starts and
        # lists its tools sends none, and starts that much sooner.
        self._http_options: dict[str, Any] = {
            "base_url": self.base_url + "/",
            "transport": transport,
            "timeout": timeout,
            "headers": {
                **auth_headers,
                "X-UltraCart-Api-Version": constants.API_VERSION,
                "Accept": "application/json",
                "User-Agent": constants.USER_AGENT,
            },
        }
        self._http_client: httpx.AsyncClient | None = None
        self.fingerprint = gate_key or credential_fingerprint(self.base_url, credential)
        """Names this client's credential in shared state (gate, budget, caches) without holding it."""
        spec = budget or BudgetSpec()
        self._gate: Gate = (
            gate_for(gate_key, spec)
            if gate_key
            else shared_gate_for(self.fingerprint, spec, settings or current_settings())
        )
        self._policy = retry_policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._clock = clock
        self.call_deadline = call_deadline
        self._inflight_gets: dict[tuple[str, str], asyncio.Task[httpx.Response]] = {}
        self.requests_sent = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._http_client is None:
            # A transport below the client (the sandbox, tests) needs no TLS context of ours.
            verify = _ssl_context() if self._http_options["transport"] is None else True
            self._http_client = httpx.AsyncClient(verify=verify, **self._http_options)
        return self._http_client

    @contextlib.contextmanager
    def call_scope(self) -> Iterator[None]:
        """One tool call: its requests share one deadline, ``call_deadline`` seconds from now. A scope
        inside another keeps the outer deadline (a call made by a call is not given more time)."""
        if self.call_deadline is None or _call_deadline.get() is not None:
            yield
            return
        token = _call_deadline.set(self._clock() + self.call_deadline)
        try:
            yield
        finally:
            _call_deadline.reset(token)

    def remaining_time(self) -> float | None:
        """Seconds left of the current call's deadline (None outside a call scope)."""
        deadline = _call_deadline.get()
        return None if deadline is None else deadline - self._clock()

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()

    def _build_request(self, operation: Operation, url: str, **kwargs: Any) -> httpx.Request:
        try:
            return self._http.build_request(operation.method, url, **kwargs)
        except httpx.InvalidURL as exc:
            message = f"The request for {operation.operation_id} could not be built ({exc})"
            raise APIConnectionError(message, request_sent=False, operation=operation.operation_id) from None

    async def _call(
        self,
        operation: Operation,
        model: type[R],
        *,
        path_params: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        share: bool = True,
    ) -> R:
        # Path parameters are percent-encoded whole: object types contain spaces ("auto order"), never "+".
        path = operation.path.format_map({k: quote(v, safe="") for k, v in (path_params or {}).items()})
        request = self._build_request(operation, path, params=params, json=json)
        name = operation.operation_id
        # Only reads are shared: a write (even the upload URL's GET) must reach UltraCart once per call.
        if operation.method == "GET" and not operation.is_write and share:
            response = await self._shared_get(name, request)
        else:
            response = await self._send_with_retries(name, request, idempotent=operation.idempotent)
        return self._parse(name, response, model)

    async def _shared_get(self, operation: str, request: httpx.Request) -> httpx.Response:
        """Identical GETs in flight at the same time are sent once and share the answer (and, through the
        task's copy of the context, the first caller's deadline)."""
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
        # The tool call's deadline; outside one (a direct client call), this operation's own.
        deadline = _call_deadline.get()
        if deadline is None and self.call_deadline is not None:
            deadline = self._clock() + self.call_deadline

        def remaining() -> float | None:
            return None if deadline is None else deadline - self._clock()

        retries_done = 0
        while True:
            retry_after: float | None = None
            error: UltraCartError
            started = time.perf_counter()
            try:
                async with self._gate.slot(remaining=remaining, sleep=self._sleep) as held:
                    self.requests_sent += 1
                    response = await self._http.send(request)
                    await response.aread()
                    if outcome_for_status(response.status_code) is Outcome.RATE_LIMITED:
                        # Told to the gate on its way out: the shared budget is written by its holder.
                        held.rate_limited = _redacted_message(response, self._secrets)[0]
            except SharedStateUnavailable as exc:
                exc.operation = operation
                raise
            except BudgetWait as spent:
                raise _budget_spent(operation, spent) from None
            except GateWait:
                raise WaitBeyondDeadline(
                    "UltraCart is still answering this key's earlier requests (they go one at a time); "
                    "try again in a minute",
                    retry_after=None,
                    operation=operation,
                ) from None
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
            if not should_retry(
                outcome, idempotent=idempotent, retries_done=retries_done, policy=self._policy
            ):
                raise error
            delay = retry_delay(
                outcome, retries_done, policy=self._policy, retry_after=retry_after, rng=self._rng
            )
            left = remaining()
            if left is not None and delay > left:
                # Checked before sleeping: a wait that ends past the deadline fails now, saying when.
                if isinstance(error, RateLimitError) and error.retry_after is None:
                    error.retry_after = delay
                logger.warning(
                    "%s failed (%s); a retry in %.2f s would pass the deadline", operation, error, delay
                )
                raise error
            logger.warning("%s failed (%s); retry %d in %.2f s", operation, error, retries_done + 1, delay)
            await self._sleep(delay)
            retries_done += 1

    def _status_error(self, operation: str, response: httpx.Response) -> APIStatusError:
        message, error, body = _redacted_message(response, self._secrets)
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
        content = response.content
        if any(secret in content for secret in self._secret_bytes):
            content = redact(response.text, self._secrets).encode()
        try:
            # One pass from bytes to models (no intermediate dicts): the hot path of every listing.
            result = model.model_validate_json(content)
        except ValidationError as exc:
            first = exc.errors()[0]
            if first["type"] in {"json_invalid", "model_type"}:
                raise APIResponseError(
                    f"UltraCart answered {operation} with a body that is not a JSON object",
                    status=response.status_code,
                    request_id=request_id,
                    operation=operation,
                    body=content.decode(errors="replace")[:2000],
                ) from None
            raise APIResponseError(
                f"UltraCart's answer to {operation} did not match its schema: {first['msg']}",
                status=response.status_code,
                request_id=request_id,
                operation=operation,
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
