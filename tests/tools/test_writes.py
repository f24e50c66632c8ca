"""The write path on its own (``shared_client/tools/writes.py``): what counts as a change, whether it stuck,
another writer's change that our whole-object PUT replaced, assignee and actor rules, and the
read-modify-write against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from tool_support import Tools, delta

from shared_client.models import (
    Property,
    WorkflowGroup,
    WorkflowNote,
    WorkflowTask,
    WorkflowTaskHistory,
    WorkflowUser,
)
from shared_client.tools import ToolInputError
from shared_client.tools.directory import Assignee
from shared_client.tools.writes import (
    CHANGED_BY_PROPERTY,
    apply_assignee,
    change_stuck,
    changed_fields,
    overwrite_warnings,
    read_modify_write,
    record_actor,
)

DUE = datetime(2030, 6, 1, 23, 59, 59, tzinfo=UTC)


def _task(**fields: object) -> WorkflowTask:
    base: dict[str, object] = {
        "workflow_task_uuid": "t-1",
        "task_name": "Refund check",
        "status": "open",
        "priority": "2 - medium",
        "due_dts": DUE,
        "notes": [WorkflowNote(note="first", note_dts=DUE)],
    }
    base.update(fields)
    return WorkflowTask.model_validate(base)


# --------------------------------------------------------------------------- what changed


def test_a_copy_changes_nothing() -> None:
    before = _task()
    assert changed_fields(before, before.model_copy(deep=True)) == set()


def test_the_same_instant_in_another_time_zone_is_no_change() -> None:
    before = _task()
    elsewhere = DUE.astimezone(timezone(timedelta(hours=-5)))
    assert changed_fields(before, _task(due_dts=elsewhere)) == set()


def test_a_date_change_sticks_at_ultracarts_whole_seconds() -> None:
    """UltraCart stores whole seconds: a date sent with milliseconds reads back without them."""
    before = _task()
    intended = _task(due_dts=datetime(2027, 1, 5, 10, 0, 0, 500_000, tzinfo=UTC))
    assert change_stuck(before, intended, _task(due_dts=datetime(2027, 1, 5, 10, tzinfo=UTC)))
    assert changed_fields(before, _task(due_dts=DUE.replace(microsecond=250_000))) == set()


def test_server_bookkeeping_is_no_change() -> None:
    before = _task()
    after = _task(
        assigned_to_user="Sam Rivera",  # derived by the server from the id
        last_update_dts=DUE + timedelta(days=1),
        histories=[WorkflowTaskHistory(description="Note added")],
        # the server stamps a note's time and author; the text and order are what a writer owns
        notes=[WorkflowNote(note="first", note_dts=DUE + timedelta(hours=1), user=WorkflowUser(user_id=7))],
    )
    assert changed_fields(before, after) == set()


def test_a_field_and_a_note_are_changes() -> None:
    before = _task()
    after = _task(status="closed", notes=[*(before.notes or []), WorkflowNote(note="second")])
    assert changed_fields(before, after) == {"status", "notes"}


def test_a_change_sticks_only_when_it_reads_back() -> None:
    before = _task()
    intended = _task(status="closed")
    assert change_stuck(before, intended, _task(status="closed", last_update_dts=DUE))
    assert not change_stuck(before, intended, _task(status="open"))


# --------------------------------------------------------------------------- another writer's change


def _saved(before: WorkflowTask, *entries: str, **fields: object) -> WorkflowTask:
    history = [*(before.histories or []), *(WorkflowTaskHistory(description=e) for e in entries)]
    return _task(histories=history, **fields)


def test_history_about_a_field_we_did_not_change_is_reported() -> None:
    before = _task(histories=[WorkflowTaskHistory(description="Task created")])
    intended = _task(notes=[*(before.notes or []), WorkflowNote(note="ours")])
    saved = _saved(before, "Note added", "Status changed from closed to open")
    warnings = overwrite_warnings(before, intended, saved)
    assert len(warnings) == 1 and "Status changed from closed to open" in warnings[0]


def test_history_about_our_own_change_is_not_reported() -> None:
    before = _task()
    intended = _task(status="closed")
    assert overwrite_warnings(before, intended, _saved(before, "Status changed from open to closed")) == []


def test_history_written_before_our_read_is_not_reported() -> None:
    before = _task(histories=[WorkflowTaskHistory(description="Priority changed from 1 - low to 2 - medium")])
    intended = _task(status="closed")
    assert overwrite_warnings(before, intended, _saved(before, "Status changed from open to closed")) == []


@pytest.mark.parametrize("entry", ["Note edited", "1 note(s) removed"])
def test_a_note_edited_or_removed_is_always_someone_elses(entry: str) -> None:
    # Our writes only ever append notes.
    before = _task()
    intended = _task(notes=[*(before.notes or []), WorkflowNote(note="ours")])
    assert len(overwrite_warnings(before, intended, _saved(before, "Note added", entry))) == 1


# --------------------------------------------------------------------------- who a task goes to, who acted

SAM = WorkflowUser(user_id=7, user="Sam Rivera")
FRAUD = WorkflowGroup(group_id=3, group="Fraud Review")


def test_assigning_a_user_clears_the_group() -> None:
    task = _task(assigned_to_group_id=3, assigned_to_group="Fraud Review")
    assert apply_assignee(task, Assignee("user", user=SAM)) == "assigned to Sam Rivera"
    assert (task.assigned_to_user_id, task.assigned_to_group_id, task.assigned_to_user_or_group) == (
        7,
        None,
        "Sam Rivera",
    )


def test_assigning_a_group_clears_the_user() -> None:
    task = _task(assigned_to_user_id=7, assigned_to_user="Sam Rivera")
    apply_assignee(task, Assignee("group", group=FRAUD))
    assert (task.assigned_to_user_id, task.assigned_to_group_id, task.assigned_to_group) == (
        None,
        3,
        "Fraud Review",
    )


def test_unassigning_clears_both() -> None:
    task = _task(assigned_to_user_id=7, assigned_to_group_id=3)
    assert apply_assignee(task, Assignee("unassigned")) == "assigned to nobody"
    assert (task.assigned_to_user_id, task.assigned_to_group_id, task.assigned_to_user_or_group) == (
        None,
        None,
        None,
    )


def test_the_actor_property_is_replaced_and_other_properties_kept() -> None:
    task = _task(
        properties=[Property(name="amount", value="12.50"), Property(name=CHANGED_BY_PROPERTY, value="x")]
    )
    record_actor(task, "Alice (Slack)", ["status → closed", "x" * 400])
    values = {p.name: p.value for p in task.properties or []}
    assert values["amount"] == "12.50"
    assert [p.name for p in task.properties or []].count(CHANGED_BY_PROPERTY) == 1
    assert (values[CHANGED_BY_PROPERTY] or "").startswith("Alice (Slack): status → closed; x")
    assert len(values[CHANGED_BY_PROPERTY] or "") == 250


# --------------------------------------------------------------------------- against the sandbox


async def test_no_change_means_no_write(tools: Tools, rich_task: str) -> None:
    before = await tools.counts()
    task, changes, warnings = await read_modify_write(tools.ctx, rich_task, lambda task: [])
    assert (changes, warnings) == ([], [])
    assert task.workflow_task_uuid == rich_task
    assert delta(before, await tools.counts()) == {"getWorkflowTask": 1}


async def test_a_refusal_inside_the_change_writes_nothing(tools: Tools, rich_task: str) -> None:
    def refuse(task: WorkflowTask) -> list[str]:
        task.task_name = "half-made change"
        raise ToolInputError.about("note_index", "that note no longer exists")

    before, raw = await tools.counts(), await tools.raw(rich_task)
    with pytest.raises(ToolInputError):
        await read_modify_write(tools.ctx, rich_task, refuse)
    assert "updateWorkflowTask" not in delta(before, await tools.counts())
    assert await tools.raw(rich_task) == raw


async def test_what_the_change_did_not_touch_survives_the_put(tools: Tools, rich_task: str) -> None:
    raw = await tools.raw(rich_task)

    def close(task: WorkflowTask) -> list[str]:
        task.status = "closed"
        return ["status → closed"]

    _, changes, warnings = await read_modify_write(tools.ctx, rich_task, close)
    assert (changes, warnings) == (["status → closed"], [])
    after = await tools.raw(rich_task)
    assert after["status"] == "closed"
    for key in ("notes", "attachments", "properties", "tags", "due_dts", "object_id", "assigned_to_user_id"):
        assert after.get(key) == raw.get(key), key
