"""Real Redis and PostgreSQL servers for the tests, on loopback.

``.ci/run`` starts one of each and says where in ``UC_WORKFLOW_TEST_REDIS_URL`` and
``UC_WORKFLOW_TEST_POSTGRES_URL`` (an administrator's URL), with ``UC_WORKFLOW_TEST_SERVICES=required``:
then a test that needs one fails when it is missing instead of skipping. Run by hand, the fixtures start
their own servers from the binaries on PATH (``redis-server``; ``initdb``/``pg_ctl``), once per session,
and skip the tests that need them when those are not installed.

Tests that stop a server (``Redis stopped → a clear error``) start their own with :class:`RedisServer`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRED = os.environ.get("UC_WORKFLOW_TEST_SERVICES") == "required"


def unavailable(what: str) -> None:
    """Skip (by hand) or fail (in CI, where the service must be there)."""
    if REQUIRED:
        pytest.fail(f"{what} (UC_WORKFLOW_TEST_SERVICES=required)")
    pytest.skip(what)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` on a loopback port, no persistence; ``stop()`` / ``kill()`` it."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed (apt-get install -y redis-server)")
        self.directory = directory
        self.port = free_port()
        command = [str(binary), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        seen: list[str] = []
        for line in self.process.stdout:  # it says when it is ready: no polling, no sleep
            seen.append(line)
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server did not start:\n" + "".join(seen[-20:]))
        self.process.stdout.close()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


class PostgresServer:
    """A private PostgreSQL cluster on a loopback port (trust auth), run as ``postgres`` when we are root
    (it refuses to run as root)."""

    def __init__(self, directory: Path) -> None:
        for binary in ("initdb", "pg_ctl"):
            if shutil.which(binary) is None:
                unavailable(f"{binary} is not on PATH (PostgreSQL 15's server binaries)")
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        directory.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(directory, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(directory / "log"), "-w", "-o",
            f"-p {self.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        )  # fmt: skip

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self._as, *command], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def _private_dir(prefix: str) -> Path:
    # Not under pytest's tmp_path: PostgreSQL's user must be able to reach it (tmp_path is 0700 root).
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis shared by the session's tests (each test uses its own keys: fresh credentials)."""
    given = os.environ.get("UC_WORKFLOW_TEST_REDIS_URL")
    if given:
        yield given
        return
    directory = _private_dir("ucw-redis-")
    server = RedisServer(directory)
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, to stop or kill."""
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """An administrator's URL (``postgresql://…/postgres``) on a PostgreSQL shared by the session."""
    given = os.environ.get("UC_WORKFLOW_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    directory = _private_dir("ucw-pg-")
    try:
        server = PostgresServer(directory)
    except RuntimeError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        unavailable(f"PostgreSQL did not start: {exc}")
        raise
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database of this test's own, as an SQLAlchemy async URL (``postgresql+asyncpg``)."""
    import asyncio

    import asyncpg

    name = f"t_{uuid.uuid4().hex[:16]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(postgres_admin_url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = postgres_admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One empty database, each test run on both kinds: an SQLite file, or a fresh PostgreSQL database."""
    from shared_client.database import sqlite_url

    if request.param == "sqlite":
        return sqlite_url(tmp_path / "state.sqlite3")
    return str(request.getfixturevalue("postgres_url"))
