"""One way to build a client from settings: UltraCart when a key or token is set, otherwise the sandbox
in-process (through an ASGI transport, no port), announced once on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from shared_client.client import WorkflowClient
from shared_client.pacing import BudgetSpec, credential_fingerprint
from shared_client.settings import ConfigurationError, Settings, current_settings

SANDBOX_BASE_URL = "http://sandbox.uc-workflow.invalid/rest/v2"
SANDBOX_DEFAULT_KEY = "sandbox-owner"

_announced = False


@dataclass
class Backend:
    client: WorkflowClient
    sandbox: bool
    description: str


def _announce(message: str) -> None:
    global _announced
    if not _announced:
        _announced = True
        print(f"uc-workflow: {message}", file=sys.stderr, flush=True)


def _without_userinfo(url: str) -> str:
    """A URL fit for logs and MCP instructions: any user:password@ part dropped."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_redis(url: str) -> None:
    """ConfigurationError unless Redis at ``url`` answers a PING: said once at start, in one line, rather
    than on each call. Synchronous: commands call it before any event loop runs."""
    import redis

    from shared_client.redis_support import describe_redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise ConfigurationError(
            f"UC_WORKFLOW_REDIS_URL: Redis at {describe_redis(url)} does not answer ({type(exc).__name__}); "
            "start it, or unset UC_WORKFLOW_REDIS_URL to share the gate through UC_WORKFLOW_STATE_DIR "
            "on this machine only"
        ) from None
    finally:
        client.close()


def build_backend(settings: Settings | None = None, *, force_sandbox: bool = False) -> Backend:
    """The client ``settings`` (default: this process's) call for; ConfigurationError when it cannot work
    (Redis set in ``UC_WORKFLOW_REDIS_URL`` and not answering, included). For commands before their event
    loop runs; code already on one uses ``build_backend_async``."""
    settings = settings or current_settings()
    if settings.redis_url:
        check_redis(settings.redis_url)
    return _build(settings, force_sandbox)


async def build_backend_async(settings: Settings | None = None, *, force_sandbox: bool = False) -> Backend:
    """``build_backend`` on an event loop: the Redis check (a round trip that may wait for its timeouts)
    runs in a worker thread, not on the loop."""
    import asyncio

    settings = settings or current_settings()
    if settings.redis_url:
        await asyncio.to_thread(check_redis, settings.redis_url)
    return _build(settings, force_sandbox)


def _embedded_sandbox(settings: Settings) -> Callable[[str], WorkflowClient]:
    """The sandbox in this process (``UC_WORKFLOW_SANDBOX_DB``), as a maker of clients for a key: each its
    own transport (a client closes its transport) and this app's own gates (an ``id()`` can be reused once
    an app is gone, and would hand its budget on)."""
    import sqlite3
    import uuid

    from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app

    db_path = settings.sandbox_db_path
    try:
        app = create_app(SandboxConfig(db_path=db_path))
    except (OSError, sqlite3.Error) as exc:
        raise ConfigurationError(
            f"UC_WORKFLOW_SANDBOX_DB: cannot open the sandbox database {db_path} ({exc})"
        ) from None
    place = f"{SANDBOX_BASE_URL}#{uuid.uuid4().hex}"

    def client_for(key: str) -> WorkflowClient:
        return WorkflowClient(
            api_key=key,
            base_url=SANDBOX_BASE_URL,
            transport=SandboxTransport(app),
            gate_key=credential_fingerprint(place, key),
            budget=BudgetSpec(),
            call_deadline=settings.uc_workflow_call_deadline,
        )

    return client_for


def _ultracart(settings: Settings, *, api_key: str | None, oauth_token: str | None = None) -> WorkflowClient:
    return WorkflowClient(
        api_key=api_key,
        oauth_token=oauth_token,
        base_url=settings.ultracart_base_url,
        call_deadline=settings.uc_workflow_call_deadline,
        settings=settings,
    )


def _sandbox_description(settings: Settings) -> str:
    return f"the local sandbox (demo data in {settings.sandbox_db_path})"


def _ultracart_description(settings: Settings) -> str:
    return f"UltraCart at {_without_userinfo(settings.ultracart_base_url)}"


def _build(settings: Settings, force_sandbox: bool) -> Backend:
    if settings.uses_sandbox(force_sandbox):
        key = (
            settings.ultracart_api_key.get_secret_value()
            if settings.ultracart_api_key
            else SANDBOX_DEFAULT_KEY
        )
        client = _embedded_sandbox(settings)(key)
        reason = (
            "UC_WORKFLOW_SANDBOX is set" if settings.has_ultracart_credentials else "no UltraCart credentials"
        )
        description = _sandbox_description(settings)
        _announce(f"{reason}; using {description}")
        return Backend(client=client, sandbox=True, description=description)
    api_key = settings.ultracart_api_key.get_secret_value() if settings.ultracart_api_key else None
    token = None if api_key else settings.ultracart_oauth_token.get_secret_value()  # type: ignore[union-attr]
    client = _ultracart(settings, api_key=api_key, oauth_token=token)
    return Backend(client=client, sandbox=False, description=_ultracart_description(settings))


@dataclass
class KeyedBackend:
    """Where callers' own simple keys go (``uc-workflow-mcp --credentials per-request``): ``client_for(key)``
    builds a client for one caller's key; no credential of the server's is used."""

    client_for: Callable[[str], WorkflowClient]
    sandbox: bool
    description: str


def build_keyed_backend(settings: Settings | None = None, *, sandbox: bool = False) -> KeyedBackend:
    """UltraCart at ``ULTRACART_BASE_URL``, whatever credentials are (not) set; the embedded sandbox only
    when ``sandbox`` (keys then go to it: a demo user's ``user:EMAIL`` acts as that user, any other key as
    the owner). Each client's gate and budget are its key's (shared across processes as usual)."""
    settings = settings or current_settings()
    if settings.redis_url:
        check_redis(settings.redis_url)
    if sandbox:
        description = _sandbox_description(settings)
        client_for = _embedded_sandbox(settings)
        _announce(f"--sandbox is set; using {description}")
        return KeyedBackend(client_for=client_for, sandbox=True, description=description)

    def ultracart_client(key: str) -> WorkflowClient:
        return _ultracart(settings, api_key=key)

    return KeyedBackend(
        client_for=ultracart_client, sandbox=False, description=_ultracart_description(settings)
    )
