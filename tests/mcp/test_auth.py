"""The bearer-token guard (server/auth.py) as ASGI middleware, in process: what it lets through, what it
answers instead, and that the token is compared in constant time and never logged."""

from __future__ import annotations

import hmac
import logging
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from server.auth import BearerTokenMiddleware
from server.cli import build_http_app

TOKEN = "s3cret-token-for-tests-only"


class Inner:
    """The app behind the guard: answers 200 and remembers every scope it was given."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "lifespan":
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"inside"})


async def _post(app: Any, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        return await http.post("/mcp", json={}, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": f"Token {TOKEN}"},
    ],
    ids=["missing", "empty", "no token", "wrong", "longer", "shorter", "basic", "no scheme", "token"],
)
async def test_without_the_right_token_the_app_is_never_reached(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    inner = Inner()
    with caplog.at_level(logging.WARNING, logger="server.auth"):
        answer = await _post(BearerTokenMiddleware(inner, TOKEN), headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["error"] == "unauthorized"
    assert inner.scopes == []
    assert "refused" in caplog.text and TOKEN not in caplog.text


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN} "])
async def test_the_right_token_reaches_the_app(header: str) -> None:
    inner = Inner()
    answer = await _post(BearerTokenMiddleware(inner, TOKEN), {"Authorization": header})
    assert (answer.status_code, answer.text) == (200, "inside")
    assert [s["type"] for s in inner.scopes] == ["http"]


async def test_lifespan_passes_through_without_a_token() -> None:
    inner = Inner()

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError(f"the guard answered a lifespan scope: {message}")

    await BearerTokenMiddleware(inner, TOKEN)({"type": "lifespan"}, receive, send)
    assert [s["type"] for s in inner.scopes] == ["lifespan"]


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", "Bearer nope", f"Basic {TOKEN}", ""])
async def test_the_token_is_compared_in_constant_time(header: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every answer, right or wrong (even a wrong scheme), comes from hmac.compare_digest: how long a
    # refusal takes says nothing about how much of the token was right.
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    await _post(BearerTokenMiddleware(Inner(), TOKEN), {"Authorization": header} if header else {})
    assert len(compared) == 1 and TOKEN.encode() in compared[0]


def test_an_empty_token_is_refused_at_start() -> None:
    with pytest.raises(ValueError):
        BearerTokenMiddleware(Inner(), "")


def test_the_http_app_is_guarded_exactly_when_a_token_is_set(tool_context: Any) -> None:
    from server.app import build_server

    server = build_server(tool_context)
    assert isinstance(build_http_app(server, "0.0.0.0", TOKEN), BearerTokenMiddleware)
    assert not isinstance(build_http_app(server, "127.0.0.1", None), BearerTokenMiddleware)
