"""The per-task write lock across machines: redis-py's asyncio lock in ``UC_WORKFLOW_REDIS_URL``.

A token-checked release (a holder never deletes another's lock) and a TTL renewed every third of it while
held: a holder that crashed lets the lock go within the TTL, and a holder whose lock expired anyway (Redis
unreachable for a whole TTL, the key deleted) finds out at :meth:`RedisHeldLock.ensure_held`, called right
before writing, and at the release, which logs it. Imported only when Redis is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from redis.asyncio.lock import Lock as RedisLock
from redis.exceptions import LockError, LockNotOwnedError, RedisError

from shared_client.locks import FIRST_POLL, LOCK_TIMEOUT, MAX_POLL, HeldLock, LockLost, LockTimeout, lock_name
from shared_client.redis_support import redis_client, unavailable

REDIS_LOCK_TTL = 15.0
"""Seconds a lock outlives a holder that stopped renewing it (crashed); read when a lock is taken."""
REDIS_LOCK_PREFIX = "uc-workflow:lock:"

logger = logging.getLogger("uc_workflow.locks")

_background: set[asyncio.Task[None]] = set()


def _in_background(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run ``work`` to its end even if its caller is cancelled (kept referenced until done)."""
    task = asyncio.ensure_future(work)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


class RedisHeldLock(HeldLock):
    """A Redis lock held: renewed every third of its TTL in the background; lost when a renewal finds
    another token (or none) under its key, or when no renewal succeeded for a whole TTL."""

    def __init__(self, lock: RedisLock, url: str, ttl: float, taken_at: float) -> None:
        self._lock = lock
        self._url = url
        self._ttl = ttl
        self._loop = asyncio.get_running_loop()
        self._confirmed = taken_at  # (loop time) when the last SET or renewal that succeeded was sent
        self._lost = asyncio.Event()
        self._released = False
        self.renewals = 0
        self.renewed = asyncio.Event()
        """Set at each renewal that succeeded (tests clear it and wait: a lock kept past its TTL)."""
        self._renewing = asyncio.ensure_future(self._renew())

    @property
    def lost(self) -> bool:
        """Found lost, or no renewal succeeded for a whole TTL while held: its key may have expired in
        Redis (and been taken) before the renewal, waiting out a timeout or its next turn, says so."""
        return self._lost.is_set() or (not self._released and self._expired())

    async def wait_lost(self) -> None:
        """Until the lock is found lost (for tests)."""
        await self._lost.wait()

    def _expired(self) -> bool:
        return self._loop.time() - self._confirmed >= self._ttl

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            sent = self._loop.time()
            try:
                await self._lock.reacquire()  # token-checked: resets the TTL only if the key is still ours
            except LockNotOwnedError:
                self._lost.set()
                return
            except (RedisError, OSError):
                if self._expired():
                    self._lost.set()
                    return
                continue  # Redis may be back at the next try, before the TTL runs out
            self._confirmed = max(self._confirmed, sent)
            self.renewals += 1
            self.renewed.set()

    async def ensure_held(self) -> None:
        """Renew the lock now (a full TTL for the write that follows), or LockLost when it is no longer
        ours; Redis unreachable is SharedStateUnavailable (nothing may be written without the lock)."""
        if self.lost:
            self._lost.set()
            raise LockLost(self._lock.name)
        sent = self._loop.time()
        try:
            await self._lock.reacquire()
        except LockNotOwnedError:
            self._lost.set()
            raise LockLost(self._lock.name) from None
        except (RedisError, OSError) as exc:
            raise unavailable(self._url, exc) from None
        self._confirmed = max(self._confirmed, sent)

    async def confirm(self) -> bool:
        """After a write: whether the lock was ours all along. Our token still under the key proves it (no
        one else ever writes our token, and we never write it again), so one token-checked renewal tells,
        whatever the renewal task has or has not seen yet (a key evicted, flushed, lost in a fail-over, or
        expired and taken during the PUT). Never raises: Redis unreachable now is judged by the TTL."""
        if self.lost:
            return False
        sent = self._loop.time()
        try:
            await self._lock.reacquire()
        except LockNotOwnedError:
            self._lost.set()
            return False
        except (RedisError, OSError):
            return not self.lost
        self._confirmed = max(self._confirmed, sent)
        return True

    async def release(self) -> None:
        """Stop renewing and delete the key if it is still ours. Never raises: the work under the lock is
        done, and a lock that cannot be deleted expires within its TTL; a lock found lost is logged."""
        self._renewing.cancel()
        if self._expired():
            self._lost.set()  # judged now: the write under the lock is over
        self._released = True
        try:
            await self._lock.release()
        except LockNotOwnedError:
            self._lost.set()
        except LockError:
            pass  # not acquired: nothing to release
        except (RedisError, OSError) as exc:
            logger.warning(
                "could not release a task's write lock in Redis (%s); it expires within %.0f s",
                type(exc).__name__,
                self._ttl,
            )
            return
        if self.lost:
            logger.warning(
                "a task's write lock in Redis had expired before its write finished (renewal failed): "
                "another writer may have held it at the same time"
            )


async def _release_token(lock: RedisLock, token: str) -> None:
    """Delete the key if it holds ``token`` (an acquire cancelled after Redis may have granted it)."""
    lock.local.token = token.encode()
    with contextlib.suppress(RedisError, OSError):
        await lock.release()


@contextlib.asynccontextmanager
async def redis_lock(
    url: str,
    *parts: str,
    max_wait: float = LOCK_TIMEOUT,
    ttl: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[RedisHeldLock]:
    """Exclusive across every machine using the Redis at ``url`` for the key made of ``parts`` (hashed).

    Tried without blocking (``SET NX PX``) with async waits between tries (5 ms backing off to 250 ms);
    LockTimeout after ``max_wait`` seconds of ``clock``. Held, it is renewed every ``ttl / 3`` seconds
    (default :data:`REDIS_LOCK_TTL`); a holder that dies lets it go within ``ttl``. Redis unreachable:
    SharedStateUnavailable. The release runs to its end even when the holder is cancelled.
    """
    ttl = REDIS_LOCK_TTL if ttl is None else ttl
    key = REDIS_LOCK_PREFIX + lock_name(*parts)
    lock = redis_client(url).lock(key, timeout=ttl, thread_local=False)
    token = uuid.uuid4().hex
    loop = asyncio.get_running_loop()
    started = clock()
    try:
        delay = FIRST_POLL
        while True:
            sent = loop.time()
            if await lock.acquire(blocking=False, token=token):
                break
            waited = clock() - started
            if waited >= max_wait:
                raise LockTimeout(waited)
            await sleep(min(delay, max_wait - waited))
            delay = min(delay * 2, MAX_POLL)
    except asyncio.CancelledError:
        _in_background(_release_token(lock, token))
        raise
    except (RedisError, OSError) as exc:
        raise unavailable(url, exc) from None
    held = RedisHeldLock(lock, url, ttl, taken_at=sent)
    try:
        yield held
    finally:
        await asyncio.shield(_in_background(held.release()))
