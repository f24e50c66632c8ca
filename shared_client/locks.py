"""A lock per task shared by every process of this machine (a file lock), or of every machine (Redis).

UltraCart's writes are whole-object PUTs with no version field: two writers that read the same task and
write it back erase each other's change. Within a process, writes to one task are serialized with an
asyncio lock; across processes on one machine (the MCP server and the Slack bot side by side) the file
lock of :func:`machine_lock` makes each read-modify-write atomic; across machines
(``UC_WORKFLOW_REDIS_URL``) ``shared_client.redis_locks.redis_lock`` does. Holding either gives a
:class:`HeldLock` whose ``ensure_held()`` the writer calls right before its PUT: a Redis lock can expire
under a holder that is still working, and that is detected (:class:`LockLost`), never silently shared.

A waiter never holds a thread: ``flock`` is tried without blocking (``LOCK_NB``) on the event loop, with
short async waits between tries (a thread per waiter would starve the default pool, and with it every
``asyncio.to_thread`` of the process). Taking the lock has a timeout. Releasing it is synchronous
(``LOCK_UN`` and ``close`` never block), so no cancellation can leave it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: in-process serialization only
    fcntl = None  # type: ignore[assignment]

LOCK_TIMEOUT = 30.0  # seconds a write waits for another write to the same task
FIRST_POLL = 0.005
MAX_POLL = 0.25


class LockTimeout(Exception):
    """The lock was still held by another writer after ``waited`` seconds."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"the lock was held for {waited:.0f} s")
        self.waited = waited


class LockLost(Exception):
    """A shared lock's TTL ran out while its holder was still working: another writer may hold it now."""


class HeldLock:
    """What holding a task's lock gives: :meth:`ensure_held`, to call right before writing. A file lock
    cannot be lost while its process lives, so this one always holds."""

    @property
    def lost(self) -> bool:
        """Whether the lock was found to be no longer ours (so far: no round trip)."""
        return False

    async def ensure_held(self) -> None:
        """Return if the lock is still ours; LockLost if it is not."""

    async def confirm(self) -> bool:
        """After a write: whether the lock was ours all along (never raises)."""
        return True


def lock_name(*parts: str) -> str:
    """The lock's name for ``parts``, hashed: it never holds a credential or a task's text."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def lock_dir() -> Path:
    """Where the lock files live: ``Settings.lock_dir`` (``locks`` in ``UC_WORKFLOW_STATE_DIR``)."""
    from shared_client.settings import current_settings

    return current_settings().lock_dir


def _open(locate: Callable[[], Path]) -> int:
    """Runs in a worker thread, briefly: the settings' first read (a ``.env`` file) and mkdir touch disk."""
    path = locate()
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def try_flock(fd: int) -> bool:
    """An exclusive ``flock`` on ``fd`` if it is free now (never waits); True without ``flock`` (Windows:
    in-process serialization only)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def release_flock(fd: int) -> None:
    """Synchronous on purpose: neither call blocks, and a release must not wait for anything."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


async def open_lock_file(locate: Callable[[], Path]) -> int:
    opening = asyncio.ensure_future(asyncio.to_thread(_open, locate))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        # The thread may still open the file after we gave up: close it as soon as it does.
        opening.add_done_callback(lambda f: None if f.cancelled() or f.exception() else os.close(f.result()))
        raise


@contextlib.asynccontextmanager
async def held_within(lock: asyncio.Lock, max_wait: float) -> AsyncIterator[None]:
    """``async with lock``, or LockTimeout when it is not free within ``max_wait`` seconds (the process's
    own per-task lock: a write that hangs must not hang every later write to its task)."""
    if not lock.locked():
        await lock.acquire()  # free: taken at once, even with no time left (wait_for(0) would refuse it)
    else:
        try:
            await asyncio.wait_for(lock.acquire(), timeout=max(0.0, max_wait))
        except TimeoutError:
            raise LockTimeout(max_wait) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.asynccontextmanager
async def machine_lock(
    *parts: str,
    max_wait: float = LOCK_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[HeldLock]:
    """Exclusive across the processes of this machine for the key made of ``parts`` (hashed: the file
    name never holds a credential or a task's text), in the state directory's ``locks``. LockTimeout when
    another holder keeps it longer than ``max_wait`` seconds (of ``clock``)."""
    name = lock_name(*parts)
    async with file_lock(lambda: lock_dir() / f"{name}.lock", max_wait=max_wait, clock=clock, sleep=sleep):
        yield HeldLock()


@contextlib.asynccontextmanager
async def file_lock(
    locate: Callable[[], Path],
    *,
    max_wait: float = LOCK_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[None]:
    """An exclusive ``flock`` on the file ``locate()`` names (made if missing, 0600; ``locate`` runs in a
    worker thread), across every process that opens that file. LockTimeout after ``max_wait`` seconds;
    between tries, ``sleep`` backs off from 5 ms to 250 ms."""
    started = clock()
    fd = await open_lock_file(locate)
    try:
        delay = FIRST_POLL
        while not try_flock(fd):
            waited = clock() - started
            if waited >= max_wait:
                raise LockTimeout(waited)
            await sleep(min(delay, max_wait - waited))
            delay = min(delay * 2, MAX_POLL)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        release_flock(fd)
