"""Models: open enums, date-times in UltraCart's forms, and lossless round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared_client.models import (
    ObjectType,
    Priority,
    Status,
    WorkflowTask,
    WorkflowTasksResponse,
    WorkflowUser,
    email_name,
    format_uc_datetime,
    parse_uc_datetime,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2018-12-03T14:27:10.312-05:00",
            datetime(2018, 12, 3, 14, 27, 10, 312000, tzinfo=timezone(timedelta(hours=-5))),
        ),
        (
            "2023-05-18T10:46:27-04:00",
            datetime(2023, 5, 18, 10, 46, 27, tzinfo=timezone(timedelta(hours=-4))),
        ),
        ("2023-05-18T10:46:27Z", datetime(2023, 5, 18, 10, 46, 27, tzinfo=UTC)),
        ("2023-05-18T10:46:27-0400", datetime(2023, 5, 18, 10, 46, 27, tzinfo=timezone(timedelta(hours=-4)))),
        ("2023-05-18 10:46:27", datetime(2023, 5, 18, 10, 46, 27, tzinfo=UTC)),
    ],
)
def test_parse_uc_datetime(text: str, expected: datetime) -> None:
    parsed = parse_uc_datetime(text)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["2023-05-18T10:46:27-04:00", "2018-12-03T14:27:10.312-05:00"])
def test_datetimes_serialize_back_in_ultracarts_form(text: str) -> None:
    assert format_uc_datetime(parse_uc_datetime(text)) == text
    task = WorkflowTask.model_validate({"due_dts": text})
    assert task.to_wire()["due_dts"] == text


def test_bad_datetime_is_a_validation_error() -> None:
    with pytest.raises(ValueError):
        WorkflowTask.model_validate({"due_dts": "next tuesday"})


def test_open_enums_keep_unknown_values() -> None:
    task = WorkflowTask.model_validate(
        {
            "priority": "5 - apocalyptic",
            "status": "escalated",
            "object_type": "gift card",
            "system_task_type": "x_y",
        }
    )
    assert task.priority == "5 - apocalyptic" and isinstance(task.priority, Priority)
    assert not task.priority.is_known and Priority.HIGH.is_known
    assert task.status == "escalated" and not task.status.is_closed  # type: ignore[union-attr]
    assert Status("closed - system").is_closed
    assert task.object_type == "gift card" and isinstance(task.object_type, ObjectType)
    assert task.to_wire() == {
        "priority": "5 - apocalyptic",
        "status": "escalated",
        "object_type": "gift card",
        "system_task_type": "x_y",
    }


def test_unknown_fields_survive_and_nulls_are_left_out() -> None:
    raw = {
        "workflow_task_uuid": "abc",
        "task_name": "n",
        "notes": [
            {"note": "a", "reactions": ["+1"], "attachments": [{"file_name": "f", "scan": {"ok": True}}]}
        ],
        "properties": [{"name": "k", "value": "v"}],
        "future_field": 3,
        "task_details": None,
    }
    task = WorkflowTask.model_validate(raw)
    wire = task.to_wire()
    assert wire["future_field"] == 3
    assert wire["notes"][0]["reactions"] == ["+1"]
    assert wire["notes"][0]["attachments"][0]["scan"] == {"ok": True}
    assert "task_details" not in wire
    assert WorkflowTask.model_validate(wire).to_wire() == wire


def test_assignment_is_validated_into_the_enum() -> None:
    task = WorkflowTask()
    task.priority = "3 - high"  # type: ignore[assignment]
    assert task.priority is Priority.HIGH


def test_a_users_only_email_is_a_name_that_is_one() -> None:
    assert email_name(WorkflowUser.model_validate({"user": "Alice", "email": "a@x.example"})) is None
    assert email_name(WorkflowUser.model_validate({"user": "Bob@X.example"})) == "bob@x.example"
    assert email_name(WorkflowUser.model_validate({"user": "Carol"})) is None
    assert email_name(WorkflowUser.model_validate({"user": "Dan @ home"})) is None
    assert not hasattr(WorkflowUser(), "email")


def test_response_wrappers_expose_result_set_and_survive_missing_more() -> None:
    page = WorkflowTasksResponse.model_validate(
        {"success": True, "tasks": [], "metadata": {"result_set": {"count": 0, "offset": 0, "limit": 100}}}
    )
    assert page.result_set is not None and page.result_set.more is None
