"""In-process transport: the sandbox app behind httpx, with real network failure types."""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from .faults import IN_PROCESS_SCOPE_KEY, SandboxConnectionReset, SandboxNetworkFault, SandboxReadTimeout


class SandboxTransport(httpx.AsyncBaseTransport):
    """`httpx.ASGITransport` for the sandbox app that turns emulated faults into httpx errors.

    A `reset` fault raises `httpx.RemoteProtocolError` and a `timeout` fault raises
    `httpx.ReadTimeout`, both after the request took effect, and without any real waiting.
    """

    def __init__(self, app: ASGIApp, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        async def mark_in_process(scope: Scope, receive: Receive, send: Send) -> None:
            await app({**scope, IN_PROCESS_SCOPE_KEY: True}, receive, send)

        self._inner = httpx.ASGITransport(app=mark_in_process, client=client)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except SandboxNetworkFault as exc:
            raise _as_httpx_error(exc, request) from exc
        except BaseExceptionGroup as group:
            matched, _ = group.split(SandboxNetworkFault)
            if matched is None:
                raise
            first = matched.exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise _as_httpx_error(first, request) from group

    async def aclose(self) -> None:
        await self._inner.aclose()


def _as_httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    if isinstance(exc, SandboxConnectionReset):
        return httpx.RemoteProtocolError(
            "Server disconnected without sending a complete response (sandbox reset fault)", request=request
        )
    if isinstance(exc, SandboxReadTimeout):
        return httpx.ReadTimeout("Timed out reading the response (sandbox timeout fault)", request=request)
    return httpx.NetworkError(str(exc), request=request)
