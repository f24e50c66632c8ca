"""One way to reach ``UC_WORKFLOW_REDIS_URL``: a client per event loop, and one clear error when Redis is
not there (never a silent switch to per-machine pacing).

redis-py's asyncio connections belong to the event loop that opened them; tests and CLIs may run several
loops in one process, so each running loop gets its own client (and pool) for a URL.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

from shared_client.errors import APIConnectionError

if TYPE_CHECKING:
    from redis import asyncio as aioredis

__all__ = ["SharedStateUnavailable", "describe_redis", "redis_client", "unavailable", "url_passwords"]

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = (
    weakref.WeakKeyDictionary()
)
_guard = threading.Lock()


class SharedStateUnavailable(APIConnectionError):
    """Redis (``UC_WORKFLOW_REDIS_URL``) could not be reached, so nothing was sent to UltraCart: sending
    without the shared gate and budget could earn every process a 429."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message, request_sent=False, operation=operation)


def url_passwords(url: str) -> list[str]:
    """The passwords ``url`` holds: its own (``redis://:PASSWORD@host``), and any query parameter named
    like one (``unix:///path.sock?password=PASSWORD``: redis-py's documented form for sockets, which
    SQLAlchemy's drivers accept too)."""
    parts = urlsplit(url)
    found = [parts.password, unquote(parts.password)] if parts.password else []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if "password" in name.lower() and value:
            found += [value, quote(value, safe=""), quote_plus(value, safe="")]
    return list(dict.fromkeys(found))


def _masked_query(query: str) -> str:
    """``query`` with the value of every parameter named like a password as ``***``."""
    pairs = [part.partition("=") for part in query.split("&")] if query else []
    return "&".join(
        f"{name}{eq}***" if "password" in unquote_plus(name).lower() else f"{name}{eq}{value}"
        for name, eq, value in pairs
    )


def describe_redis(url: str) -> str:
    """The URL fit for a message: any password dropped (in the address or in the query)."""
    parts = urlsplit(url)
    query = _masked_query(parts.query)
    if parts.password is None and query == parts.query:
        return url
    head = url.split("?", 1)[0].split("#", 1)[0]  # as given (``unix:///path`` keeps its slashes)
    if parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        head = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return head + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def unavailable(url: str, exc: BaseException, *, operation: str | None = None) -> SharedStateUnavailable:
    """The one message for Redis not answering, or answering with an error (out of memory, a read-only
    replica, a user not allowed scripts); the exception's own text may quote the URL: not used."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(exc, RedisError) and not isinstance(exc, RedisConnectionError | RedisTimeoutError):
        what = (
            f"refused uc-workflow's commands ({type(exc).__name__}); give it memory to spare (maxmemory), "
            "point the URL at a writable primary and let its user run scripts"
        )
    else:
        what = f"is unreachable ({type(exc).__name__})"
    return SharedStateUnavailable(
        f"UC_WORKFLOW_REDIS_URL: Redis at {describe_redis(url)} {what}; uc-workflow shares its UltraCart "
        "gate, budget and locks there and does not fall back to per-machine pacing, so nothing was sent",
        operation=operation,
    )


def redis_client(url: str) -> aioredis.Redis:
    """This event loop's client for ``url`` (made on first use; connections open lazily)."""
    from redis import asyncio as aioredis  # here: a process that never uses Redis never imports it

    loop = asyncio.get_running_loop()
    with _guard:
        # A client's connections hold its loop, so the weak key never dies by itself: the clients of a
        # closed loop (each asyncio.run) are dropped here, and the garbage collector closes their sockets.
        for closed in [other for other in _clients if other.is_closed()]:
            del _clients[closed]
        per_loop = _clients.get(loop)
        if per_loop is None:
            per_loop = _clients[loop] = {}
        client = per_loop.get(url)
        if client is None:
            client = per_loop[url] = aioredis.Redis.from_url(
                url, socket_connect_timeout=2.0, socket_timeout=5.0, health_check_interval=30
            )
        return client
