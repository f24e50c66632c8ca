"""Replicas of the HTTP server behind one address, with no stickiness: a round-robin proxy sends each HTTP
request to the next replica, and one MCP client's whole conversation still succeeds, for 2026-07-28
clients (stateless by protocol; a multi-round call's sealed ``requestState`` opened by the other replica)
and for handshake-era clients (a session opened on one replica, its POSTs served by the other).
Everything on 127.0.0.1."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer, RequestStateSecurity
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitRequestParams, ElicitResult, ErrorData, PromptReference
from pydantic import BaseModel, SecretStr

from server.app import build_server
from server.replicas import derive_request_state_key, request_state_security, shared_secret
from shared_client.settings import Settings
from shared_client.tools import ToolContext
from tests.conftest import LiveSandbox, MakeClient, StartSandbox
from tests.mcp.http_support import RoundRobinProxy, RunningServer, http_server, round_robin, serving
from tests.mcp.test_subprocess import text_of

TOKEN = "replica-token-0123456789-abcdefghij"
UC_KEY = "replica-simple-key-for-the-sandbox"


def replica_env(live: LiveSandbox, token: str, key: str = UC_KEY) -> dict[str, str]:
    """A replica on the sandbox over HTTP, as on UltraCart: its key, its base URL, the MCP token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_"))}
    env["UC_WORKFLOW_STATE_DIR"] = os.environ["UC_WORKFLOW_STATE_DIR"]  # one machine: one gate
    env.update(
        ULTRACART_API_KEY=key,
        ULTRACART_BASE_URL=live.api,
        UC_WORKFLOW_MCP_TOKEN=token,
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def two_replicas(
    live: LiveSandbox, cwd: Path, tokens: tuple[str, str] = (TOKEN, TOKEN)
) -> Iterator[tuple[RunningServer, RunningServer]]:
    with (
        http_server(replica_env(live, tokens[0]), cwd=cwd) as first,
        http_server(replica_env(live, tokens[1]), cwd=cwd) as second,
    ):
        yield first, second


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def authorized(url: str, token: str = TOKEN) -> Any:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return streamable_http_client(url, http_client=http)


async def converse(client: Client, proxy: RoundRobinProxy) -> None:
    """A client's day: tools, a read, writes, search paged to the end, a prompt, a resource, completion."""
    listed = await client.list_tools()
    assert {"get_me", "search_tasks", "add_task_note"} <= {t.name for t in listed.tools}
    me = await client.call_tool("get_me", {})
    assert not me.is_error, text_of(me)
    mine = {"name": "Replicated", "priority": "high", "assignee": "me"}
    created = await client.call_tool("create_task", mine)
    assert not created.is_error and created.structured_content is not None, text_of(created)
    task = created.structured_content["task"]
    for n in range(4):  # four writes: two land on each replica
        noted = await client.call_tool("add_task_note", {"task": f"#{task['number']}", "text": f"note {n}"})
        assert not noted.is_error, text_of(noted)
    got = await client.call_tool("get_task", {"task": task["uuid"]})
    assert got.structured_content is not None
    notes = [n["text"] or "" for n in got.structured_content["task"]["notes"]]
    assert [f"note {n}" for n in range(4)] == [n for n in notes if n.startswith("note ")], notes

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await client.call_tool("search_tasks", {"status": "open", "limit": 3, "cursor": cursor})
        assert not page.is_error and page.structured_content is not None, text_of(page)
        seen += [t["number"] for t in page.structured_content["tasks"]]
        pages += 1
        if not page.structured_content["has_more"]:
            break
        cursor = page.structured_content["next_cursor"]
    assert pages >= 3 and len(seen) == len(set(seen)) and task["number"] in seen

    prompt = await client.get_prompt("summarize_task_for_handover", {"task": f"#{task['number']}"})
    assert f"#{task['number']}" in prompt.messages[0].content.text  # type: ignore[union-attr]
    resource = await client.read_resource(f"uctask://tasks/{task['uuid']}")
    assert task["uuid"] in resource.contents[0].text  # type: ignore[union-attr]
    completed = await client.complete(
        PromptReference(type="ref/prompt", name="summarize_task_for_handover"), {"name": "task", "value": "#"}
    )
    assert f"#{task['number']}" in completed.completion.values
    assert proxy.served_by(0) >= 5 and proxy.served_by(1) >= 5


async def test_two_replicas_serve_every_request_of_one_client(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    live = start_sandbox()
    with two_replicas(live, tmp_path) as replicas:
        async with round_robin([r.url for r in replicas]) as (url, proxy):
            async with Client(authorized(url)) as client:  # 2026-07-28: no session at all
                assert client.protocol_version == "2026-07-28"
                await converse(client, proxy)
            assert all(f.status < 400 for f in proxy.forwarded), proxy.forwarded

            proxy.forwarded.clear()
            async with Client(authorized(url), mode="legacy") as client:  # a session, opened on one replica
                assert client.protocol_version is not None and client.protocol_version < "2026"
                await converse(client, proxy)
            posts = [f for f in proxy.forwarded if f.method == "POST"]
            assert posts[0].rpc_method == "initialize"
            # Every POST succeeded wherever it landed; only the other replica's refusal of the session's
            # GET stream (405: "no stream here") and DELETE may fail.
            assert all(f.status < 400 for f in posts), posts
            assert all(f.status < 400 or f.status == 405 for f in proxy.forwarded), proxy.forwarded
            assert {f.upstream for f in posts if f.rpc_method == "tools/call"} == {0, 1}
    for replica in replicas:
        assert TOKEN not in replica.stderr and UC_KEY not in replica.stderr
        assert "request state: a key derived from UC_WORKFLOW_MCP_TOKEN" in replica.stderr
    stats = live.stats()  # UltraCart's limits on: one client, one request in flight, no 429
    assert stats["requests"].get("insertWorkflowTask") == 2 and stats["rate_limited"] == 0


async def test_a_replica_with_another_token_refuses_clearly(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    live = start_sandbox()
    with two_replicas(live, tmp_path, tokens=(TOKEN, "another-token-0123456789-abcdefgh")) as replicas:
        async with round_robin([r.url for r in replicas]) as (url, proxy):
            with pytest.raises(BaseExceptionGroup) as raised:
                async with Client(authorized(url)) as client:
                    for _ in range(4):
                        await client.call_tool("get_me", {})
            # mcp's client reports a 401 with a non-JSON-RPC body as "Server returned an error response".
            assert any(isinstance(e, MCPError) for e in leaves(raised.value)), raised.value
            refused = [f for f in proxy.forwarded if f.upstream == 1]
            assert refused and all(f.status == 401 for f in refused)
    assert "refused an unauthenticated request" in replicas[1].stderr


# Request state across replicas: a multi-round call (a tool that asks the user) whose second round lands on
# the other replica. In this process, so the tool can be one that only the test has.


class Confirmation(BaseModel):
    sure: bool


def ask_first(note: str) -> Elicit[Confirmation]:
    return Elicit(f"Add the note {note!r}?", Confirmation)


async def confirmed_note(note: str, answer: Annotated[Confirmation, Resolve(ask_first)]) -> str:
    return f"{note}: {'added' if answer.sure else 'not added'}"


async def accept(_: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
    return ElicitResult(action="accept", content={"sure": True})


def asking_server(context: ToolContext, security: RequestStateSecurity | None) -> MCPServer[Any]:
    server = build_server(context, request_state_security=security, progress_every=0.05)
    server.tool(name="confirmed_note")(confirmed_note)
    return server


@contextlib.asynccontextmanager
async def two_in_process(
    context: ToolContext, securities: tuple[RequestStateSecurity | None, RequestStateSecurity | None]
) -> AsyncIterator[tuple[str, RoundRobinProxy]]:
    async with (
        serving(asking_server(context, securities[0]), TOKEN) as first,
        serving(asking_server(context, securities[1]), TOKEN) as second,
        round_robin([first, second]) as (url, proxy),
    ):
        yield url, proxy


def settings_with(**values: str) -> Settings:
    return Settings.model_validate({k: SecretStr(v) for k, v in values.items()})


async def test_request_state_sealed_by_one_replica_is_opened_by_the_other(tool_context: ToolContext) -> None:
    shared = settings_with(uc_workflow_mcp_token=TOKEN)
    pair = (request_state_security(shared), request_state_security(shared))  # two processes, one secret
    async with (
        two_in_process(tool_context, pair) as (url, proxy),
        Client(authorized(url), elicitation_callback=accept) as client,
    ):
        await client.list_tools()
        result = await client.call_tool("confirmed_note", {"note": "hello"})
        assert not result.is_error and text_of(result) == "hello: added"
    calls = [f for f in proxy.forwarded if f.rpc_method == "tools/call"]
    assert [f.upstream for f in calls][:2] in ([0, 1], [1, 0])  # round 1 on one replica, round 2 on the other


async def test_request_state_of_a_replica_with_another_key_is_refused(
    tool_context: ToolContext, caplog: pytest.LogCaptureFixture
) -> None:
    pair = (None, None)  # each its own process-local key: what replicas would have without a shared secret
    caplog.set_level(logging.WARNING, logger="mcp.server.request_state")
    async with (
        two_in_process(tool_context, pair) as (url, _),
        Client(authorized(url), elicitation_callback=accept) as client,
    ):
        await client.list_tools()
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await client.call_tool("confirmed_note", {"note": "hello"})
    assert "requestState rejected on tools/call: unknown key" in caplog.text


async def test_progress_streams_through_the_proxy(make_client: MakeClient) -> None:
    context = ToolContext(make_client(latency=0.3).client, sandbox=True)
    async with two_in_process(context, (None, None)) as (url, proxy):
        heard: list[float] = []

        async def progress(done: float, total: float | None, message: str | None) -> None:
            heard.append(done)

        async with Client(authorized(url)) as client:
            await client.list_tools()
            for _ in range(2):  # one call on each replica
                result = await client.call_tool("count_open_tasks", {}, progress_callback=progress)
                assert not result.is_error, text_of(result)
    assert len(heard) >= 2
    assert {f.upstream for f in proxy.forwarded if f.rpc_method == "tools/call"} == {0, 1}


def test_the_shared_key_comes_from_a_secret_replicas_already_have() -> None:
    token, key = settings_with(uc_workflow_mcp_token=TOKEN), settings_with(ultracart_api_key=UC_KEY)
    both = settings_with(uc_workflow_mcp_token=TOKEN, ultracart_api_key=UC_KEY)
    assert shared_secret(token) == ("UC_WORKFLOW_MCP_TOKEN", TOKEN.encode())
    assert shared_secret(both) == shared_secret(token)  # the token first: off loopback it is required
    assert shared_secret(key) == ("ULTRACART_API_KEY", UC_KEY.encode())
    assert shared_secret(settings_with(ultracart_oauth_token="oauth-token")) is not None
    assert shared_secret(Settings()) is None

    derived = derive_request_state_key("UC_WORKFLOW_MCP_TOKEN", TOKEN.encode())
    assert len(derived) == 32 and derived == derive_request_state_key("UC_WORKFLOW_MCP_TOKEN", TOKEN.encode())
    assert derived != derive_request_state_key("ULTRACART_API_KEY", TOKEN.encode())  # labelled by source
    assert TOKEN.encode() not in derived

    sealed = request_state_security(token).codec.seal(b"state")
    assert request_state_security(token).codec.unseal(sealed) == b"state"  # another process, same token
    other = settings_with(uc_workflow_mcp_token="another-token-0123456789-abcdefgh")
    with pytest.raises(Exception, match="unknown key"):
        request_state_security(other).codec.unseal(sealed)


async def test_a_foreign_session_gets_405_for_its_stream_and_is_served_for_posts(
    tool_context: ToolContext,
) -> None:
    """One replica, asked about a session it never opened (as another replica would have)."""
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {TOKEN}",
        "Mcp-Session-Id": "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with serving(build_server(tool_context), TOKEN) as url, httpx.AsyncClient() as http:
        listed = await http.post(url, json=listing, headers=headers)
        assert listed.status_code == 200 and "search_tasks" in listed.text
        stream = await http.get(url, headers=headers)
        assert stream.status_code == 405 and "does not hold the session" in stream.json()["error"]["message"]
        ended = await http.delete(url, headers=headers)
        assert ended.status_code == 405
        wrong_token = await http.post(url, json=listing, headers={**headers, "Authorization": "Bearer no"})
        assert wrong_token.status_code == 401
