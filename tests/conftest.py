"""Fixtures shared by the whole suite: sandboxes in-process and over a real loopback port."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared_client.client import WorkflowClient
from shared_client.pacing import BudgetSpec
from shared_client.retry import RetryPolicy
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.settings import current_settings
from shared_client.tools import ToolContext
from tests.services import database_url, postgres_admin_url, postgres_url, redis_server, redis_url

# Fixtures for every test.
__all__ = ["database_url", "postgres_admin_url", "postgres_url", "redis_server", "redis_url"]

# The machine-wide state (gate, budget, write locks) of this session's processes, not the user's own.
os.environ.setdefault("UC_WORKFLOW_STATE_DIR", str(Path(tempfile.mkdtemp(prefix="ucw-state-"))))

FAST_RETRIES = RetryPolicy(
    max_retries=6, max_rate_limit_retries=8, base_delay=0.005, max_delay=0.02,
    rate_limit_base_delay=0.005, rate_limit_max_delay=0.02,
)  # fmt: skip
SANDBOX_URL = "http://sandbox.test/rest/v2"


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> WorkflowClient:
    """A client on httpx's MockTransport (an UltraCart that answers as ``handler`` says), on its own gate."""
    return WorkflowClient(
        api_key="k",
        base_url="http://mock/rest/v2",
        transport=httpx.MockTransport(handler),
        gate_key=uuid.uuid4().hex,
        retry_policy=FAST_RETRIES,
    )


@pytest.fixture
def configured_slack_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """SLACK_BOT_TOKEN in this process's settings (``current_settings()``, which code handed no
    ``Settings`` asks): the token, whose value every redaction and refusal must know."""
    token = "xoxb-CANARY-SLACK-BOT-0123456789"  # one of test_secrets' canaries
    monkeypatch.setenv("SLACK_BOT_TOKEN", token)
    current_settings.cache_clear()
    yield token
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    current_settings.cache_clear()


@dataclass
class InProcess:
    client: WorkflowClient
    app: Any

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(
            transport=SandboxTransport(self.app), base_url="http://sandbox.test"
        ) as http:
            return dict((await http.get("/_sandbox/stats")).json())


MakeClient = Callable[..., InProcess]


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox seeds its demo account once per session; each test works on a copy."""
    path = tmp_path_factory.mktemp("seed") / "sandbox.sqlite3"
    create_app(SandboxConfig(db_path=path))
    return path


@pytest.fixture
def db_path(seeded_db: Path, tmp_path: Path) -> Path:
    """A fresh copy of the seeded demo account for this test."""
    path = tmp_path / "sandbox.sqlite3"
    shutil.copyfile(seeded_db, path)
    return path


@pytest.fixture
async def make_client(db_path: Path) -> AsyncIterator[MakeClient]:
    """Build a client on an in-process sandbox: ``make_client(key=..., **SandboxConfig fields)``."""
    made: list[WorkflowClient] = []
    apps: dict[tuple[Any, ...], Any] = {}

    def make(
        *,
        key: str = "test-owner",
        budget: BudgetSpec | None = None,
        timeout: float | None = None,
        **config: Any,
    ) -> InProcess:
        config.setdefault("db_path", db_path)
        cache_key = tuple(sorted((k, repr(v)) for k, v in config.items()))
        app = apps.get(cache_key)
        if app is None:
            app = apps[cache_key] = create_app(SandboxConfig(**config))
        client = WorkflowClient(
            api_key=key,
            base_url=SANDBOX_URL,
            transport=SandboxTransport(app),
            gate_key=uuid.uuid4().hex,
            budget=budget or BudgetSpec(),
            retry_policy=FAST_RETRIES,
            timeout=timeout,
        )
        made.append(client)
        return InProcess(client, app)

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
async def client(make_client: MakeClient) -> WorkflowClient:
    return make_client().client


@pytest.fixture
async def ctx(make_client: MakeClient) -> ToolContext:
    return ToolContext(make_client().client, sandbox=True)


def free_port() -> int:
    """A port free a moment ago: only for servers that cannot bind port 0 and say which port they got
    (uc-workflow-mcp refuses --port 0; uc-workflow-slack logs the port it was given), and for a port that
    nothing should answer on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


UVICORN_LISTENING = re.compile(r"Uvicorn running on http://(?:\[[^\]]*\]|[^:/\s]+):(\d+)")


@dataclass
class ListeningProcess:
    """A server process started on port 0; ``port`` is the one it bound, read from its stderr."""

    process: subprocess.Popen[str]
    port: int
    stderr_lines: list[str]
    reader: threading.Thread

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def stop(self) -> str:
        """Terminate (kill if it will not stop) and return everything it wrote to stderr."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=10)
        return self.stderr


def start_listening(
    command: list[str], *, ready: re.Pattern[str] = UVICORN_LISTENING, deadline: float = 30.0, **popen: Any
) -> ListeningProcess:
    """Start a server that binds port 0 and names its port on stderr (matched by ``ready``, group 1);
    returns once it listens. No port is chosen here, so none can be taken in between."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **popen)
    lines: list[str] = []
    found: list[int] = []
    said = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            match = ready.search(line)
            if match and not found:
                found.append(int(match.group(1)))
                said.set()
        said.set()  # the process ended

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    running = ListeningProcess(process, 0, lines, reader)
    if not said.wait(deadline) or not found:
        running.stop()
        raise RuntimeError(f"{command[0]} did not say it listens:\n{running.stderr}")
    running.port = found[0]
    return running


@dataclass
class LiveSandbox:
    root: str
    db: Path

    @property
    def api(self) -> str:
        return f"{self.root}/rest/v2"

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.root}/_sandbox/stats").json())

    def reset_stats(self) -> None:
        httpx.post(f"{self.root}/_sandbox/stats/reset")


StartSandbox = Callable[..., LiveSandbox]


@pytest.fixture
def start_sandbox(tmp_path: Path) -> Iterator[StartSandbox]:
    """Start ``uc-workflow-sandbox`` on a loopback port it picks (``--port 0``) with extra CLI switches."""
    running: list[ListeningProcess] = []

    def start(*args: str) -> LiveSandbox:
        db = tmp_path / f"live-{len(running)}.sqlite3"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_"))}
        server = start_listening(
            [sys.executable, "-m", "shared_client.sandbox", "--host", "127.0.0.1", "--port", "0",
             "--db", str(db), *args],
            env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        running.append(server)
        return LiveSandbox(f"http://127.0.0.1:{server.port}", db)

    yield start
    for server in running:
        server.stop()
