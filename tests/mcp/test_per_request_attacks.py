"""Attacks on ``--credentials per-request`` at the ASGI layer (``server.per_request``), in process: what a
caller can put in ``x-ultracart-simple-key``. UltraCart is a mock transport (no network)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from server.per_request import KEY_HEADER, MALFORMED_KEY, CallerContexts, CallerKeyMiddleware
from shared_client.client import WorkflowClient

ME = {"success": True, "user": {"user_id": 7, "user": "Alice"}}


def contexts(seen: list[str]) -> CallerContexts:
    def ultracart(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get(KEY_HEADER, ""))
        return httpx.Response(200, json=ME)

    def client_for(key: str) -> WorkflowClient:
        return WorkflowClient(
            api_key=key,
            base_url="https://secure.ultracart.example/rest/v2",
            transport=httpx.MockTransport(ultracart),
            gate_key=f"attack-test:{len(seen)}",
        )

    return CallerContexts(client_for, sandbox=False, description="test")


async def inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"served"})


async def post(app: Any, raw_key: bytes) -> tuple[int, bytes]:
    """One POST straight into the ASGI app, the header's bytes as a client sent them."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (KEY_HEADER.encode(), raw_key)],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize(
    "raw_key",
    [
        "caf\u00e9-not-a-simple-key-0123456789".encode("latin-1"),  # a byte over 0x7f
        "\u043a\u043b\u044e\u0447-0123456789".encode(),  # UTF-8: several
        b"a\x01control-character-0123456789",
    ],
)
async def test_a_key_that_is_no_simple_key_is_401_with_one_clear_message(
    raw_key: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    callers = contexts(seen)
    app = CallerKeyMiddleware(inner, callers)
    with caplog.at_level(logging.DEBUG):
        response = await post(app, raw_key)
    status, text = response
    assert status == 401, text
    body = json.loads(text)
    assert body == {"error": "unauthorized", "error_description": MALFORMED_KEY}
    assert not seen  # UltraCart was not asked
    assert callers.clients == 0
    assert not [r for r in caplog.records if r.exc_info]  # no traceback logged
    await callers.aclose()


async def test_a_good_key_still_passes() -> None:
    seen: list[str] = []
    callers = contexts(seen)
    status, text = await post(CallerKeyMiddleware(inner, callers), b"  a-good-simple-key-0123456789  ")
    assert (status, text) == (200, b"served")
    assert seen == ["a-good-simple-key-0123456789"]
    await callers.aclose()


async def test_acquire_refuses_a_key_that_is_no_simple_key_without_a_client() -> None:
    from server.per_request import KeyRefused

    seen: list[str] = []
    callers = contexts(seen)
    with pytest.raises(KeyRefused):
        await callers.acquire("caf\u00e9-not-a-simple-key-0123456789")
    assert callers.clients == 0 and callers.verifications == 0 and not seen
    await callers.aclose()


async def test_keys_ultracart_could_not_verify_leave_no_client_behind() -> None:
    """While UltraCart cannot be asked (down, or rate limiting this server), callers sending made-up keys
    must not pile up one client (and connection pool) each."""
    from server.per_request import KeyUnverified

    asked: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get(KEY_HEADER, ""))
        return httpx.Response(503, json={"error": {"user_message": "down"}})

    def client_for(key: str) -> WorkflowClient:
        return WorkflowClient(
            api_key=key,
            base_url="https://secure.ultracart.example/rest/v2",
            transport=httpx.MockTransport(down),
            gate_key=f"attack-test-down:{key}",
            call_deadline=0.5,
        )

    callers = CallerContexts(client_for, sandbox=False, description="test")
    for n in range(3):
        with pytest.raises(KeyUnverified):
            await callers.acquire(f"made-up-key-{n}-0123456789")
    assert asked and callers.clients == 0
    await callers.aclose()
