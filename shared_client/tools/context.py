"""What a tool handler gets: the client, the people directory (cached), and who is acting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from shared_client import constants
from shared_client.client import WorkflowClient
from shared_client.models import WorkflowGroup, WorkflowUser
from shared_client.tools.base import ToolInputError

T = TypeVar("T")
REFRESH_ON_MISS_AFTER = 30.0  # seconds: lists younger than this are not fetched again on a miss


@dataclass
class PeopleSnapshot:
    users: list[WorkflowUser]
    groups: list[WorkflowGroup]
    my_user_id: int | None
    fetched_at: float

    def user_by_id(self, user_id: int | None) -> WorkflowUser | None:
        return next((u for u in self.users if user_id is not None and u.user_id == user_id), None)

    def group_by_id(self, group_id: int | None) -> WorkflowGroup | None:
        return next((g for g in self.groups if group_id is not None and g.group_id == group_id), None)


class PeopleDirectory:
    """Assignable users and groups, cached for a few minutes: a warm lookup costs no UltraCart call.

    Both lists are fetched together on a miss (all pages, 200 a page); concurrent misses share one fetch.
    """

    def __init__(
        self,
        client: WorkflowClient,
        ttl: float = constants.PEOPLE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._snapshot: PeopleSnapshot | None = None
        self._lock = asyncio.Lock()

    def is_fresh(self, snapshot: PeopleSnapshot | None = None) -> bool:
        snap = snapshot or self._snapshot
        return snap is not None and self._clock() - snap.fetched_at < self._ttl

    async def get(self, *, refresh: bool = False) -> PeopleSnapshot:
        if not refresh and self._snapshot is not None and self.is_fresh():
            return self._snapshot
        stale = self._snapshot
        async with self._lock:
            # Someone else may have refreshed while we waited.
            if self._snapshot is not None and self._snapshot is not stale and self.is_fresh():
                return self._snapshot
            users, my_user_id = await self._client.list_all_users()
            groups = await self._client.list_all_groups()
            self._snapshot = PeopleSnapshot(users, groups, my_user_id, self._clock())
            return self._snapshot

    async def resolve(self, pick: Callable[[PeopleSnapshot], T]) -> T:
        """``pick`` a person or group from the cached lists; when nobody matches and the lists are not
        brand new, fetch them once more (someone may have been added) and try again."""
        snapshot = await self.get()
        try:
            return pick(snapshot)
        except ToolInputError:
            if self._clock() - snapshot.fetched_at < REFRESH_ON_MISS_AFTER:
                raise
        return pick(await self.get(refresh=True))

    @property
    def latest(self) -> PeopleSnapshot | None:
        """The last snapshot fetched, fresh or not: for callers that must answer now (Slack pickers)
        and refresh behind."""
        return self._snapshot

    def invalidate(self) -> None:
        self._snapshot = None


@dataclass
class ToolContext:
    """Shared by every tool call of a front end. ``actor`` names who acts (e.g. a Slack user) so that
    changes made on someone's behalf say so."""

    client: WorkflowClient
    sandbox: bool = False
    description: str = ""
    actor: str | None = None
    allow_local_files: bool = True  # attach_file may read a local path (stdio, CLI); off for remote callers
    people: PeopleDirectory = field(init=False)
    task_numbers: dict[int, str] = field(default_factory=dict)
    _task_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.people = PeopleDirectory(self.client)

    def acting_as(self, actor: str | None) -> ToolContext:
        """The same caches and client, with another actor."""
        clone = ToolContext(
            self.client,
            sandbox=self.sandbox,
            description=self.description,
            actor=actor,
            allow_local_files=self.allow_local_files,
        )
        clone.people = self.people
        clone.task_numbers = self.task_numbers
        clone._task_locks = self._task_locks
        return clone

    def task_lock(self, task_uuid: str) -> asyncio.Lock:
        """Read-modify-write of one task is serialized within the process."""
        lock = self._task_locks.get(task_uuid)
        if lock is None:
            lock = self._task_locks[task_uuid] = asyncio.Lock()
        return lock
