"""One poll of the change feed: the tasks UltraCart changed since the last poll, compared with the snapshot.

UltraCart has no webhooks for workflow tasks; its search takes ``last_update_dts_begin``. Each poll asks for
the tasks updated since the watermark (the newest ``last_update_dts`` seen, UltraCart's own clock) less an
overlap, at the maximum page size, sorted by ``last_update_dts`` ascending, and pages by moving
``last_update_dts_begin`` to the last task of the page (keyset paging): a task updated while we page moves
to the end, where we will meet it, and nothing shifts under an offset. A page whose tasks all share one second
is walked by offset within that second (again from its start when its count changed meanwhile: a task
that left it shifted the offsets). The overlap re-reads tasks already seen, which the snapshot
recognises (same version: nothing changed); it covers UltraCart's one-second timestamps and a change
committed just after we asked.

The first poll of a credential lists every task (the baseline) and reports nothing: nobody is told about the
past. Tasks already overdue then are marked so, silently. Tasks become overdue without a change UltraCart
would report, so every poll also looks in the snapshot for open tasks whose due date has passed.

A normal poll is one UltraCart request (fewer than 500 tasks changed since the last one).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared_client import constants
from shared_client.client import WorkflowClient
from shared_client.feed.events import Change, became_overdue, content_of, diff
from shared_client.feed.store import FeedStore
from shared_client.models import WorkflowTask, WorkflowTasksRequest

__all__ = ["OVERLAP", "ChangeFeed", "PollResult"]

LOG = logging.getLogger(__name__)

OVERLAP = 120.0  # seconds re-read before the watermark
FUTURE_LIMIT = 3600.0  # seconds: a last_update_dts further ahead of our clock does not move the watermark
BASELINE_SKEW = 300.0  # seconds: a task created this long before the baseline began still counts as new
SORT = "+last_update_dts,+global_task_number"  # ties in one second in a stable order
SECOND = timedelta(seconds=1)
MAX_REWALKS = 3  # a second walked again because it changed under us, at most this often in one poll


@dataclass
class PollResult:
    baseline: bool  # this poll recorded the baseline (and reported nothing)
    committed: bool  # False: another leader committed first; nothing of this poll was kept
    calls: int  # UltraCart requests made
    tasks_seen: int
    changes: list[Change] = field(default_factory=list)


class ChangeFeed:
    """The feed of ``client``'s credential (``client.fingerprint``), kept in ``store``."""

    def __init__(
        self,
        client: WorkflowClient,
        store: FeedStore,
        *,
        interval: float,
        leader: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        overlap: float = OVERLAP,
        page_size: int = constants.MAX_PAGE_SIZE_TASKS,
    ) -> None:
        self.client = client
        self.store = store
        self.fingerprint = client.fingerprint
        self.interval = interval
        self.leader = leader
        self.clock = clock
        self.overlap = overlap
        self.page_size = page_size

    async def _pages(self, begin: datetime | None) -> AsyncIterator[list[WorkflowTask]]:
        """Every task updated at or after ``begin`` (every task: None), page by page (see the module)."""
        cursor, offset, pinned = begin, 0, False
        size: int | None = None  # how many tasks the second being walked had at its first page
        rewalks = 0
        while True:
            request = WorkflowTasksRequest(last_update_dts_begin=cursor)
            if pinned:
                request.last_update_dts_end = cursor
            page = await self.client.search_tasks(request, limit=self.page_size, offset=offset, sort=SORT)
            tasks = page.tasks or []
            yield tasks
            # UltraCart says so in result_set; an answer without it may have more when its page is full.
            paging = page.result_set
            more = bool(tasks) and (bool(paging.more) if paging is not None else len(tasks) >= self.page_size)
            if pinned:
                total = page.result_set.total_records if page.result_set else None
                if size is not None and total != size and rewalks < MAX_REWALKS:
                    # A task left this second (it changed) while we walked it: every later offset moved up
                    # by one and a task slid past us unread. Walk the second again from its start.
                    offset, size, rewalks = 0, None, rewalks + 1
                    continue
                size = total if size is None else size
                if more:
                    offset += len(tasks)
                    continue
                assert cursor is not None
                cursor, offset, pinned, size, rewalks = cursor + SECOND, 0, False, None, 0
                continue
            if not more:
                return
            last = tasks[-1].last_update_dts
            if last is None:  # UltraCart left the marker out: fall back to offsets
                offset += len(tasks)
                continue
            if all(t.last_update_dts == last for t in tasks):
                # A page of one second (then nothing between the cursor and it): walk that second by offset,
                # from its start, so that its first page says how many tasks it holds (a change while we
                # walk it shows as a different count).
                cursor, offset, pinned = last, 0, True
            else:
                cursor, offset = last, 0

    async def poll(self) -> PollResult:
        """One poll, committed (or, when another leader committed first, nothing)."""
        state = await self.store.state(self.fingerprint)
        now = self.clock()
        baseline = state is None
        begin: datetime | None = None
        if state is not None and state.watermark is not None:
            begin = datetime.fromtimestamp(state.watermark - self.overlap, UTC)
        seen: dict[str, WorkflowTask] = {}
        calls = 0
        async for tasks in self._pages(begin if not baseline else None):
            calls += 1
            for task in tasks:
                if task.workflow_task_uuid:
                    seen[task.workflow_task_uuid] = task  # a task met twice: the later page is newer
        # A last_update_dts far ahead of our clock is no clock skew but bad data (an import, a bug): moving
        # the watermark there would make every later poll ask for changes after it, and find none.
        believable = now.timestamp() + FUTURE_LIMIT
        watermark = max(
            (
                t.last_update_dts.timestamp()
                for t in seen.values()
                if t.last_update_dts is not None and t.last_update_dts.timestamp() <= believable
            ),
            default=None,
        )
        if state is not None and state.watermark is not None:
            watermark = max(watermark or state.watermark, state.watermark)
        # An empty account keeps no watermark (the next poll lists every task, which costs one request): our
        # clock is not UltraCart's, and a watermark from ours, ahead, would skip the first tasks for good.
        if state is not None:
            baseline_at = state.baseline_at
        else:
            # created_dts is on UltraCart's clock: so is the baseline, when the account shows its clock (the
            # newest change is at or before UltraCart's "now"); ours may be ahead.
            reference = min(now.timestamp(), watermark) if watermark is not None else now.timestamp()
            baseline_at = reference - BASELINE_SKEW
        snapshot = await self.store.snapshot(self.fingerprint, list(seen)) if not baseline else {}
        changed: list[WorkflowTask] = []
        changes: list[Change] = []
        marks: dict[str, str] = {}
        start = datetime.fromtimestamp(baseline_at, UTC)
        for uuid, task in seen.items():
            old = snapshot.get(uuid)
            if old is not None and _older(task, old.task, believable):
                continue  # a stale answer (a lagging replica or index): no change back, no snapshot back
            if old is not None and old.content == content_of(task):
                continue  # unchanged (met again in the overlap): its overdue is the snapshot's, below
            changed.append(task)
            if not baseline:
                changes.extend(diff(old.task if old else None, task, baseline=start, seen_at=now))
            overdue = became_overdue(task, now, already=old.overdue_for if old else None)
            if overdue is not None:
                if baseline:
                    marks[uuid] = overdue.version  # overdue already: nobody is told about the past
                else:
                    changes.append(overdue)
        if not baseline:
            # Every other task is as the snapshot has it: a due date passing shows there, not in a search.
            taken = {task.workflow_task_uuid for task in changed}
            for snap in await self.store.overdue_candidates(self.fingerprint, now.timestamp()):
                uuid = snap.task.workflow_task_uuid or ""
                if uuid in taken:
                    continue
                overdue = became_overdue(snap.task, now, already=snap.overdue_for)
                if overdue is not None:
                    changes.append(overdue)
        committed = await self.store.commit(
            self.fingerprint,
            expected_version=state.version if state is not None else None,
            tasks=changed,
            changes=changes,
            overdue_marks=marks,
            watermark=watermark,
            baseline_at=baseline_at,
            interval=self.interval,
            leader=self.leader,
        )
        if not committed:
            LOG.info("change feed: another leader committed first; this poll is dropped")
        return PollResult(baseline, committed, calls, len(seen), changes if committed else [])


def _older(task: WorkflowTask, than: WorkflowTask, believable: float) -> bool:
    """``task`` is a version before ``than`` (both stamped; one second is no order: two versions share it).
    A ``than`` stamped beyond ``believable`` (bad data, see the watermark) orders nothing."""
    if task.last_update_dts is None or than.last_update_dts is None:
        return False
    return task.last_update_dts < than.last_update_dts and than.last_update_dts.timestamp() <= believable
