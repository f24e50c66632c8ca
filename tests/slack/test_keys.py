"""The key vault and the members' clients (slack_bot.keys) on SQLite and PostgreSQL: what replicas share."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from shared_client.client import WorkflowClient
from shared_client.models import WorkflowUser
from shared_client.pacing import BudgetSpec
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.tools import ToolContext
from slack_bot.keys import KeyRefused, KeyVault, MemberKeys
from slack_bot.store import Database, connected_keys, open_database, sqlite_url

SECRET = Fernet.generate_key().decode()
KEY = "member-key-0123456789"
ALICE = WorkflowUser(user_id=1002, user="Alice Carter")


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two replicas' engines on one database."""
    a = await open_database(database_url)
    b = await open_database(database_url)
    yield a, b
    await a.aclose()
    await b.aclose()


async def test_replicas_share_keys_and_only_one_reports_a_failure(
    databases: tuple[Database, Database],
) -> None:
    a, b = KeyVault(databases[0], SECRET), KeyVault(databases[1], SECRET)
    saved = await a.save("T1", "U1", KEY, ALICE)
    found = await b.get("T1", "U1")
    assert found is not None and found.key == KEY and found.uc_user_name == "Alice Carter" and found.working
    assert await b.connected_user("T1", "U1") == 1002
    # Both replicas see the key refused at once: exactly one of them marks it (and tells its owner).
    marks = await asyncio.gather(*(vault.mark_failed(saved) for vault in (a, b, a, b)))
    assert sorted(marks) == [False, False, False, True]
    assert await a.connected_user("T1", "U1") is None
    # A key connected since is not failed by a late refusal of the old one.
    await b.save("T1", "U1", "member-key-new-0123456789", ALICE)
    assert not await a.mark_failed(saved)
    assert await a.connected_user("T1", "U1") == 1002
    assert await a.forget("T1", "U1") and not await b.forget("T1", "U1")
    assert await b.get("T1", "U1") is None


async def test_the_database_holds_no_key(databases: tuple[Database, Database]) -> None:
    await KeyVault(databases[0], SECRET).save("T1", "U1", KEY, ALICE)
    async with databases[1].connect() as connection:
        row = (await connection.execute(select(connected_keys))).one()
    assert KEY.encode() not in b"".join(str(v).encode() for v in row) + bytes(row.key_token)
    assert await KeyVault(databases[1], Fernet.generate_key().decode()).get("T1", "U1") is None
    assert await KeyVault(databases[1], None).get("T1", "U1") is None  # no UC_WORKFLOW_SECRET_KEY: nothing


class Tracked(WorkflowClient):
    closed = False

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()


async def test_members_clients_are_a_bounded_lru_closed_on_eviction(tmp_path: Path) -> None:
    app = create_app(SandboxConfig(db_path=tmp_path / "sandbox.sqlite3", rate_limit=None))
    made: list[Tracked] = []

    def client_for(key: str) -> WorkflowClient:
        client = Tracked(
            api_key=key, base_url="http://sandbox.test/rest/v2", transport=SandboxTransport(app),
            gate_key=uuid.uuid4().hex, budget=BudgetSpec(),
        )  # fmt: skip
        made.append(client)
        return client

    database = await open_database(sqlite_url(tmp_path / "slack.sqlite3"))
    base = ToolContext(client_for("workspace"), sandbox=True)
    members = MemberKeys(KeyVault(database, SECRET), client_for, sandbox=True, max_clients=1)
    try:
        with pytest.raises(KeyRefused):
            await members.verify("user:nobody-at-all@demo.example")
        me = await members.verify("user:alice@demo.example")
        assert me.user_id == 1002
        first = await members.vault.save("T1", "U1", "user:alice@demo.example", me)
        second = await members.vault.save("T1", "U2", "other-member-key-0123", me)
        async with members.lease(first, base) as ctx:
            assert ctx.task_numbers is base.task_numbers and not ctx.allow_local_files
            async with members.lease(second, base):
                assert members.clients == 2  # the first is in use: not closed under its call
        async with members.lease(first, base) as again:
            assert again is ctx and members.clients == 1  # the second, idle and least recent, went
        assert [c.closed for c in made[-2:]] == [False, True]
    finally:
        await members.aclose()
        await base.client.aclose()
        await database.aclose()
    assert all(c.closed for c in made)


def test_a_key_registered_later_is_redacted_by_filters_made_before() -> None:
    import logging

    from shared_client.logs import REDACTED, RedactSecrets, register_secret

    earlier = RedactSecrets(["xoxb-some-token-123"])
    late = f"late-member-key-{uuid.uuid4().hex}"
    record = logging.LogRecord(
        "slack_bot", logging.INFO, __file__, 1, "key %s and %s", (late, "xoxb-some-token-123"), None
    )
    register_secret(late)
    earlier.filter(record)
    assert record.getMessage() == f"key {REDACTED} and {REDACTED}"


async def test_a_dropped_client_closes_when_its_last_call_ends(tmp_path: Path) -> None:
    made: list[Tracked] = []

    def client_for(key: str) -> WorkflowClient:
        made.append(Tracked(api_key=key, base_url="http://sandbox.test/rest/v2", gate_key=uuid.uuid4().hex))
        return made[-1]

    database = await open_database(sqlite_url(tmp_path / "slack.sqlite3"))
    base = ToolContext(client_for("workspace"), sandbox=True)
    members = MemberKeys(KeyVault(database, SECRET), client_for, sandbox=True)
    try:
        member = await members.vault.save("T1", "U1", KEY, ALICE)
        async with members.lease(member, base):
            await members.drop(member)  # its key failed while a call was using it
            assert not made[-1].closed
            async with members.lease(member, base) as fresh:  # a new call gets a client of its own
                assert fresh.client is made[-1] and len(made) == 3
        assert made[1].closed and made[2].closed is False and members.clients == 1
    finally:
        await members.aclose()
        await base.client.aclose()
        await database.aclose()
