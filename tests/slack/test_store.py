"""The bot's database (slack_bot.store), its identity links (slack_bot.identity) and its event claims
(slack_bot.event_log), on an SQLite file and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from shared_client.settings import ConfigurationError
from slack_bot.event_log import EventLog
from slack_bot.identity import EMAIL, IAM, LINK, OVERRIDE, IdentityStore
from slack_bot.store import Database, DatabaseUnavailable, open_database, shown_url, sqlite_url
from tests.services import free_port


@pytest.fixture
async def open_db(database_url: str) -> AsyncIterator[Callable[[], asyncio.Task[Database]]]:
    """Opens another Database on the same URL (another replica's engine); all closed at the end."""
    opened: list[asyncio.Task[Database]] = []

    def another() -> asyncio.Task[Database]:
        task = asyncio.ensure_future(open_database(database_url))
        opened.append(task)
        return task

    yield another
    for task in opened:
        if not task.cancelled() and task.exception() is None:
            await task.result().aclose()


@pytest.fixture
async def db(open_db: Callable[[], asyncio.Task[Database]]) -> Database:
    return await open_db()


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------------- identities


async def test_links_are_set_read_and_forgotten(db: Database) -> None:
    clock = Clock()
    store = IdentityStore(db, clock=clock)
    assert await store.get("T1", "UALICE") is None
    await store.set("T1", "UALICE", 7, LINK)
    found = await store.get("T1", "UALICE")
    assert found is not None and (found.uc_user_id, found.source, found.updated_at) == (7, LINK, clock.now)
    clock.now += 5
    await store.set("T1", "USAM", 7, IAM)
    clock.now += 5
    await store.set("T1", "UPRIYA", 7, LINK)
    await store.set("T2", "UOTHER", 7, LINK)  # another workspace
    assert await store.slack_users_for("T1", 7) == ["UPRIYA", "USAM", "UALICE"]  # the most recent first
    assert [(m.slack_user_id, m.source) for m in await store.links("T1")] == [
        ("UALICE", LINK),
        ("UPRIYA", LINK),
        ("USAM", IAM),
    ]
    await store.set("T1", "UALICE", 8, LINK)  # re-linked: the same row, changed
    alice = await store.get("T1", "UALICE")
    assert alice is not None and (alice.uc_user_id, alice.source) == (8, LINK)
    assert await store.slack_users_for("T1", 8) == ["UALICE"]
    assert await store.forget("T1", "UALICE")
    assert not await store.forget("T1", "UALICE")  # nothing left to forget
    assert await store.get("T1", "UALICE") is None
    assert await store.slack_users_for("T1", 8) == []
    assert await store.slack_users_for("T1", 2**40) == []  # UltraCart ids fit (BigInteger)


async def test_only_an_admins_decision_is_stored(db: Database) -> None:
    """The first release's unverified `/task iam` rows and e-mail matches are trusted by nothing."""
    store = IdentityStore(db)
    for source in (OVERRIDE, EMAIL, "anything"):
        with pytest.raises(ValueError, match="set by an admin"):
            await store.set("T1", "USAM", 1, source)
    assert await store.get("T1", "USAM") is None


async def test_an_iam_request_is_answered_once(db: Database) -> None:
    clock = Clock()
    store = IdentityStore(db, clock=clock)
    await store.request("T1", "USTRANGER", 3)
    await store.request("T1", "USTRANGER", 4)  # a newer request replaces it
    pending = await store.pending("T1", "USTRANGER")
    assert pending is not None and (pending.uc_user_id, pending.requested_at) == (4, clock.now)
    assert await store.get("T1", "USTRANGER") is None  # a request changes nobody's identity
    assert not await store.take_request("T1", "USTRANGER", 3)  # the replaced request: gone
    answers = await asyncio.gather(*(store.take_request("T1", "USTRANGER", 4) for _ in range(5)))
    assert sorted(answers) == [False, False, False, False, True]  # two admins at once: one answers
    assert await store.pending("T1", "USTRANGER") is None


async def test_group_memberships(db: Database) -> None:
    store = IdentityStore(db)
    await store.join("T1", "U1", 9)
    await store.join("T1", "U1", 9)
    await store.join("T1", "U1", 3)
    await store.join("T1", "U2", 4)
    assert await store.groups("T1", "U1") == [3, 9]
    await store.leave("T1", "U1", 3)
    await store.leave("T1", "U1", 3)  # not a member any more: nothing to do
    assert await store.groups("T1", "U1") == [9]
    assert await store.groups("T1", "U2") == [4]


async def test_concurrent_upserts_from_two_replicas_leave_one_row(
    open_db: Callable[[], asyncio.Task[Database]],
) -> None:
    a, b = await asyncio.gather(open_db(), open_db())  # two engines: two replicas' pools
    stores = [IdentityStore(a), IdentityStore(b)]
    writes = [stores[i % 2].set("T1", "USAM", 100 + i, LINK) for i in range(30)]
    joins = [stores[i % 2].join("T1", "USAM", 5) for i in range(30)]
    emails = [stores[i % 2].set("T1", "UALICE", 200 + i, IAM) for i in range(30)]
    await asyncio.gather(*writes, *joins, *emails)  # no IntegrityError, no deadlock
    sam = await stores[1].get("T1", "USAM")
    assert sam is not None and sam.source == LINK and 100 <= sam.uc_user_id < 130
    assert await stores[0].slack_users_for("T1", sam.uc_user_id) == ["USAM"]
    assert await stores[0].groups("T1", "USAM") == [5]
    alice = await stores[0].get("T1", "UALICE")
    assert alice is not None and 200 <= alice.uc_user_id < 230


async def test_two_replicas_see_each_others_links(postgres_url: str) -> None:
    a, b = await asyncio.gather(open_database(postgres_url), open_database(postgres_url))
    try:
        replica_a, replica_b = IdentityStore(a), IdentityStore(b)
        await replica_a.set("T1", "UALICE", 4, LINK)
        await replica_a.join("T1", "UALICE", 12)
        seen = await replica_b.get("T1", "UALICE")
        assert seen is not None and (seen.uc_user_id, seen.source) == (4, LINK)
        assert await replica_b.groups("T1", "UALICE") == [12]
        await replica_b.forget("T1", "UALICE")
        assert await replica_a.get("T1", "UALICE") is None
    finally:
        await a.aclose()
        await b.aclose()


async def test_replicas_starting_at_once_create_the_tables_once(
    open_db: Callable[[], asyncio.Task[Database]],
) -> None:
    # Four processes' worth of create_all on one empty database at the same moment.
    opened = await asyncio.gather(*(open_db() for _ in range(4)))
    stores = [IdentityStore(d) for d in opened]
    await stores[0].set("T1", "U1", 1, LINK)
    assert [await s.get("T1", "U1") is not None for s in stores] == [True] * 4


async def test_the_first_releases_sqlite_file_is_opened_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "slack.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE identities (
            team_id TEXT NOT NULL, slack_user_id TEXT NOT NULL,
            uc_user_id INTEGER NOT NULL, source TEXT NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (team_id, slack_user_id)
        );
        CREATE INDEX identities_uc ON identities (uc_user_id);
        CREATE TABLE group_memberships (
            team_id TEXT NOT NULL, slack_user_id TEXT NOT NULL, group_id INTEGER NOT NULL,
            PRIMARY KEY (team_id, slack_user_id, group_id)
        );
        INSERT INTO identities VALUES ('T1', 'USAM', 3, 'override', 1700000000.5);
        INSERT INTO group_memberships VALUES ('T1', 'USAM', 9);
        """
    )
    old.commit()
    old.close()
    db = await open_database(sqlite_url(path))
    try:
        store = IdentityStore(db)
        sam = await store.get("T1", "USAM")
        assert sam is not None and (sam.uc_user_id, sam.source, sam.updated_at) == (3, OVERRIDE, 1700000000.5)
        assert await store.groups("T1", "USAM") == [9]
        # The first release's unverified `/task iam` is read but trusted by nothing: no DMs go by it.
        assert await store.slack_users_for("T1", 3) == []
        await store.set("T1", "USAM", 4, LINK)
        assert await store.slack_users_for("T1", 4) == ["USAM"]
        await store.request("T1", "USAM", 5)  # the new table was added beside the old ones
        assert await EventLog(db).claim("Ev1", "T1")  # the new table was added beside the old ones
    finally:
        await db.aclose()


# ---------------------------------------------------------------------------------------------- events


async def test_an_event_is_claimed_once(db: Database) -> None:
    log = EventLog(db, clock=Clock())
    assert await log.claim("Ev1", "T1")
    assert not await log.claim("Ev1", "T1")  # a retry while the first is handled
    await log.handled("Ev1")
    assert not await log.claim("Ev1", "T1")  # a retry after it was handled
    assert await log.claim("Ev2", "T1")


async def test_a_claim_never_finished_is_taken_over_by_a_later_retry(db: Database) -> None:
    clock = Clock()
    log = EventLog(db, clock=clock, stale_after=30)
    assert await log.claim("Ev1", "T1")  # ... and this replica died before its listener finished
    clock.now += 29
    assert not await log.claim("Ev1", "T1")  # maybe still at work: Slack's immediate retry is dropped
    clock.now += 2
    assert await log.claim("Ev1", "T1")  # Slack's retry a minute later: handled
    assert not await log.claim("Ev1", "T1")  # taken over once (the claim's time moved on)
    await log.handled("Ev1")
    clock.now += 3600
    assert not await log.claim("Ev1", "T1")  # finished: never again


async def test_concurrent_deliveries_to_two_replicas_have_one_winner(
    open_db: Callable[[], asyncio.Task[Database]],
) -> None:
    a, b = await asyncio.gather(open_db(), open_db())
    logs = [EventLog(a), EventLog(b)]
    for event in ("EvA", "EvB", "EvC"):
        won = await asyncio.gather(*(logs[i % 2].claim(event, "T1") for i in range(10)))
        assert won.count(True) == 1


async def test_old_claims_are_pruned(db: Database) -> None:
    clock = Clock()
    log = EventLog(db, clock=clock, keep_for=86_400, prune_every=3_600)
    assert await log.claim("EvOld", "T1")
    await log.handled("EvOld")
    clock.now += 86_400 + 1
    assert await log.claim("EvNew", "T1")  # pruned on the way: the first claim since the last prune
    assert await log.claim("EvOld", "T1")  # forgotten: a day later it would be handled again
    assert await log.prune() == 0


# ---------------------------------------------------------------------------------------------- opening


async def test_an_unreachable_postgresql_is_one_clear_line_without_the_password() -> None:
    url = f"postgresql+asyncpg://bot:hunter2-pg@127.0.0.1:{free_port()}/bot"
    with pytest.raises(ConfigurationError) as caught:
        await open_database(url)
    message = str(caught.value)
    assert message.startswith("UC_WORKFLOW_DATABASE_URL: cannot open the Slack bot's database ")
    assert "postgresql+asyncpg://bot:***@127.0.0.1:" in message and "hunter2" not in message
    assert "\n" not in message


async def test_a_database_that_is_not_there_is_named(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(ConfigurationError, match=r'database "no_such_database" does not exist'):
        await open_database(url, setting="--database-url")
    with pytest.raises(ConfigurationError, match=r"^--database-url: "):
        await open_database(url, setting="--database-url")


async def test_an_sqlite_file_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigurationError) as caught:
        await open_database(sqlite_url(tmp_path / "a-file" / "slack.sqlite3"))
    assert str(caught.value).startswith("UC_WORKFLOW_DATABASE_URL: cannot open the Slack bot's database ")
    (tmp_path / "not-a-db.sqlite3").write_text("this is not a database, " * 100)
    with pytest.raises(ConfigurationError, match="not a database"):
        await open_database(sqlite_url(tmp_path / "not-a-db.sqlite3"))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql+aiomysql://bot:hunter2@127.0.0.1/bot", "not in mysql+aiomysql"),
        ("postgresql+psycopg2://bot:hunter2@127.0.0.1/bot", "not in postgresql+psycopg2"),
        ("not a url", "is not a database URL"),
    ],
)
def test_other_databases_are_refused_by_name(url: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(words)) as caught:
        Database(url)
    assert str(caught.value).startswith("UC_WORKFLOW_DATABASE_URL") and "hunter2" not in str(caught.value)


def test_plain_scheme_names_mean_the_async_drivers(tmp_path: Path) -> None:
    assert Database("postgresql://bot@127.0.0.1/bot").url.drivername == "postgresql+asyncpg"
    assert Database("postgres://bot@127.0.0.1/bot").url.drivername == "postgresql+asyncpg"
    assert Database(f"sqlite:///{tmp_path}/x.sqlite3").url.drivername == "sqlite+aiosqlite"
    assert shown_url("postgresql+asyncpg://bot:hunter2@h/db") == "postgresql+asyncpg://bot:***@h/db"


async def test_a_database_gone_while_running_is_one_sentence_for_the_member() -> None:
    from slack_bot.errors import error_message

    db = Database(f"postgresql+asyncpg://bot:hunter2-pg@127.0.0.1:{free_port()}/bot")  # opened, then gone
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await IdentityStore(db).get("T1", "UALICE")
        with pytest.raises(DatabaseUnavailable):
            await EventLog(db).claim("Ev1", "T1")
    finally:
        await db.aclose()
    told = error_message(caught.value)
    assert told.startswith(":warning: My database (UC_WORKFLOW_DATABASE_URL) is not answering right now")
    assert "hunter2" not in told and "127.0.0.1" not in told
