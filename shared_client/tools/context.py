"""What a tool handler gets: the client, the people directory (cached), the task-number map, and who is
acting; with ``UC_WORKFLOW_REDIS_URL``, the caches shared across replicas and where the write locks live;
where the deployment's change feed keeps what it saw (``change_log``), when one runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared_client.client import WorkflowClient
from shared_client.tools.directory import PeopleDirectory

if TYPE_CHECKING:
    from shared_client.feed.events import ChangeLog
    from shared_client.shared_cache import SharedCache


def configured_redis_url() -> str | None:
    """``UC_WORKFLOW_REDIS_URL`` of this process's settings."""
    from shared_client.settings import current_settings

    return current_settings().redis_url


@dataclass
class ToolContext:
    """Shared by every tool call of a front end. ``actor`` names who acts (e.g. a Slack user) so that
    changes made on someone's behalf say so."""

    client: WorkflowClient
    sandbox: bool = False
    description: str = ""
    actor: str | None = None
    allow_local_files: bool = True  # attach_file may read a local path (stdio, CLI); off for remote callers
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The local clock (injectable for tests); never trusted to agree with UltraCart's."""
    redis_url: str | None = field(default_factory=configured_redis_url, repr=False)
    """Where the write locks and the shared caches live (default: ``UC_WORKFLOW_REDIS_URL``); None: the
    locks are this machine's (``UC_WORKFLOW_STATE_DIR``) and the caches this process's."""
    change_log: ChangeLog | None = field(default=None, repr=False)
    """The change feed's events (``list_recent_changes`` says what changed from them); None: no feed in
    this deployment, and tasks say what changed from their own history."""
    people: PeopleDirectory = field(init=False)
    shared_cache: SharedCache | None = field(init=False, repr=False)
    task_numbers: dict[int, str] = field(default_factory=dict)
    """Task number → uuid, this process's (entries never change: numbers are never reused)."""
    _task_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shared_cache = None
        if self.redis_url:
            from shared_client.shared_cache import SharedCache

            self.shared_cache = SharedCache(self.redis_url, self.client.fingerprint)
        self.people = PeopleDirectory(self.client, shared=self.shared_cache)

    def acting_as(self, actor: str | None) -> ToolContext:
        """The same caches and client, with another actor (every field carried over, so none is forgotten)."""
        clone = replace(self, actor=actor)
        clone.people = self.people  # the shared cache, not the fresh one __post_init__ made
        clone.shared_cache = self.shared_cache
        return clone

    def task_lock(self, task_uuid: str) -> asyncio.Lock:
        """Read-modify-write of one task is serialized within the process."""
        lock = self._task_locks.get(task_uuid)
        if lock is None:
            lock = self._task_locks[task_uuid] = asyncio.Lock()
        return lock
