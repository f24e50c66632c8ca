"""Pacing: one request in flight per credential, and a client-side budget that waits instead of
spending a request on a 429.

UltraCart answers 429 to a request that arrives while another from the same application is in flight,
and keeps a leaky-bucket budget (1,000 an hour, 10,000 a day). So every request of a process takes the
credential's gate: a FIFO lock (extra calls queue, they do not fail) and a budget that delays a request
until the buckets have room.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from shared_client import constants


@dataclass
class LeakyBucket:
    """``capacity`` requests per ``period`` seconds, draining continuously (no fixed reset time)."""

    capacity: int
    period: float
    level: float = 0.0
    updated: float = field(default_factory=time.monotonic)

    def _drain(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
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
    """Requests allowed per period: ``((1000, 3600.0), (10000, 86400.0))`` is UltraCart's default."""

    limits: tuple[tuple[int, float], ...] = (
        (constants.DEFAULT_HOURLY_BUDGET, 3600.0),
        (constants.DEFAULT_DAILY_BUDGET, 86400.0),
    )

    @classmethod
    def none(cls) -> BudgetSpec:
        return cls(limits=())


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


class Budget:
    """Thread-safe set of leaky buckets, shared by every event loop of the process."""

    def __init__(self, spec: BudgetSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets = [LeakyBucket(capacity, period, updated=clock()) for capacity, period in spec.limits]
        self._lock = threading.Lock()

    def wait_time(self) -> float:
        """Seconds until every bucket has room for one more request (0: send now)."""
        with self._lock:
            now = self._clock()
            return max((bucket.wait_time(now) for bucket in self._buckets), default=0.0)

    def binding(self) -> tuple[float, float]:
        """(seconds until one more request fits, the period of the bucket that sets that wait)."""
        with self._lock:
            now = self._clock()
            waits = [(bucket.wait_time(now), bucket.period) for bucket in self._buckets]
        return max(waits, default=(0.0, 0.0))

    def take(self) -> None:
        """Count one request. Called when its answer arrives: UltraCart counted it on arrival, which is
        earlier, so our buckets drain later than UltraCart's and never run ahead of them."""
        with self._lock:
            now = self._clock()
            for bucket in self._buckets:
                bucket.take(now)

    def reserve(self) -> float:
        """Take one request now if it fits and return 0, else return how long to wait."""
        wait = self.wait_time()
        if wait <= 0:
            self.take()
        return wait

    def note_rate_limited(self, message: str) -> None:
        """On UltraCart's ``rate of N per S second(s) exceeded``, mark that bucket full."""
        match = _RATE_MESSAGE.search(message)
        if not match:
            return
        period = float(match.group(1))
        with self._lock:
            now = self._clock()
            for bucket in self._buckets:
                if bucket.period == period:
                    bucket.fill(now)


class CredentialGate:
    """One request in flight at a time for a credential, FIFO, within the budget."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        # asyncio locks belong to one event loop; tests and CLIs may run several loops in a process.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._guard = threading.Lock()

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._locks.get(loop)
            if lock is None:
                lock = self._locks[loop] = asyncio.Lock()
            return lock

    @asynccontextmanager
    async def slot(
        self,
        *,
        remaining: Callable[[], float | None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> AsyncIterator[None]:
        """Hold the credential's one slot, once the budget has room. ``remaining`` says how long the caller
        may still wait (None: no bound): a budget wait longer than that raises BudgetWait at once, before
        sleeping, rather than hold the slot (and the caller's locks) past the caller's deadline; a queue
        behind earlier requests longer than that raises GateWait."""
        lock = self._lock()
        left = remaining()
        if left is None or not lock.locked():
            await lock.acquire()
        else:
            try:
                await asyncio.wait_for(lock.acquire(), timeout=max(0.0, left))
            except TimeoutError:
                raise GateWait(max(0.0, left)) from None
        try:
            while (binding := self.budget.binding())[0] > 0:
                wait, period = binding
                left = remaining()
                if left is not None and wait > left:
                    raise BudgetWait(wait, period)
                await sleep(wait)
            try:
                yield
            finally:
                self.budget.take()  # once the answer is in (see Budget.take)
        finally:
            lock.release()


_gates: dict[str, CredentialGate] = {}
_gates_guard = threading.Lock()


def credential_fingerprint(base_url: str, credential: str) -> str:
    """A key for the gate registry that never holds the credential itself."""
    return hashlib.sha256(f"{base_url}\0{credential}".encode()).hexdigest()


def gate_for(fingerprint: str, spec: BudgetSpec) -> CredentialGate:
    """The process-wide gate of a credential (the first spec registered for it wins)."""
    with _gates_guard:
        gate = _gates.get(fingerprint)
        if gate is None:
            gate = _gates[fingerprint] = CredentialGate(Budget(spec))
        return gate
