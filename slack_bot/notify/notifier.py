"""The change feed's consumer in the Slack bot: DMs to assignees, posts to subscribed channels.

``Notifier(deps)`` is called by the feed's runner as leader, after each poll: ``await notifier(store, fp)``.
Each call

1. plans: reads the feed's changes after its cursor (``notify_cursor``; a new deployment starts at the
   feed's newest change, so nobody hears about the past), groups them by task and version (one message per
   target for all the changes of one task in one poll), and inserts the deliveries into the outbox (each
   once, by its identity) and advances the cursor, in one transaction;
2. sends what is pending (:mod:`slack_bot.notify.outbox`): per channel in order, paced, retried.

Identities: ``dm:MEMBER:TASK:TAG:VERSION`` and ``ch:CHANNEL:TASK:TAG:VERSION:DIGEST`` (TAG ``v`` for a
task's version, its ``last_update_dts`` in Unix seconds; ``o`` for "became overdue", the due date that
passed; DIGEST: which changes, since two writes within a second share a version). A DM's identity has no
digest: the immediate DM to a new assignee (:func:`dm_identity`) knows only the task's version.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, update

from shared_client.feed.events import Change, ChangeKind
from shared_client.feed.store import FeedStore
from shared_client.models import WorkflowTask
from shared_client.tools.outputs import TaskDetail, detail
from slack_bot import text as t
from slack_bot.access import posts_allowed_in
from slack_bot.actors import identify, slack_user_for
from slack_bot.blocks import common as c
from slack_bot.blocks.card import card_text, task_card
from slack_bot.deps import Deps
from slack_bot.identity import TRUSTED
from slack_bot.notify.outbox import CHANNEL, DM, POST, REPLY, Delivery, Outbox, Row
from slack_bot.notify.subscriptions import Subscription, SubscriptionStore
from slack_bot.notify.tables import notify_cursor
from slack_bot.notify.writes import made_by, version_seconds
from slack_bot.store import group_memberships

log = logging.getLogger("slack_bot.notify")

__all__ = ["EVENT_TYPE", "Notifier", "dm_identity", "find_posted", "notification_metadata"]

EVENT_TYPE = "uc_workflow_notification"
# Slack errors no retry mends: the message is marked failed at once.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
        "user_not_found",
        "cannot_dm_bot",
        "account_inactive",
        "restricted_action",
        "invalid_metadata_format",
        "invalid_metadata_schema",
    }
)
RETENTION = 30 * 86400.0  # sent and failed notifications (and who made which version) are kept this long
PRUNE_EVERY = 3600.0

# Changes that take a task out of a subscription's filters: posted when the task matched before them.
SHUTDOWN_GRACE = 10.0  # seconds a stopping replica may take to finish the post it began

_REVERTIBLE = {
    ChangeKind.STATUS: "status",
    ChangeKind.CLOSED: "status",
    ChangeKind.REOPENED: "status",
    ChangeKind.PRIORITY: "priority",
    ChangeKind.DUE: "due_dts",
}


def _version_key(version: str | None) -> str:
    seconds = version_seconds(version)
    return str(seconds) if seconds is not None else version or ""


def _tag_version(change: Change) -> tuple[str, str]:
    return ("o" if change.kind == ChangeKind.OVERDUE else "v"), _version_key(change.version)


def dm_identity(member: str, task_uuid: str, version: str | None, *, tag: str = "v") -> str:
    """The identity of the DM to ``member`` about ``version`` of a task: the planner's, and what the
    immediate DM to a new assignee records, so that the feed's DM for the same assignment is the same
    notification (``tag``: "o" for an overdue reminder, whose version is the due date)."""
    return f"dm:{member}:{task_uuid}:{tag}:{_version_key(version)}"


def notification_metadata(identity: str) -> dict[str, Any]:
    """Slack message metadata naming the notification: how a post that did reach Slack is found again."""
    return {"event_type": EVENT_TYPE, "event_payload": {"id": identity}}


def _before(task: WorkflowTask, changes: Sequence[Change]) -> WorkflowTask | None:
    """The task as it was before these changes, as far as they say (status, priority, due date, the
    assignee)."""
    wire = task.to_wire()
    touched = False
    for change in changes:
        if change.kind in {ChangeKind.ASSIGNED, ChangeKind.UNASSIGNED}:
            touched = True  # the detail leaves out a None: neither id means it was unassigned
            wire["assigned_to_user_id"] = change.detail.get("was_user_id")
            wire["assigned_to_group_id"] = change.detail.get("was_group_id")
            continue
        field = _REVERTIBLE.get(change.kind)
        if field is None:
            continue
        touched = True
        was = change.detail.get("was")
        if was is None:
            wire.pop(field, None)
        else:
            wire[field] = was
    if not touched:
        return task
    try:
        return WorkflowTask.model_validate(wire)
    except ValueError:
        return None


def _digest(changes: Sequence[Change]) -> str:
    """Which changes a message tells: two writes within one second share a version (UltraCart's
    ``last_update_dts``), not their changes."""
    return hashlib.sha256("\n".join(sorted(ch.key for ch in changes)).encode()).hexdigest()[:12]


def _lines(changes: Sequence[Change]) -> list[str]:
    return [t.one_line(change.describe(), 500) for change in changes]


@dataclass
class _Planned:
    deliveries: list[Delivery]
    cursor: int


class Notifier:
    """The feed's consumer: ``await notifier(store, fingerprint)``. ``pace``: seconds between two posts
    to one channel (Slack allows about one a second); ``lease``: how long a claim (of a channel, of a
    message) holds before another replica may take it over; ``send_budget``: how long one call may spend
    sending (the rest waits for the next call, in the outbox)."""

    def __init__(
        self,
        deps: Deps,
        *,
        team_id: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        pace: float = 1.0,
        lease: float = 120.0,
        max_attempts: int = 5,
        retry_delay: float = 5.0,
        send_budget: float = 30.0,
        batch: int = 500,
        concurrency: int = 8,
        retention: float = RETENTION,
        name: str | None = None,
    ) -> None:
        self.deps = deps
        self.db = deps.identities.db
        self.team_id = team_id
        self.clock = clock
        self.sleep = sleep
        self.pace = pace
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.send_budget = send_budget
        self.batch = batch
        self.concurrency = concurrency
        self.retention = retention
        self._pruned_at = 0.0
        self.holder = name or f"notifier-{uuid.uuid4().hex[:12]}"
        self.outbox = Outbox(self.db, clock=clock, lease=lease)
        self.subscriptions = SubscriptionStore(self.db, clock=clock)

    async def __call__(self, store: FeedStore, fingerprint: str) -> None:
        team = await self.team()
        await self.plan(store, fingerprint, team)
        await self.send(store)
        if self.clock() - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = self.clock()
            await self.outbox.prune(self.clock() - self.retention)

    async def team(self) -> str:
        """The workspace the bot serves (``team_id``, else the bot's own: :meth:`Deps.team`)."""
        return self.team_id if self.team_id is not None else await self.deps.team()

    # ------------------------------------------------------------------ planning

    async def _cursor(self, store: FeedStore, fingerprint: str) -> int:
        async with self.db.connect() as conn:
            found = await conn.scalar(
                select(notify_cursor.c.last_id).where(notify_cursor.c.fingerprint == fingerprint)
            )
        if found is not None:
            return int(found)
        start = await store.last_change_id(fingerprint)  # nobody hears about what happened before us
        async with self.db.begin() as conn:
            await conn.execute(
                self.db.insert(notify_cursor)
                .values(fingerprint=fingerprint, last_id=start, updated_at=self.clock())
                .on_conflict_do_nothing(index_elements=["fingerprint"])
            )
        async with self.db.connect() as conn:
            return int(
                await conn.scalar(
                    select(notify_cursor.c.last_id).where(notify_cursor.c.fingerprint == fingerprint)
                )
                or 0
            )

    async def plan(self, store: FeedStore, fingerprint: str, team: str) -> int:
        """Plan every change after the cursor; how many deliveries were planned."""
        cursor = await self._cursor(store, fingerprint)
        planned = 0
        while True:
            batch = await store.changes_after(fingerprint, cursor, limit=self.batch)
            if not batch:
                return planned
            full = len(batch) >= self.batch
            if full:
                # A task's changes of one version stay together (one message): the last group may go on
                # in the next batch, so it waits for it.
                last = batch[-1][1]
                kept = [
                    (i, ch) for i, ch in batch if (ch.task_uuid, ch.version) != (last.task_uuid, last.version)
                ]
                batch = kept or batch
            deliveries = await self._plan(store, fingerprint, team, [ch for _, ch in batch])
            new_cursor = batch[-1][0]
            async with self.db.begin() as conn:
                moved = await conn.execute(
                    update(notify_cursor)
                    .where(notify_cursor.c.fingerprint == fingerprint, notify_cursor.c.last_id == cursor)
                    .values(last_id=new_cursor, updated_at=self.clock())
                )
                if moved.rowcount != 1:
                    await conn.rollback()  # another replica planned these already
                    return planned
                for delivery in deliveries:
                    result = await conn.execute(self.outbox.insert_statement(delivery))
                    planned += int(result.rowcount or 0)
            cursor = new_cursor
            if not full:
                return planned

    async def _plan(
        self, store: FeedStore, fingerprint: str, team: str, changes: Sequence[Change]
    ) -> list[Delivery]:
        groups: dict[tuple[str, str, str], list[Change]] = {}
        for change in changes:
            tag, version = _tag_version(change)
            groups.setdefault((change.task_uuid, tag, version), []).append(change)
        if not groups:
            return []
        uuids = [key[0] for key in groups]
        snapshots = await store.snapshot(fingerprint, uuids)
        subscriptions = await self.subscriptions.of_team(team)
        cards = await self.outbox.channels_with_cards(uuids) if subscriptions else set()
        now = datetime.fromtimestamp(self.clock(), UTC)
        deliveries: list[Delivery] = []
        for (task_uuid, tag, version), found in groups.items():
            snapshot = snapshots.get(task_uuid)
            if snapshot is None:
                continue
            task = snapshot.task
            view = detail(task, now)
            authors = await made_by(self.db, task_uuid, [found[0].version]) if tag == "v" else set()
            base = {"task": payload_task(view), "authors": sorted(authors)}
            for member, intro in (await self._dm_targets(team, found, authors)).items():
                others = [ch for ch in found if ch.kind not in {ChangeKind.ASSIGNED, ChangeKind.OVERDUE}]
                deliveries.append(
                    Delivery(
                        dm_identity(member, task_uuid, found[0].version, tag=tag),
                        team,
                        member,
                        DM,
                        task_uuid,
                        fingerprint,
                        {**base, "intro": intro, "lines": _lines(others)},
                    )
                )
            for channel, kinds in self._channel_targets(subscriptions, task, found, now, cards).items():
                wanted = [ch for ch in found if ch.kind in kinds]
                deliveries.append(
                    Delivery(
                        f"ch:{channel}:{task_uuid}:{tag}:{version}:{_digest(wanted)}",
                        team,
                        channel,
                        CHANNEL,
                        task_uuid,
                        fingerprint,
                        {**base, "lines": _lines(wanted)},
                    )
                )
        return deliveries

    async def _members_of_user(self, team: str, user_id: int, connected: dict[str, int]) -> list[str]:
        """The Slack members with a trusted identity for this UltraCart user: a connected key, an admin's
        link or an approved ``/task iam``; else the member whose Slack e-mail is the user's name."""
        found = [member for member, uid in sorted(connected.items()) if uid == user_id]
        found += await self.deps.identities.slack_users_for(team, user_id)
        if not found:
            by_email = await slack_user_for(self.deps, team, user_id)
            found = [by_email] if by_email else []
        return list(dict.fromkeys(found))

    async def _members_of_group(self, team: str, group_id: int, connected: dict[str, int]) -> list[str]:
        """The group's members who still have an identity (joining needs one; an admin's unlink or a
        disconnect takes it away, not the membership): a connected key, a trusted link, else their
        Slack e-mail (as :func:`identify` knows them)."""
        g = group_memberships.c
        query = (
            select(g.slack_user_id).where(g.team_id == team, g.group_id == group_id).order_by(g.slack_user_id)
        )
        async with self.db.connect() as conn:
            joined = [str(m) for m in await conn.scalars(query)]
        found = []
        for member in joined:
            if member not in connected:
                mapping = await self.deps.identities.get(team, member)
                if mapping is None or mapping.source not in TRUSTED:
                    actor = await identify(self.deps, team, member, required=False)
                    if actor.user is None:
                        continue
            found.append(member)
        return found

    def _group_name(self, group_id: int, change: Change) -> str:
        """The group's name: the change's, else the people cache's (no UltraCart call), else its id."""
        name = change.detail.get("to") if change.kind == ChangeKind.ASSIGNED else None
        latest = self.deps.tools.people.latest
        if not name and latest is not None:
            known = latest.group_by_id(group_id)
            name = known.group if known is not None else None
        return t.one_line(str(name or f"group {group_id}"), 100)

    async def _dm_targets(self, team: str, changes: Sequence[Change], authors: set[str]) -> dict[str, str]:
        """Member → the DM's first line: assigned to them (or their group), or overdue."""
        targets: dict[str, str] = {}
        connected: dict[str, int] | None = None
        by = f"<@{sorted(authors)[0]}> " if authors else ""
        for change in changes:
            if change.kind not in {ChangeKind.ASSIGNED, ChangeKind.OVERDUE}:
                continue
            user_id, group_id = change.detail.get("user_id"), change.detail.get("group_id")
            members: list[str] = []
            if (isinstance(user_id, int) or isinstance(group_id, int)) and connected is None:
                connected = await self.deps.connected_members(team)
            if isinstance(user_id, int):
                assert connected is not None
                members = await self._members_of_user(team, user_id, connected)
                whom = "you"
            elif isinstance(group_id, int):
                assert connected is not None
                members = await self._members_of_group(team, group_id, connected)
                whom = f"your group *{self._group_name(group_id, change)}*"
            else:
                continue
            if change.kind == ChangeKind.ASSIGNED:
                intro = (
                    f":inbox_tray: {by}assigned {whom} this task."
                    if by
                    else f":inbox_tray: This task was assigned to {whom}."
                )
            else:
                due = t.one_line(str(change.detail.get("due") or change.version)[:10], 20)
                of = "yours" if whom == "you" else whom
                intro = f":alarm_clock: This task of {of} is overdue (due {due})."
            for member in members:
                if member in authors:
                    continue  # nobody hears about their own change
                targets[member] = f"{targets[member]}\n{intro}" if member in targets else intro
        return targets

    def _channel_targets(
        self,
        subscriptions: Sequence[Subscription],
        task: WorkflowTask,
        changes: Sequence[Change],
        now: datetime,
        cards: set[tuple[str, str]],
    ) -> dict[str, set[ChangeKind]]:
        """Channel → the kinds of change it is told about (several subscriptions of one channel: one
        message). A task is posted when it matches the filters now, or matched them before the change
        (it was closed, its status or priority moved out of them); a reassignment away from the filters
        is posted in the thread of a card the channel already has."""
        targets: dict[str, set[ChangeKind]] = {}
        before: WorkflowTask | bool | None = False  # computed once, if needed
        reassigned = any(ch.kind in {ChangeKind.ASSIGNED, ChangeKind.UNASSIGNED} for ch in changes)
        for sub in subscriptions:
            kinds = {ch.kind for ch in changes if ch.kind in sub.kinds}
            if not kinds:
                continue
            matched = sub.filters.matches(task, now)
            if not matched and not any(ch.kind == ChangeKind.CREATED for ch in changes):
                if before is False:
                    before = _before(task, changes)
                if isinstance(before, WorkflowTask) and before is not task:
                    matched = sub.filters.matches(before, now)
                if not matched and reassigned:
                    matched = (sub.channel, task.workflow_task_uuid or "") in cards
            if matched and posts_allowed_in(self.deps, sub.channel):  # UC_WORKFLOW_SLACK_CHANNELS
                targets.setdefault(sub.channel, set()).update(kinds)
        return targets

    # ------------------------------------------------------------------ sending

    async def send(self, store: FeedStore | None = None) -> None:
        """Send what is pending, each channel in order, for at most ``send_budget`` seconds."""
        deadline = self.clock() + self.send_budget
        channels = await self.outbox.channels_with_work()
        if not channels:
            return
        # People before channels: a member's DM (a user or DM id) never waits behind channels' floods, each of
        # which may hold a sending slot for the whole budget.
        channels.sort(key=lambda channel: (not channel.startswith(("U", "W", "D")), channel))
        limit = asyncio.Semaphore(self.concurrency)

        async def one(channel: str) -> None:
            async with limit:
                await self._drain(store, channel, deadline)

        await asyncio.gather(*(one(channel) for channel in channels))

    async def _drain(self, store: FeedStore | None, channel: str, deadline: float) -> None:
        next_at = await self.outbox.lease_channel(channel, self.holder)
        if next_at is None:
            return  # another replica is posting there
        try:
            while self.clock() < deadline:
                row = await self.outbox.next_row(channel)
                if row is None or not self.outbox.due(row):
                    return
                posted = await self._deliver(store, row, next_at)
                if posted is None:
                    return  # failed: the channel's later posts wait (their order matters)
                if posted:
                    next_at = self.clock() + self.pace
                if not await self.outbox.renew_channel(channel, self.holder, next_at):
                    return
        finally:
            await self.outbox.release_channel(channel, self.holder)

    async def _task_view(self, store: FeedStore | None, row: Row) -> TaskDetail:
        if store is not None and row.fingerprint:
            task = await store.task(row.fingerprint, row.task_uuid)
            if task is not None:
                return detail(task, datetime.fromtimestamp(self.clock(), UTC))
        return TaskDetail.model_validate(row.payload["task"])

    async def _deliver(self, store: FeedStore | None, row: Row, next_at: float) -> bool | None:
        """Post one row: True when a message was posted, False when it was found posted already, None
        when it failed (to be retried, or failed for good)."""
        recovering = row.state != "pending"  # left sending by a process that died, maybe after posting
        # A try that failed may have reached Slack anyway (a dropped connection, a timeout): look first.
        look_first = recovering or row.attempts > 0
        mode, thread_ts = row.mode or POST, row.thread_ts
        if not recovering and row.kind == CHANNEL:
            thread_ts = await self.outbox.card(row.channel, row.task_uuid)
            mode = REPLY if thread_ts else POST
        if not await self.outbox.claim(row, self.holder, mode, thread_ts):
            return False
        # From the claim to its record, one piece: a replica stopping (SIGTERM, a deploy) finishes the post it
        # began and records it, rather than leave the row "sending" for another replica to wait out.
        work = asyncio.ensure_future(self._deliver_claimed(store, row, next_at, mode, thread_ts, look_first))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            done, _ = await asyncio.wait({work}, timeout=SHUTDOWN_GRACE)
            if not done:
                work.cancel()
                await self.outbox.give_back(row, self.holder)  # another replica looks in Slack, then posts
            raise

    async def _deliver_claimed(
        self,
        store: FeedStore | None,
        row: Row,
        next_at: float,
        mode: str,
        thread_ts: str | None,
        look_first: bool,
    ) -> bool | None:
        try:
            if look_first:
                since = (row.claimed_at or row.created_at) - 60.0
                found = await self._find_posted(
                    row.channel, row.identity, since, thread_ts if mode == REPLY else None
                )
                if found is not None:
                    log.info("notification %s had reached Slack already; not posted again", row.identity)
                    if row.kind == CHANNEL and mode == POST:
                        await self.outbox.remember_card(row.channel, row.task_uuid, found)
                    await self.outbox.sent(row, self.holder, found)
                    return False
            wait = next_at - self.clock()
            if wait > 0:
                await self.sleep(wait)
            view = await self._task_view(store, row)
            ts = await self._post(row, view, mode, thread_ts)
        except SlackApiError as exc:
            if exc.response.status_code == 429 or exc.response.get("error") == "ratelimited":
                await self._rate_limited(row, exc.response.headers.get("Retry-After"))
                return None
            await self._failed(row, str(exc.response.get("error") or f"HTTP {exc.response.status_code}"))
            return None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._failed(row, type(exc).__name__)
            return None
        if row.kind == CHANNEL and mode == POST and ts:
            await self.outbox.remember_card(row.channel, row.task_uuid, ts)
        await self.outbox.sent(row, self.holder, ts)
        if row.kind == CHANNEL and mode == REPLY and thread_ts:
            await self._update_card(row.channel, thread_ts, view, row)
        return True

    async def _failed(self, row: Row, error: str) -> None:
        attempts = row.attempts + 1
        if error in PERMANENT or attempts >= self.max_attempts:
            log.warning(
                "notification %s to %s failed after %d attempt(s) (%s); not retried",
                row.identity,
                row.channel,
                attempts,
                error,
            )
            await self.outbox.failed(row, self.holder, error, retry_at=None)
            return
        retry_at = self.clock() + self.retry_delay * 2 ** (attempts - 1)
        log.info("notification %s to %s failed (%s); retried later", row.identity, row.channel, error)
        await self.outbox.failed(row, self.holder, error, retry_at=retry_at)

    async def _rate_limited(self, row: Row, retry_after: Any) -> None:
        """Slack asked us to slow down (past the client's own retries): Slack's pacing, not a failed post,
        so it uses up none of the bounded attempts; tried again after its Retry-After."""
        try:
            wait = max(self.retry_delay, float(retry_after))
        except (TypeError, ValueError):
            wait = self.retry_delay
        log.info(
            "notification %s to %s rate limited by Slack; retried in %.0f s", row.identity, row.channel, wait
        )
        await self.outbox.failed(row, self.holder, "ratelimited", retry_at=self.clock() + wait, counted=False)

    def _who(self, row: Row) -> str:
        authors = row.payload.get("authors") or []
        return f" — <@{authors[0]}>" if authors else ""

    async def _post(self, row: Row, view: TaskDetail, mode: str, thread_ts: str | None) -> str | None:
        lines: list[str] = list(row.payload.get("lines") or [])
        meta = notification_metadata(row.identity)
        if row.kind == DM:
            intro = str(row.payload.get("intro") or "")
            if lines:
                intro += "\n" + t.truncate("Also: " + "; ".join(lines), 1500)
            blocks = task_card(view, self.deps.ultracart_url, intro=intro)
            text = t.truncate(
                f"{intro.splitlines()[0] if intro else ''} {card_text(view)}", c.MAX_MESSAGE_TEXT
            )
            answer = await self.deps.client.chat_postMessage(
                channel=row.channel, blocks=c.dump(blocks), text=text, metadata=meta
            )
            return str(answer.get("ts") or "") or None
        what = "; ".join(lines) or "changed"
        if mode == POST:
            activity = f":bell: {t.truncate(what, 1500)}{self._who(row)}"
            blocks = task_card(view, self.deps.ultracart_url, activity=activity)
            answer = await self.deps.client.chat_postMessage(
                channel=row.channel, blocks=c.dump(blocks), text=card_text(view), metadata=meta
            )
            return str(answer.get("ts") or "") or None
        reply = t.truncate(f":arrow_right: {what}{self._who(row)}", c.MAX_MESSAGE_TEXT)
        answer = await self.deps.client.chat_postMessage(
            channel=row.channel, thread_ts=thread_ts, text=reply, metadata=meta
        )
        return str(answer.get("ts") or "") or None

    async def _update_card(self, channel: str, ts: str, view: TaskDetail, row: Row) -> None:
        """The card in the channel shows the task as it is now, and what changed last."""
        lines = "; ".join(row.payload.get("lines") or []) or "changed"
        activity = f":bell: {t.truncate(lines, 1500)}{self._who(row)}"
        try:
            await self.deps.client.chat_update(
                channel=channel,
                ts=ts,
                blocks=c.dump(task_card(view, self.deps.ultracart_url, activity=activity)),
                text=card_text(view),
            )
        except SlackApiError as exc:  # the reply is posted; the card is refreshed by the next one
            log.info(
                "could not update the card of %s in %s (%s)",
                row.task_uuid,
                channel,
                exc.response.get("error"),
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("could not update the card of %s in %s (%s)", row.task_uuid, channel, type(exc).__name__)

    async def _find_posted(
        self, channel: str, identity: str, since: float, thread_ts: str | None
    ) -> str | None:
        return await find_posted(self.deps.client, channel, identity, since, thread_ts)


async def find_posted(
    client: Any, channel: str, identity: str, since: float, thread_ts: str | None = None
) -> str | None:
    """The ts of a message in ``channel`` (a member: the app's DM with them) whose metadata names
    ``identity`` (:func:`notification_metadata`), posted since ``since``; None if there is none."""
    if channel.startswith(("U", "W")):
        opened = await client.conversations_open(users=channel)
        channel = str((opened.get("channel") or {}).get("id") or channel)
    cursor: str | None = None
    for _ in range(5):  # a lease's worth of messages; more pages would be older than the claim
        if thread_ts:
            answer = await client.conversations_replies(
                channel=channel,
                ts=thread_ts,
                oldest=f"{since:.6f}",
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
        else:
            answer = await client.conversations_history(
                channel=channel,
                oldest=f"{since:.6f}",
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
        for message in answer.get("messages") or []:
            meta = message.get("metadata") or {}
            if (
                meta.get("event_type") == EVENT_TYPE
                and (meta.get("event_payload") or {}).get("id") == identity
            ):
                return str(message.get("ts") or "") or None
        cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "") or None
        if not cursor:
            return None
    return None


def payload_task(view: TaskDetail) -> dict[str, Any]:
    """The task as an outbox row keeps it (for a card when the feed's snapshot has no newer one): without
    its history, which only grows."""
    return view.model_copy(update={"history": []}).model_dump(mode="json")
