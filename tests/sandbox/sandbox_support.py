"""Helpers shared by the sandbox tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette

OWNER_KEY = "test-simple-key-owner"
VERSION = {"X-UltraCart-Api-Version": "2017-03-01"}
BASE = "http://sandbox/rest/v2"

MakeApp = Callable[..., Starlette]
MakeClient = Callable[..., httpx.AsyncClient]


async def search(client: httpx.AsyncClient, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await client.post("/workflow/tasks/search", json=body, params=params or None)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def search_all(client: httpx.AsyncClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = await search(client, body, _limit=500, _offset=offset)
        tasks += page["tasks"]
        result_set = page["metadata"]["result_set"]
        if not result_set.get("more"):
            return tasks
        offset = result_set["next_offset"]


def assert_error(response: httpx.Response, status: int, contains: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["X-UltraCart-Request-Id"]
    message = response.headers["UC-REST-ERROR"]
    assert contains.lower() in message.lower(), message
    body: dict[str, Any] = response.json()
    assert "success" not in body
    assert body["error"]["error_code"] == str(status)
    assert body["metadata"] == {}
    return body
