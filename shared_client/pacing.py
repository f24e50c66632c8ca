"""Pacing: one request in flight per credential, and a client-side budget that waits instead of
spending a request on a 429.

UltraCart answers 429 to a request that arrives while another from the same application is in flight,
and keeps a leaky-bucket budget (1,000 an hour, 10,000 a day). So every request takes the credential's
gate: a queue (extra calls wait, they do not fail; interactive calls ahead of background ones) and a budget
that delays a request until the buckets have room.

Where the gate lives is a backend (``GateBackend``), chosen by ``shared_gate_for`` from the settings:
``shared_client.gate_files`` (every process using one ``UC_WORKFLOW_STATE_DIR``, the default),
``shared_client.gate_redis`` (every machine using one ``UC_WORKFLOW_REDIS_URL``), or this process only
(``gate_for``: an explicit gate key, as tests and the embedded sandbox pass). In front of any backend a
process keeps its own priority queue per event loop (``Gate``), so only its first waiter asks the backend:
within a process calls go in priority then arrival order, and across processes each process's first
waiter takes its turn in the backend's queue in the same order (so a busy process does not starve a quiet
one). A process's background waiter already in the backend's queue gives way when an interactive call of
its own process arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import heapq
import itertools
import math
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from shared_client import constants

if TYPE_CHECKING:
    from shared_client.settings import Settings

DEFAULT_BACKGROUND_SHARE = 0.2  # of each budget bucket, at most, for background requests


class Priority(IntEnum):
    """Interactive calls (Slack, MCP, the CLI) go ahead of every background one in the gate's queue."""

    INTERACTIVE = 0
    BACKGROUND = 1


_priority: ContextVar[Priority] = ContextVar("uc_workflow_priority", default=Priority.INTERACTIVE)


def current_priority() -> Priority:
    """The priority of requests made in this context (``background()`` sets it)."""
    return _priority.get()


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Requests made inside queue behind every interactive one and spend at most the budget's
    ``background_share``: ``with shared_client.pacing.background(): await client.search_tasks(...)``."""
    token = _priority.set(Priority.BACKGROUND)
    try:
        yield
    finally:
        _priority.reset(token)


@dataclass
class LeakyBucket:
    """``capacity`` requests per ``period`` seconds, draining continuously (no fixed reset time)."""

    capacity: float
    period: float
    level: float = 0.0
    updated: float = field(default_factory=time.monotonic)

    def _drain(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)  # a clock that steps back never fills a bucket
        self.level = max(0.0, self.level - elapsed * self.capacity / self.period)
        self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until one more request fits."""
        self._drain(now)
        overflow = self.level + 1 - self.capacity
        return 0.0 if overflow <= 0 else overflow * self.period / self.capacity

    def take(self, now: float) -> None:
        self._drain(now)
        self.level += 1

    def fill(self, now: float) -> None:
        """UltraCart said this budget is spent: believe it."""
        self._drain(now)
        self.level = float(self.capacity)


@dataclass(frozen=True)
class BudgetSpec:
    """Requests allowed per period: ``((1000, 3600.0), (10000, 86400.0))`` is UltraCart's default.

    ``background_share``: background requests (``background()``) also fill buckets of their own holding
    that share of each limit (at least one request), so they never spend more than it; 1.0: no cap."""

    limits: tuple[tuple[int, float], ...] = (
        (constants.DEFAULT_HOURLY_BUDGET, 3600.0),
        (constants.DEFAULT_DAILY_BUDGET, 86400.0),
    )
    background_share: float = DEFAULT_BACKGROUND_SHARE

    def __post_init__(self) -> None:
        if not 0.0 < self.background_share <= 1.0:
            raise ValueError("BudgetSpec.background_share must be more than 0 and at most 1")

    @classmethod
    def none(cls) -> BudgetSpec:
        return cls(limits=())

    def background_limits(self) -> tuple[tuple[int, float], ...]:
        if self.background_share >= 1.0:
            return ()
        return tuple(
            (max(1, math.floor(capacity * self.background_share)), period) for capacity, period in self.limits
        )


@dataclass(frozen=True)
class Binding:
    """How long until one more request fits (0: now), the period of the bucket that says so, and whether
    that bucket is the background share (then the waiter waits without holding the gate)."""

    wait: float
    period: float
    background_share: bool = False


def bucket_name(period: float, *, background: bool) -> str:
    """A bucket's level in shared state: ``"3600"``, ``"background 3600"`` (the same for every spec)."""
    return f"{'background ' if background else ''}{period:g}"


class BucketSet:
    """The budget's arithmetic, one implementation: the in-process ``Budget`` and the state-directory
    backend use it as is; ``gate_redis`` says the same in Lua. ``now`` is any clock's reading."""

    def __init__(self, spec: BudgetSpec, now: float) -> None:
        self.normal = [LeakyBucket(capacity, period, updated=now) for capacity, period in spec.limits]
        self.background = [
            LeakyBucket(capacity, period, updated=now) for capacity, period in spec.background_limits()
        ]

    def _named(self) -> Iterator[tuple[str, LeakyBucket]]:
        # Named by period, not capacity: a process with a smaller budget (``WorkflowClient(budget=...)``)
        # counts the same requests, and holds them to its own capacity.
        for bucket in self.normal:
            yield bucket_name(bucket.period, background=False), bucket
        for bucket in self.background:
            yield bucket_name(bucket.period, background=True), bucket

    def binding(self, now: float, priority: Priority) -> Binding:
        normal = max(((b.wait_time(now), b.period) for b in self.normal), default=(0.0, 0.0))
        if priority is Priority.BACKGROUND:
            own = max(((b.wait_time(now), b.period) for b in self.background), default=(0.0, 0.0))
            if own[0] > normal[0]:
                return Binding(own[0], own[1], background_share=True)
        return Binding(*normal)

    def take(self, now: float, priority: Priority) -> None:
        for bucket in self.normal:
            bucket.take(now)
        if priority is Priority.BACKGROUND:
            for bucket in self.background:
                bucket.take(now)

    def fill(self, now: float, period: float) -> None:
        for bucket in self.normal:
            if bucket.period == period:
                bucket.fill(now)

    def state(self) -> dict[str, list[float]]:
        """What a shared store keeps: each bucket's level and when it was last drained."""
        return {name: [bucket.level, bucket.updated] for name, bucket in self._named()}

    def load(self, state: Mapping[str, object]) -> None:
        """Levels from ``state()``; buckets it does not name (a period no process used yet) start empty."""
        for name, bucket in self._named():
            value = state.get(name)
            if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
                bucket.level, bucket.updated = max(0.0, float(value[0])), float(value[1])


class BudgetWait(Exception):
    """The budget has no room for ``wait`` seconds, longer than the caller may wait; ``period`` is the
    spent bucket's (3600.0: the hourly budget)."""

    def __init__(self, wait: float, period: float) -> None:
        super().__init__(f"the budget of {period:.0f} s is spent for {wait:.0f} s")
        self.wait = wait
        self.period = period


class GateWait(Exception):
    """The credential's earlier requests still held its one slot after ``waited`` seconds, all the
    caller may wait."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"the credential's slot stayed taken for {waited:.0f} s")
        self.waited = waited


_RATE_MESSAGE = re.compile(r"per\s+(\d+)\s+second", re.IGNORECASE)


def rate_limited_period(message: str) -> float | None:
    """The period of the bucket UltraCart's ``rate of N per S second(s) exceeded`` says is spent."""
    match = _RATE_MESSAGE.search(message)
    return float(match.group(1)) if match else None


class Budget:
    """Thread-safe set of leaky buckets, shared by every event loop of the process."""

    def __init__(self, spec: BudgetSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets = BucketSet(spec, clock())
        self._lock = threading.Lock()

    def wait_time(self, priority: Priority = Priority.INTERACTIVE) -> float:
        """Seconds until every bucket has room for one more request (0: send now)."""
        return self.binding(priority).wait

    def binding(self, priority: Priority = Priority.INTERACTIVE) -> Binding:
        with self._lock:
            return self._buckets.binding(self._clock(), priority)

    def take(self, priority: Priority = Priority.INTERACTIVE) -> None:
        """Count one request. Called when its answer arrives: UltraCart counted it on arrival, which is
        earlier, so our buckets drain later than UltraCart's and never run ahead of them."""
        with self._lock:
            self._buckets.take(self._clock(), priority)

    def reserve(self, priority: Priority = Priority.INTERACTIVE) -> float:
        """Take one request now if it fits and return 0, else return how long to wait."""
        wait = self.wait_time(priority)
        if wait <= 0:
            self.take(priority)
        return wait

    def note_rate_limited(self, message: str) -> None:
        """On UltraCart's ``rate of N per S second(s) exceeded``, mark that bucket full."""
        period = rate_limited_period(message)
        if period is not None:
            with self._lock:
                self._buckets.fill(self._clock(), period)


# --------------------------------------------------------------------------- the gate and its backends


@dataclass
class Held:
    """What a slot's holder tells the gate on the way out."""

    rate_limited: str | None = None
    """UltraCart's 429 message, when it answered one: the bucket it names is marked full."""


class Outranked(Exception):
    """A backend's waiter gives way: a better waiter of its own process arrived (``outranked()``)."""


def still_waiting(
    remaining: Callable[[], float | None], allowed: float | None, outranked: Callable[[], bool]
) -> float | None:
    """For a backend's wait loop, between tries: the seconds the caller may still wait (None: no bound);
    GateWait (having waited ``allowed``) when none are left, Outranked when the process's own interactive
    call arrived behind this waiter."""
    left = remaining()
    if left is not None and left <= 0:
        raise GateWait(max(0.0, allowed or 0.0))
    if outranked():
        raise Outranked
    return left


class Hold(Protocol):
    """The backend's gate, held: the budget is read and counted through it, and ``leave`` frees it."""

    async def binding(self, priority: Priority) -> Binding: ...

    async def leave(self, priority: Priority, *, sent: bool, rate_limited: str | None) -> None:
        """Count the request when ``sent``, mark a bucket full on ``rate_limited``, free the gate. Never
        raises for the store being away: the request's answer is in by then and must reach its caller."""
        ...


class GateBackend(Protocol):
    async def enter(
        self, priority: Priority, remaining: Callable[[], float | None], outranked: Callable[[], bool]
    ) -> Hold:
        """Wait for the gate, in the backend's queue. GateWait once ``remaining()`` reaches 0; Outranked
        as soon as ``outranked()`` says so (this waiter then queues again behind its own process's
        better one)."""
        ...


class _Queue:
    """One event loop's queue for the gate: priority, then arrival; the holder hands the gate on."""

    def __init__(self) -> None:
        self._held = False
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def _top(self) -> tuple[int, int, asyncio.Future[None]] | None:
        while self._heap and self._heap[0][2].done():
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    def outranked(self, priority: int, seq: int) -> bool:
        top = self._top()
        return top is not None and (top[0], top[1]) < (priority, seq)

    async def acquire(self, priority: int, max_wait: float | None, seq: int | None = None) -> int:
        """The gate, in order; returns this waiter's place (pass it back to queue again in that place)."""
        seq = next(self._seq) if seq is None else seq
        if not self._held and self._top() is None:
            self._held = True  # free: taken at once, even with no time left
            return seq
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (priority, seq, future))
        try:
            if max_wait is None:
                await future
            else:
                await asyncio.wait_for(future, timeout=max(0.0, max_wait))
        except TimeoutError:
            raise GateWait(max(0.0, max_wait or 0.0)) from None
        except BaseException:
            if future.done() and not future.cancelled():
                self.release()  # handed the gate as the wait was cancelled: hand it on
            else:
                future.cancel()
            raise
        return seq

    def release(self) -> None:
        while self._heap:
            _, _, future = heapq.heappop(self._heap)
            if not future.done():
                future.set_result(None)  # the gate passes straight to it: nobody barges in
                return
        self._held = False


class Gate:
    """One request in flight at a time for a credential, in priority then arrival order, within the
    budget: a queue per event loop of this process in front of ``backend`` (which is the exclusion across
    processes, or nothing more for ``LocalBackend``)."""

    def __init__(self, backend: GateBackend) -> None:
        self.backend = backend
        # asyncio objects belong to one event loop; tests and CLIs may run several loops in a process.
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )
        self._guard = threading.Lock()

    def _queue(self) -> _Queue:
        loop = asyncio.get_running_loop()
        with self._guard:
            queue = self._queues.get(loop)
            if queue is None:
                queue = self._queues[loop] = _Queue()
            return queue

    @contextlib.asynccontextmanager
    async def slot(
        self,
        *,
        remaining: Callable[[], float | None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        priority: Priority | None = None,
    ) -> AsyncIterator[Held]:
        """Hold the credential's one slot, once the budget has room. ``remaining`` says how long the caller
        may still wait (None: no bound): a budget wait longer than that raises BudgetWait at once, before
        sleeping, rather than hold the slot (and the caller's locks) past the caller's deadline; a queue
        behind earlier requests longer than that raises GateWait. ``priority``: ``current_priority()``."""
        priority = current_priority() if priority is None else priority
        queue = self._queue()
        hold = await self._take(queue, priority, remaining, sleep)
        held = Held()
        try:
            yield held
        finally:
            try:
                await hold.leave(priority, sent=True, rate_limited=held.rate_limited)
            finally:
                queue.release()

    async def _take(
        self,
        queue: _Queue,
        priority: Priority,
        remaining: Callable[[], float | None],
        sleep: Callable[[float], Awaitable[None]],
    ) -> Hold:
        seq: int | None = None
        while True:
            seq = await queue.acquire(priority, remaining(), seq)
            try:
                hold = await self.backend.enter(
                    priority, remaining, functools.partial(queue.outranked, priority, seq)
                )
            except Outranked:
                queue.release()  # to the better waiter; this one queues again in its place
                continue
            except BaseException:
                queue.release()
                raise
            try:
                while (binding := await hold.binding(priority)).wait > 0:
                    left = remaining()
                    if left is not None and binding.wait > left:
                        raise BudgetWait(binding.wait, binding.period)
                    if binding.background_share:
                        break  # background's own share is spent: wait without holding up the others
                    await sleep(binding.wait)
                else:
                    return hold
            except BaseException:
                try:
                    await hold.leave(priority, sent=False, rate_limited=None)
                finally:
                    queue.release()
                raise
            try:
                await hold.leave(priority, sent=False, rate_limited=None)
            finally:
                queue.release()
            await sleep(binding.wait)


class _LocalHold:
    def __init__(self, budget: Budget) -> None:
        self._budget = budget

    async def binding(self, priority: Priority) -> Binding:
        return self._budget.binding(priority)

    async def leave(self, priority: Priority, *, sent: bool, rate_limited: str | None) -> None:
        if sent:
            self._budget.take(priority)  # once the answer is in (see Budget.take)
        if rate_limited is not None:
            self._budget.note_rate_limited(rate_limited)


class LocalBackend:
    """This process only: the event loop's queue is the whole exclusion; the budget is in memory."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._hold = _LocalHold(budget)

    async def enter(
        self, priority: Priority, remaining: Callable[[], float | None], outranked: Callable[[], bool]
    ) -> Hold:
        return self._hold


class CredentialGate(Gate):
    """The in-process gate of today: one process's requests, FIFO by priority, within ``budget``."""

    def __init__(self, budget: Budget) -> None:
        super().__init__(LocalBackend(budget))
        self.budget = budget


_gates: dict[tuple[str, ...], Gate] = {}
_gates_guard = threading.Lock()


def credential_fingerprint(base_url: str, credential: str) -> str:
    """A key for the gate registry that never holds the credential itself."""
    return hashlib.sha256(f"{base_url}\0{credential}".encode()).hexdigest()


def gate_for(fingerprint: str, spec: BudgetSpec) -> CredentialGate:
    """The process-wide (this process only) gate of a credential (the first spec registered wins)."""
    with _gates_guard:
        gate = _gates.get(("process", fingerprint))
        if gate is None:
            gate = _gates[("process", fingerprint)] = CredentialGate(Budget(spec))
        assert isinstance(gate, CredentialGate)
        return gate


def shared_gate_for(fingerprint: str, spec: BudgetSpec, settings: Settings) -> Gate:
    """The gate every process sharing ``settings``' state uses for a credential: in Redis when
    ``UC_WORKFLOW_REDIS_URL`` is set, else in ``UC_WORKFLOW_STATE_DIR`` (one per process and place; the
    first spec registered wins)."""
    redis_url = settings.redis_url
    key = ("redis", redis_url, fingerprint) if redis_url else ("dir", str(settings.state_dir), fingerprint)
    with _gates_guard:
        gate = _gates.get(key)
        if gate is None:
            backend: GateBackend
            if redis_url:
                from shared_client.gate_redis import RedisGateBackend

                backend = RedisGateBackend(redis_url, fingerprint, spec)
            else:
                from shared_client.gate_files import FileGateBackend, supported

                backend = (
                    FileGateBackend(settings.state_dir, fingerprint, spec)
                    if supported()
                    else LocalBackend(Budget(spec))
                )
            gate = _gates[key] = Gate(backend)
        return gate
