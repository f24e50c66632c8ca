"""Fixtures for the sandbox suite: an app on a temporary database and a validating client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_check import validate_hook
from sandbox_support import BASE, OWNER_KEY, VERSION, MakeApp, MakeClient
from starlette.applications import Starlette

from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sandbox.sqlite3"


@pytest.fixture
def make_app(db_path: Path) -> MakeApp:
    def build(**overrides: Any) -> Starlette:
        overrides.setdefault("db_path", db_path)
        return create_app(SandboxConfig(**overrides))

    return build


@pytest.fixture
def make_client() -> MakeClient:
    """A client on an app; `key=None` sends no credentials, `version=False` no version header."""

    def build(
        app: Starlette, key: str | None = OWNER_KEY, version: bool = True, **kw: Any
    ) -> httpx.AsyncClient:
        headers: dict[str, str] = dict(VERSION) if version else {}
        if key is not None:
            headers["x-ultracart-simple-key"] = key
        headers.update(kw.pop("headers", {}))
        return httpx.AsyncClient(
            transport=SandboxTransport(app),
            base_url=BASE,
            headers=headers,
            event_hooks={"response": [validate_hook]},
            **kw,
        )

    return build


@pytest.fixture
def app(make_app: MakeApp) -> Starlette:
    return make_app()


@pytest.fixture
async def client(app: Starlette, make_client: MakeClient) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c
