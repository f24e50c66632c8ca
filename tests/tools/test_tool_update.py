"""update_task and add_task_note read the whole task and write it back with only the intended change:
every other field, note, attachment, property and tag survives (compared on the raw task)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from tool_support import Tools, delta

from shared_client.tools import get_tool

VOLATILE = ("last_update_dts", "histories")
DATES = ("due_dts", "delay_until_dts", "created_dts", "expiration_dts")


def comparable(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw task without what every write changes; dates as instants (the offset is presentation)."""
    out = {k: v for k, v in raw.items() if k not in VOLATILE}
    for key in DATES:
        if key in out:
            out[key] = datetime.fromisoformat(out[key]).astimezone(UTC)
    return out


Edit = Callable[[dict[str, Any]], None]


def set_(**fields: Any) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        for key, value in fields.items():
            if value is None:
                raw.pop(key, None)
            else:
                raw[key] = value

    return edit


# (arguments, how the raw task must change)
CHANGES: list[tuple[dict[str, Any], Edit]] = [
    ({"name": "Refund approved for DEMO-0009999"}, set_(task_name="Refund approved for DEMO-0009999")),
    ({"details": "New details."}, set_(task_details="New details.")),
    ({"details": ""}, set_(task_details=None)),
    ({"status": "closed"}, set_(status="closed")),
    ({"status": "awaiting"}, set_(status="awaiting customer feedback")),
    ({"priority": "critical"}, set_(priority="4 - critical")),
    ({"due": "2031-01-15"}, set_(due_dts=datetime(2031, 1, 15, 23, 59, 59, tzinfo=UTC))),
    ({"due": "none"}, set_(due_dts=None)),
    ({"delay_until": "2031-01-01T08:00:00Z"}, set_(delay_until_dts=datetime(2031, 1, 1, 8, tzinfo=UTC))),
    ({"delay_until": "clear"}, set_(delay_until_dts=None)),
    ({"tags": ["escalated"]}, set_(tags=["escalated"])),
    ({"tags": []}, set_(tags=None)),
    ({"add_tags": ["escalated", "vip"]}, set_(tags=["refund", "vip", "escalated"])),
    ({"remove_tags": ["vip"]}, set_(tags=["refund"])),
    ({"add_tags": ["x"], "remove_tags": ["refund"]}, set_(tags=["vip", "x"])),
    (
        {"assignee": "Alice Carter"},
        set_(
            assigned_to_user_id=1002,
            assigned_to_user="Alice Carter",
            assigned_to_user_or_group="Alice Carter",
        ),
    ),
    (
        {"group": "Warehouse"},
        set_(
            assigned_to_user_id=None,
            assigned_to_user=None,
            assigned_to_group_id=204,
            assigned_to_group="Warehouse",
            assigned_to_user_or_group="Warehouse",
        ),
    ),
    (
        {"assignee": "unassigned"},
        set_(assigned_to_user_id=None, assigned_to_user=None, assigned_to_user_or_group=None),
    ),
    (
        {"priority": "low", "status": "delayed", "add_tags": ["later"]},
        set_(priority="1 - low", status="delayed", tags=["refund", "vip", "later"]),
    ),
]


@pytest.mark.parametrize(
    ("args", "edit"), CHANGES, ids=[",".join(a) + str(i) for i, (a, _) in enumerate(CHANGES)]
)
async def test_update_changes_only_what_was_asked(
    tools: Tools, rich_task: str, args: dict[str, Any], edit: Edit
) -> None:
    before = await tools.raw(rich_task)
    # The fixture really has everything an update could lose.
    assert len(before["notes"]) == 2 and before["notes"][0]["attachments"] and before["attachments"]
    assert before["tags"] and len(before["properties"]) >= 3 and before["object_id"]

    out = await tools.run("update_task", {"task": rich_task, **args})
    after = await tools.raw(rich_task)

    expected = comparable(before)
    edit(expected)
    assert comparable(after) == expected
    # History is appended to, never rewritten.
    assert after["histories"][: len(before["histories"])] == before["histories"]
    assert out["task"]["uuid"] == rich_task


@pytest.mark.parametrize(
    ("args", "label"),
    [({"name": "Renamed"}, "name → Renamed"), ({"status": "closed"}, "status → closed"),
     ({"tags": []}, "tags → none"), ({"details": ""}, "details changed")],
)  # fmt: skip
async def test_update_reports_the_change_with_one_write(
    tools: Tools, rich_task: str, args: dict[str, Any], label: str
) -> None:
    before = await tools.counts()
    out = await tools.run("update_task", {"task": rich_task, **args})
    assert out["changes"] == [label]
    assert delta(before, await tools.counts()) == {"getWorkflowTask": 1, "updateWorkflowTask": 1}


@pytest.mark.parametrize("args", [{"due": "2031-01-15"}, {"delay_until": "2031-01-01T08:00:00Z"}])
async def test_date_update_reports_the_change_with_one_write(
    tools: Tools, rich_task: str, args: dict[str, Any]
) -> None:
    before = await tools.counts()
    out = await tools.run("update_task", {"task": rich_task, **args})
    assert len(out["changes"]) == 1
    assert delta(before, await tools.counts()) == {"getWorkflowTask": 1, "updateWorkflowTask": 1}


@pytest.mark.parametrize(
    ("args", "field", "stored"),
    [({"due": "2027-01-05T10:00:00.500Z"}, "due_dts", datetime(2027, 1, 5, 10, tzinfo=UTC)),
     ({"delay_until": "2027-01-02T08:30:15.999+00:00"}, "delay_until_dts",
      datetime(2027, 1, 2, 8, 30, 15, tzinfo=UTC))],
)  # fmt: skip
async def test_a_date_with_milliseconds_is_written_once_at_whole_seconds(
    tools: Tools, rich_task: str, args: dict[str, Any], field: str, stored: datetime
) -> None:
    """UltraCart stores whole seconds: the tool sends what it stores and the read-back matches (once)."""
    before = await tools.counts()
    out = await tools.run("update_task", {"task": rich_task, **args})
    assert delta(before, await tools.counts()) == {"getWorkflowTask": 1, "updateWorkflowTask": 1}
    assert out["changes"] == [f"{field.removesuffix('_dts').replace('_', ' ')} → {stored.isoformat()}"]
    assert datetime.fromisoformat((await tools.raw(rich_task))[field]) == stored


async def test_a_created_task_with_milliseconds_in_its_dates_keeps_whole_seconds(tools: Tools) -> None:
    out = await tools.run("create_task", {"name": "ms", "due": "2027-01-05T10:00:00.500Z"})
    raw = await tools.raw(out["task"]["uuid"])
    assert datetime.fromisoformat(raw["due_dts"]) == datetime(2027, 1, 5, 10, tzinfo=UTC)


async def test_update_by_number(tools: Tools, rich_task: str) -> None:
    number = (await tools.raw(rich_task))["global_task_number"]
    out = await tools.run("update_task", {"task": f"#{number}", "priority": "critical"})
    assert out["task"]["uuid"] == rich_task
    assert (await tools.raw(rich_task))["priority"] == "4 - critical"


async def test_update_that_changes_nothing_does_not_write(tools: Tools, rich_task: str) -> None:
    before_raw = await tools.raw(rich_task)
    before = await tools.counts()
    out = await tools.run("update_task", {"task": rich_task, "priority": "high", "assignee": "Sam"})
    made = delta(before, await tools.counts())
    assert "updateWorkflowTask" not in made, made
    assert out["changes"] == []
    assert await tools.raw(rich_task) == before_raw


async def test_update_costs_one_get_and_one_put(tools: Tools, rich_task: str) -> None:
    await tools.run("list_assignable_users")  # warm the people cache
    before = await tools.counts()
    await tools.run("update_task", {"task": rich_task, "status": "closed", "assignee": "Alice"})
    assert delta(before, await tools.counts()) == {"getWorkflowTask": 1, "updateWorkflowTask": 1}


async def test_update_reports_its_changes(tools: Tools, rich_task: str) -> None:
    out = await tools.run(
        "update_task", {"task": rich_task, "status": "closed-customer", "priority": "4", "group": "Fraud"}
    )
    assert out["changes"] == ["status → closed - customer", "priority → critical", "assigned to Fraud Review"]
    assert out["task"]["status"] == "closed - customer"
    assert out["task"]["assigned"] == {"group_id": 203, "group": "Fraud Review"}


async def test_update_unknown_task(tools: Tools) -> None:
    before = await tools.counts()
    error = await tools.fail(
        "update_task", {"task": "0f0f0f0f-0000-4000-8000-000000000000", "status": "closed"}
    )
    assert "not found" in error.message.lower()
    assert "updateWorkflowTask" not in delta(before, await tools.counts())


# --------------------------------------------------------------------------- notes


async def test_add_note_appends_and_keeps_everything(tools: Tools, rich_task: str) -> None:
    before = await tools.raw(rich_task)
    out = await tools.run("add_task_note", {"task": rich_task, "text": "Third note: refund sent."})
    after = await tools.raw(rich_task)

    assert after["notes"][:2] == before["notes"], "existing notes (with their attachments) are kept"
    assert len(after["notes"]) == 3
    new = after["notes"][2]
    assert new["note"] == "Third note: refund sent."
    assert new["user"]["user_id"] == 1001 and new["note_dts"]
    expected = comparable(before)
    expected["notes"] = after["notes"]
    assert comparable(after) == expected
    assert out["note_index"] == 2
    assert out["task"]["notes"][2]["text"] == "Third note: refund sent."
    assert "notice" in out


async def test_add_note_to_task_without_notes(tools: Tools) -> None:
    uuid = (await tools.run("create_task", {"name": "No notes yet"}))["task"]["uuid"]
    out = await tools.run("add_task_note", {"task": uuid, "text": "first"})
    assert out["note_index"] == 0
    assert [n["note"] for n in (await tools.raw(uuid))["notes"]] == ["first"]


async def test_add_note_names_the_actor(tools: Tools, rich_task: str) -> None:
    slack = tools.ctx.acting_as("Slack user @dana")
    from shared_client.tools import get_tool

    await get_tool("add_task_note").run(slack, {"task": rich_task, "text": "Checked the warehouse."})
    assert (await tools.raw(rich_task))["notes"][-1][
        "note"
    ] == "Checked the warehouse.\n— via Slack user @dana"


async def test_add_note_refuses_empty_text(tools: Tools, rich_task: str) -> None:
    before = await tools.counts()
    error = await tools.fail_input("add_task_note", {"task": rich_task, "text": "   "})
    assert "text" in error.message
    assert delta(before, await tools.counts()) == {}


async def test_concurrent_notes_are_all_kept(tools: Tools, rich_task: str) -> None:
    """Read-modify-write is serialized per task within a process: no note is lost."""
    texts = [f"parallel note {i}" for i in range(5)]
    await asyncio.gather(*(tools.run("add_task_note", {"task": rich_task, "text": t}) for t in texts))
    notes = [n["note"] for n in (await tools.raw(rich_task))["notes"]]
    assert sorted(notes[2:]) == sorted(texts)


async def test_concurrent_update_and_note_both_survive(tools: Tools, rich_task: str) -> None:
    await asyncio.gather(
        tools.run("update_task", {"task": rich_task, "priority": "critical"}),
        tools.run("add_task_note", {"task": rich_task, "text": "meanwhile"}),
        tools.run("update_task", {"task": rich_task, "add_tags": ["urgent"]}),
    )
    raw = await tools.raw(rich_task)
    assert raw["priority"] == "4 - critical"
    assert raw["notes"][-1]["note"] == "meanwhile"
    assert "urgent" in raw["tags"] and "vip" in raw["tags"]


async def test_a_change_made_for_someone_names_them_on_the_task(tools: Tools, rich_task: str) -> None:
    acting = tools.ctx.acting_as("Alice (Slack)")
    out = await get_tool("update_task").run(acting, {"task": rich_task, "priority": "critical"})
    raw = await tools.raw(rich_task)
    props = {p["name"]: p["value"] for p in raw.get("properties", [])}
    assert props["uc_workflow_changed_by"] == "Alice (Slack): priority → critical"
    assert out.changes == ["priority → critical"]
    # Every other property survives, and a plain (no actor) change leaves the record alone.
    await tools.run("update_task", {"task": rich_task, "priority": "low"})
    props_after = {p["name"]: p["value"] for p in (await tools.raw(rich_task)).get("properties", [])}
    assert props_after == props
