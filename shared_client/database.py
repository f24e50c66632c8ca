"""The deployment's database (``UC_WORKFLOW_DATABASE_URL``): one engine per process, and the tables of
every feature that keeps state there, on one :data:`metadata`.

An SQLite file by default (``sqlite+aiosqlite:///…``), PostgreSQL for several replicas
(``postgresql+asyncpg://…``). The tables are SQLAlchemy Core tables on :data:`metadata`: a feature that
keeps state defines its ``Table`` on it in a module of its own (the Slack bot's in :mod:`slack_bot.store`,
the change feed's in :mod:`shared_client.feed.store`), with its queries, handed the process's
:class:`Database`. The tables are created at start (leaving existing ones alone): on PostgreSQL
``create_all`` under a transaction-level advisory lock, so replicas starting at once do not race to create
the same table; on SQLite ``CREATE … IF NOT EXISTS``.

    database = await open_database(settings.database_url)   # ConfigurationError: one line
    identities = IdentityStore(database)
    ...
    await database.aclose()

Upserts go through :meth:`Database.insert`, the dialect's own ``INSERT … ON CONFLICT``, atomic on both.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from shared_client.locks import LockTimeout, file_lock
from shared_client.redis_support import url_passwords
from shared_client.settings import ConfigurationError

__all__ = [
    "ID",
    "SETTING",
    "Database",
    "DatabaseUnavailable",
    "metadata",
    "open_database",
    "shown_url",
    "sqlite_url",
]

SETTING = "UC_WORKFLOW_DATABASE_URL"
LOG = logging.getLogger(__name__)

# Slack's ids (teams, users, events) are short ASCII words; 64 leaves room.
ID = 64

metadata = MetaData()

# pg_advisory_xact_lock's key for creating the tables: any constant of our own ("ucwf" "slak").
SCHEMA_LOCK = 0x7563_7766_736C_616B
SUPPORTED = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
EXAMPLES = "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE"
CONNECT_TIMEOUT = 10.0  # seconds: a database that does not answer is an error at start, not a hang


class DatabaseUnavailable(Exception):
    """The bot's database stopped answering while the bot runs (a restart, the network): the person who
    asked is told in one sentence (:mod:`slack_bot.errors`), the cause is logged without the URL."""

    def __init__(self, setting: str, cause: BaseException) -> None:
        super().__init__(f"My database ({setting}) is not answering right now; try again in a moment.")
        self.cause = type(cause).__name__


def sqlite_url(path: Path | str) -> str:
    """The URL of an SQLite file (``path`` made absolute)."""
    return f"sqlite+aiosqlite:///{Path(path).expanduser().absolute()}"


def shown_url(url: str | URL) -> str:
    """The URL fit for a message or a log line: its password, if any, as ``***``."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "(not a URL)"
    # A password may also be a query parameter (``?password=…``: SQLAlchemy hands it to the driver).
    hidden = {name: "***" for name in parsed.query if "password" in name.lower()}
    if hidden:
        parsed = parsed.update_query_dict(hidden)
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def _parse(url: str, setting: str) -> URL:
    """``url`` as SQLAlchemy's ``URL``, its driver made explicit (``postgresql://`` means asyncpg,
    ``sqlite://`` aiosqlite); anything else is a :class:`ConfigurationError`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(f"{setting} is not a database URL; use {EXAMPLES}") from None
    backend, _, given = parsed.drivername.partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    driver = SUPPORTED.get(backend)
    if driver is None or given not in {driver, ""}:
        raise ConfigurationError(
            f"{setting}: the Slack bot keeps its state in SQLite or PostgreSQL, not in "
            f"{parsed.drivername}; use {EXAMPLES}"
        )
    return parsed.set(drivername=f"{backend}+{driver}")


class Database:
    """The process's engine on the bot's database. Made without touching the database; :meth:`start`
    connects and creates the tables (:func:`open_database` does both)."""

    def __init__(self, url: str, *, setting: str = SETTING) -> None:
        self.url = _parse(url, setting)
        self.setting = setting
        self.dialect = self.url.get_backend_name()  # "sqlite" or "postgresql"
        options: dict[str, Any] = {}
        if self.dialect == "postgresql":
            # A connection the server dropped (a restart, a fail-over) is replaced, not handed out.
            options.update(pool_pre_ping=True, connect_args={"timeout": CONNECT_TIMEOUT})
        else:
            options.update(connect_args={"timeout": CONNECT_TIMEOUT})  # sqlite3's busy timeout
        try:
            self.engine: AsyncEngine = create_async_engine(self.url, **options)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ConfigurationError(
                f"{setting}: cannot use {shown_url(self.url)} ({type(exc).__name__}); use {EXAMPLES}"
            ) from None
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @property
    def shown(self) -> str:
        """The URL without its password."""
        return shown_url(self.url)

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, if this is one (``None`` for PostgreSQL or an in-memory database)."""
        database = self.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database)

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's ``INSERT`` on ``table``, with ``on_conflict_do_update`` / ``on_conflict_do_nothing``
        (both dialects spell them alike)."""
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (each statement commits on its own)."""
        try:
            async with self.engine.connect() as connection:
                yield connection
        except (OperationalError, InterfaceError, OSError, TimeoutError, PoolTimeout) as exc:
            raise DatabaseUnavailable(self.setting, exc) from None

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A transaction, committed at the end of the block (rolled back if it raises)."""
        try:
            async with self.engine.begin() as connection:
                yield connection
        except (OperationalError, InterfaceError, OSError, TimeoutError, PoolTimeout) as exc:
            raise DatabaseUnavailable(self.setting, exc) from None

    async def start(self) -> None:
        """Connect and create the missing tables. A database that cannot be opened or reached is a
        :class:`ConfigurationError` naming the setting and the URL without its password."""
        try:
            path = self.sqlite_path
            if path is None:
                await self._create_tables()
            else:
                # Replicas starting at once on one file: one at a time (PostgreSQL's advisory lock, here an
                # flock on the database file itself, which SQLite's own POSIX record locks do not see).
                # Without it a connection switching to WAL meets another's DDL and gets "database is
                # locked" at once, busy timeout or not.
                async with file_lock(lambda: path, max_wait=CONNECT_TIMEOUT):
                    await self._create_tables()
        except LockTimeout as exc:
            await self.engine.dispose()
            raise ConfigurationError(self._cannot_open(exc)) from None
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            await self.engine.dispose()
            raise ConfigurationError(self._cannot_open(exc)) from None
        LOG.info("the Slack bot's database: %s", self.shown)

    async def _create_tables(self) -> None:
        async with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                # Held to the end of this transaction: one replica creates, the others then see.
                await connection.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK)))
                await connection.run_sync(metadata.create_all)
            else:
                await connection.run_sync(_create_if_not_exists)

    def _cannot_open(self, exc: BaseException) -> str:
        cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        for password in url_passwords(self.url.render_as_string(hide_password=False)):
            detail = detail.replace(password, "***")
        reason = f"{type(cause).__name__}: {detail[:200]}" if detail else type(cause).__name__
        check = (
            "that the server is running and the database exists"
            if self.dialect == "postgresql"
            else "that the path is right and its directory writable"
        )
        return f"{self.setting}: cannot open the Slack bot's database {self.shown} ({reason}); check {check}"

    async def aclose(self) -> None:
        await self.engine.dispose()


def _create_if_not_exists(connection: Connection) -> None:
    """SQLite has no advisory lock, but each ``CREATE … IF NOT EXISTS`` is decided under its write lock:
    processes creating the tables at once cannot collide (``create_all`` looks first, then creates)."""
    for table in metadata.sorted_tables:
        connection.execute(CreateTable(table, if_not_exists=True))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            connection.execute(CreateIndex(index, if_not_exists=True))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers do not wait for the writer; several processes may share the file on one machine.
    cursor = dbapi_connection.cursor()
    try:
        # The busy timeout first: switching to WAL takes a lock that a replica starting at once may hold.
        cursor.execute(f"PRAGMA busy_timeout={int(CONNECT_TIMEOUT * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


async def open_database(url: str, *, setting: str = SETTING) -> Database:
    """The process's :class:`Database` on ``url``, started (see :meth:`Database.start`)."""
    database = Database(url, setting=setting)
    await database.start()
    return database
