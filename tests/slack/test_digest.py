"""The daily digest (``/task digest on|off|HH:MM``) end to end: the command through signed HTTP requests,
the mock Slack Web API (its users' ``tz``), a real database (an SQLite file; PostgreSQL for two replicas),
tasks in a real change feed store, and an injected clock.

The digest's contents come from the feed's snapshot: the tasks here are committed with the feed's own
API (``FeedStore.commit``), as a poll would; App Home's test uses the sandbox's tasks, as App Home does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from mock_slack import Call
from slack_harness import TEAM, Bot, MakeBot, sandbox_client

from shared_client.feed.events import Change, ChangeKind
from shared_client.feed.lease import FileLease
from shared_client.feed.poller import ChangeFeed
from shared_client.feed.runner import FeedRunner
from shared_client.feed.store import FeedStore
from shared_client.models import WorkflowTask, WorkflowTasksRequest
from shared_client.sandbox import SandboxConfig
from shared_client.tools import get_tool
from slack_bot import grammar, ids
from slack_bot.digest.command import when
from slack_bot.digest.sender import Digests
from slack_bot.digest.store import DigestSetting, next_digest, zone_name, zone_named
from slack_bot.store import sqlite_url

FP = "feed-of-the-workspace-key"
NAMES = {1001: "Demo Owner", 1002: "Alice Carter", 1003: "Sam Lee", 1004: "Priya Natarajan"}
GROUPS = {201: "Customer Service", 202: "Accounts Receivable"}
ACCEPTED = "on, off, or a time such as 09:00, 17:30, 9am or 5:30pm"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Clock:
    """Now, as the bot sees it (``/task digest``, the digests and the feed store share it)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def unix(self) -> float:
        return self.now.timestamp()


def task(
    number: int,
    *,
    user: int | None = None,
    group: int | None = None,
    due: datetime | None = None,
    status: str = "open",
    updated: datetime | None = None,
) -> WorkflowTask:
    return WorkflowTask(
        workflow_task_uuid=f"00000000-0000-4000-8000-{number:012d}",
        global_task_number=number,
        task_name=f"Digest task {number}",
        status=status,
        assigned_to_user_id=user,
        assigned_to_user=NAMES.get(user) if user is not None else None,
        assigned_to_group_id=group,
        assigned_to_group=GROUPS.get(group) if group is not None else None,
        due_dts=due,
        created_dts=utc("2026-11-01T00:00:00"),
        last_update_dts=updated or utc("2026-11-20T00:00:00"),
    )


def assigned(t: WorkflowTask, version: str) -> Change:
    """The feed's ``assigned`` change for ``t``'s current assignee (``version``: when it was seen)."""
    detail: dict[str, Any] = {"to": t.assigned_to_user or t.assigned_to_group}
    if t.assigned_to_user_id is not None:
        detail["user_id"] = t.assigned_to_user_id
    if t.assigned_to_group_id is not None:
        detail["group_id"] = t.assigned_to_group_id
    return Change(t.workflow_task_uuid or "", ChangeKind.ASSIGNED, version, detail)


async def poll(
    store: FeedStore, tasks: Sequence[WorkflowTask], changes: Sequence[Change] = (), *, at: datetime
) -> None:
    """One committed poll of the feed at ``at`` (the store's clock must say ``at``)."""
    state = await store.state(FP)
    committed = await store.commit(
        FP,
        expected_version=state.version if state is not None else None,
        tasks=tasks,
        changes=changes,
        watermark=None,
        baseline_at=utc("2026-11-01T00:00:00").timestamp(),
        interval=60.0,
        leader="test",
    )
    assert committed, f"the poll at {at} was not committed"


def feed_of(bot: Bot, clock: Clock) -> FeedStore:
    return FeedStore(bot.deps.identities.db, clock=clock.unix)


def with_clock(bot: Bot, clock: Clock) -> Digests:
    bot.deps.digest_settings.clock = clock
    return Digests(bot.deps)


def set_zone(bot: Bot, member: str, tz: str, offset: int = 0) -> None:
    bot.slack.users[member].tz = tz
    bot.slack.users[member].tz_offset = offset


async def command(bot: Bot, text: str, user: str = "UALICE") -> str:
    """``/task TEXT``'s answer (ephemeral, through the response_url): its text."""
    reply, name = await bot.command(text, user=user)
    assert reply.status == 200
    answer = await bot.response(name)
    assert answer.args.get("response_type") == "ephemeral"
    return json.dumps(answer.args.get("blocks"), ensure_ascii=False)


def dms(bot: Bot, member: str, after: int = 0) -> list[Call]:
    return [c for c in bot.slack.of("chat.postMessage")[after:] if c.args.get("channel") == member]


def lists_of(blocks: list[dict[str, Any]], *, names: bool = False) -> dict[str, list[str]]:
    """A digest (or App Home): each list's title → the tasks under it, in order: their numbers (``#12``),
    or their names."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for block in blocks:
        text = str((block.get("text") or {}).get("text") or "")
        if block.get("type") == "header":
            current = text
            found[current] = []
        elif block.get("type") == "section" and str(block.get("block_id") or "").startswith(ids.ROW + ":"):
            assert current is not None
            title = text.split("\n")[0]  # "*#12* Digest task 12"
            found[current].append(title.split("* ", 1)[1] if names else title.split("*")[1])
        elif block.get("type") == "section" and text.startswith("*:"):
            current = text.split("*")[1].split(" ", 1)[1]  # "*:calendar: Due today* (2)" → "Due today"
            found[current] = []
    return found


def to_alice(uuid: str, version: str) -> Change:
    return Change(uuid, ChangeKind.ASSIGNED, version, {"to": NAMES[1002], "user_id": 1002})


# ---------------------------------------------------------------------- the grammar


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ("digest", grammar.DigestSetting("show")),
        ("digest on", grammar.DigestSetting("on")),
        ("digest OFF", grammar.DigestSetting("off")),
        ("digest 09:00", grammar.DigestSetting("at", (9, 0))),
        ("digest 9:30", grammar.DigestSetting("at", (9, 30))),
        ("digest 17:45", grammar.DigestSetting("at", (17, 45))),
        ("digest 0:00", grammar.DigestSetting("at", (0, 0))),
        ("digest 8am", grammar.DigestSetting("at", (8, 0))),
        ("digest 5:30pm", grammar.DigestSetting("at", (17, 30))),
        ("digest 5:30 PM", grammar.DigestSetting("at", (17, 30))),
        ("digest 12am", grammar.DigestSetting("at", (0, 0))),
        ("digest 12pm", grammar.DigestSetting("at", (12, 0))),
    ],
)
def test_the_times_digest_accepts(typed: str, parsed: grammar.DigestSetting) -> None:
    assert grammar.parse(typed) == parsed


@pytest.mark.parametrize(
    "typed", ["digest 25:00", "digest 9:75", "digest 13pm", "digest lunch", "digest 0am"]
)
def test_a_bad_time_is_a_usage_error_naming_what_is_accepted(typed: str) -> None:
    parsed = grammar.parse(typed)
    assert isinstance(parsed, grammar.UsageError)
    assert "is not a digest setting" in parsed.message and ACCEPTED in parsed.message
    assert parsed.usage == grammar.USAGE["digest"]


def test_time_zones_are_stored_by_name_and_read_back() -> None:
    for name in ("America/New_York", "Asia/Tokyo", "UTC+05:30", "UTC-03:00"):
        assert zone_name(zone_named(name)) == name
    assert zone_name(None) == "UTC" and zone_named("Not/AZone") == UTC


def test_when_the_next_digest_goes_out() -> None:
    tokyo = DigestSetting(TEAM, "U1", True, (9, 0), "Asia/Tokyo")
    morning = utc("2026-11-30T23:00:00")  # 08:00 on 1 December in Tokyo
    assert when(next_digest(tokyo, morning), morning) == "today at 09:00"
    evening = utc("2026-12-01T12:00:00")  # 21:00 in Tokyo: today's is due, not claimed yet
    assert when(next_digest(tokyo, evening), evening) == "within a minute"
    done = DigestSetting(TEAM, "U1", True, (9, 0), "Asia/Tokyo", last_date=date(2026, 12, 1))
    assert when(next_digest(done, morning), morning) == "tomorrow at 09:00"
    assert when(next_digest(done, evening), evening) == "tomorrow at 09:00"
    friday = utc("2026-12-03T12:00:00")
    assert (
        when(datetime(2026, 12, 5, 9, 0, tzinfo=zone_named("Asia/Tokyo")), friday)
        == "on Saturday 5 December at 09:00"
    )


# ---------------------------------------------------------------------- when it goes out


async def test_the_digest_goes_out_at_each_members_local_time_and_not_before(bot: Bot) -> None:
    clock = Clock(utc("2026-12-01T12:00:00"))  # 07:00 in New York, 21:00 in Tokyo
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    set_zone(bot, "UALICE", "America/New_York", -18000)
    set_zone(bot, "USAM", "Asia/Tokyo", 32400)

    alice = await command(bot, "digest on", user="UALICE")
    assert "today at 09:00" in alice and "America/New_York" in alice
    sam = await command(bot, "digest on", user="USAM")
    assert "tomorrow at 09:00" in sam and "Asia/Tokyo" in sam  # today's 09:00 has passed there

    await poll(
        store,
        [
            task(1, user=1002, due=utc("2026-11-30T12:00:00")),
            task(2, user=1003, due=utc("2026-11-29T12:00:00")),
        ],
        at=clock.now,
    )
    mark = bot.slack.mark()
    calls_before = bot.deps.tools.client.requests_sent

    clock.now = utc("2026-12-01T13:59:00")  # 08:59 in New York
    await digests(store, FP)
    assert bot.slack.of("chat.postMessage")[mark:] == []

    clock.now = utc("2026-12-01T14:00:00")  # 09:00 in New York, 23:00 in Tokyo
    await digests(store, FP)
    [to_alice] = dms(bot, "UALICE")
    assert lists_of(to_alice.blocks) == {"Overdue": ["#1"]}
    assert "Tuesday 1 December" in to_alice.args["text"] and "1 overdue" in to_alice.args["text"]
    assert dms(bot, "USAM") == []

    # One UTC instant: 09:00 on 2 December in Tokyo, 19:00 on 1 December in New York.
    clock.now = utc("2026-12-02T00:00:00")
    await digests(store, FP)
    [to_sam] = dms(bot, "USAM")
    assert lists_of(to_sam.blocks) == {"Overdue": ["#2"]}
    assert "Wednesday 2 December" in to_sam.args["text"]
    assert len(dms(bot, "UALICE")) == 1
    assert bot.deps.tools.client.requests_sent == calls_before  # no UltraCart call


async def test_once_a_day_across_a_restart_and_again_the_next_day(make_bot: MakeBot, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "bot.sqlite3")
    clock = Clock(utc("2026-12-01T10:00:00"))  # 05:00 in New York
    first = await make_bot(database_url=url)
    digests = with_clock(first, clock)
    set_zone(first, "UALICE", "America/New_York", -18000)
    assert "today at 09:30" in await command(first, "digest 9:30")
    store = feed_of(first, clock)
    eleven = task(11, user=1002, due=utc("2026-12-09T12:00:00"))
    await poll(store, [eleven], [assigned(eleven, "2026-12-01T10:00:00+00:00")], at=clock.now)

    clock.now = utc("2026-12-01T14:30:00")  # 09:30 in New York
    await digests(store, FP)
    [day_one] = dms(first, "UALICE")
    assert lists_of(day_one.blocks) == {"Newly assigned": ["#11"]}
    await digests(store, FP)
    clock.now = utc("2026-12-01T20:00:00")
    await digests(store, FP)
    assert len(dms(first, "UALICE")) == 1  # once that day

    # A restart: another process on the same database.
    second = await make_bot(database_url=url)
    again = with_clock(second, clock)
    store = feed_of(second, clock)
    clock.now = utc("2026-12-01T21:00:00")
    await again(store, FP)
    assert dms(second, "UALICE") == []

    twelve = task(12, user=1002, due=utc("2026-12-10T12:00:00"))
    clock.now = utc("2026-12-01T22:00:00")
    await poll(store, [twelve], [assigned(twelve, "2026-12-01T22:00:00+00:00")], at=clock.now)
    clock.now = utc("2026-12-02T14:29:00")
    await again(store, FP)
    assert dms(second, "UALICE") == []
    clock.now = utc("2026-12-02T14:30:00")  # the next day, 09:30 in New York
    await again(store, FP)
    [day_two] = dms(second, "UALICE")
    # Newly assigned since the previous digest: #11 was told yesterday (and is not due yet).
    assert lists_of(day_two.blocks) == {"Newly assigned": ["#12"]}


async def test_two_replicas_on_postgresql_send_each_digest_once(make_bot: MakeBot, postgres_url: str) -> None:
    clock = Clock(utc("2026-12-01T08:00:00"))
    one = await make_bot(database_url=postgres_url)
    two = await make_bot(database_url=postgres_url)
    members = {"UOWNER": 1001, "UALICE": 1002, "USAM": 1003, "UPRIYA": 1004}
    first, second = with_clock(one, clock), with_clock(two, clock)
    for member in members:
        assert "today at 09:00" in await command(one, "digest on", user=member)
    store_one, store_two = feed_of(one, clock), feed_of(two, clock)
    await poll(
        store_one,
        [task(20 + n, user=uid, due=utc("2026-11-30T00:00:00")) for n, uid in enumerate(members.values())],
        at=clock.now,
    )
    clock.now = utc("2026-12-01T09:00:00")
    for _ in range(3):  # the replicas at once, again and again
        await asyncio.gather(first(store_one, FP), second(store_two, FP))
    sent = [c.args["channel"] for bot in (one, two) for c in bot.slack.of("chat.postMessage")]
    assert sorted(sent) == sorted(members)


async def test_a_digest_slack_refused_is_retried_a_bounded_number_of_times(bot: Bot) -> None:
    clock = Clock(utc("2026-12-01T08:00:00"))
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    await command(bot, "digest on")
    await poll(store, [task(30, user=1002, due=utc("2026-11-30T00:00:00"))], at=clock.now)
    bot.slack.fail["chat.postMessage"] = "fatal_error"
    clock.now = utc("2026-12-01T09:00:00")
    await digests(store, FP)
    clock.now = utc("2026-12-01T09:04:00")  # within the retry delay: not again yet
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 1  # the refused attempt
    clock.now = utc("2026-12-01T09:06:00")
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 2
    del bot.slack.fail["chat.postMessage"]
    clock.now = utc("2026-12-01T09:12:00")
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 3  # the third attempt went through
    clock.now = utc("2026-12-01T10:00:00")
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 3

    # Refused every time: three attempts that day, then no more.
    bot.slack.fail["chat.postMessage"] = "fatal_error"
    for minute in range(0, 60, 6):
        clock.now = utc("2026-12-02T09:00:00") + timedelta(minutes=minute)
        await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 6


async def test_off_stops_it_and_on_keeps_the_earlier_time(bot: Bot) -> None:
    clock = Clock(utc("2026-12-01T06:00:00"))
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    assert "today at 07:15" in await command(bot, "digest 7:15")
    await poll(store, [task(40, user=1002, due=utc("2026-11-30T00:00:00"))], at=clock.now)
    clock.now = utc("2026-12-01T07:15:00")
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 1

    off = await command(bot, "digest off")
    assert "*off*" in off and "`/task digest on` starts it again at 07:15" in off
    clock.now = utc("2026-12-02T07:15:00")
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 1
    assert "*off*" in await command(bot, "digest")

    clock.now = utc("2026-12-03T06:00:00")
    assert "today at 07:15" in await command(bot, "digest on")  # the earlier time
    assert "*on* at 07:15" in await command(bot, "digest")
    clock.now = utc("2026-12-03T07:15:00")
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 2


async def test_a_time_that_has_passed_today_starts_tomorrow(bot: Bot) -> None:
    clock = Clock(utc("2026-12-01T10:00:00"))
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    await poll(store, [task(45, user=1002, due=utc("2026-11-30T00:00:00"))], at=clock.now)
    assert "tomorrow at 09:00" in await command(bot, "digest 9am")
    await digests(store, FP)
    assert dms(bot, "UALICE") == []
    assert "today at 17:30" in await command(bot, "digest 5:30pm")  # today's is still to come
    clock.now = utc("2026-12-01T17:30:00")
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 1
    assert "tomorrow at 08:00" in await command(bot, "digest 8am")  # today's was sent


async def test_a_bad_time_is_refused_clearly_and_changes_nothing(bot: Bot) -> None:
    for typed in ("digest 25:00", "digest 9:75", "digest lunchtime"):
        answer = await command(bot, typed)
        assert "is not a digest setting" in answer and ACCEPTED in answer
        assert "/task digest on|off|HH:MM" in answer
    assert await bot.deps.digest_settings.get(TEAM, "UALICE") is None


# ---------------------------------------------------------------------- what it lists


async def test_the_lists_overdue_due_today_newly_assigned_with_group_tasks(bot: Bot) -> None:
    clock = Clock(utc("2026-12-01T11:00:00"))  # 06:00 in New York
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    set_zone(bot, "UALICE", "America/New_York", -18000)
    await bot.deps.identities.join(TEAM, "UALICE", 201)
    assert "today at 09:00" in await command(bot, "digest on")
    await command(bot, "digest on", user="UPRIYA")  # nothing is Priya's: no DM
    await command(bot, "digest on", user="UTOM")  # known only by e-mail: no trusted identity, no DM
    # 3 days ago: #57 assigned to Alice long before this digest's window.
    old = task(57, user=1002, due=utc("2026-12-20T00:00:00"))
    clock.now = utc("2026-11-28T11:00:00")
    await poll(store, [old], [assigned(old, "2026-11-28T11:00:00+00:00")], at=clock.now)

    tasks = {
        50: task(50, user=1002, due=utc("2026-11-30T15:00:00")),  # overdue
        51: task(51, user=1002, due=utc("2026-12-01T20:00:00")),  # due today (15:00 in New York)
        # 03:00 UTC on 2 December is 22:00 on 1 December in New York: due today there.
        52: task(52, user=1002, due=utc("2026-12-02T03:00:00")),
        53: task(53, group=201, due=utc("2026-12-01T22:00:00")),  # a group task nobody took: due today
        54: task(54, user=1003, group=201, due=utc("2026-12-01T22:00:00")),  # Sam took it: not Alice's
        55: task(55, user=1002, due=utc("2026-11-25T00:00:00"), status="closed"),  # closed
        56: task(56, user=1002, due=utc("2026-12-09T00:00:00")),  # newly assigned, due next week
        58: task(58, user=1003, due=utc("2026-12-01T20:00:00")),  # was assigned to Alice, then to Sam
        59: task(59, group=201, due=utc("2026-12-09T00:00:00")),  # newly assigned to her group
        60: task(60, user=1002, due=utc("2026-12-02T06:00:00")),  # 01:00 on 2 December there: tomorrow
        61: task(61, user=1002, due=utc("2026-11-29T00:00:00")),  # overdue and newly assigned: overdue
    }
    moved = task(58, user=1002)
    clock.now = utc("2026-12-01T08:00:00")
    await poll(
        store,
        list(tasks.values()),
        [
            assigned(tasks[56], "2026-12-01T08:00:00+00:00"),
            assigned(moved, "2026-12-01T07:00:00+00:00"),
            assigned(tasks[58], "2026-12-01T07:30:00+00:00"),
            assigned(tasks[59], "2026-12-01T08:00:00+00:00"),
            assigned(tasks[61], "2026-12-01T08:00:00+00:00"),
        ],
        at=clock.now,
    )
    calls_before = bot.deps.tools.client.requests_sent
    clock.now = utc("2026-12-01T14:00:00")  # 09:00 in New York
    await digests(store, FP)
    [digest] = dms(bot, "UALICE")
    assert lists_of(digest.blocks) == {
        "Overdue": ["#61", "#50"],
        "Due today": ["#51", "#53", "#52"],
        "Newly assigned": ["#59", "#56"],
    }
    assert (
        digest.args["text"] == "Your tasks for Tuesday 1 December: 2 overdue, 3 due today, 2 newly assigned"
    )
    footer = json.dumps(digest.blocks[-1])
    assert "/task digest off" in footer
    shows = [
        b["accessory"] for b in digest.blocks if (b.get("accessory") or {}).get("action_id") == ids.SHOW_TASK
    ]
    assert [s["value"] for s in shows][:1] == [tasks[61].workflow_task_uuid]
    assert dms(bot, "UPRIYA") == [] and dms(bot, "UTOM") == []
    assert bot.deps.tools.client.requests_sent == calls_before  # the feed's snapshot only


async def test_app_home_shows_the_same_lists_with_no_more_ultracart_calls(bot: Bot) -> None:
    # Alice's clock reads about noon, whatever the time of the test: "due today" is then unambiguous.
    now = datetime.now(UTC)
    offset = round((12 * 3600 - (now.hour * 3600 + now.minute * 60)) / 900) * 900
    offset = (offset + 12 * 3600) % (24 * 3600) - 12 * 3600
    set_zone(bot, "UALICE", "America/New_York", -18000)
    assert "*on* at 09:00 (America/New_York)" in await command(bot, "digest on")
    set_zone(bot, "UALICE", "", offset)  # Alice travelled: Slack has only her offset now
    bot.deps.profiles.pop("UALICE")  # (her profile is asked again at the next look, as after 10 minutes)
    create = get_tool("create_task")

    async def made(name: str, due: datetime) -> str:
        out = await create.run(bot.ctx, {"name": name, "assignee": "user:1002", "due": due.isoformat()})
        return str(out.task.uuid)  # type: ignore[attr-defined]

    await made("Home overdue one", now - timedelta(hours=2))
    await made("Home due today", now + timedelta(hours=2))
    fresh = await made("Home newly assigned", now + timedelta(days=7))
    later = await made("Home for next week", now + timedelta(days=8))

    async def home() -> dict[str, list[str]]:
        mark = bot.slack.mark()
        await bot.event({"type": "app_home_opened", "user": "UALICE", "tab": "home"})
        view = (await bot.slack.wait_for("views.publish", after=mark)).args["view"]
        assert len(view["blocks"]) <= 100
        return lists_of(view["blocks"], names=True)

    before = bot.deps.tools.client.requests_sent
    without_feed = await home()
    calls_without_feed = bot.deps.tools.client.requests_sent - before
    assert "Home overdue one" in without_feed["Overdue"]
    assert "Home due today" in without_feed["Due today"]
    assert "Newly assigned" not in without_feed  # no change feed here: not known
    moved = await bot.deps.digest_settings.get(TEAM, "UALICE")
    assert moved is not None and moved.zone_name == zone_name(timezone(timedelta(seconds=offset)))

    clock = Clock(now)
    store = FeedStore(bot.deps.identities.db, clock=clock.unix)
    bot.deps.feed, bot.deps.feed_fingerprint = store, FP
    clock.now = now - timedelta(hours=30)
    await poll(store, [], [to_alice(later, "2026-01-01T00:00:00+00:00")], at=clock.now)
    clock.now = now - timedelta(minutes=5)
    await poll(store, [], [to_alice(fresh, "2026-01-02T00:00:00+00:00")], at=clock.now)

    before = bot.deps.tools.client.requests_sent
    with_feed = await home()
    assert bot.deps.tools.client.requests_sent - before == calls_without_feed  # the same UltraCart calls
    assert "Home overdue one" in with_feed["Overdue"]
    assert "Home due today" in with_feed["Due today"]
    assert with_feed["Newly assigned"] == ["Home newly assigned"]  # the one of 30 hours ago is not new
    mine = with_feed["Your open tasks"]
    assert "Home for next week" in mine
    assert not {"Home overdue one", "Home due today", "Home newly assigned"} & set(mine)  # listed above

    # A digest row's "Show" button: the task's card.
    action = {"action_id": ids.SHOW_TASK, "value": fresh, "type": "button", "block_id": f"{ids.ROW}:{fresh}"}
    _, name = await bot.block_action(action, channel="DALICE")
    card = await bot.response(name)
    assert "Home newly assigned" in json.dumps(card.args.get("blocks"))


# ---------------------------------------------------------------------- with the feed's own runner


async def test_a_task_assigned_in_ultracart_is_in_the_next_digest(bot: Bot, tmp_path: Path) -> None:
    """The real feed on the sandbox: a baseline, then Sam assigns a task to Alice with his own key (as
    UltraCart's screens would); the runner's next round hands it to the digests, due an hour later."""
    now = datetime.now(UTC)
    offset = round((12 * 3600 - (now.hour * 3600 + now.minute * 60)) / 900) * 900
    offset = (offset + 12 * 3600) % (24 * 3600) - 12 * 3600
    set_zone(bot, "UALICE", "", offset)  # about noon for Alice, whatever the time of the test
    clock = Clock(now)
    digests = with_clock(bot, clock)
    assert "today at 12:30" in await command(bot, "digest 12:30")

    client = bot.deps.tools.client
    feed = ChangeFeed(client, FeedStore(bot.deps.identities.db), interval=60, leader="test")
    runner = FeedRunner(feed, FileLease(tmp_path, client.fingerprint), consumers=[digests])
    first = await runner.run_round()
    assert first.leader and first.result is not None and first.result.baseline
    assert dms(bot, "UALICE") == []

    page = await client.search_tasks(WorkflowTasksRequest(status="open"), limit=100)
    target = next(t for t in page.tasks or [] if t.assigned_to_user_id != 1002 and t.due_dts is None)
    sam = sandbox_client(SandboxConfig(db_path=bot.db, rate_limit=None), api_key="user:sam@demo.example")
    bot.cleanups.append(sam.aclose)
    uuid = target.workflow_task_uuid or ""
    current = (await sam.get_task(uuid)).task
    assert current is not None
    current.assigned_to_user_id, current.assigned_to_group_id = 1002, None
    await sam.update_task(uuid, current)

    clock.now = now + timedelta(hours=1)  # about 13:00 for Alice: her 12:30 digest is due
    second = await runner.run_round()
    assert second.result is not None and any(c.kind == ChangeKind.ASSIGNED for c in second.result.changes)
    [digest] = dms(bot, "UALICE")
    assert lists_of(digest.blocks)["Newly assigned"] == [f"#{target.global_task_number}"]
    await runner.run_round()
    assert len(dms(bot, "UALICE")) == 1
