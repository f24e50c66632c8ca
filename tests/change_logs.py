"""A change log made by hand (``shared_client.feed.events.ChangeLog``): what a deployment's change feed
would answer, set by the test, with every question it was asked recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shared_client.feed.events import Change, RecentChanges


@dataclass
class HandMadeChangeLog:
    changes: dict[str, list[Change]]  # task uuid → what the feed saw, oldest first
    watching_since: datetime
    polled_at: datetime
    fingerprint: str | None = None  # the key the feed runs for (None: any)
    asked: list[tuple[str, list[str], datetime]] = field(default_factory=list)

    async def changes_since(
        self, fingerprint: str, task_uuids: Sequence[str], since: datetime
    ) -> RecentChanges | None:
        self.asked.append((fingerprint, list(task_uuids), since))
        if self.fingerprint is not None and fingerprint != self.fingerprint:
            return None  # no feed runs for that key
        wanted = set(task_uuids)
        return RecentChanges(
            {
                uuid: [c for c in changes if datetime.fromisoformat(c.version) >= since]
                for uuid, changes in self.changes.items()
                if uuid in wanted
            },
            self.watching_since,
            self.polled_at,
        )


class BrokenChangeLog:
    """A change log whose database is down."""

    def __init__(self) -> None:
        self.asked = 0

    async def changes_since(
        self, fingerprint: str, task_uuids: Sequence[str], since: datetime
    ) -> RecentChanges | None:
        self.asked += 1
        raise ConnectionRefusedError("the feed's database is down")
