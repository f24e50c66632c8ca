"""The retry policy, pinned by a table."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from shared_client.retry import (
    Outcome,
    RetryPolicy,
    outcome_for_status,
    parse_retry_after,
    retry_delay,
    should_retry,
)

POLICY = RetryPolicy(max_retries=3, max_rate_limit_retries=5, base_delay=1.0, max_delay=8.0,
                     rate_limit_base_delay=2.0, rate_limit_max_delay=30.0)  # fmt: skip


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.OK),
        (204, Outcome.OK),
        (400, Outcome.FINAL),
        (401, Outcome.FINAL),
        (404, Outcome.FINAL),
        (410, Outcome.FINAL),
        (429, Outcome.RATE_LIMITED),
        (500, Outcome.SERVER_ERROR),
        (502, Outcome.SERVER_ERROR),
        (503, Outcome.SERVER_ERROR),
        (504, Outcome.SERVER_ERROR),
        (501, Outcome.FINAL),
    ],
)
def test_outcome_for_status(status: int, outcome: Outcome) -> None:
    assert outcome_for_status(status) is outcome


@pytest.mark.parametrize(
    ("outcome", "idempotent", "retries_done", "expected"),
    [
        (Outcome.OK, True, 0, False),
        (Outcome.FINAL, True, 0, False),
        # 429: UltraCart did not process it, so even an insert is retried; longer budget.
        (Outcome.RATE_LIMITED, True, 0, True),
        (Outcome.RATE_LIMITED, False, 0, True),
        (Outcome.RATE_LIMITED, False, 4, True),
        (Outcome.RATE_LIMITED, True, 5, False),
        # Never reached the server: safe for anything.
        (Outcome.NOT_SENT, False, 0, True),
        (Outcome.NOT_SENT, True, 2, True),
        (Outcome.NOT_SENT, True, 3, False),
        # May have taken effect: only idempotent calls.
        (Outcome.SERVER_ERROR, True, 0, True),
        (Outcome.SERVER_ERROR, False, 0, False),
        (Outcome.SERVER_ERROR, True, 3, False),
        (Outcome.UNKNOWN, True, 1, True),
        (Outcome.UNKNOWN, False, 0, False),
    ],
)
def test_should_retry(outcome: Outcome, idempotent: bool, retries_done: int, expected: bool) -> None:
    assert should_retry(outcome, idempotent=idempotent, retries_done=retries_done, policy=POLICY) is expected


NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("3", 3.0),
        ("0", 0.0),
        ("2.5", 2.5),
        ("-4", 0.0),  # never negative
        ("100000", 300.0),  # capped
        ("Sun, 29 Nov 2026 12:00:30 GMT", 30.0),  # an HTTP date
        ("Sun, 29 Nov 2026 11:59:00 GMT", 0.0),  # in the past
        ("soon", None),  # garbage
        ("nan", None),
        ("inf", None),
        ("12 seconds", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_wins_over_backoff() -> None:
    assert retry_delay(Outcome.RATE_LIMITED, 0, policy=POLICY, retry_after=7.0) == 7.0


@pytest.mark.parametrize(
    ("outcome", "retries_done", "low", "high"),
    [
        (Outcome.SERVER_ERROR, 0, 0.5, 1.0),
        (Outcome.SERVER_ERROR, 1, 1.0, 2.0),
        (Outcome.SERVER_ERROR, 2, 2.0, 4.0),
        (Outcome.SERVER_ERROR, 10, 4.0, 8.0),  # capped at max_delay
        (Outcome.RATE_LIMITED, 0, 1.0, 2.0),
        (Outcome.RATE_LIMITED, 3, 8.0, 16.0),
        (Outcome.RATE_LIMITED, 20, 15.0, 30.0),
    ],
)
def test_backoff_is_exponential_jittered_and_capped(
    outcome: Outcome, retries_done: int, low: float, high: float
) -> None:
    rng = random.Random(42)
    delays = [retry_delay(outcome, retries_done, policy=POLICY, rng=rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert max(delays) - min(delays) > (high - low) / 4  # jitter really spreads the retries
