"""End to end through HTTP mode: signed Slack requests → the app → sandbox, answers on the mock Slack."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from mock_slack import Call, MockSlack
from slack_harness import CHANNEL, Bot, sign

from shared_client.tools import get_tool
from slack_bot import ids
from slack_bot.event_log import EventLog


def values(**fields: dict[str, Any]) -> dict[str, Any]:
    """View state ``values`` as Slack sends it: block_id → action_id → value (ours share the id)."""
    return {block: {block: value} for block, value in fields.items()}


def text_input(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def select(value: str | None) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value} if value else None}


def picked(value: str) -> dict[str, Any]:
    return {
        "type": "external_select",
        "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
    }


def date(value: str | None) -> dict[str, Any]:
    return {"type": "datepicker", "selected_date": value}


async def open_task_number(bot: Bot, **filters: Any) -> tuple[int, str]:
    out = await get_tool("search_tasks").run(bot.ctx, {"status": "open", "limit": 1, **filters})
    task = out.tasks[0]  # type: ignore[attr-defined]
    return int(task.number), str(task.uuid)


# ---------------------------------------------------------------------- requests and signatures


async def test_unsigned_stale_and_forged_requests_are_rejected(bot: Bot) -> None:
    body = b"command=%2Ftask&text=help&user_id=UALICE&team_id=T1"
    assert (await bot.post(body, "application/x-www-form-urlencoded", signed=False)).status == 401
    stale = int(time.time()) - 10 * 60
    reply = await bot.post(
        body, "application/x-www-form-urlencoded", timestamp=stale, signature=sign(body, stale)
    )
    assert reply.status == 401
    forged = sign(body, int(time.time()), secret="not-the-secret")
    assert (await bot.post(body, "application/x-www-form-urlencoded", signature=forged)).status == 401
    assert bot.slack.of("response_url") == []


async def test_a_response_url_that_is_not_slacks_is_never_called(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A signed request's response_url still comes from the request: the bot posts only to Slack's own.
    elsewhere = MockSlack()
    await elsewhere.start()
    try:
        # "localhost", not the harness's "127.0.0.1": never a prefix of Slack's root, whatever the ports.
        stolen = elsewhere.response_url("stolen").replace("127.0.0.1", "localhost")
        monkeypatch.setattr(bot, "new_response_url", lambda: ("stolen", stolen))
        mark = bot.slack.mark()
        reply, _ = await bot.command("")
        assert reply.status == 200
        fallback = await bot.slack.wait_for("chat.postEphemeral", after=mark)
        assert fallback.args["user"] == "UALICE" and "/task search" in fallback.text_of_blocks()
        assert elsewhere.calls == []
    finally:
        await elsewhere.stop()


async def test_help_and_a_wrong_command_point_at_the_word(bot: Bot) -> None:
    reply, name = await bot.command("")
    assert reply.status == 200
    help_call = await bot.response(name)
    assert help_call.args["response_type"] == "ephemeral"
    assert "/task search" in help_call.text_of_blocks()

    _, name = await bot.command("stauts #1 closed")
    usage = await bot.response(name)
    assert usage.args["response_type"] == "ephemeral"
    text = usage.text_of_blocks()
    assert "stauts" in text and "^^^^^^" in text


# ---------------------------------------------------------------------- create


async def test_create_through_the_modal_assigns_and_dms_the_assignee(bot: Bot) -> None:
    reply, name = await bot.command("new Refund check for DEMO-42", user="UALICE")
    assert reply.status == 200
    opened = await bot.slack.wait_for("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == ids.CREATE_MODAL
    name_block = next(b for b in view["blocks"] if b.get("block_id") == ids.NAME)
    assert name_block["element"]["initial_value"] == "Refund check for DEMO-42"

    mark = bot.slack.mark()
    state = values(
        name=text_input("Refund check for DEMO-42"),
        details=text_input("Customer <!channel> asked twice"),
        priority=select("high"),
        due=date("2030-01-15"),
        assignee=picked("user:1003"),
        tags=text_input("refund, vip"),
        object_type=select("order"),
        object_id=text_input("DEMO-42"),
    )
    reply = await bot.view_submission(view, state, user="UALICE")
    assert reply.status == 200
    saving = reply.json()  # the form turns into "Saving…" at once; UltraCart is called after
    assert saving["response_action"] == "update" and saving["view"]["callback_id"] == ids.SAVING_MODAL
    assert "Refund check for DEMO-42" in json.dumps(saving["view"]) and "submit" not in saving["view"]
    card = await bot.response(name, after=mark)
    assert card.args["response_type"] == "in_channel"
    blocks = card.text_of_blocks()
    assert "Refund check for DEMO-42" in blocks and "Sam Rivera" in blocks and "<@UALICE> created" in blocks
    assert "<!channel>" not in blocks  # escaped
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "USAM", after=mark)
    assert "<@UALICE> assigned you" in dm.text_of_blocks()
    # Sam is linked: no e-mail look-up (UltraCart's users have no e-mail to look up).
    assert all(c.method != "users.lookupByEmail" for c in bot.slack.calls[mark:])

    number = int(card.args["text"].split()[0].lstrip("#"))
    saved = await bot.slack.wait_for("views.update", after=mark)  # then a confirmation, same modal
    assert saved.args["view_id"] == "V999" and saved.args["view"]["callback_id"] == ids.SAVED_MODAL
    assert saved.args["view"]["title"]["text"] == f"Task #{number} created"
    assert "Sam Rivera" in saved.text_of_blocks() and "actions" not in {b["type"] for b in saved.blocks}
    task = await bot.task(f"#{number}")
    assert task.assigned.user == "Sam Rivera" and task.priority == "high" and task.tags == ["refund", "vip"]
    assert task.object.id == "DEMO-42"


async def test_create_validation_is_inline_and_nothing_is_sent(bot: Bot) -> None:
    await bot.command("new")
    view = (await bot.slack.wait_for("views.open")).args["view"]
    reply = await bot.view_submission(view, values(name=text_input("X"), object_type=select("order")))
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_action"] == "errors" and ids.OBJECT_ID in answer["errors"]


async def test_message_shortcut_prefills_the_create_modal_with_a_permalink(bot: Bot) -> None:
    reply = await bot.message_shortcut(
        "Customer on order <https://x.example|DEMO-1> wants a refund &amp; a call"
    )
    assert reply.status == 200
    opened = await bot.slack.wait_for("views.open")
    assert "https://test.slack.com/archives" not in json.dumps(opened.args["view"])
    assert (await bot.slack.wait_for("chat.getPermalink")).index > opened.index  # the trigger first
    updated = await bot.slack.wait_for("views.update")
    assert str(updated.args["view_id"]).startswith("V")  # the view views.open answered with
    view = updated.args["view"]
    dumped = json.dumps(view)
    assert "https://test.slack.com/archives/C0GENERAL/p1700000123000200" in dumped
    details = next(b for b in view["blocks"] if b.get("block_id") == ids.DETAILS)["element"]["initial_value"]
    assert "wants a refund & a call" in details and "DEMO-1 (https://x.example)" in details
    mark = bot.slack.mark()
    await bot.view_submission(view, values(name=text_input("Refund call")))
    card = await bot.slack.wait_for("response_url", after=mark)  # message shortcuts carry a response_url
    assert card.args["response_type"] == "in_channel" and "from a message" in card.text_of_blocks()


async def test_message_shortcut_opens_the_modal_before_a_rate_limited_permalink(bot: Bot) -> None:
    bot.slack.rate_limit["chat.getPermalink"] = 1
    await bot.message_shortcut("Customer wants a refund")
    opened = await bot.slack.wait_for("views.open")
    permalinks = [c for c in bot.slack.of("chat.getPermalink") if c.index < opened.index]
    assert permalinks == []  # nothing stood between the trigger and views.open
    updated = await bot.slack.wait_for("views.update")
    assert "https://test.slack.com/archives/C0GENERAL/p1700000123000200" in json.dumps(updated.args["view"])


async def test_views_open_is_never_retried(bot: Bot) -> None:
    bot.slack.rate_limit["views.open"] = 1
    await bot.message_shortcut("Customer wants a refund")
    told = await bot.slack.wait_for("response_url")  # the error, told to the member
    assert "ratelimited" in told.text_of_blocks() or "ratelimited" in json.dumps(told.args)
    assert len(bot.slack.of("views.open")) == 1
    assert bot.slack.of("chat.getPermalink") == []  # the modal never opened: nothing to link


# ---------------------------------------------------------------------- find


async def test_search_by_command_pages_with_more(bot: Bot) -> None:
    _, name = await bot.command("search status:open sort:number")
    first = await bot.response(name)
    rows = [b for b in first.blocks if str(b.get("block_id", "")).startswith(ids.ROW + ":")]
    assert len(rows) == 10 and len(first.blocks) <= 50
    assert all(r["accessory"]["type"] == "overflow" for r in rows)
    more = next(b for b in first.blocks if b["type"] == "actions")["elements"][0]
    mark = bot.slack.mark()
    _, name2 = await bot.block_action(
        {"action_id": ids.MORE_RESULTS, "block_id": "x", "value": more["value"], "type": "button"},
        ephemeral=True,
    )
    second = await bot.response(name2, after=mark)
    assert "(continued)" in second.text_of_blocks()
    assert second.blocks[1]["block_id"] not in {r["block_id"] for r in rows}


async def test_search_filters_and_object_lookup(bot: Bot) -> None:
    _, name = await bot.command('search group:"Fraud Review" priority:critical')
    found = await bot.response(name)
    assert "Review possible fraud" in found.text_of_blocks()
    _, name = await bot.command("search type:order object:DEMO-0001234")
    found = await bot.response(name)
    assert "Collect payment" in found.text_of_blocks()


async def test_search_through_the_modal(bot: Bot) -> None:
    _, name = await bot.command("search")
    view = (await bot.slack.wait_for("views.open")).args["view"]
    assert view["callback_id"] == ids.SEARCH_MODAL
    state = values(status=select("open"), assignee=picked("group:203"), sort=select("-priority"))
    reply = await bot.view_submission(view, state)
    assert reply.text == ""
    found = await bot.response(name)
    assert found.args["response_type"] == "ephemeral"
    assert "Review possible fraud" in found.text_of_blocks()

    bad = await bot.view_submission(view, values(due_after=date("2030-02-01"), due_before=date("2030-01-01")))
    assert bad.json()["errors"] == {ids.DUE_BEFORE: "This date is before the start of the range."}


async def test_mine_for_the_credential_user_and_for_others(bot: Bot) -> None:
    _, name = await bot.command("mine", user="UOWNER")
    mine = await bot.response(name)
    text = mine.text_of_blocks()
    assert "Your open tasks" in text and "Collect payment" in text  # through Accounts Receivable

    _, name = await bot.command("mine", user="UALICE")
    alice = await bot.response(name)
    assert "UltraCart tells me group membership only" in alice.text_of_blocks()
    _, name = await bot.command('join "Customer Service"', user="UALICE")
    assert "Customer Service" in (await bot.response(name)).text_of_blocks()
    _, name = await bot.command("mine", user="UALICE")
    alice = await bot.response(name)
    assert "Auto order card declined" in alice.text_of_blocks()  # a Customer Service task


async def test_unmapped_user_is_told_how_to_fix_it(bot: Bot) -> None:
    _, name = await bot.command("mine", user="USTRANGER")
    told = await bot.response(name)
    shown = told.text_of_blocks()
    assert told.args["response_type"] == "ephemeral"
    assert "/task connect" in shown and "/task link" in shown and "/task iam" in shown
    _, name = await bot.command('iam "Sam Rivera"', user="USTRANGER")
    assert "asked the workspace's admins" in (await bot.response(name)).text_of_blocks()
    _, name = await bot.command("mine", user="USTRANGER")  # nothing changed: an admin has not approved
    assert "I don't know who" in (await bot.response(name)).text_of_blocks()


# ---------------------------------------------------------------------- change


async def test_show_then_act_on_the_card_in_place(bot: Bot) -> None:
    number, uuid = await open_task_number(bot, assignee="unassigned")
    _, name = await bot.command(f"show #{number}", user="UALICE")
    shown = await bot.response(name)
    assert shown.args["response_type"] == "in_channel"
    card = Call("chat.postMessage", {"ts": "1700000000.000777", "blocks": shown.blocks}, 0)
    block = f"{ids.CARD_ACTIONS}:{uuid}"

    async def act(action: dict[str, Any], user: str = "UALICE") -> Call:
        mark = bot.slack.mark()
        reply, _ = await bot.block_action({"block_id": block, **action}, user=user, message=card)
        assert reply.status == 200
        return await bot.slack.wait_for("chat.update", after=mark)

    updated = await act({"action_id": ids.ASSIGN_ME, "value": uuid, "type": "button"})
    assert updated.args["ts"] == "1700000000.000777" and updated.args["channel"] == CHANNEL
    assert "<@UALICE> changed: assigned to Alice Carter" in updated.text_of_blocks()

    mark = bot.slack.mark()
    updated = await act(
        {
            "action_id": ids.REASSIGN,
            "type": "external_select",
            "selected_option": {"value": "user:1003", "text": {"type": "plain_text", "text": "Sam"}},
        }
    )
    assert "assigned to Sam Rivera" in updated.text_of_blocks()
    await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "USAM", after=mark)

    updated = await act(
        {"action_id": ids.SET_STATUS, "type": "static_select", "selected_option": {"value": "delayed"}}
    )
    assert "status → delayed" in updated.text_of_blocks()
    updated = await act(
        {"action_id": ids.SET_PRIORITY, "type": "static_select", "selected_option": {"value": "critical"}}
    )
    assert "priority → critical" in updated.text_of_blocks()
    updated = await act({"action_id": ids.CLOSE, "value": uuid, "type": "button"}, user="USAM")
    assert "<@USAM> changed: status → closed" in updated.text_of_blocks()
    assert (await bot.task(uuid)).status == "closed"
    updated = await act({"action_id": ids.REOPEN, "value": uuid, "type": "button"})
    assert (await bot.task(uuid)).status == "open"
    task = await bot.task(uuid)
    assert task.assigned.user == "Sam Rivera" and task.priority == "critical"


async def test_quick_changes_by_command(bot: Bot) -> None:
    number, uuid = await open_task_number(bot, assignee="unassigned")
    mark = bot.slack.mark()
    _, name = await bot.command(f"assign #{number} <@UPRIYA|priya>", user="UALICE")
    card = await bot.response(name)
    assert "assigned to Priya Shah" in card.text_of_blocks() and card.args["response_type"] == "in_channel"
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "UPRIYA", after=mark)
    assert "#" + str(number) in dm.args["text"]

    _, name = await bot.command(f'assign #{number} "Warehouse"')
    assert "assigned to Warehouse" in (await bot.response(name)).text_of_blocks()
    new_priority = "low" if (await bot.task(uuid)).priority != "low" else "high"
    _, name = await bot.command(f"priority #{number} {new_priority}")
    assert f"priority → {new_priority}" in (await bot.response(name)).text_of_blocks()
    _, name = await bot.command(f"status {uuid} awaiting")
    assert "status → awaiting customer feedback" in (await bot.response(name)).text_of_blocks()
    _, name = await bot.command(f'note #{number} Called the customer, "no answer"')
    assert "added a note" in (await bot.response(name)).text_of_blocks()
    _, name = await bot.command(f"close #{number} resolved by phone", user="USAM")
    assert "status → closed; added a note" in (await bot.response(name)).text_of_blocks()
    _, name = await bot.command(f"reopen #{number}")
    await bot.response(name)
    task = await bot.task(uuid)
    assert task.status == "open" and task.assigned.group == "Warehouse"
    notes = [n.text for n in task.notes]
    assert 'Called the customer, "no answer"\n— via Slack user UALICE' in notes
    assert "resolved by phone\n— via Slack user USAM" in notes

    _, name = await bot.command(f"priority #{number} urgentish")
    usage = await bot.response(name)
    assert "urgentish" in usage.text_of_blocks() and "^^^" in usage.text_of_blocks()


async def test_note_and_edit_modals_update_the_card(bot: Bot) -> None:
    number, uuid = await open_task_number(bot)
    _, name = await bot.command(f"show #{number}")
    shown = await bot.response(name)
    card = Call("chat.postMessage", {"ts": "1700000000.000888", "blocks": shown.blocks}, 0)
    block = f"{ids.CARD_MORE_ACTIONS}:{uuid}"

    await bot.block_action(
        {"action_id": ids.ADD_NOTE, "block_id": block, "value": uuid, "type": "button"}, message=card
    )
    loading = await bot.slack.wait_for("views.open")
    assert loading.args["view"]["callback_id"] == ids.LOADING_MODAL
    note_view = (await bot.slack.wait_for("views.update")).args["view"]
    assert note_view["callback_id"] == ids.NOTE_MODAL
    mark = bot.slack.mark()
    await bot.view_submission(note_view, values(note_text=text_input("Checked stock <@U999>")))
    updated = await bot.slack.wait_for("chat.update", after=mark)
    assert updated.args["ts"] == "1700000000.000888" and "added a note" in updated.text_of_blocks()
    assert "&lt;@U999&gt;" in updated.text_of_blocks()  # a forged mention stays text

    mark = bot.slack.mark()
    await bot.block_action(
        {"action_id": ids.EDIT, "block_id": block, "value": uuid, "type": "button"}, message=card
    )
    edit_view = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
    assert edit_view["callback_id"] == ids.EDIT_MODAL
    initial = {b["block_id"]: b["element"] for b in edit_view["blocks"] if b["type"] == "input"}
    state = values(
        name=text_input(initial[ids.NAME]["initial_value"]),
        status=select(initial[ids.STATUS].get("initial_option", {}).get("value")),
        priority=select("low"),
        due=date(initial[ids.DUE].get("initial_date")),
        assignee=picked(initial[ids.ASSIGNEE]["initial_option"]["value"])
        if "initial_option" in initial[ids.ASSIGNEE]
        else {},
        tags=text_input(initial[ids.TAGS].get("initial_value") or ""),
    )
    if ids.DETAILS in initial:
        state.update(values(details=text_input(initial[ids.DETAILS].get("initial_value") or "")))
    mark = bot.slack.mark()
    reply = await bot.view_submission(edit_view, state)
    assert reply.json()["view"]["callback_id"] == ids.SAVING_MODAL
    updated = await bot.slack.wait_for("chat.update", after=mark)
    assert "edited: priority → low" in updated.text_of_blocks()  # only what changed was sent
    saved = await bot.slack.wait_for("views.update", after=mark)
    assert (
        saved.args["view"]["callback_id"] == ids.SAVED_MODAL
        and saved.args["view"]["title"]["text"] == "Saved"
    )
    assert "priority → low" in saved.text_of_blocks()

    mark = bot.slack.mark()
    unchanged = await bot.view_submission(
        edit_view, {**state, **values(priority=select(initial[ids.PRIORITY]["initial_option"]["value"]))}
    )
    assert unchanged.text == ""  # nothing changed: the form just closes, and nothing is sent


async def test_row_menu_acts_on_one_result(bot: Bot) -> None:
    _, uuid = await open_task_number(bot, assignee="unassigned")
    mark = bot.slack.mark()
    _, name = await bot.block_action(
        {
            "action_id": ids.ROW_MENU,
            "block_id": f"{ids.ROW}:{uuid}",
            "type": "overflow",
            "selected_option": {"value": f"{ids.MENU_ASSIGN_ME}|{uuid}"},
        },
        user="UOWNER",
        ephemeral=True,
    )
    card = await bot.response(name, after=mark)
    assert card.args["response_type"] == "ephemeral" and card.args["replace_original"] is False
    assert "assigned to Demo Owner" in card.text_of_blocks()

    mark = bot.slack.mark()
    await bot.block_action(
        {
            "action_id": ids.ROW_MENU,
            "block_id": f"{ids.ROW}:{uuid}",
            "type": "overflow",
            "selected_option": {"value": f"{ids.MENU_REASSIGN}|{uuid}"},
        },
        ephemeral=True,
    )
    view = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
    assert view["callback_id"] == ids.REASSIGN_MODAL
    mark = bot.slack.mark()
    await bot.view_submission(view, values(assignee=picked("user:1006")), user="UOWNER")
    assert (await bot.task(uuid)).assigned.user == "Jordan Blake"


# ---------------------------------------------------------------------- home, pickers, failures


async def test_app_home_lists_my_tasks_and_group_tasks(bot: Bot) -> None:
    reply = await bot.event(
        {
            "type": "app_home_opened",
            "user": "UOWNER",
            "channel": "DOWNER",
            "tab": "home",
            "event_ts": str(time.time()),
        }
    )
    assert reply.status == 200
    published = await bot.slack.wait_for("views.publish")
    assert published.args["user_id"] == "UOWNER"
    view = published.args["view"]
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    text = json.dumps(view)
    assert "Your open tasks" in text and "Unassigned in your groups" in text and "Collect payment" in text

    mark = bot.slack.mark()
    await bot.block_action(
        {"action_id": ids.HOME_NEW_TASK, "value": "new", "type": "button"}, user="UOWNER", home=True
    )
    view = (await bot.slack.wait_for("views.open", after=mark)).args["view"]
    await bot.view_submission(
        view, values(name=text_input("Made from home"), assignee=picked("user:1001")), user="UOWNER"
    )
    republished = await bot.slack.wait_for("views.publish", after=mark)
    assert "Made from home" in json.dumps(republished.args["view"])

    mark = bot.slack.mark()
    await bot.event({"type": "app_home_opened", "user": "USTRANGER", "tab": "home"})
    stranger = await bot.slack.wait_for(
        "views.publish", lambda c: c.args["user_id"] == "USTRANGER", after=mark
    )
    assert "/task iam" in json.dumps(stranger.args["view"])


async def test_picker_options_are_users_and_groups(bot: Bot) -> None:
    reply = await bot.block_suggestion(ids.ASSIGNEE, "sa")
    assert reply.status == 200
    groups = {g["label"]["text"]: g["options"] for g in reply.json()["option_groups"]}
    assert [o["value"] for o in groups["People"]] == ["user:1003"]
    everyone = (await bot.block_suggestion(ids.REASSIGN, "")).json()["option_groups"]
    labels = [g["label"]["text"] for g in everyone]
    assert labels == ["People", "Groups"]
    search = (await bot.block_suggestion(ids.ASSIGNEE, "", view_callback=ids.SEARCH_MODAL)).json()
    assert search["option_groups"][0]["label"]["text"] == "Shortcuts"


async def test_ultracart_failure_becomes_an_ephemeral_message(bot: Bot) -> None:
    _, name = await bot.command("show 0b7f1f6e-0000-4000-8000-000000000000")
    told = await bot.response(name)
    assert told.args["response_type"] == "ephemeral"
    assert "Not found" in told.text_of_blocks()
    assert "slack-test-owner" not in told.text_of_blocks()  # never the credential


async def test_a_task_number_that_is_not_there_is_answered_at_the_word(bot: Bot) -> None:
    _, name = await bot.command("show #9999999")
    told = await bot.response(name)
    assert told.args["response_type"] == "ephemeral"
    text = told.text_of_blocks()
    assert "there is no task #9999999" in text and "^^^^^^^^" in text and "/task show REF" in text


async def test_an_event_slack_sends_again_is_handled_once(bot: Bot) -> None:
    body = bot.event_body({"type": "app_home_opened", "user": "UALICE", "tab": "home"})
    done = asyncio.Event()
    handled = bot.deps.events.handled

    async def mark(event_id: str) -> None:
        await handled(event_id)
        done.set()

    bot.deps.events.handled = mark  # type: ignore[method-assign]
    first = await bot.event(body)
    assert first.status == 200 and "x-slack-no-retry" not in first.headers
    await bot.slack.wait_for("views.publish", lambda c: c.args.get("user_id") == "UALICE")
    await asyncio.wait_for(done.wait(), timeout=10)  # marked handled after the publish
    again = await bot.event(body, retry_num=1)
    assert again.status == 200 and again.headers.get("x-slack-no-retry") == "1"  # no listener ran
    await bot.event({"type": "app_home_opened", "user": "UOWNER", "tab": "home"})
    await bot.slack.wait_for("views.publish", lambda c: c.args.get("user_id") == "UOWNER")
    assert [c.args.get("user_id") for c in bot.slack.of("views.publish")] == ["UALICE", "UOWNER"]


async def test_an_event_claimed_by_a_replica_that_died_is_handled_by_a_later_retry(bot: Bot) -> None:
    now = [1_700_000_000.0]
    bot.deps.events = EventLog(bot.deps.identities.db, clock=lambda: now[0], stale_after=30)
    body = bot.event_body({"type": "app_home_opened", "user": "UALICE", "tab": "home"})
    event_id = json.loads(body)["event_id"]
    assert await bot.deps.events.claim(event_id, "T1")  # another replica claimed it, then died
    soon = await bot.event(body, retry_num=1)  # Slack's first retry: that replica may still be at it
    assert soon.status == 503 and "x-slack-no-retry" not in soon.headers  # so Slack sends it again
    now[0] += 60
    later = await bot.event(body, retry_num=2)  # a minute later: the claim is stale, taken over
    assert later.status == 200 and "x-slack-no-retry" not in later.headers
    await bot.slack.wait_for("views.publish", lambda c: c.args.get("user_id") == "UALICE")
    now[0] += 10
    last = await bot.event(body, retry_num=3)  # handled by this replica now (or still being handled)
    assert last.headers.get("x-slack-no-retry") == "1"
    assert len(bot.slack.of("views.publish")) == 1


async def test_slack_429_is_retried(bot: Bot) -> None:
    # views.open is not (test_views_open_is_never_retried): its trigger id would expire.
    bot.slack.rate_limit["views.publish"] = 1
    await bot.event({"type": "app_home_opened", "user": "UALICE", "tab": "home"})
    await bot.slack.wait_for("views.publish", lambda c: len(bot.slack.of("views.publish")) >= 2)
    assert len(bot.slack.of("views.publish")) == 2


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("expired_trigger_id", "too long to open a form"),
        ("missing_scope", "lacks a Slack permission"),
        ("some_new_code", "Slack refused a request."),
    ],
)
async def test_slack_errors_are_told_in_words_with_the_code(bot: Bot, code: str, words: str) -> None:
    bot.slack.fail["views.open"] = code
    _, name = await bot.command("new Something")
    told = (await bot.response(name)).text_of_blocks()
    assert words in told and f"(`{code}`)" in told


async def test_a_title_too_long_for_ultracart_goes_on_in_the_details(bot: Bot) -> None:
    words = " ".join(f"word{i}" for i in range(60))  # 350 characters; UltraCart takes 250
    await bot.command(f"new {words}")
    view = (await bot.slack.wait_for("views.open")).args["view"]
    initial = {
        b["block_id"]: b["element"].get("initial_value") for b in view["blocks"] if b["type"] == "input"
    }
    title, details = initial[ids.NAME], initial[ids.DETAILS]
    assert len(title) <= 250 and title.endswith("…") and details.startswith("…")
    assert f"{title[:-1]} {details[1:]}" == words  # nothing lost, cut between words


async def test_at_none_is_a_name_and_unassigns_nothing(bot: Bot) -> None:
    number, uuid = await open_task_number(bot, assignee="Sam Rivera")
    _, name = await bot.command(f"assign #{number} @none")
    told = await bot.response(name)
    assert told.args.get("response_type") != "in_channel"  # told only to whoever asked
    assert "no assignable user matches 'none'" in told.text_of_blocks()  # looked up as a name
    assert (await bot.task(uuid)).assigned.user == "Sam Rivera"
