"""``uc-workflow-mcp --transport http --credentials per-request`` as a real process, against a sandbox
served over HTTP (UltraCart's limits on), driven by mcp's client with each caller's own key in
``x-ultracart-simple-key``. On the sandbox a demo user's ``user:EMAIL`` key acts as that user and any
other key as the account's owner; ``user:`` with an e-mail of nobody is refused (401), as UltraCart
refuses a bad key."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import PromptReference, TextContent
from pydantic import SecretStr

from server.per_request import KEY_HEADER, MISSING_KEY, REFUSED_KEY
from server.replicas import request_state_security, shared_secret
from shared_client.pacing import credential_fingerprint
from shared_client.settings import Settings
from tests.conftest import LiveSandbox, StartSandbox
from tests.mcp.http_support import INIT, MCP_HEADERS, SERVER_COMMAND, RunningServer, http_server, round_robin

ALICE = "user:alice@demo.example"
OWNER = "per-request-owner-key-0123456789"  # not a demo user's: the sandbox's owner
REFUSED = "user:nobody-0123456789@nowhere.example"  # no such demo user: 401 from the sandbox
TOKEN = "per-request-bearer-token-0123456789abcdef"
GET_ME = "getWorkflowMe"


def text_of(result: object) -> str:
    return "\n".join(c.text for c in getattr(result, "content", []) if isinstance(c, TextContent))


def environment(live: LiveSandbox, state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_"))}
    env.update(ULTRACART_BASE_URL=live.api, UC_WORKFLOW_STATE_DIR=str(state), **extra)
    return env


def as_caller(url: str, key: str | None, token: str | None = None) -> Any:
    headers = {KEY_HEADER: key} if key else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))


@pytest.fixture
def live(start_sandbox: StartSandbox) -> LiveSandbox:
    return start_sandbox()  # UltraCart's limits: a key's second request in flight is answered 429


@pytest.fixture
def server(live: LiveSandbox, tmp_path: Path) -> Iterator[RunningServer]:
    env = environment(live, tmp_path / "state")
    with http_server(env, "--credentials", "per-request", cwd=tmp_path) as running:
        yield running


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_each_caller_acts_as_themselves(live: LiveSandbox, server: RunningServer, mode: str) -> None:
    async with (
        Client(as_caller(server.url, ALICE), mode=mode) as alice,
        Client(as_caller(server.url, OWNER), mode=mode) as owner,
    ):
        assert "their own UltraCart key" in (alice.instructions or "")
        assert ALICE not in (alice.instructions or "") and OWNER not in (owner.instructions or "")
        alice_me, owner_me = await asyncio.gather(
            alice.call_tool("get_me", {}), owner.call_tool("get_me", {})
        )
        assert not alice_me.is_error and alice_me.structured_content is not None, text_of(alice_me)
        assert not owner_me.is_error and owner_me.structured_content is not None, text_of(owner_me)
        assert alice_me.structured_content["me"]["name"] == "Alice Carter"
        assert owner_me.structured_content["me"]["name"] == "Demo Owner"

        found = await owner.call_tool("search_tasks", {"status": "open", "limit": 1})
        assert not found.is_error and found.structured_content is not None, text_of(found)
        number = found.structured_content["tasks"][0]["number"]
        for caller, who in ((alice, "alice"), (owner, "owner")):
            noted = await caller.call_tool("add_task_note", {"task": f"#{number}", "text": f"{who} {mode}"})
            assert not noted.is_error, text_of(noted)
        got = await alice.call_tool("get_task", {"task": f"#{number}"})
        assert got.structured_content is not None, text_of(got)
        authors = {note["text"]: note["author"] for note in got.structured_content["task"]["notes"]}
        assert authors[f"alice {mode}"] == "Alice Carter" and authors[f"owner {mode}"] == "Demo Owner"
        by = {entry["by"] for entry in got.structured_content["task"]["history"]}
        assert {"Alice Carter", "Demo Owner"} <= by

        # Completions offer the caller's own open tasks ("me"), and the resource reads as the caller.
        ref = PromptReference(type="ref/prompt", name="summarize_task_for_handover")
        offered = []
        for caller in (alice, owner):
            mine = await caller.call_tool("search_tasks", {"assignee": "me", "status": "open", "limit": 25})
            assert mine.structured_content is not None, text_of(mine)
            numbers = {f"#{t['number']}" for t in mine.structured_content["tasks"]}
            completed = await caller.complete(ref, {"name": "task", "value": "#"})
            assert numbers and set(completed.completion.values) == numbers
            offered.append(numbers)
        assert offered[0] != offered[1]
        task = got.structured_content["task"]
        resource = await owner.read_resource(f"uctask://tasks/{task['uuid']}")
        assert f"alice {mode}" in resource.contents[0].text  # type: ignore[union-attr]
    assert ALICE not in server.stderr and OWNER not in server.stderr


async def test_a_request_without_a_key_is_refused(server: RunningServer) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(server.url, json=INIT, headers=MCP_HEADERS)
        blank = await http.post(server.url, json=INIT, headers={**MCP_HEADERS, KEY_HEADER: ""})
    for response in (answer, blank):
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized", "error_description": MISSING_KEY}
        assert KEY_HEADER in response.headers["www-authenticate"]


async def test_a_key_ultracart_refuses_is_refused_and_never_repeated(
    live: LiveSandbox, server: RunningServer
) -> None:
    live.reset_stats()
    async with httpx.AsyncClient() as http:
        answers = [
            await http.post(server.url, json=INIT, headers={**MCP_HEADERS, KEY_HEADER: REFUSED})
            for _ in range(3)
        ]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.json() == {"error": "unauthorized", "error_description": REFUSED_KEY}
        assert REFUSED not in answer.text and "nobody-0123456789" not in answer.text
    assert live.stats()["requests"][GET_ME] == 1  # the refusal is remembered: UltraCart was asked once
    with pytest.raises(Exception):  # noqa: B017 - mcp's client reports a 401 in its own words
        async with Client(as_caller(server.url, REFUSED)) as client:
            await client.list_tools()
    assert "refused a request with a key UltraCart refuses" in server.stderr
    assert "nobody-0123456789" not in server.stderr


async def test_a_key_is_verified_once(live: LiveSandbox, server: RunningServer) -> None:
    live.reset_stats()
    async with Client(as_caller(server.url, ALICE)) as client:
        # Several requests at once from a key never seen: UltraCart is asked about it once.
        await asyncio.gather(*(client.list_tools() for _ in range(4)))
    assert live.stats()["requests"][GET_ME] == 1
    live.reset_stats()
    async with Client(as_caller(server.url, ALICE)) as client, Client(as_caller(server.url, ALICE)) as again:
        await client.list_tools()
        await again.call_tool("search_tasks", {"status": "open", "limit": 1})
    assert live.stats()["requests"][GET_ME] == 0  # remembered by its fingerprint


async def test_each_key_has_its_own_gate(live: LiveSandbox, server: RunningServer, tmp_path: Path) -> None:
    live.reset_stats()
    async with (
        Client(as_caller(server.url, ALICE)) as alice,
        Client(as_caller(server.url, OWNER)) as owner,
    ):
        calls = [
            caller.call_tool("search_tasks", {"status": "open", "limit": 2 + i})
            for i in range(4)
            for caller in (alice, owner)
        ]
        for result in await asyncio.gather(*calls):
            assert not result.is_error, text_of(result)
    stats = live.stats()
    # One key's requests are serialized (UltraCart would answer a second one in flight with 429) ...
    assert stats["max_in_flight"] == 1 and stats["rate_limited"] == 0
    # ... by the gate of that key, shared with every process on UC_WORKFLOW_STATE_DIR: one per key.
    gates = {path.name for path in (tmp_path / "state" / "gate").iterdir()}
    assert {f"{credential_fingerprint(live.api, key)}.lock" for key in (ALICE, OWNER)} <= gates


async def test_the_bearer_token_is_still_required_when_set(live: LiveSandbox, tmp_path: Path) -> None:
    env = environment(live, tmp_path / "state", UC_WORKFLOW_MCP_TOKEN=TOKEN)
    with http_server(env, "--credentials", "per-request", cwd=tmp_path) as running:
        async with httpx.AsyncClient() as http:
            no_token = await http.post(running.url, json=INIT, headers={**MCP_HEADERS, KEY_HEADER: ALICE})
        assert no_token.status_code == 401 and "UC_WORKFLOW_MCP_TOKEN" in no_token.text
        async with Client(as_caller(running.url, ALICE, TOKEN)) as client:
            me = await client.call_tool("get_me", {})
            assert me.structured_content is not None and me.structured_content["me"]["name"] == "Alice Carter"
    assert TOKEN not in running.stderr and ALICE not in running.stderr


async def test_the_embedded_sandbox_only_with_sandbox(tmp_path: Path, db_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_"))}
    env.update(UC_WORKFLOW_SANDBOX_DB=str(db_path), UC_WORKFLOW_STATE_DIR=str(tmp_path / "state"))
    with http_server(env, "--credentials", "per-request", "--sandbox", cwd=tmp_path) as running:
        async with (
            Client(as_caller(running.url, ALICE)) as alice,
            Client(as_caller(running.url, OWNER)) as owner,
        ):
            assert "sandbox" in (alice.instructions or "")
            for client, name in ((alice, "Alice Carter"), (owner, "Demo Owner")):
                me = await client.call_tool("get_me", {})
                assert me.structured_content is not None and me.structured_content["me"]["name"] == name
        async with httpx.AsyncClient() as http:
            refused = await http.post(running.url, json=INIT, headers={**MCP_HEADERS, KEY_HEADER: REFUSED})
        assert refused.status_code == 401


def test_per_request_keys_need_http() -> None:
    done = subprocess.run(
        [SERVER_COMMAND, "--credentials", "per-request"],
        env={k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_"))},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--credentials per-request needs --transport http" in lines[0], done.stderr


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_key_of_each_request_counts_not_the_session_s(server: RunningServer, mode: str) -> None:
    http = create_mcp_http_client(headers={KEY_HEADER: ALICE})
    async with Client(streamable_http_client(server.url, http_client=http), mode=mode) as client:
        first = await client.call_tool("get_me", {})
        assert (
            first.structured_content is not None and first.structured_content["me"]["name"] == "Alice Carter"
        )
        http.headers[KEY_HEADER] = OWNER  # the same session (legacy: the same Mcp-Session-Id), another key
        second = await client.call_tool("get_me", {})
        assert (
            second.structured_content is not None and second.structured_content["me"]["name"] == "Demo Owner"
        )
        http.headers[KEY_HEADER] = ALICE  # back


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_two_replicas_serve_each_caller_as_themselves(
    live: LiveSandbox, tmp_path: Path, mode: str
) -> None:
    """Round robin over two replicas sharing one state directory: every request (a handshake-era session's
    POSTs too, served statelessly by the replica that does not hold the session) acts with its own key, and
    each key's requests are never two in flight at UltraCart, wherever they land."""
    env = environment(live, tmp_path / "state")
    with (
        http_server(env, "--credentials", "per-request", cwd=tmp_path) as first,
        http_server(env, "--credentials", "per-request", cwd=tmp_path) as second,
    ):
        async with round_robin([first.url, second.url]) as (url, proxy):
            live.reset_stats()
            async with (
                Client(as_caller(url, ALICE), mode=mode) as alice,
                Client(as_caller(url, OWNER), mode=mode) as owner,
            ):
                calls = [caller.call_tool("get_me", {}) for _ in range(3) for caller in (alice, owner)]
                names = [r.structured_content["me"]["name"] for r in await asyncio.gather(*calls)]  # type: ignore[index]
                assert names == ["Alice Carter", "Demo Owner"] * 3
            posts = [f for f in proxy.forwarded if f.method == "POST" and f.rpc_method == "tools/call"]
            assert {f.upstream for f in posts} == {0, 1} and all(f.status < 400 for f in posts)
    stats = live.stats()
    assert stats["max_in_flight"] == 1 and stats["rate_limited"] == 0


def test_with_per_request_keys_the_request_state_key_comes_from_the_token_only() -> None:
    key_only = Settings.model_validate({"ultracart_api_key": SecretStr(OWNER)})
    both = Settings.model_validate(
        {"ultracart_api_key": SecretStr(OWNER), "uc_workflow_mcp_token": SecretStr(TOKEN)}
    )
    assert shared_secret(key_only, server_credential=False) is None  # a leftover key is not the server's
    assert shared_secret(both, server_credential=False) == ("UC_WORKFLOW_MCP_TOKEN", TOKEN.encode())
    sealed = request_state_security(key_only, server_credential=False).codec.seal(b"state")
    with pytest.raises(Exception, match="unknown key"):  # a per-process key: another process cannot open it
        request_state_security(key_only, server_credential=False).codec.unseal(sealed)
