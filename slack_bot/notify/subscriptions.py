"""Channel subscriptions (``/task subscribe FILTERS [events:LIST]``): the search grammar's filters,
resolved to ids when subscribing (a subscription is matched against tasks in hand, the change feed's, as
``search_tasks`` matches one object's tasks), and the events the channel wants.

``assignee:me`` is the subscriber (their UltraCart user, directly). ``due:overdue`` is checked against the
time of the event, not of the subscription; ``sort:`` means nothing here and is refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from shared_client.database import Database
from shared_client.feed.events import NOTIFIABLE, ChangeKind, is_overdue
from shared_client.models import WorkflowTask, WorkflowTasksRequest
from shared_client.tools import SEARCH_TASKS, ToolInputError
from shared_client.tools.search import SearchInput, _matches, build_search_request
from slack_bot.notify.tables import notify_subscriptions

__all__ = [
    "Filters",
    "Subscription",
    "SubscriptionStore",
    "resolve_filters",
]

MAX_PER_CHANNEL = 20


@dataclass(frozen=True)
class Filters:
    """A subscription's filters as a task in hand is checked against them."""

    request: WorkflowTasksRequest  # UltraCart's search filters, names resolved to ids
    overdue: bool = False
    object_id: str | None = None

    def matches(self, task: WorkflowTask, now: datetime) -> bool:
        request = self.request
        if request.object_type is not None and str(task.object_type or "") != str(request.object_type):
            return False
        if self.object_id is not None and (task.object_id or "") != self.object_id:
            return False
        if self.overdue and not is_overdue(task, now):
            return False
        return _matches(task, request, None)

    def dump(self) -> str:
        return json.dumps(
            {
                "request": self.request.model_dump(mode="json", exclude_none=True),
                "overdue": self.overdue,
                "object_id": self.object_id,
            },
            sort_keys=True,
        )

    @classmethod
    def load(cls, text: str) -> Filters:
        data = json.loads(text)
        return cls(
            WorkflowTasksRequest.model_validate(data.get("request") or {}),
            bool(data.get("overdue")),
            data.get("object_id"),
        )


@dataclass(frozen=True)
class Subscription:
    id: int
    team_id: str
    channel: str
    created_by: str
    filters_text: str
    filters: Filters
    events: tuple[str, ...]

    @property
    def kinds(self) -> frozenset[ChangeKind]:
        return frozenset().union(*(NOTIFIABLE[e] for e in self.events if e in NOTIFIABLE))


async def resolve_filters(ctx: Any, args: dict[str, Any]) -> Filters:
    """The search arguments (already with Slack users resolved) validated as ``search_tasks`` does and
    turned into UltraCart's filters, names resolved to ids. ToolInputError as the search would say it."""
    if args.get("sort"):
        raise ToolInputError.about("sort", "a subscription posts tasks as they change; leave sort out")
    params: SearchInput = SEARCH_TASKS.parse_arguments(args)
    overdue = bool(params.overdue)
    standing = params.model_copy(update={"overdue": None})  # checked when an event comes, not now
    if overdue and params.status is not None and str(params.status) == "closed":
        raise ToolInputError.about(
            "overdue", "only tasks that are not closed can be overdue; leave status out"
        )
    request = await build_search_request(ctx, standing)
    return Filters(request, overdue, params.object_id)


class SubscriptionStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    async def add(
        self,
        team_id: str,
        channel: str,
        created_by: str,
        text: str,
        filters: Filters,
        events: tuple[str, ...],
    ) -> int:
        values = {
            "team_id": team_id,
            "channel": channel,
            "created_by": created_by,
            "filters_text": text[:2000],
            "filters": filters.dump(),
            "events": ",".join(events),
            "created_at": self.clock(),
        }
        async with self.db.begin() as conn:
            result = await conn.execute(notify_subscriptions.insert().values(**values))
            key = result.inserted_primary_key
            return int(key[0]) if key else 0

    async def count(self, team_id: str, channel: str) -> int:
        return len(await self.of_channel(team_id, channel))

    async def of_channel(self, team_id: str, channel: str) -> list[Subscription]:
        s = notify_subscriptions.c
        query = select(notify_subscriptions).where(s.team_id == team_id, s.channel == channel).order_by(s.id)
        return await self._rows(query)

    async def of_team(self, team_id: str) -> list[Subscription]:
        s = notify_subscriptions.c
        return await self._rows(select(notify_subscriptions).where(s.team_id == team_id).order_by(s.id))

    async def _rows(self, query: Any) -> list[Subscription]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Subscription(
                int(r.id),
                str(r.team_id),
                str(r.channel),
                str(r.created_by),
                str(r.filters_text),
                Filters.load(r.filters),
                tuple(e for e in str(r.events).split(",") if e),
            )
            for r in rows
        ]

    async def remove(self, team_id: str, channel: str, ids: list[int]) -> int:
        if not ids:
            return 0
        s = notify_subscriptions.c
        where = (s.team_id == team_id) & (s.channel == channel) & s.id.in_(ids)
        async with self.db.begin() as conn:
            return int((await conn.execute(delete(notify_subscriptions).where(where))).rowcount or 0)
