"""What an operation handler works with: the app's shared state (`Sandbox`) and one request (`Call`)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .config import SandboxConfig
from .limits import LeakyBuckets, Stats
from .store.attachments import AttachmentStore
from .store.database import Database
from .store.people import PeopleStore
from .store.tasks import TaskStore
from .wire import bad_request

T = TypeVar("T")


@dataclass
class Sandbox:
    """State shared by the routes of one app: config, the stores and their thread, limits, stats."""

    config: SandboxConfig
    database: Database
    executor: ThreadPoolExecutor
    stats: Stats
    buckets: LeakyBuckets
    rng: random.Random
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.people = PeopleStore(self.database)
        self.tasks = TaskStore(self.database)
        self.attachments = AttachmentStore(self.database)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store method on the database thread: SQLite work never runs on the event loop."""
        return await asyncio.wrap_future(self.executor.submit(fn, *args))


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


Handler = Callable[[Sandbox, Call], Awaitable[dict[str, Any]]]
