"""A faithful local emulator of UltraCart's Workflow API, backed by SQLite.

`create_app(SandboxConfig(...))` gives a Starlette app serving `/rest/v2` like UltraCart;
`SandboxTransport(app)` plugs it under an `httpx.AsyncClient` in process, and the
`uc-workflow-sandbox` command serves it on a port. Heavy imports (Starlette, httpx, SQLite
store) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import RateLimit, RateWindow, SandboxConfig, default_db_path, parse_rate_limit

if TYPE_CHECKING:
    from .app import create_app
    from .transport import SandboxTransport

__all__ = [
    "RateLimit",
    "RateWindow",
    "SandboxConfig",
    "SandboxTransport",
    "create_app",
    "default_db_path",
    "parse_rate_limit",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "SandboxTransport":
        from .transport import SandboxTransport

        return SandboxTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
