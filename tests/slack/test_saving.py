"""Forms that write (create, edit, note, reassign) end to end: acknowledged as "Saving…", then a
confirmation, or, when UltraCart refuses or fails, the same form again with everything typed and the
error; a person who closed the form gets the error with what they typed."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mock_slack import Call
from slack_harness import Bot
from slack_limits import message_problems, mrkdwn_texts, ping_problems, view_problems
from test_e2e import date, open_task_number, picked, select, text_input, values

from shared_client.tools import get_tool
from slack_bot import ids

EVIL = "<!channel> & <@U0BOSS>"


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def banner(view: dict[str, Any]) -> str:
    first = view["blocks"][0]
    assert first["block_id"] == ids.FORM_ERROR, first
    return str(first["text"]["text"])


async def submit_saving(bot: Bot, view: dict[str, Any], state: dict[str, Any], user: str = "UALICE") -> None:
    """Submit a form; it must be acknowledged in time by turning into "Saving…"."""
    reply = await bot.view_submission(view, state, user=user)
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_action"] == "update", answer
    assert answer["view"]["callback_id"] == ids.SAVING_MODAL and "submit" not in answer["view"]
    assert view_problems(answer["view"]) == [] and ping_problems(mrkdwn_texts(answer["view"])) == []


async def tasks_named(bot: Bot, name: str) -> list[Any]:
    out = await get_tool("search_tasks").run(bot.ctx, {"status": "open", "limit": 200, "sort": "-created"})
    return [t for t in out.tasks if t.name == name]  # type: ignore[attr-defined]


FULL_CREATE = values(
    name=text_input(f"Call back {EVIL}"),
    details=text_input("Line one\nLine two & more"),
    priority=select("critical"),
    due=date("2031-02-03"),
    assignee=picked("user:1003"),
    tags=text_input("refund, vip"),
    object_type=select("order"),
    object_id=text_input("DEMO-77"),
)


async def test_create_refused_by_ultracart_gives_the_form_back_with_everything_typed(bot: Bot) -> None:
    _, name = await bot.command("new Call back")
    view = (await bot.slack.wait_for("views.open")).args["view"]
    mend = bot.break_ultracart(("500",))
    mark = bot.slack.mark()
    await submit_saving(bot, view, FULL_CREATE)

    again = await bot.slack.wait_for("views.update", after=mark)
    assert again.args["view_id"] == "V999"
    form = again.args["view"]
    assert form["callback_id"] == ids.CREATE_MODAL and form["submit"]["text"] == "Create"
    assert form["private_metadata"] == view["private_metadata"]
    shown = inputs(form)
    assert shown[ids.NAME]["initial_value"] == f"Call back {EVIL}"
    assert shown[ids.DETAILS]["initial_value"] == "Line one\nLine two & more"
    assert shown[ids.PRIORITY]["initial_option"]["value"] == "critical"
    assert shown[ids.PRIORITY]["initial_option"] in shown[ids.PRIORITY]["options"]  # Slack's exact match
    assert shown[ids.DUE]["initial_date"] == "2031-02-03"
    assert shown[ids.ASSIGNEE]["initial_option"] == {
        "text": {"type": "plain_text", "text": "user:1003"},
        "value": "user:1003",
    }
    assert shown[ids.TAGS]["initial_value"] == "refund, vip"
    assert shown[ids.OBJECT_TYPE]["initial_option"]["value"] == "order"
    assert shown[ids.OBJECT_ID]["initial_value"] == "DEMO-77"
    top = banner(form)
    assert "UltraCart" in top and "everything you entered is kept" in top.lower()
    assert "slack-test-owner" not in top  # never the credential
    assert await tasks_named(bot, f"Call back {EVIL}") == []  # nothing was created
    assert [c for c in bot.slack.calls[mark:] if c.method in {"response_url", "chat.postMessage"}] == []

    # Mended, the same form, submitted as it came back, creates the task.
    mend()
    mark = bot.slack.mark()
    await submit_saving(bot, form, FULL_CREATE)
    card = await bot.response(name, after=mark)
    assert "Call back" in card.text_of_blocks() and "<@UALICE> created" in card.text_of_blocks()
    saved = await bot.slack.wait_for("views.update", after=mark)
    assert saved.args["view"]["callback_id"] == ids.SAVED_MODAL
    (task,) = await tasks_named(bot, f"Call back {EVIL}")
    assert task.priority == "critical" and task.assignee == "Sam Rivera"


async def test_an_assignee_who_is_gone_is_marked_on_the_field_from_the_message_shortcut(bot: Bot) -> None:
    await bot.message_shortcut("Customer wants a refund")
    view = (await bot.slack.wait_for("views.update")).args["view"]  # opened, then linked to the message
    gone = {
        "type": "external_select",
        "selected_option": {"value": "user:999999", "text": {"type": "plain_text", "text": "Old Timer"}},
    }
    state = values(name=text_input("Refund for the customer"), priority=select("high"))
    state[ids.ASSIGNEE] = {ids.ASSIGNEE: gone}
    mark = bot.slack.mark()
    await submit_saving(bot, view, state)

    form = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
    assert form["callback_id"] == ids.CREATE_MODAL
    order = [b.get("block_id") for b in form["blocks"]]
    note = form["blocks"][order.index(ids.ASSIGNEE) + 1]
    assert note["block_id"] == f"{ids.FORM_ERROR}:{ids.ASSIGNEE}"
    assert "999999" in json.dumps(note) and "user id" in json.dumps(note)  # what it accepts
    assert "Fix the field marked below" in banner(form)
    shown = inputs(form)
    assert shown[ids.ASSIGNEE]["initial_option"]["text"]["text"] == "Old Timer"
    assert shown[ids.NAME]["initial_value"] == "Refund for the customer"
    assert shown[ids.PRIORITY]["initial_option"]["value"] == "high"
    assert "Customer wants a refund" in shown[ids.DETAILS]["initial_value"]  # the prefill, as it was
    assert "this message>" in json.dumps(form["blocks"])  # the link back to the message stays
    assert view_problems(form) == [] and ping_problems(mrkdwn_texts(form)) == []
    assert await tasks_named(bot, "Refund for the customer") == []

    # Fixed and submitted again: the task is linked to its message, the error notes are gone.
    state[ids.ASSIGNEE] = {ids.ASSIGNEE: picked("user:1003")}
    mark = bot.slack.mark()
    await submit_saving(bot, form, state)
    card = await bot.slack.wait_for("response_url", after=mark)
    assert "from a message" in card.text_of_blocks()


async def edit_form(bot: Bot, uuid: str, card: Call) -> dict[str, Any]:
    mark = bot.slack.mark()
    await bot.block_action(
        {
            "action_id": ids.EDIT,
            "block_id": f"{ids.CARD_MORE_ACTIONS}:{uuid}",
            "value": uuid,
            "type": "button",
        },
        message=card,
    )
    view = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
    assert view["callback_id"] == ids.EDIT_MODAL
    return dict(view)


async def test_edit_with_a_server_failure_gives_the_form_back(bot: Bot) -> None:
    number, uuid = await open_task_number(bot)
    _, name = await bot.command(f"show #{number}")
    card = Call(
        "chat.postMessage", {"ts": "1700000000.000555", "blocks": (await bot.response(name)).blocks}, 0
    )
    view = await edit_form(bot, uuid, card)
    before = await bot.task(uuid)
    shown = inputs(view)
    new_priority = "low" if before.priority != "low" else "high"
    state = values(
        name=text_input("Renamed while UltraCart was down"),
        status=select("delayed"),
        priority=select(new_priority),
        due=date("2032-03-04"),
        assignee=picked("group:203"),
        tags=text_input("late, vip"),
    )
    if ids.DETAILS in shown:
        state.update(values(details=text_input("New details")))

    mend = bot.break_ultracart(("503",))
    mark = bot.slack.mark()
    await submit_saving(bot, view, state)
    form = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
    assert form["callback_id"] == ids.EDIT_MODAL and form["private_metadata"] == view["private_metadata"]
    again = inputs(form)
    assert again[ids.NAME]["initial_value"] == "Renamed while UltraCart was down"
    assert again[ids.STATUS]["initial_option"]["value"] == "delayed"
    assert again[ids.PRIORITY]["initial_option"]["value"] == new_priority
    assert again[ids.DUE]["initial_date"] == "2032-03-04"
    assert again[ids.ASSIGNEE]["initial_option"]["value"] == "group:203"
    assert again[ids.TAGS]["initial_value"] == "late, vip"
    assert "kept below" in banner(form)
    after = await bot.task(uuid)
    assert (after.name, after.priority, after.status) == (before.name, before.priority, before.status)
    assert bot.slack.of("chat.update") == []  # the card was not touched

    mend()
    mark = bot.slack.mark()
    await submit_saving(bot, form, state)
    updated = await bot.slack.wait_for("chat.update", after=mark)
    assert (
        "<@UALICE> edited:" in updated.text_of_blocks()
        and "Renamed while UltraCart" in updated.text_of_blocks()
    )
    saved = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
    assert saved["callback_id"] == ids.SAVED_MODAL and "Renamed while UltraCart" in json.dumps(saved)
    assert (await bot.task(uuid)).assigned.group == "Fraud Review"


async def test_note_and_reassign_forms_come_back_too(bot: Bot) -> None:
    _, uuid = await open_task_number(bot)
    for verb, state, check in (
        (ids.MENU_NOTE, values(note_text=text_input("Called, no answer")), ids.NOTE_TEXT),
        (ids.MENU_REASSIGN, values(assignee=picked("user:1006")), ids.ASSIGNEE),
    ):
        mark = bot.slack.mark()
        await bot.block_action(
            {
                "action_id": ids.ROW_MENU,
                "block_id": f"{ids.ROW}:{uuid}",
                "type": "overflow",
                "selected_option": {"value": f"{verb}|{uuid}"},
            },
            ephemeral=True,
        )
        view = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
        mend = bot.break_ultracart(("500",))  # once the form is open (it loads the task first)
        mark = bot.slack.mark()
        await submit_saving(bot, view, state)
        form = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
        assert form["callback_id"] == view["callback_id"] and "kept below" in banner(form)
        element = inputs(form)[check]
        assert (
            element.get("initial_value") == "Called, no answer"
            or element.get("initial_option", {}).get("value") == "user:1006"
        )
        mend()
    task = await bot.task(uuid)
    assert all("Called, no answer" not in n.text for n in task.notes) and task.assigned.user != "Jordan Blake"


async def test_a_closed_form_still_gets_its_result(bot: Bot) -> None:
    """The person closed "Saving…" (or it expired): views.update answers not_found. A success still
    posts the card; a failure sends the error with everything they typed, so nothing is lost."""
    bot.slack.fail["views.update"] = "not_found"
    _, name = await bot.command("new x")
    view = (await bot.slack.wait_for("views.open")).args["view"]
    mark = bot.slack.mark()
    await submit_saving(bot, view, values(name=text_input("Closed early but saved")))
    card = await bot.response(name, after=mark)
    assert card.args["response_type"] == "in_channel" and "Closed early but saved" in card.text_of_blocks()
    assert len(await tasks_named(bot, "Closed early but saved")) == 1

    bot.break_ultracart(("500",))
    details = "All the details " + "& more " * 400  # longer than one block holds once escaped
    mark = bot.slack.mark()
    await submit_saving(
        bot, view, values(name=text_input("Closed early, refused"), details=text_input(details))
    )
    told = await bot.response(name, after=mark)
    assert told.args["response_type"] == "ephemeral"
    text = told.text_of_blocks()
    assert "Closed early, refused" in text and "What you entered" in text and ":boom:" not in text
    sections = [b["text"]["text"] for b in told.blocks if b["type"] == "section"]
    whole = "".join(sections).replace("&amp;", "&")
    assert details in whole.replace("*Details*\n", "")
    assert message_problems(told.blocks, told.args.get("text")) == []
    assert await tasks_named(bot, "Closed early, refused") == []
    await bot.slack.wait_for("views.update", after=mark)  # it was tried first
    assert [c for c in bot.slack.calls[mark:] if c.method == "response_url"] == [told]


async def test_create_from_app_home_confirms_or_gives_the_form_back(bot: Bot) -> None:
    mark = bot.slack.mark()
    await bot.block_action(
        {"action_id": ids.HOME_NEW_TASK, "value": "new", "type": "button"}, user="UOWNER", home=True
    )
    view = (await bot.slack.wait_for("views.open", after=mark)).args["view"]

    mark = bot.slack.mark()
    await submit_saving(
        bot, view, values(name=text_input("From home"), assignee=picked("user:1001")), "UOWNER"
    )
    saved = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
    assert saved["callback_id"] == ids.SAVED_MODAL and "App Home" in json.dumps(saved)
    assert saved["close"]["text"] == "Done"
    home = await bot.slack.wait_for("views.publish", after=mark)
    assert "From home" in json.dumps(home.args["view"])
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "UOWNER", after=mark)
    assert "From home" in dm.text_of_blocks()

    bot.break_ultracart(("500",))
    mark = bot.slack.mark()
    await submit_saving(bot, view, values(name=text_input("From home, refused")), "UOWNER")
    form = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
    assert inputs(form)[ids.NAME]["initial_value"] == "From home, refused" and "kept below" in banner(form)
    assert await tasks_named(bot, "From home, refused") == []


async def test_a_due_date_picked_is_the_end_of_that_day_where_the_member_is(bot: Bot) -> None:
    bot.slack.users["UALICE"].tz, bot.slack.users["UALICE"].tz_offset = "America/Los_Angeles", -28800
    _, name = await bot.command("new Call the supplier")
    view = (await bot.slack.wait_for("views.open")).args["view"]
    await submit_saving(bot, view, values(name=text_input("Call the supplier"), due=date("2031-02-03")))
    await bot.response(name)
    (found,) = await tasks_named(bot, "Call the supplier")
    task = await bot.task(found.uuid)
    due = datetime.fromisoformat(task.due.replace("Z", "+00:00"))
    assert due == datetime(2031, 2, 3, 23, 59, 59, tzinfo=ZoneInfo("America/Los_Angeles"))

    mark = bot.slack.mark()  # the edit form shows the day she picked, not the UTC one (the 4th)
    block = f"{ids.CARD_MORE_ACTIONS}:{task.uuid}"
    await bot.block_action({"action_id": ids.EDIT, "block_id": block, "value": task.uuid, "type": "button"})
    edit = await bot.slack.wait_for(
        "views.update", lambda c: c.args["view"]["callback_id"] == ids.EDIT_MODAL, after=mark
    )
    assert inputs(edit.args["view"])[ids.DUE]["initial_date"] == "2031-02-03"
