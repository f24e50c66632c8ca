"""Validate sandbox answers against UltraCart's OpenAPI document (the project's copy).

openapi-core quirks worked around here, smallest first:
- The document's only server is https://secure.ultracart.com/rest/v2, and openapi-core finds the
  operation by matching the full URL against `servers`; we validate every answer as if it came from
  that host (only the path matters).
- `format: dateTime` is not a format openapi-core knows; it is ignored (strings stay strings), which
  is what we want, so no workaround is needed. Dates are checked by the tests themselves.
- Statuses the document does not declare for an operation (503 from fault injection) are validated
  against the operation's 500 answer, which has the same ErrorResponse schema and UC-REST-ERROR header.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared_client" / "openapi" / "workflow-openapi.yaml"
UC_HOST = "https://secure.ultracart.com"
API_PREFIX = "/rest/v2"


@cache
def openapi() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_PATH))


@cache
def _declared(method: str, template_path: str) -> frozenset[str]:
    operation = openapi().spec / "paths" / template_path / method.lower()
    with (operation / "responses").open() as responses:
        return frozenset(str(code) for code in responses)


def _template_for(path: str) -> str | None:
    from shared_client.sandbox.route_table import OPERATIONS  # route table of the sandbox

    relative = path[len(API_PREFIX) :]
    for op in OPERATIONS:
        if op.pattern.match(relative):
            return op.pattern.pattern.strip("^$").replace("(?P<", "{").replace(">[^/]+)", "}")
    return None


def assert_valid_response(
    method: str, url: str, status: int, headers: dict[str, str] | httpx.Headers, body: bytes
) -> None:
    """Fail unless the answer matches the OpenAPI document for that operation and status."""
    parts = urlsplit(url)
    template = _template_for(parts.path)
    assert template is not None, f"{method} {parts.path} is not an operation of the OpenAPI document"
    lowered = {k.lower(): v for k, v in dict(headers).items()}
    assert "x-ultracart-request-id" in lowered, "every answer carries X-UltraCart-Request-Id"
    declared = _declared(method, template)
    checked_status = status if str(status) in declared else 500
    if status >= 400:
        payload = json.loads(body)
        assert "success" not in payload, "UltraCart error bodies have no success field"
        assert lowered.get("uc-rest-error"), "errors carry UC-REST-ERROR"
        assert payload["error"]["error_code"] == str(status)
    request = MockRequest(
        UC_HOST,
        method.lower(),
        parts.path,
        args=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers={},
    )
    response = MockResponse(
        body,
        status_code=checked_status,
        headers={"UC-REST-ERROR": lowered.get("uc-rest-error", "")} if status >= 400 else {},
        content_type=lowered.get("content-type", "application/json").split(";")[0],
    )
    openapi().validate_response(request, response)


async def validate_hook(response: httpx.Response) -> None:
    """httpx response hook: validate every /rest/v2 answer of a known operation."""
    if not response.request.url.path.startswith(API_PREFIX):
        return
    if _template_for(response.request.url.path) is None or response.status_code in (404, 405):
        return
    await response.aread()
    assert_valid_response(
        response.request.method,
        str(response.request.url),
        response.status_code,
        response.headers,
        response.content,
    )


def check_sync(method: str, url: str, response: httpx.Response) -> None:
    assert_valid_response(method, url, response.status_code, response.headers, response.content)


__all__ = ["assert_valid_response", "check_sync", "openapi", "validate_hook"]
