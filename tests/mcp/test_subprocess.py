"""``uc-workflow-mcp`` as a real process: over stdio and over streamable HTTP, driven by mcp's client, on
the sandbox. HTTP checks DNS-rebinding protection and the bearer token. Everything binds 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import TextContent

from shared_client.tools import ALL_TOOLS, select_tools
from tests.mcp.http_support import INIT, MCP_HEADERS, SERVER_COMMAND, http_server


def text_of(result: object) -> str:
    return "\n".join(c.text for c in getattr(result, "content", []) if isinstance(c, TextContent))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_server(sandbox_env: dict[str, str], db_path: Path, mode: str) -> None:
    assert not any(k.startswith("ULTRACART_") for k in sandbox_env)
    params = StdioServerParameters(
        command=SERVER_COMMAND,
        args=["--read-only"],
        env={
            "UC_WORKFLOW_SANDBOX": "1",
            "UC_WORKFLOW_SANDBOX_DB": str(db_path),
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=db_path.parent,
    )
    async with Client(params, mode=mode) as client:
        listed = await client.list_tools()
        assert {t.name for t in listed.tools} == {t.name for t in select_tools(read_only=True)}
        me = await client.call_tool("get_me", {})
        assert not me.is_error and me.structured_content is not None
        assert me.structured_content["me"] == {"user_id": 1001, "name": "Demo Owner"}
        found = await client.call_tool("search_tasks", {"status": "open", "limit": 3})
        assert not found.is_error, text_of(found)
        bad = await client.call_tool("search_tasks", {"priority": "whenever"})
        assert bad.is_error and "priority" in text_of(bad)
        assert "sandbox" in (client.instructions or "")


async def test_http_server_calls_tools(sandbox_env: dict[str, str]) -> None:
    with http_server(sandbox_env, "--toolsets", "people,tasks") as server:
        for mode in ("auto", "legacy"):
            async with Client(server.url, mode=mode) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert names == {t.name for t in select_tools(toolsets=["people", "tasks"])}
                created = await client.call_tool(
                    "create_task", {"name": f"Over HTTP ({mode})", "priority": "low"}
                )
                assert not created.is_error, text_of(created)
                assert created.structured_content is not None
                number = created.structured_content["task"]["number"]
                got = await client.call_tool("get_task", {"task": f"#{number}"})
                assert not got.is_error and got.structured_content is not None
                assert got.structured_content["task"]["priority"] == "low"


async def test_http_server_reads_no_local_file(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    # Over HTTP the caller may be on another machine: a path names a file of this one, never attached.
    local = tmp_path / "invoice.pdf"
    local.write_bytes(b"%PDF-1.7 a file of the server's machine")
    with http_server(sandbox_env) as server:
        async with Client(server.url) as client:
            created = await client.call_tool("create_task", {"name": "Attach over HTTP"})
            assert not created.is_error and created.structured_content is not None
            uuid = created.structured_content["task"]["uuid"]
            refused = await client.call_tool("attach_file", {"task": uuid, "path": str(local)})
            assert refused.is_error and "does not read local files" in text_of(refused)
            sent = await client.call_tool(
                "attach_file", {"task": uuid, "content_base64": "JVBERi0xLjc=", "file_name": "i.pdf"}
            )
            assert not sent.is_error, text_of(sent)
            got = await client.call_tool("get_task", {"task": uuid})
            assert got.structured_content is not None
            assert [a["file_name"] for a in got.structured_content["task"]["attachments"]] == ["i.pdf"]


async def test_http_dns_rebinding_protection(sandbox_env: dict[str, str]) -> None:
    with http_server(sandbox_env) as server:
        async with httpx.AsyncClient() as http:
            ok = await http.post(server.url, json=INIT, headers=MCP_HEADERS)
            assert ok.status_code == 200
            bad_host = await http.post(server.url, json=INIT, headers={**MCP_HEADERS, "Host": "evil.example"})
            assert bad_host.status_code == 421
            bad_origin = await http.post(
                server.url, json=INIT, headers={**MCP_HEADERS, "Origin": "http://evil.example"}
            )
            assert bad_origin.status_code == 403


async def test_http_bearer_token(sandbox_env: dict[str, str]) -> None:
    token = "s3cret-token-for-tests-only"
    with http_server({**sandbox_env, "UC_WORKFLOW_MCP_TOKEN": token}) as server:
        async with httpx.AsyncClient() as http:
            missing = await http.post(server.url, json=INIT, headers=MCP_HEADERS)
            assert missing.status_code == 401
            wrong = await http.post(
                server.url, json=INIT, headers={**MCP_HEADERS, "Authorization": "Bearer nope"}
            )
            assert wrong.status_code == 401
            basic = await http.post(
                server.url, json=INIT, headers={**MCP_HEADERS, "Authorization": f"Basic {token}"}
            )
            assert basic.status_code == 401
            other_path = await http.get(server.url.replace("/mcp", "/"))
            assert other_path.status_code == 401
        authorized = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with Client(streamable_http_client(server.url, http_client=authorized)) as client:
            assert len((await client.list_tools()).tools) == len(ALL_TOOLS)
            result = await client.call_tool("count_open_tasks", {})
            assert not result.is_error
    assert token not in server.stderr
    assert "401" in server.stderr  # refusals are logged (without the token)


@pytest.mark.parametrize(
    ("args", "env_extra", "expected"),
    [
        (["--transport", "http", "--host", "0.0.0.0"], {}, "UC_WORKFLOW_MCP_TOKEN"),
        (["--transport", "http", "--host", "192.0.2.10"], {}, "not a loopback address"),
        (["--toolsets", "tasks,billing"], {}, "unknown toolset 'billing'"),
        (["--transport", "carrier-pigeon"], {}, "invalid choice"),
    ],
)
def test_misconfiguration_exits_2_with_one_line(
    sandbox_env: dict[str, str], args: list[str], env_extra: dict[str, str], expected: str
) -> None:
    done = subprocess.run(
        [SERVER_COMMAND, *args],
        env={**sandbox_env, **env_extra},
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert expected in done.stderr
    if "invalid choice" not in expected:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_help() -> None:
    done = subprocess.run([SERVER_COMMAND, "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    for option in (
        "--transport",
        "--read-only",
        "--toolsets",
        "--sandbox",
        "--host",
        "--port",
        "--log-level",
    ):
        assert option in done.stdout


def test_a_taken_port_or_an_unusable_database_is_one_clear_line(sandbox_env: dict[str, str]) -> None:

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [SERVER_COMMAND, "--transport", "http", "--port", str(port)],
            env=sandbox_env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr.strip().splitlines()[-1].startswith(f"uc-workflow-mcp: cannot listen on 127.0.0.1:{port}")
    )
    assert "Traceback" not in done.stderr
    bad_db = {**sandbox_env, "UC_WORKFLOW_SANDBOX_DB": "/proc/no-such-dir/sandbox.sqlite3"}
    done = subprocess.run([SERVER_COMMAND], env=bad_db, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "uc-workflow-mcp: UC_WORKFLOW_SANDBOX_DB: cannot open the sandbox database "
        "/proc/no-such-dir/sandbox.sqlite3 ([Errno 2] No such file or directory: '/proc/no-such-dir')"
    ]
