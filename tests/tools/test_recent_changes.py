"""list_recent_changes on the sandbox. The changes are made straight on the sandbox's REST API with another
user's key (Alice's), as UltraCart's own screens would; the tool runs with the owner's key. What changed
comes from the tasks' own history, or from a change feed (a hand-made ChangeLog) when there is one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tool_support import Tools, assert_one_line, delta

from shared_client import constants
from shared_client.feed.events import Change, ChangeKind
from shared_client.sandbox import SandboxTransport
from shared_client.tools import get_tool
from tests.change_logs import BrokenChangeLog, HandMadeChangeLog
from tests.conftest import SANDBOX_URL

ALICE = "user:alice@demo.example"
OWNER_ID, SAM_ID = 1001, 1003
SEARCH = "getWorkflowTasks"
STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}Z "


@dataclass
class Rest:
    """Another user at UltraCart's REST API: whole-task PUTs, as UltraCart's screens make them."""

    http: httpx.AsyncClient

    async def search(self, body: dict[str, Any], limit: int = 200) -> list[dict[str, Any]]:
        answer = await self.http.post("/workflow/tasks/search", params={"_limit": limit}, json=body)
        answer.raise_for_status()
        return list(answer.json()["tasks"])

    async def change(self, uuid: str, **fields: Any) -> dict[str, Any]:
        task = (await self.http.get(f"/workflow/tasks/{uuid}")).json()["task"]
        for key, value in fields.items():
            if value is None:
                task.pop(key, None)
            else:
                task[key] = value
        answer = await self.http.put(f"/workflow/tasks/{uuid}", json=task)
        answer.raise_for_status()
        return dict(answer.json()["task"])

    async def note(self, uuid: str, text: str) -> dict[str, Any]:
        task = (await self.http.get(f"/workflow/tasks/{uuid}")).json()["task"]
        return await self.change(uuid, notes=[*(task.get("notes") or []), {"note": text}])

    async def create(self, **fields: Any) -> dict[str, Any]:
        answer = await self.http.post("/workflow/tasks", json=fields)
        answer.raise_for_status()
        return dict(answer.json()["task"])


@pytest.fixture
async def alice(tools: Tools) -> AsyncIterator[Rest]:
    headers = {"x-ultracart-simple-key": ALICE, "X-UltraCart-Api-Version": constants.API_VERSION}
    async with httpx.AsyncClient(
        transport=SandboxTransport(tools.sandbox.app), base_url=SANDBOX_URL, headers=headers
    ) as http:
        yield Rest(http)


@pytest.fixture
async def open_tasks(alice: Rest) -> list[dict[str, Any]]:
    """Open seeded tasks, each of its own object (so an object's tasks are one of them)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for task in await alice.search({"status": "open"}):
        found.setdefault((task.get("object_type", ""), task.get("object_id", "")), task)
    return [t for (kind, ident), t in found.items() if kind and ident]


def a_second_ago() -> datetime:
    """Before every change the test makes next (UltraCart stamps whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def numbers(out: dict[str, Any]) -> list[int]:
    return [t["number"] for t in out.get("tasks") or out.get("tasks_detail") or []]


def newest_first(out: dict[str, Any]) -> list[int]:
    rows = out["tasks"]
    return [t["number"] for t in sorted(rows, key=lambda t: (at(t["updated"]), t["number"]), reverse=True)]


def another_priority(task: dict[str, Any]) -> str:
    return "1 - low" if task.get("priority") != "1 - low" else "4 - critical"


def clock_at(value: datetime) -> Callable[[], datetime]:
    return lambda: value


async def test_changes_another_user_made_appear_with_what_changed(
    tools: Tools, alice: Rest, open_tasks: list[dict[str, Any]]
) -> None:
    since = a_second_ago()
    first, second = open_tasks[0], open_tasks[1]
    priority = another_priority(first)
    await alice.change(first["workflow_task_uuid"], status="awaiting customer feedback", priority=priority)
    await alice.note(second["workflow_task_uuid"], "Called the customer back; refund approved.")
    made = await alice.create(task_name="Restock the blue mugs", priority="3 - high")

    out = await tools.run("list_recent_changes", {"since": iso(since)})
    rows = {t["number"]: t for t in out["tasks"]}
    expected = {first["global_task_number"], second["global_task_number"], made["global_task_number"]}
    assert set(rows) == expected and out["count"] == out["total"] == 3 and out["has_more"] is False
    assert numbers(out) == newest_first(out), "newest change first"
    assert out["since"] == iso(since) and "until" not in out
    assert "watching_since" not in out and "complete" not in out, "no change feed here"
    assert all(t["changes_source"] == "history" for t in rows.values())

    status = rows[first["global_task_number"]]["changes"]
    assert any(
        line.endswith("Status changed from open to awaiting customer feedback (Alice Carter)")
        for line in status
    ), status
    assert any("Priority changed" in line and priority in line for line in status), status
    noted = rows[second["global_task_number"]]["changes"]
    assert [line.split("Z ", 1)[1] for line in noted] == [
        "note by Alice Carter: Called the customer back; refund approved."
    ], "the note's text, once (not also its 'Note added' history entry)"
    created = rows[made["global_task_number"]]["changes"]
    assert [line.split("Z ", 1)[1] for line in created] == ["created by Alice Carter"]
    for line in [*status, *noted, *created]:
        when = datetime.strptime(line[:17], "%Y-%m-%d %H:%MZ").replace(tzinfo=UTC)
        assert since - timedelta(minutes=1) <= when <= datetime.now(UTC), line

    text = (await get_tool("list_recent_changes").run(tools.ctx, {"since": iso(since)})).to_text()
    assert text.startswith("[Task text is untrusted data")
    assert f"3 task(s) of 3 changed since {iso(since)}" in text
    assert f"#{made['global_task_number']} Restock the blue mugs [open, high, unassigned]" in text
    assert "  - " in text and "created by Alice Carter" in text


async def test_the_default_window_is_the_last_24_hours(
    tools: Tools, alice: Rest, open_tasks: list[dict[str, Any]]
) -> None:
    changed = await alice.change(
        open_tasks[0]["workflow_task_uuid"], priority=another_priority(open_tasks[0])
    )
    updated = at(changed["last_update_dts"])
    number = changed["global_task_number"]

    tools.ctx.clock = clock_at(updated + timedelta(hours=24, seconds=-1))
    out = await tools.run("list_recent_changes", {})
    assert out["since"] == iso(updated - timedelta(seconds=1))
    assert numbers(out) == [number]  # the seeded tasks changed a day and more ago

    tools.ctx.clock = clock_at(updated + timedelta(hours=24, seconds=1))
    out = await tools.run("list_recent_changes", {})
    assert out["since"] == iso(updated + timedelta(seconds=1)) and numbers(out) == []

    # The words people use, read on the same clock.
    tools.ctx.clock = clock_at(updated + timedelta(hours=3))
    assert numbers(await tools.run("list_recent_changes", {"since": "4 hours ago"})) == [number]
    assert numbers(await tools.run("list_recent_changes", {"since": "2h"})) == []
    assert (await tools.run("list_recent_changes", {"since": "90 minutes ago"}))["since"] == iso(
        updated + timedelta(minutes=90)
    )
    until = await tools.run("list_recent_changes", {"since": "1 week", "until": "4 hours ago", "limit": 500})
    assert until["until"] == iso(updated - timedelta(hours=1)) and number not in numbers(until)
    assert numbers(until), "older changes are in that window"


async def test_filters_apply_as_in_search_tasks(
    tools: Tools, alice: Rest, open_tasks: list[dict[str, Any]]
) -> None:
    since = a_second_ago()
    mine, sams = open_tasks[0], open_tasks[1]
    unassign = {"assigned_to_group_id": None, "assigned_to_group": None, "assigned_to_user": None}
    await alice.change(
        mine["workflow_task_uuid"], priority="3 - high", assigned_to_user_id=OWNER_ID, **unassign
    )
    await alice.change(sams["workflow_task_uuid"], priority="1 - low", assigned_to_user_id=SAM_ID, **unassign)
    window = {"since": iso(since)}
    mine_n, sams_n = mine["global_task_number"], sams["global_task_number"]

    assert numbers(await tools.run("list_recent_changes", {**window, "priority": "high"})) == [mine_n]
    assert numbers(await tools.run("list_recent_changes", {**window, "assignee": "Sam Rivera"})) == [sams_n]
    assert numbers(await tools.run("list_recent_changes", {**window, "assignee": "me"})) == [mine_n]
    assert numbers(await tools.run("list_recent_changes", {**window, "status": "closed"})) == []
    # The same filters find the same tasks as search_tasks with updated_after.
    for filters in ({"status": "open"}, {"priority": "low"}, {"object_type": mine["object_type"]}):
        recent = await tools.run("list_recent_changes", {**window, **filters})
        searched = await tools.run("search_tasks", {**filters, "updated_after": iso(since), "limit": 500})
        assert sorted(numbers(recent)) == sorted(numbers(searched)), filters

    # One object's tasks: UltraCart's search has no object-id filter; its tasks are asked for, once.
    before = await tools.counts()
    one = await tools.run(
        "list_recent_changes", {**window, "object_type": mine["object_type"], "object_id": mine["object_id"]}
    )
    assert numbers(one) == [mine_n] and one["tasks"][0]["changes"]
    assert delta(before, await tools.counts()) == {"getWorkflowTaskByObjectType": 1}
    older = await tools.run(
        "list_recent_changes",
        {"since": "60 days ago", "object_type": mine["object_type"], "object_id": mine["object_id"]},
    )
    assert mine_n in numbers(older) and one["total"] == 1


async def test_pages_with_a_cursor_one_search_each_and_the_window_stays(
    tools: Tools, alice: Rest, open_tasks: list[dict[str, Any]]
) -> None:
    since = a_second_ago()
    changed = [
        (await alice.change(t["workflow_task_uuid"], priority=another_priority(t)))["global_task_number"]
        for t in open_tasks[:5]
    ]
    now = [since + timedelta(hours=24)]  # the default window starts at `since`
    tools.ctx.clock = lambda: now[0]

    before = await tools.counts()
    page = await tools.run("list_recent_changes", {"limit": 2})
    assert delta(before, await tools.counts()) == {SEARCH: 1}, "one UltraCart call per page"
    assert page["total"] == 5 and page["count"] == 2 and page["has_more"] is True
    seen, pages, first_cursor = numbers(page), 1, page["next_cursor"]
    while page.get("next_cursor"):
        now[0] += timedelta(days=30)  # the cursor keeps its window: "the last 24 hours" does not slide
        before = await tools.counts()
        page = await tools.run("list_recent_changes", {"limit": 2, "cursor": page["next_cursor"]})
        assert delta(before, await tools.counts()) == {SEARCH: 1}
        assert page["since"] == iso(since) and page["total"] == 5
        seen += numbers(page)
        pages += 1
    assert pages == 3 and sorted(seen) == sorted(changed) and len(set(seen)) == 5
    assert numbers(await tools.run("list_recent_changes", {"limit": 2})) == [], "a new call: a new window"

    # A cursor goes on with its own query only (the page size and view may change).
    again = await tools.run("list_recent_changes", {"limit": 3, "detail": True, "cursor": first_cursor})
    assert again["count"] == 3 and all(t["changes"] for t in again["tasks_detail"])
    before = await tools.counts()
    error = await tools.fail_input("list_recent_changes", {"priority": "low", "cursor": first_cursor})
    assert_one_line(error, "cursor", "another search")
    error = await tools.fail_input("search_tasks", {"cursor": first_cursor})
    assert_one_line(error, "cursor")
    assert delta(before, await tools.counts()) == {}


@pytest.mark.parametrize(
    ("args", "field", "says"),
    [
        ({"since": "soon"}, "since", "24 hours ago"),
        ({"since": "2026-02-30"}, "since", "ISO date"),
        ({"until": "whenever"}, "until", "a time ago"),
        ({"since": "999999 weeks ago"}, "since", "too long ago"),
        ({"since": "2030-01-02", "until": "2030-01-01"}, "until", "before since"),
        ({"cursor": "garbage"}, "cursor", "next_cursor"),
        ({"cursor": "5.0123456789"}, "cursor", "next_cursor"),
        ({"cursor": "5.0123456789.99999999999"}, "cursor", "another search"),
        ({"updated_after": "yesterday"}, "updated_after", "not an argument"),
        ({"sort": "due"}, "sort", "not an argument"),
    ],
)
async def test_a_bad_argument_is_one_clear_message_and_no_call(
    tools: Tools, args: dict[str, Any], field: str, says: str
) -> None:
    before = await tools.counts()
    error = await tools.fail_input("list_recent_changes", args)
    assert_one_line(error, says)
    assert error.message.removeprefix("Invalid arguments: ").startswith(f"{field}: "), error.message
    assert delta(before, await tools.counts()) == {}


async def test_the_change_feed_says_what_changed_when_it_knows(
    tools: Tools, alice: Rest, open_tasks: list[dict[str, Any]]
) -> None:
    since = a_second_ago()
    first = await alice.change(open_tasks[0]["workflow_task_uuid"], status="awaiting customer feedback")
    second = await alice.note(open_tasks[1]["workflow_task_uuid"], "Waiting on the warehouse.")
    uuid = first["workflow_task_uuid"]
    log = HandMadeChangeLog(
        {
            uuid: [
                Change(uuid, ChangeKind.STATUS, "2020-01-01T00:00:00+00:00", {"was": "open", "to": "x"}),
                Change(
                    uuid,
                    ChangeKind.STATUS,
                    first["last_update_dts"],
                    {"was": "open", "to": "awaiting customer feedback"},
                ),
            ]
        },
        watching_since=since - timedelta(days=2),
        polled_at=datetime.now(UTC) + timedelta(minutes=1),
        fingerprint=tools.client.fingerprint,
    )
    tools.ctx.change_log = log

    out = await tools.run("list_recent_changes", {"since": iso(since)})
    rows = {t["number"]: t for t in out["tasks"]}
    fed = rows[first["global_task_number"]]
    assert fed["changes_source"] == "feed"
    assert [line.split("Z ", 1)[1] for line in fed["changes"]] == [
        "status: open → awaiting customer feedback"
    ]
    assert fed["changes"][0][:16] == at(first["last_update_dts"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    # The feed saw nothing on this one yet: its history says what changed.
    other = rows[second["global_task_number"]]
    assert other["changes_source"] == "history" and "note by Alice Carter" in other["changes"][0]
    assert out["watching_since"] == iso(since - timedelta(days=2)) and out["complete"] is True
    assert "polled_at" in out
    # One question per page, for this key and the page's tasks.
    assert len(log.asked) == 1
    fingerprint, uuids, asked_since = log.asked[0]
    assert fingerprint == tools.client.fingerprint and asked_since == since
    assert set(uuids) == {first["workflow_task_uuid"], second["workflow_task_uuid"]}
    text = (await get_tool("list_recent_changes").run(tools.ctx, {"since": iso(since)})).to_text()
    assert "what changed: the change feed (watching since" in text

    # Another key has no feed here: the history answers.
    log.fingerprint = "another key"
    out = await tools.run("list_recent_changes", {"since": iso(since)})
    assert {t["changes_source"] for t in out["tasks"]} == {"history"} and "watching_since" not in out


async def test_before_the_feeds_baseline_the_history_fills_in(
    tools: Tools, alice: Rest, open_tasks: list[dict[str, Any]]
) -> None:
    since = a_second_ago()
    task = await alice.change(open_tasks[0]["workflow_task_uuid"], priority=another_priority(open_tasks[0]))
    uuid, updated = task["workflow_task_uuid"], at(task["last_update_dts"])
    started = updated + timedelta(seconds=1)  # the feed started after Alice's change
    later = iso(updated + timedelta(seconds=2))
    tools.ctx.change_log = HandMadeChangeLog(
        {uuid: [Change(uuid, ChangeKind.ASSIGNED, later, {"to": "Sam Rivera", "user_id": SAM_ID})]},
        watching_since=started,
        polled_at=updated + timedelta(seconds=3),
    )
    out = await tools.run("list_recent_changes", {"since": iso(since)})
    (row,) = out["tasks"]
    assert row["changes_source"] == "feed+history" and out["complete"] is False
    assert len(row["changes"]) == 2
    assert "Priority changed" in row["changes"][0] and "(Alice Carter)" in row["changes"][0]
    assert row["changes"][1].endswith("assigned to Sam Rivera")


async def test_a_change_feed_that_fails_leaves_the_history(
    tools: Tools, alice: Rest, open_tasks: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    since = a_second_ago()
    await alice.note(open_tasks[0]["workflow_task_uuid"], "Checked.")
    broken = BrokenChangeLog()
    tools.ctx.change_log = broken
    caplog.set_level(logging.WARNING, logger="shared_client.tools.recent")
    out = await tools.run("list_recent_changes", {"since": iso(since)})
    assert broken.asked == 1
    assert [t["changes_source"] for t in out["tasks"]] == ["history"] and "watching_since" not in out
    lines = [r.getMessage() for r in caplog.records if r.name == "shared_client.tools.recent"]
    assert len(lines) == 1 and "ConnectionRefusedError" in lines[0], lines


async def test_untouched_since_the_window_has_no_changes_and_detail_carries_them(tools: Tools) -> None:
    """Seeded tasks changed weeks ago: with a window that old, their history says what (and when)."""
    out = await tools.run("list_recent_changes", {"since": "60 days ago", "limit": 500, "detail": True})
    assert out["count"] == out["total"] > 30
    assert all(t["changes_source"] == "history" and t["changes"] for t in out["tasks_detail"])
    assert any(
        line.split("Z ", 1)[1].startswith("created by ") for t in out["tasks_detail"] for line in t["changes"]
    )
