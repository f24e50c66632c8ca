"""The gate and budget shared by every process of this machine that uses one ``UC_WORKFLOW_STATE_DIR``.

Under the state directory, for a credential's fingerprint ``fp`` (a hash: no secret in any name):

- ``gate/<fp>.lock``: the exclusion, an ``flock`` held while a request is in flight. The kernel frees it
  when its holder dies, however it dies (``kill -9`` included).
- ``queue/<fp>/<priority>-<monotonic_ns>-<random>``: a ticket per waiting process, flocked by its waiter while
  it waits. It is made under a dot-name, flocked, then renamed into place, so no live ticket is ever seen
  unlocked; a ticket whose flock can be taken is a dead waiter's, and whoever finds it removes it. A
  waiter marks its ticket (its mtime) on each poll; one unmarked for 3 s (its process stopped, Ctrl-Z) is
  passed over until it polls again. Only the first live ticket (interactive before background, then
  oldest) tries the gate.
- the budget, the buckets' levels on the wall clock (``time.time()``: shared by processes), is the gate
  file's content: JSON padded to 4 KiB, read and written in place (one ``pread``, one ``pwrite``) only by
  the gate's holder. Not a temporary file renamed over it: ext4 flushes a file renamed over another (its
  ``auto_da_alloc``), ~1 ms a request here, against ~10 µs. A write of 4 KiB is not torn by a process
  dying (signals act between system calls); a machine losing power may lose the last counts.

Within a process, ``pacing.Gate`` queues its own callers first, so only its first waiter polls here.
Everything is a few syscalls on small local files without fsync, done on the event loop (as the write
locks' non-blocking ``flock`` tries are) except the directories' creation at first use, in a thread.

Handing the gate on: on Linux each ticket's waiter also listens on a datagram socket in the abstract
namespace (``\0uc-workflow-gate-<the ticket's random part>``: no file, no path length limit), bound before
its ticket is renamed into place; whoever releases the gate (or leaves the queue) sends one byte to the
first two tickets' sockets, so the next waiter tries the gate at once instead of at its next poll. A lost
or refused wake-up costs only time: waiters still poll, the first two every 10 ms and the others every
50 ms (where there are no such sockets, or processes in other network namespaces share the directory:
every 0.5–1 ms and 5 ms, as before wake-ups).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from shared_client.locks import try_flock
from shared_client.pacing import (
    Binding,
    BucketSet,
    BudgetSpec,
    Hold,
    Priority,
    rate_limited_period,
    still_waiting,
)
from shared_client.redis_support import SharedStateUnavailable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: this process's own gate only (pacing.shared_gate_for)
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileGateBackend", "supported"]

logger = logging.getLogger("uc_workflow.client")

_HEAD_POLL = 0.0005
_HEAD_MAX_POLL = 0.001
_QUEUED_POLL = 0.005
_WOKEN_HEAD_POLL = 0.010  # with wake-ups, polling is only the fallback
_WOKEN_QUEUED_POLL = 0.050
_WAKE_PREFIX = "\0uc-workflow-gate-"
_WAKES = sys.platform.startswith("linux")  # abstract-namespace Unix sockets
_BUDGET_SIZE = 4096
_STALLED = 3.0  # seconds a live ticket may go unmarked (its waiter not polling) before it is passed over


def supported() -> bool:
    """Whether this platform has ``flock`` (POSIX): without it, each process keeps its own gate."""
    return fcntl is not None


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)


def _wake_socket() -> tuple[str, socket.socket | None]:
    """A random token and, on Linux, a non-blocking datagram socket bound to its abstract name."""
    for _ in range(3):
        token = secrets.token_hex(6)
        if not _WAKES:
            return token, None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            sock.bind(_WAKE_PREFIX + token)
        except OSError:  # taken (another token will do) or refused: poll instead
            sock.close()
            continue
        return token, sock
    return secrets.token_hex(6), None


def wake(ticket_names: list[str]) -> None:
    """One byte to each ticket's socket: "try the gate now". Never blocks, never fails."""
    if not _WAKES or not ticket_names:
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for name in ticket_names:
                with contextlib.suppress(OSError):  # gone, or its buffer full: it wakes anyway
                    sock.sendto(b"!", _WAKE_PREFIX + name.rsplit("-", 1)[-1])
    except OSError:
        pass


class _Ticket:
    """This process's place in the machine's queue, flocked for as long as it waits, and the socket it
    is woken on."""

    def __init__(self, directory: Path, priority: Priority) -> None:
        self._pid = os.getpid()
        token, self.wake_socket = _wake_socket()
        # The system-wide monotonic clock (CLOCK_MONOTONIC, the same in every process of the machine), not
        # the wall clock: one set back would put every later arrival ahead of those already waiting.
        self.name = f"{int(priority)}-{time.monotonic_ns():020d}-{token}"
        temporary = directory / f".{self.name}"
        try:
            # Readable by all (it holds nothing: a name and a flock): in a state directory shared by
            # several OS users, each must be able to tell a live ticket of another's from a dead one.
            self.fd = os.open(temporary, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except BaseException:
            self._close_socket()
            raise
        try:
            try_flock(self.fd)  # a file nobody else has opened: taken at once
            os.rename(temporary, directory / self.name)  # the socket is bound before anyone sees it
        except BaseException:
            os.close(self.fd)
            self._close_socket()
            raise
        self.path = directory / self.name
        _tickets.add(self)

    def _close_socket(self) -> None:
        if self.wake_socket is not None:
            self.wake_socket.close()

    async def pause(self, seconds: float) -> None:
        """Until woken or ``seconds`` pass."""
        if self.wake_socket is None:
            await asyncio.sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(loop.sock_recv(self.wake_socket, 64), seconds)

    def forget(self) -> None:
        """In a forked child: close its copies of the parent's ticket and socket (they stay the parent's)."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if self.wake_socket is not None:
            with contextlib.suppress(OSError):
                os.close(self.wake_socket.detach())
            self.wake_socket = None

    def mark(self) -> None:
        """Say this waiter still polls (the ticket's mtime, which ``_waits`` reads)."""
        if os.utime in os.supports_fd:
            with contextlib.suppress(OSError):
                os.utime(self.fd)

    def close(self) -> None:
        """Unlinked before it is unlocked (closing unlocks): nobody finds it unlocked and alive."""
        if os.getpid() != self._pid:
            return  # a forked child's copy: the ticket is its parent's
        _tickets.discard(self)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(self.fd)
            self._close_socket()


# A forked child gets copies of this process's descriptors, flocks included: kept open there, a parent
# that dies holding the gate or waiting in the queue would leave the gate taken, or its ticket alive at
# the head of the queue, for as long as the child lives. So the child closes its copies at once (the
# flocks stay the parent's), and a copy of a ticket or hold in it never unlinks, writes or unlocks.
_tickets: weakref.WeakSet[_Ticket] = weakref.WeakSet()
_backends: weakref.WeakSet[FileGateBackend] = weakref.WeakSet()


def _forget_after_fork() -> None:
    for ticket in list(_tickets):
        ticket.forget()
    for backend in list(_backends):
        backend.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _waits(path: Path) -> bool:
    """Whether the ticket's waiter is there and polling. Nobody holding its flock: the waiter is gone, and
    the ticket is removed. Held but not marked for ``_STALLED`` seconds: the waiter is stopped (Ctrl-Z,
    SIGSTOP, a debugger) or its event loop blocked; passed over (not removed) until it polls again."""
    try:
        fd = os.open(path, os.O_RDONLY)  # flock needs no more, and another OS user's ticket allows no more
    except FileNotFoundError:
        return False
    try:
        if not try_flock(fd):
            return time.time() - os.fstat(fd).st_mtime < _STALLED
        with contextlib.suppress(FileNotFoundError, PermissionError):  # a sticky directory: skipped
            os.unlink(path)
        return False
    finally:
        os.close(fd)


class _FileHold:
    def __init__(self, backend: FileGateBackend, fd: int) -> None:
        self._backend = backend
        self._fd = fd
        self._pid = os.getpid()
        self._buckets: BucketSet | None = None
        self._others: dict[str, object] = {}  # levels of periods this process's spec has not

    def _load(self) -> BucketSet:
        if self._buckets is None:
            buckets = BucketSet(self._backend.spec, self._backend.clock())
            data = os.pread(self._fd, max(_BUDGET_SIZE, os.fstat(self._fd).st_size), 0).strip()
            state: object = {}
            if data:
                try:
                    state = json.loads(data)
                except ValueError:
                    logger.warning("The shared budget in the state directory was unreadable; starting afresh")
            if isinstance(state, dict):
                buckets.load(state)
                self._others = {str(name): value for name, value in state.items()}
            self._buckets = buckets
        return self._buckets

    async def binding(self, priority: Priority) -> Binding:
        return self._load().binding(self._backend.clock(), priority)

    async def leave(self, priority: Priority, *, sent: bool, rate_limited: str | None) -> None:
        if os.getpid() != self._pid:
            return  # a forked child's copy (its coroutines closed as it exits): the gate is its parent's
        try:
            period = rate_limited_period(rate_limited) if rate_limited is not None else None
            if sent or period is not None:
                buckets = self._load()
                now = self._backend.clock()
                if sent:
                    buckets.take(now, priority)
                if period is not None:
                    buckets.fill(now, period)
                # Kept whole: another process's spec may have periods this one has not.
                data = json.dumps({**self._others, **buckets.state()}).encode()
                os.pwrite(self._fd, data.ljust(_BUDGET_SIZE), 0)
                if len(data) > _BUDGET_SIZE:  # a spec of many buckets: the file is as long as it needs
                    os.ftruncate(self._fd, len(data))
        except OSError as exc:
            logger.warning("The shared budget in the state directory could not be written (%s)", exc)
        finally:
            _unlock(self._fd)  # synchronous: no cancellation can leave the gate held
            self._backend.wake_next()


def _close_opened(opening: asyncio.Future[int]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        os.close(opening.result())


class FileGateBackend:
    """The gate of credential ``fingerprint`` for every process using ``state_dir`` (see the module)."""

    def __init__(
        self,
        state_dir: Path,
        fingerprint: str,
        spec: BudgetSpec,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if fcntl is None:  # pragma: no cover
            raise RuntimeError("the state directory's gate needs flock (POSIX)")
        self.spec = spec
        self.clock = clock
        self.gate_path = state_dir / "gate" / f"{fingerprint}.lock"
        self.queue_dir = state_dir / "queue" / fingerprint
        # flock belongs to an open file: each event loop (with its own in-process queue) opens its own.
        self._fds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()
        self._closers: list[weakref.finalize[[int], asyncio.AbstractEventLoop]] = []
        self._guard = threading.Lock()
        _backends.add(self)

    def forget(self) -> None:
        """In a forked child: close its copies of the parent's gate files (the flocks stay the parent's)."""
        self._guard = threading.Lock()  # another thread may have held it as the process forked
        for closer in self._closers:
            closer.detach()  # at exit it would close whatever file has that number by then
        self._closers = []
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = weakref.WeakKeyDictionary()

    def _open(self) -> int:
        for directory in (self.gate_path.parent, self.queue_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(self.gate_path, os.O_RDWR | os.O_CREAT, 0o600)

    def _unusable(self, exc: OSError) -> SharedStateUnavailable:
        return SharedStateUnavailable(
            f"UC_WORKFLOW_STATE_DIR: the shared gate cannot be kept in {self.gate_path.parent.parent} "
            f"({type(exc).__name__}); make it writable or point UC_WORKFLOW_STATE_DIR elsewhere, so "
            "nothing was sent"
        )

    async def _gate_fd(self) -> int:
        loop = asyncio.get_running_loop()
        with self._guard:
            fd = self._fds.get(loop)
        if fd is not None:
            return fd
        opening = asyncio.ensure_future(asyncio.to_thread(self._open))  # mkdir and open touch the disk
        try:
            fd = await asyncio.shield(opening)
        except OSError as exc:
            raise self._unusable(exc) from None
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)  # the thread opens it anyway: not left open
            raise
        with self._guard:
            if loop in self._fds:  # unreachable: the loop's queue lets one waiter here at a time
                os.close(fd)
                return self._fds[loop]
            self._fds[loop] = fd
            self._closers = [closer for closer in self._closers if closer.alive]  # loops gone: done
            self._closers.append(weakref.finalize(loop, os.close, fd))
        return fd

    def _waiting(self) -> list[str]:
        try:
            return sorted(name for name in os.listdir(self.queue_dir) if not name.startswith("."))
        except FileNotFoundError:
            return []

    def wake_next(self) -> None:
        """The gate is free (or the first waiter left): the first two tickets try it now."""
        wake(self._waiting()[:2])

    def _ahead(self, ticket: _Ticket) -> int:
        """Waiting tickets ahead of ``ticket``: the first two ahead are checked (dead ones removed and
        stalled ones passed over on the way), any further ones are counted as they are (they are
        checked once they come near)."""
        ahead = 0
        for name in self._waiting():
            if name >= ticket.name:
                break
            if ahead >= 2 or _waits(self.queue_dir / name):
                ahead += 1
        return ahead

    async def enter(
        self, priority: Priority, remaining: Callable[[], float | None], outranked: Callable[[], bool]
    ) -> Hold:
        fd = await self._gate_fd()
        try:
            return await self._enter(fd, priority, remaining, outranked)
        except OSError as exc:  # the queue's directory or a ticket refused (another OS user's, say)
            raise self._unusable(exc) from None

    async def _enter(
        self,
        fd: int,
        priority: Priority,
        remaining: Callable[[], float | None],
        outranked: Callable[[], bool],
    ) -> Hold:
        if not self._waiting() and try_flock(fd):
            return _FileHold(self, fd)  # nobody queued and the gate free: the common case, no ticket
        allowed = remaining()
        ticket = _Ticket(self.queue_dir, priority)
        woken = ticket.wake_socket is not None
        acquired = False
        try:
            delay = _WOKEN_HEAD_POLL if woken else _HEAD_POLL
            while True:
                ticket.mark()
                ahead = self._ahead(ticket)
                if ahead == 0 and try_flock(fd):
                    acquired = True
                    return _FileHold(self, fd)
                left = still_waiting(remaining, allowed, outranked)
                near = ahead <= 1  # first, or next: it polls often, so the gate is never left idle
                if woken:
                    pause = _WOKEN_HEAD_POLL if near else _WOKEN_QUEUED_POLL
                else:
                    pause = delay if near else _QUEUED_POLL
                    delay = min(delay * 2, _HEAD_MAX_POLL) if near else _HEAD_POLL
                await ticket.pause(pause if left is None else min(pause, left))
        finally:
            ticket.close()
            if not acquired:  # it may have been first: whoever is first now need not wait for a poll
                self.wake_next()
