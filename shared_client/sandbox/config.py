"""Sandbox settings: the dataclass the CLI fills in, and the rate-limit grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared_client.settings import Settings

FAULT_KINDS: tuple[str, ...] = ("429", "500", "503", "reset", "timeout")

_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RULE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")


@dataclass(frozen=True)
class RateWindow:
    """One leaky bucket: at most `requests` per `seconds`, draining continuously."""

    requests: int
    seconds: int


@dataclass(frozen=True)
class RateLimit:
    windows: tuple[RateWindow, ...]

    def __str__(self) -> str:
        return ",".join(f"{w.requests}/{w.seconds}s" for w in self.windows)


DEFAULT_RATE_LIMIT = RateLimit((RateWindow(1000, 3600), RateWindow(10000, 86400)))


def parse_rate_limit(text: str) -> RateLimit | None:
    """Parse `none` or `N/unit[,N/unit...]` (unit: second, minute, hour, day).

    Raises ValueError with a one-line message on anything else.
    """
    cleaned = text.strip().lower()
    if cleaned in ("none", "off", "0"):
        return None
    windows: list[RateWindow] = []
    for part in cleaned.split(","):
        match = _RULE.match(part)
        if match is None:
            raise ValueError(
                f"bad rate limit {part.strip()!r}: expected 'none' or N/unit[,N/unit] "
                "with unit second, minute, hour or day (e.g. 1000/hour,10000/day)"
            )
        count = int(match.group(1))
        if count <= 0:
            raise ValueError(f"bad rate limit {part.strip()!r}: the count must be positive")
        windows.append(RateWindow(count, _UNIT_SECONDS[match.group(2)]))
    return RateLimit(tuple(windows))


def default_db_path(settings: Settings | None = None) -> Path:
    """`Settings.sandbox_db_path`: `UC_WORKFLOW_SANDBOX_DB`, else `sandbox.sqlite3` in the user's data
    directory (this process's settings unless others are given)."""
    if settings is None:
        from shared_client.settings import current_settings

        settings = current_settings()
    return settings.sandbox_db_path


@dataclass(frozen=True)
class SandboxConfig:
    """How one sandbox app behaves. `db_path=None` means `default_db_path()`."""

    db_path: Path | None = None
    reset: bool = False
    rate_limit: RateLimit | None = field(default=DEFAULT_RATE_LIMIT)
    allow_concurrent: bool = False
    latency: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fault_timeout: float = 30.0
    seed: int | None = None
    seed_tasks: int = 0

    def __post_init__(self) -> None:
        if self.latency < 0:
            raise ValueError("latency must be >= 0 seconds")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        unknown = [k for k in self.fault_kinds if k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}: use {','.join(FAULT_KINDS)}")
        if self.fault_rate > 0 and not self.fault_kinds:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        if self.fault_timeout < 0:
            raise ValueError("fault_timeout must be >= 0 seconds")
        if self.seed_tasks < 0:
            raise ValueError("seed_tasks must be >= 0")

    def resolved_db_path(self) -> Path:
        return self.db_path if self.db_path is not None else default_db_path()
