"""Who runs the change feed of a credential: one leader across every process and machine that uses it.

With ``UC_WORKFLOW_REDIS_URL``, the lease is a Redis key (``SET NX PX``) holding the leader's random token,
renewed by the leader (compare-and-extend in Lua) and taken over by another replica when it expires: a leader
that dies or stops is replaced within one TTL. On one machine without Redis it is an ``flock`` in
``UC_WORKFLOW_STATE_DIR``, which the kernel drops when its holder dies.

A lease is advisory: a leader paused past its TTL may wake up believing it still leads. The feed's commit is
fenced for that (:meth:`shared_client.feed.store.FeedStore.commit`): such a leader's poll writes nothing.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from pathlib import Path
from typing import Protocol

from shared_client.locks import lock_name, open_lock_file, release_flock, try_flock
from shared_client.redis_support import redis_client, unavailable

__all__ = ["FileLease", "Lease", "RedisLease", "lease_for"]

# Renew-if-mine / take-if-free, in one step on the server.
_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if held then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _who() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease(Protocol):
    holder: str  # names this process in logs and in the feed's state ("host:pid")

    async def acquire(self) -> bool:
        """Take the lease if it is free, or extend it if it is ours; never waits. True: we lead."""
        ...

    async def release(self) -> None: ...


class RedisLease:
    def __init__(self, url: str, fingerprint: str, *, ttl: float) -> None:
        self.url = url
        self.key = f"ucwf:{{{fingerprint}}}:feed-leader"
        self.ttl_ms = max(int(ttl * 1000), 1000)
        self.token = secrets.token_hex(16)
        self.holder = _who()

    async def acquire(self) -> bool:
        try:
            client = redis_client(self.url)
            result = await client.eval(_ACQUIRE, 1, self.key, self.token, str(self.ttl_ms))
        except Exception as exc:
            from redis.exceptions import RedisError

            if isinstance(exc, RedisError | OSError):
                raise unavailable(self.url, exc, operation="change feed lease") from None
            raise
        return bool(result)

    async def release(self) -> None:
        try:
            await redis_client(self.url).eval(_RELEASE, 1, self.key, self.token)
        except Exception:  # leaving anyway: the lease expires by itself
            return


class FileLease:
    """An ``flock`` on ``state_dir/locks/<name>.lock``, held from the first successful :meth:`acquire` to
    :meth:`release` (or the process's death)."""

    def __init__(self, state_dir: Path, fingerprint: str) -> None:
        self.path = state_dir / "locks" / f"feed-{lock_name('feed', fingerprint)}.lock"
        self.holder = _who()
        self._fd: int | None = None
        self._lock = asyncio.Lock()

    async def acquire(self) -> bool:
        async with self._lock:
            if self._fd is not None:
                return True
            fd = await open_lock_file(lambda: self.path)
            if try_flock(fd):
                self._fd = fd
                return True
            os.close(fd)
            return False

    async def release(self) -> None:
        async with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                release_flock(fd)


def lease_for(fingerprint: str, *, redis_url: str | None, state_dir: Path, ttl: float) -> Lease:
    """Redis when the deployment has it (every machine), else this machine's state directory."""
    if redis_url:
        return RedisLease(redis_url, fingerprint, ttl=ttl)
    return FileLease(state_dir, fingerprint)
