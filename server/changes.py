"""Where the MCP server reads the change feed's events, so that ``list_recent_changes`` says what changed.

The feed runs elsewhere (the Slack bot's process, under its lease) and keeps what it saw in the
deployment's database (``UC_WORKFLOW_DATABASE_URL``); ``shared_client.feed.store.FeedStore`` reads it.
Here that store is opened for each question and closed after it: nothing stays connected between calls
(aiosqlite's worker thread is not a daemon, and an idle engine would hold a PostgreSQL connection per
replica). The server never creates a database: an SQLite file that does not exist means no feed runs.
A database that fails is one log line (its URL without the password), then ``RETRY_AFTER`` seconds of
answers from the tasks' own history, without waiting on it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from shared_client.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from shared_client.database import Database
    from shared_client.feed.events import ChangeLog, RecentChanges

__all__ = ["RETRY_AFTER", "DatabaseChangeLog", "StoreFactory", "change_log_for"]

logger = logging.getLogger(__name__)

StoreFactory = Callable[["Database"], "ChangeLog"]
RETRY_AFTER = 60.0  # seconds without asking a database that failed (a dead one takes 10 s to say so)


def change_log_for(settings: Settings, store: StoreFactory | None = None) -> DatabaseChangeLog:
    """The change log of this deployment's database (``settings.database_url``, the Slack bot's).
    ``store``: ``FeedStore`` by default. Nothing is imported or checked here: SQLAlchemy alone would add a
    fifth to the server's start, so the URL is checked at the first question (a URL this project cannot
    use is one log line, then no question again)."""
    return DatabaseChangeLog(settings.database_url, store)


class DatabaseChangeLog:
    """A :class:`ChangeLog` on the deployment database, opened for each question."""

    def __init__(
        self, url: str, store: StoreFactory | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.url = url
        self._store = store
        self.clock = clock
        self._unusable = False  # the URL is not one this project can use (said once)
        self._resting_until: float | None = None  # after a failure: no question until then

    def store(self) -> StoreFactory:
        if self._store is None:
            from shared_client.feed.store import FeedStore

            self._store = FeedStore
        return self._store

    @property
    def shown(self) -> str:
        from shared_client.database import shown_url

        return shown_url(self.url)

    async def changes_since(
        self, fingerprint: str, task_uuids: Sequence[str], since: datetime
    ) -> RecentChanges | None:
        if self._unusable or (self._resting_until is not None and self.clock() < self._resting_until):
            return None
        from shared_client.database import Database

        try:
            database = Database(self.url)  # the URL is checked; nothing is connected
        except ConfigurationError as exc:
            logger.warning("list_recent_changes will not read the change feed: %s", exc)
            self._unusable = True
            return None
        try:
            path = database.sqlite_path
            if database.dialect == "sqlite" and (path is None or not await asyncio.to_thread(path.is_file)):
                return None  # no feed has written here (and connecting would create the file)
            found = await self.store()(database).changes_since(fingerprint, task_uuids, since)
        except Exception as exc:  # the feed only adds detail: the tool answers from history without it
            if self._resting_until is None:
                cause = getattr(exc, "cause", None) or type(exc).__name__
                logger.warning(
                    "list_recent_changes cannot read the change feed in %s (%s); the tasks' own history "
                    "says what changed until it answers",
                    self.shown,
                    cause,
                )
            self._resting_until = self.clock() + RETRY_AFTER
            return None
        finally:
            await database.aclose()
        if self._resting_until is not None:
            logger.info("list_recent_changes reads the change feed in %s again", self.shown)
            self._resting_until = None
        return found
