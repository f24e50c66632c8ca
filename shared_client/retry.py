"""Retry policy as pure functions, pinned by a table test (tests/test_retry.py).

UltraCart's limits make retrying part of correctness: a 429 must be waited out (it is UltraCart asking
us to slow down), 5xx and broken connections are retried for idempotent calls, and a task insert (a plain
POST that UltraCart cannot de-duplicate) is retried only when the request provably never reached it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum

from shared_client import constants


class Outcome(Enum):
    """What happened to one attempt, as far as retrying is concerned."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"  # 429: not processed
    SERVER_ERROR = "server_error"  # 500, 502, 503, 504: may or may not have been processed
    NOT_SENT = "not_sent"  # connect error/timeout, pool timeout: never reached the server
    UNKNOWN = "unknown"  # read timeout, connection reset after sending: may have taken effect
    FINAL = "final"  # 4xx other than 429, or anything retrying cannot help


RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})
_default_rng = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = constants.MAX_RETRIES
    max_rate_limit_retries: int = constants.MAX_RATE_LIMIT_RETRIES
    base_delay: float = constants.RETRY_BASE_DELAY
    max_delay: float = constants.RETRY_MAX_DELAY
    rate_limit_base_delay: float = constants.RATE_LIMIT_BASE_DELAY
    rate_limit_max_delay: float = constants.RATE_LIMIT_MAX_DELAY


def outcome_for_status(status: int) -> Outcome:
    if status < 400:
        return Outcome.OK
    if status == 429:
        return Outcome.RATE_LIMITED
    if status in RETRYABLE_SERVER_STATUSES:
        return Outcome.SERVER_ERROR
    return Outcome.FINAL


def should_retry(outcome: Outcome, *, idempotent: bool, retries_done: int, policy: RetryPolicy) -> bool:
    """Whether to try again after an attempt ended with ``outcome``.

    ``retries_done`` counts the retries already made (0 after the first attempt). A non-idempotent call
    (a task insert) is retried only when it provably did not take effect: never sent, or refused with 429.
    """
    if outcome in (Outcome.OK, Outcome.FINAL):
        return False
    if outcome is Outcome.RATE_LIMITED:
        return retries_done < policy.max_rate_limit_retries
    if outcome is Outcome.NOT_SENT:
        return retries_done < policy.max_retries
    # SERVER_ERROR and UNKNOWN: the request may have taken effect.
    return idempotent and retries_done < policy.max_retries


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None for garbage."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(0.0, min(seconds, constants.RETRY_AFTER_MAX))


def retry_delay(
    outcome: Outcome,
    retries_done: int,
    *,
    policy: RetryPolicy,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """How long to wait before the next attempt: Retry-After when given, else capped exponential backoff
    with full jitter (half fixed, half random, so waits never collapse to zero)."""
    if outcome is Outcome.RATE_LIMITED:
        base, cap = policy.rate_limit_base_delay, policy.rate_limit_max_delay
    else:
        base, cap = policy.base_delay, policy.max_delay
    ceiling = min(cap, base * 2.0 ** float(retries_done))
    if retry_after is not None:
        # Honour the server's wait, but never below half our own backoff: "Retry-After: 0" in a 429
        # storm must not become a tight loop.
        return float(max(retry_after, ceiling / 2))
    jitter = (rng or _default_rng).random()
    return float(ceiling / 2 + jitter * ceiling / 2)
