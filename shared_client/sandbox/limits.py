"""Per-credential leaky buckets, in-flight tracking and the counters behind /_sandbox/stats."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .config import RateLimit


class LeakyBuckets:
    """One bucket per window and credential; each drains continuously at requests/seconds."""

    def __init__(self, limit: RateLimit | None) -> None:
        self.limit = limit
        self._levels: dict[str, list[tuple[float, float]]] = {}

    def admit(self, key: str, now: float | None = None) -> str | None:
        """Count one request; return the UltraCart message of the exceeded window, if any."""
        if self.limit is None:
            return None
        now = time.monotonic() if now is None else now
        states = self._levels.get(key) or [(0.0, now)] * len(self.limit.windows)
        drained: list[float] = []
        for window, (level, last) in zip(self.limit.windows, states, strict=True):
            rate = window.requests / window.seconds
            current = max(0.0, level - (now - last) * rate)
            if current + 1 > window.requests:
                return f"rate of {window.requests} per {window.seconds} second(s) exceeded"
            drained.append(current)
        self._levels[key] = [(level + 1, now) for level in drained]
        return None


@dataclass
class Stats:
    operation_ids: tuple[str, ...]
    requests_total: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    faults_injected: int = 0
    max_in_flight: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests_total = 0
        self.requests = dict.fromkeys(self.operation_ids, 0)
        self.rate_limited = 0
        self.faults_injected = 0
        self.max_in_flight = max(self.in_flight.values(), default=0)

    def enter(self, key: str) -> int:
        count = self.in_flight.get(key, 0) + 1
        self.in_flight[key] = count
        self.max_in_flight = max(self.max_in_flight, count)
        return count

    def leave(self, key: str) -> None:
        count = self.in_flight.get(key, 0) - 1
        if count <= 0:
            self.in_flight.pop(key, None)
        else:
            self.in_flight[key] = count

    def snapshot(self) -> dict[str, object]:
        return {
            "requests_total": self.requests_total,
            "requests": dict(self.requests),
            "rate_limited": self.rate_limited,
            "faults_injected": self.faults_injected,
            "max_in_flight": self.max_in_flight,
        }
