"""A lock shared by every process of this machine, per task.

UltraCart's writes are whole-object PUTs with no version field: two writers that read the same task and
write it back erase each other's change. Within a process, writes to one task are serialized with an
asyncio lock; across processes on one machine (the MCP server and the Slack bot side by side) this file
lock makes each read-modify-write atomic. ``fcntl.flock`` blocks, so it is taken in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: in-process serialization only
    fcntl = None  # type: ignore[assignment]


def lock_dir() -> Path:
    """Where the lock files live: ``Settings.lock_dir`` (``UC_WORKFLOW_LOCK_DIR``)."""
    from shared_client.settings import current_settings

    return current_settings().lock_dir


def _acquire(name: str) -> int:
    """Runs in a worker thread: the settings' first read (a ``.env`` file) and flock both block."""
    path = lock_dir() / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(fd: int) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def machine_lock(*parts: str) -> AsyncIterator[None]:
    """Exclusive across the processes of this machine for the key made of ``parts`` (hashed: the file
    name never holds a credential or a task's text)."""
    name = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    acquiring = asyncio.ensure_future(asyncio.to_thread(_acquire, name))
    try:
        fd = await asyncio.shield(acquiring)
    except asyncio.CancelledError:
        # The thread may still get the lock after we gave up: release it as soon as it does.
        acquiring.add_done_callback(
            lambda f: None if f.cancelled() or f.exception() else _release(f.result())
        )
        raise
    try:
        yield
    finally:
        await asyncio.to_thread(_release, fd)
