"""Tool errors shown on forms, read from their typed fields (``ToolError.fields``), never their text."""

from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

from shared_client.tools import CREATE_TASK, SEARCH_TASKS, ErrorKind, FieldError, ToolError, ToolInputError
from slack_bot import ids
from slack_bot.actors import slack_zone
from slack_bot.blocks import common as c
from slack_bot.blocks.modals import CreatePrefill, create_modal, form_again
from slack_bot.forms import check, due_in_zone, inline_errors, refilled_blocks


def test_each_bad_field_gets_its_own_message_under_its_block() -> None:
    errors = check(CREATE_TASK, {"name": "x", "priority": "banana", "due": "soon"}, ids.NAME)
    assert set(errors) == {ids.PRIORITY, ids.DUE}
    assert "banana" in errors[ids.PRIORITY] and "soon" not in errors[ids.PRIORITY]
    assert "soon" in errors[ids.DUE] and not errors[ids.DUE].startswith("due:")


def test_an_error_about_no_field_of_the_form_goes_whole_to_the_fallback() -> None:
    errors = check(CREATE_TASK, {"name": "x", "properties": {"a": "b" * 5000}}, ids.NAME)
    assert list(errors) == [ids.NAME]
    assert errors[ids.NAME].startswith("Invalid arguments: properties.a:")
    assert len(errors[ids.NAME]) <= c.MAX_INLINE_ERROR
    assert check(SEARCH_TASKS, {"status": "open"}, ids.STATUS) == {}


def test_fields_the_form_does_not_show_join_the_fallback() -> None:
    error = ToolError(
        "Two problems.",
        kind=ErrorKind.BAD_INPUT,
        fields=(FieldError("assignee", "nobody by that name"), FieldError("group.0", "no such group"),
                FieldError("task", "gone"), FieldError("tags", "too many")),
    )  # fmt: skip
    assert inline_errors(error, ids.FORM_ERROR) == {
        ids.ASSIGNEE: "nobody by that name; no such group",
        ids.TAGS: "too many",
        ids.FORM_ERROR: "task: gone",
    }
    shown = inline_errors(error, ids.FORM_ERROR, blocks={ids.ASSIGNEE})
    assert shown == {
        ids.ASSIGNEE: "nobody by that name; no such group",
        ids.FORM_ERROR: "task: gone; tags: too many",
    }
    nothing_placed = inline_errors(ToolInputError.about("task", "gone"), ids.FORM_ERROR)
    assert nothing_placed == {ids.FORM_ERROR: "task: gone"}  # the whole message
    assert inline_errors(ToolError("UltraCart failed."), ids.FORM_ERROR) == {
        ids.FORM_ERROR: "UltraCart failed."
    }


def test_a_form_given_back_marks_every_field_with_a_note() -> None:
    built = create_modal(CreatePrefill(title="T"), "{}").to_dict()
    notes = {ids.PRIORITY: "use low, medium, high or critical", ids.DUE: "use an ISO date"}
    again = form_again(built, refilled_blocks(built, {}), notes=notes).to_dict()
    order = [b.get("block_id") for b in again["blocks"]]
    for block in notes:
        assert order[order.index(block) + 1] == f"{ids.FORM_ERROR}:{block}"
    assert "Fix the fields marked below" in again["blocks"][0]["text"]["text"]
    elsewhere = form_again(built, refilled_blocks(built, {}), notes={"not_in_this_form": "lost?"}).to_dict()
    assert "lost?" in elsewhere["blocks"][0]["text"]["text"]  # a note with no field is not dropped


def test_a_picked_due_date_ends_where_the_member_is() -> None:
    assert slack_zone({"tz": "Asia/Kolkata", "tz_offset": 19800}) == ZoneInfo("Asia/Kolkata")
    assert slack_zone({"tz": "Nowhere/Atlantis", "tz_offset": 19800}) == timezone(
        timedelta(hours=5, minutes=30)
    )
    assert slack_zone({}) is None
    kolkata = due_in_zone({"name": "x", "due": "2031-02-03"}, slack_zone({"tz": "Asia/Kolkata"}))
    assert kolkata == {"name": "x", "due": "2031-02-03T23:59:59+05:30"}
    assert due_in_zone({"due": "none"}, ZoneInfo("Asia/Kolkata")) == {"due": "none"}  # cleared stays so
    assert due_in_zone({"due": "2031-02-03"}, None) == {"due": "2031-02-03"}
