"""``uc-workflow-mcp --transport http --credentials per-request``: every caller brings their own key.

Every HTTP request carries the caller's UltraCart simple key in ``x-ultracart-simple-key`` (the header
UltraCart itself reads). Nothing is stored on disk. ``CallerKeyMiddleware`` (ASGI, in front of mcp) answers
401 to a request without a key, or with one UltraCart refuses, and otherwise leases that key's
``ToolContext`` from ``CallerContexts`` for the request and puts it in the ASGI scope's state;
``CallerContextMiddleware`` (mcp's, around every message) moves it into a contextvar for the handler,
and ``CallerContexts.current()`` is what the tools, the resource and the completions use.

A key is verified once with ``GET /workflow/me`` and the verdict remembered by the key's SHA-256 (never
the key) for a few minutes, refused keys included. Each key has its own client, kept in an LRU bounded
by ``max_clients`` (its connection pool, people directory and task-number map are reused) and closed when
evicted or at shutdown. Each client's gate and budget are its key's: ``RequestLoop`` keys the shared gate
by the credential's fingerprint, in ``UC_WORKFLOW_STATE_DIR`` or ``UC_WORKFLOW_REDIS_URL``, so replicas
share one key's budget and never put two of its requests in flight. The key appears in no log line, error
or answer: the client redacts its own credential from what UltraCart says, and this module names a key
only by a short prefix of its fingerprint.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from shared_client.errors import (
    ApplicationDisabledError,
    AuthenticationError,
    PermissionDeniedError,
    UltraCartError,
)
from shared_client.tools import ToolContext

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from shared_client.client import WorkflowClient
    from shared_client.feed.events import ChangeLog

logger = logging.getLogger(__name__)

KEY_HEADER = "x-ultracart-simple-key"
STATE_KEY = "uc_workflow_caller_context"  # in the ASGI scope's "state"
VERIFIED_FOR = 300.0  # seconds a key UltraCart accepted is taken as good without asking again
REFUSED_FOR = 120.0  # seconds a key UltraCart refused is refused without asking again
MAX_CLIENTS = 256  # keys with a client (and its connection pool and caches) kept at once
MAX_VERDICTS = 4096  # verdicts remembered (fingerprints only)
MAX_KEY_LENGTH = 512  # longer is no simple key: refused without asking UltraCart

MISSING_KEY = (
    f"Send your own UltraCart simple key in the {KEY_HEADER} header: this server acts with each caller's "
    "own key and has none of its own."
)
REFUSED_KEY = (
    f"UltraCart refused the key in the {KEY_HEADER} header: send a valid UltraCart simple key "
    "(one with access to Workflow)."
)
MALFORMED_KEY = (
    f"The {KEY_HEADER} header holds no UltraCart simple key: send the key itself (printable ASCII "
    f"characters, at most {MAX_KEY_LENGTH})."
)
UNVERIFIED_KEY = (
    f"UltraCart could not be asked about the key in the {KEY_HEADER} header just now: try again shortly."
)

_current: ContextVar[ToolContext | None] = ContextVar("uc_workflow_caller_context", default=None)


def well_formed(key: str) -> bool:
    """Whether ``key`` can be a simple key at all: printable ASCII, not too long. Anything else is refused
    without asking UltraCart (an HTTP header cannot carry it there: the client would fail to send it)."""
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def key_fingerprint(key: str) -> str:
    """What names a key in memory and logs: its SHA-256, never the key."""
    return hashlib.sha256(b"uc-workflow-mcp/caller-key\0" + key.encode()).hexdigest()


class KeyRefused(Exception):
    """UltraCart refused the key (401, 403 or 410 to GET /workflow/me), now or within ``REFUSED_FOR``."""


class KeyUnverified(Exception):
    """UltraCart could not be asked (unreachable, rate limited, 5xx): nothing is remembered."""


@dataclass
class _Caller:
    context: ToolContext
    users: int = 0
    verifying: asyncio.Lock = field(default_factory=asyncio.Lock)
    verified: bool = False  # UltraCart accepted the key once: its client is worth keeping


class CallerContexts:
    """One ``ToolContext`` per caller's key, each with its own ``WorkflowClient`` from ``client_for``.
    ``sandbox`` and ``description`` say where the keys go (for the server's instructions)."""

    def __init__(
        self,
        client_for: Callable[[str], WorkflowClient],
        *,
        sandbox: bool,
        description: str,
        max_clients: int = MAX_CLIENTS,
        verified_for: float = VERIFIED_FOR,
        refused_for: float = REFUSED_FOR,
        clock: Callable[[], float] = time.monotonic,
        change_log: ChangeLog | None = None,
    ) -> None:
        self.client_for = client_for
        self.change_log = change_log  # the change feed's events, read with each caller's key's fingerprint
        self.sandbox = sandbox
        self.description = description
        self.max_clients = max_clients
        self.verified_for = verified_for
        self.refused_for = refused_for
        self.clock = clock
        self._callers: OrderedDict[str, _Caller] = OrderedDict()
        self._verdicts: OrderedDict[str, tuple[bool, float]] = OrderedDict()  # fingerprint → (ok, until)
        # Writes to one task are serialized across callers too, not only within one caller's context.
        self._task_locks: dict[str, asyncio.Lock] = {}
        self.verifications = 0  # GET /workflow/me sent to verify a key (tests, diagnostics)
        self._closing: set[asyncio.Task[None]] = set()

    def _verdict(self, fingerprint: str) -> bool | None:
        found = self._verdicts.get(fingerprint)
        if found is None:
            return None
        ok, until = found
        if self.clock() >= until:
            del self._verdicts[fingerprint]
            return None
        return ok

    def _remember(self, fingerprint: str, ok: bool) -> None:
        self._verdicts[fingerprint] = (ok, self.clock() + (self.verified_for if ok else self.refused_for))
        self._verdicts.move_to_end(fingerprint)
        while len(self._verdicts) > MAX_VERDICTS:
            self._verdicts.popitem(last=False)

    def _caller(self, fingerprint: str, key: str) -> _Caller:
        caller = self._callers.get(fingerprint)
        if caller is None:
            context = ToolContext(
                self.client_for(key),
                sandbox=self.sandbox,
                description=self.description,
                allow_local_files=False,  # the caller is on another machine
                change_log=self.change_log,
                _task_locks=self._task_locks,
            )
            caller = self._callers[fingerprint] = _Caller(context)
        self._callers.move_to_end(fingerprint)
        return caller

    async def _evict_idle(self) -> None:
        """Close the least recently used clients nobody is using, down to ``max_clients``."""
        extra = len(self._callers) - self.max_clients
        idle = [fp for fp, caller in self._callers.items() if caller.users == 0][: max(extra, 0)]
        for fingerprint in idle:
            caller = self._callers.pop(fingerprint)
            await caller.context.client.aclose()

    async def acquire(self, key: str) -> ToolContext:
        """The key's context, verified (once per ``verified_for``), leased until ``release``. KeyRefused when
        UltraCart refuses the key, KeyUnverified when UltraCart cannot be asked now."""
        fingerprint = key_fingerprint(key)
        if not well_formed(key) or self._verdict(fingerprint) is False:
            raise KeyRefused
        caller = self._caller(fingerprint, key)
        caller.users += 1
        try:
            if self._verdict(fingerprint) is None:
                async with caller.verifying:  # one GET /workflow/me per key, however many arrive at once
                    if self._verdict(fingerprint) is None:
                        await self._verify(fingerprint, caller)
            if self._verdict(fingerprint) is not True:
                raise KeyRefused
        except BaseException:
            self._release(fingerprint, caller)
            raise
        await self._evict_idle()
        return caller.context

    async def _verify(self, fingerprint: str, caller: _Caller) -> None:
        self.verifications += 1
        try:
            await caller.context.client.get_me()
        except (AuthenticationError, PermissionDeniedError, ApplicationDisabledError) as exc:
            logger.warning("refused a caller key (%s…): UltraCart answered %s", fingerprint[:12], exc.status)
            self._remember(fingerprint, False)
            return
        except UltraCartError as exc:
            logger.warning(
                "could not verify a caller key (%s…) with UltraCart: %s", fingerprint[:12], type(exc).__name__
            )
            raise KeyUnverified from None
        logger.info("verified a caller key (%s…) with UltraCart", fingerprint[:12])
        self._remember(fingerprint, True)
        caller.verified = True

    def release(self, context: ToolContext) -> None:
        for fingerprint, caller in self._callers.items():
            if caller.context is context:
                self._release(fingerprint, caller)
                return

    def _release(self, fingerprint: str, caller: _Caller) -> None:
        caller.users -= 1
        if caller.users == 0 and (not caller.verified or self._verdict(fingerprint) is False):
            # No client is kept for a key UltraCart refused, or could not be asked about: made-up keys
            # must not pile up a client (and its connection pool) each while UltraCart is unreachable.
            if self._callers.get(fingerprint) is not caller:
                return
            self._callers.pop(fingerprint)
            closing = asyncio.get_running_loop().create_task(caller.context.client.aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    def current(self) -> ToolContext:
        """The calling request's context (set by ``CallerContextMiddleware``). Never another caller's:
        outside a verified request this raises."""
        context = _current.get()
        if context is None:
            from mcp.shared.exceptions import MCPError
            from mcp.types import INVALID_REQUEST

            raise MCPError(INVALID_REQUEST, MISSING_KEY)
        return context

    @property
    def clients(self) -> int:
        return len(self._callers)

    async def aclose(self) -> None:
        callers = list(self._callers.values())
        self._callers.clear()
        for caller in callers:
            await caller.context.client.aclose()
        if self._closing:
            await asyncio.gather(*self._closing)


def _refusal(status: int, message: str) -> JSONResponse:
    """The shape ``server.auth.BearerTokenMiddleware`` answers with."""
    headers = (
        {"WWW-Authenticate": f'UltraCart-Simple-Key realm="uc-workflow-mcp", header="{KEY_HEADER}"'}
        if status == 401
        else {"Retry-After": "5"}
    )
    error = "unauthorized" if status == 401 else "temporarily_unavailable"
    return JSONResponse({"error": error, "error_description": message}, status_code=status, headers=headers)


class CallerKeyMiddleware:
    """Answers 401 unless the request carries a key UltraCart accepts; otherwise serves it with that key's
    context in ``scope["state"]`` (leased for the request). Closes every caller's client at shutdown."""

    def __init__(self, app: ASGIApp, contexts: CallerContexts) -> None:
        self.app = app
        self.contexts = contexts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        key = (Headers(scope=scope).get(KEY_HEADER) or "").strip()
        client = scope.get("client")
        where = client[0] if client else "unknown"
        if not key:
            logger.warning("refused a request without %s from %s", KEY_HEADER, where)
            await _refusal(401, MISSING_KEY)(scope, receive, send)
            return
        if not well_formed(key):
            logger.warning("refused a request whose %s holds no simple key from %s", KEY_HEADER, where)
            await _refusal(401, MALFORMED_KEY)(scope, receive, send)
            return
        try:
            context = await self.contexts.acquire(key)
        except KeyRefused:
            logger.warning("refused a request with a key UltraCart refuses from %s", where)
            await _refusal(401, REFUSED_KEY)(scope, receive, send)
            return
        except KeyUnverified:
            await _refusal(503, UNVERIFIED_KEY)(scope, receive, send)
            return
        try:
            state = scope.setdefault("state", {})
            state[STATE_KEY] = context
            await self.app(scope, receive, send)
        finally:
            self.contexts.release(context)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.contexts.aclose()
            await send(message)

        await self.app(scope, receive, closing)


class CallerContextMiddleware:
    """mcp's middleware (around every inbound message, in the handler's own task): the verified context
    ``CallerKeyMiddleware`` put in this message's own HTTP request, in the contextvar ``current()`` reads.
    Per message, not per session: a handshake-era session's later POSTs each bring their own key."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        scope = getattr(ctx.request, "scope", None)
        context = (scope or {}).get("state", {}).get(STATE_KEY)
        token = _current.set(context if isinstance(context, ToolContext) else None)
        try:
            return await call_next(ctx)
        finally:
            _current.reset(token)
