"""Slack helpers for the benchmarks (filled in once the Slack bot lands)."""

from __future__ import annotations

from collections import Counter
from typing import Any


def available() -> bool:
    return False


async def call_economy_day(sb: Any) -> dict[str, Counter[str]] | None:
    return None
