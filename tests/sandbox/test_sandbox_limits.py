"""Rate limits, the one-request-in-flight rule, latency and injected faults."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sandbox_support import MakeApp, MakeClient, assert_error

from shared_client.sandbox import RateLimit, RateWindow, SandboxConfig, parse_rate_limit


def test_parse_rate_limit() -> None:
    assert parse_rate_limit("none") is None
    assert parse_rate_limit("1000/hour,10000/day") == RateLimit(
        (RateWindow(1000, 3600), RateWindow(10000, 86400))
    )
    assert parse_rate_limit(" 100/minute , 5000/day ") == RateLimit(
        (RateWindow(100, 60), RateWindow(5000, 86400))
    )
    assert parse_rate_limit("5/second") == RateLimit((RateWindow(5, 1),))
    for bad in ("", "10/week", "ten/hour", "0/hour", "10"):
        with pytest.raises(ValueError):
            parse_rate_limit(bad)


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SandboxConfig(fault_rate=2.0)
    with pytest.raises(ValueError):
        SandboxConfig(fault_kinds=("boom",))
    with pytest.raises(ValueError):
        SandboxConfig(latency=-1)


async def test_rate_limit_429(make_app: MakeApp, make_client: MakeClient) -> None:
    app = make_app(rate_limit=parse_rate_limit("3/minute"))
    async with make_client(app) as c, make_client(app, key="another-key") as other:
        for _ in range(3):
            assert (await c.get("/workflow/me")).status_code == 200
        limited = await c.get("/workflow/me")
        assert_error(limited, 429, "rate of 3 per 60 second(s) exceeded")
        assert "retry-after" not in limited.headers
        assert (await other.get("/workflow/me")).status_code == 200  # per credential
        stats = (await c.get("http://sandbox/_sandbox/stats")).json()  # not rate limited itself
        assert stats["rate_limited"] == 1


async def test_concurrent_requests_from_one_key_get_429(make_app: MakeApp, make_client: MakeClient) -> None:
    app = make_app(latency=0.05)
    async with make_client(app) as c, make_client(app, key="user:alice@demo.example") as alice:
        responses = await asyncio.gather(
            c.get("/workflow/me"), c.get("/workflow/me"), alice.get("/workflow/me")
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 429]
        limited = next(r for r in responses if r.status_code == 429)
        assert_error(limited, 429, "Concurrent")
        stats = (await c.get("http://sandbox/_sandbox/stats")).json()
        assert stats["max_in_flight"] == 2 and stats["rate_limited"] == 1


async def test_allow_concurrent(make_app: MakeApp, make_client: MakeClient) -> None:
    app = make_app(latency=0.05, allow_concurrent=True, rate_limit=None)
    async with make_client(app) as c:
        responses = await asyncio.gather(*(c.get("/workflow/me") for _ in range(3)))
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert (await c.get("http://sandbox/_sandbox/stats")).json()["max_in_flight"] == 3


async def _task_count(app: Any, make_client: MakeClient) -> int:
    async with make_client(app) as c:
        body = (await c.post("/workflow/tasks/search", json={}, params={"_limit": 1})).json()
        count: int = body["metadata"]["result_set"]["total_records"]
        return count


@pytest.mark.parametrize("kind", ["429", "500", "503"])
async def test_status_faults_do_nothing(make_app: MakeApp, make_client: MakeClient, kind: str) -> None:
    observer = make_app()
    before = await _task_count(observer, make_client)
    app = make_app(fault_rate=1.0, fault_kinds=(kind,), seed=1)
    async with make_client(app) as c:
        assert_error(await c.post("/workflow/tasks", json={"task_name": "never"}), int(kind))
        stats = (await c.get("http://sandbox/_sandbox/stats")).json()
        assert stats["faults_injected"] == 1
    assert await _task_count(observer, make_client) == before


@pytest.mark.parametrize(
    ("kind", "error"), [("reset", httpx.RemoteProtocolError), ("timeout", httpx.ReadTimeout)]
)
async def test_network_faults_strike_after_commit(
    make_app: MakeApp, make_client: MakeClient, kind: str, error: type[Exception]
) -> None:
    observer = make_app()
    before = await _task_count(observer, make_client)
    # In process a timeout strikes at once: with a fault that would hang for a year, the guard below (there
    # only so that a regression fails instead of hanging) is never reached.
    app = make_app(fault_rate=1.0, fault_kinds=(kind,), fault_timeout=365 * 86400.0)
    async with make_client(app) as c:
        with pytest.raises(error):
            await asyncio.wait_for(c.post("/workflow/tasks", json={"task_name": "committed anyway"}), 60)
        assert (await c.get("http://sandbox/_sandbox/stats")).json()["faults_injected"] == 1
    assert await _task_count(observer, make_client) == before + 1


async def test_fault_rate_is_a_fraction_and_seeded(make_app: MakeApp, make_client: MakeClient) -> None:
    async def run() -> list[int]:
        app = make_app(fault_rate=0.5, fault_kinds=("503",), seed=42, rate_limit=None)
        async with make_client(app) as c:
            return [(await c.get("/workflow/me")).status_code for _ in range(40)]

    first, second = await run(), await run()
    assert first == second
    assert 5 < first.count(503) < 35 and set(first) == {200, 503}
