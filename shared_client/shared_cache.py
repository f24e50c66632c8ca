"""Caches shared by every replica through ``UC_WORKFLOW_REDIS_URL``: the people lists and the task-number
map, per credential (``WorkflowClient.fingerprint``: "me" and the lists differ per key), so a replica with a
cold cache does not spend UltraCart calls another replica already spent. Imported only when Redis is set.

Each process keeps its own cache in front (``PeopleDirectory``, ``ToolContext.task_numbers``): Redis is
read on a local miss, before UltraCart, and written after UltraCart answered. The people lists expire in
Redis with the same TTL as in the process (their age is read from Redis's own TTL, so no two machines'
clocks are compared); the number → uuid entries never change (numbers are never reused) and only expire
with their credential's key after :data:`TASK_NUMBERS_TTL` without a write.

A key holding a value of another type (another version's layout, a hand-made key) is a miss, logged, and
replaced by the next write (never "Redis is unreachable" on every call). Redis unreachable when reading is
SharedStateUnavailable (nothing was sent: UltraCart's gate and budget
live in that Redis too, and would refuse anyway); when writing what UltraCart already answered, a warning
is logged and the answer is still used (failing the call would throw away a request already paid for).
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError, ResponseError

from shared_client.models import WorkflowGroup, WorkflowUser
from shared_client.redis_support import redis_client, unavailable

PEOPLE_PREFIX = "uc-workflow:people:"
TASK_NUMBERS_PREFIX = "uc-workflow:task-numbers:"
TASK_NUMBERS_TTL = 30 * 86400  # seconds a credential's number map is kept after its last write

logger = logging.getLogger("uc_workflow.cache")


class SharedPeople(BaseModel):
    """The people lists as stored in Redis (the models' own JSON)."""

    users: list[WorkflowUser]
    groups: list[WorkflowGroup]
    my_user_id: int | None = None


def _wrong_type(exc: BaseException) -> bool:
    """Redis refused the command for the key's type (``WRONGTYPE …``): the key holds something else."""
    return isinstance(exc, ResponseError) and "WRONGTYPE" in str(exc)  # a pipeline's names its command first


class SharedCache:
    """One credential's shared caches in the Redis at ``url`` (keys hold its fingerprint, never a secret)."""

    def __init__(self, url: str, fingerprint: str) -> None:
        self._url = url
        self._people_key = PEOPLE_PREFIX + fingerprint
        self._numbers_key = TASK_NUMBERS_PREFIX + fingerprint

    def _warn(self, what: str, exc: BaseException) -> None:
        logger.warning(
            "could not write %s to the shared cache in Redis (%s); this process keeps its own copy",
            what,
            type(exc).__name__,
        )

    def _miss(self, what: str) -> None:
        logger.warning(
            "the shared cache's %s key in Redis holds another type of value (WRONGTYPE); fetching again, "
            "and the next write replaces it",
            what,
        )

    async def load_people(self, ttl: float) -> tuple[SharedPeople, float] | None:
        """The lists another replica stored and their age in seconds (of ``ttl``), or None."""
        try:
            async with redis_client(self._url).pipeline(transaction=False) as pipe:
                pipe.get(self._people_key)
                pipe.pttl(self._people_key)
                raw, remaining_ms = await pipe.execute()
        except (RedisError, OSError) as exc:
            if _wrong_type(exc):
                self._miss("people")
                return None  # the SET of the lists fetched now replaces it
            raise unavailable(self._url, exc) from None
        if raw is None or remaining_ms is None or remaining_ms < 0:
            return None
        try:
            people = SharedPeople.model_validate_json(raw)
        except ValidationError:
            logger.warning("the shared people cache in Redis holds something unreadable; fetching again")
            return None
        return people, max(0.0, ttl - remaining_ms / 1000)

    async def store_people(self, people: SharedPeople, ttl: float) -> None:
        try:
            await redis_client(self._url).set(
                self._people_key, people.model_dump_json(), px=max(1, int(ttl * 1000))
            )
        except (RedisError, OSError) as exc:
            self._warn("the people lists", exc)

    async def task_uuid(self, number: int) -> str | None:
        """The uuid of task ``number`` if a replica has seen it."""
        try:
            raw = await redis_client(self._url).hget(self._numbers_key, str(number))
        except (RedisError, OSError) as exc:
            if _wrong_type(exc):
                self._miss("task-number")
                return None
            raise unavailable(self._url, exc) from None
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def remember_tasks(self, numbers: dict[int, str]) -> None:
        """Record number → uuid entries (new to this process) for every replica."""
        if not numbers:
            return
        for replace in (False, True):
            try:
                async with redis_client(self._url).pipeline(transaction=False) as pipe:
                    if replace:  # the key held another type (see _miss): ours now, from these entries
                        pipe.delete(self._numbers_key)
                    pipe.hset(self._numbers_key, mapping={str(n): uuid for n, uuid in numbers.items()})
                    pipe.expire(self._numbers_key, TASK_NUMBERS_TTL)
                    await pipe.execute()
                return
            except (RedisError, OSError) as exc:
                if replace or not _wrong_type(exc):
                    self._warn("task numbers", exc)
                    return
