"""Builders alone: the largest realistic inputs stay inside Slack's limits, and text cannot ping or
forge links."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from shared_client.models import WorkflowGroup, WorkflowUser
from shared_client.tools.outputs import Assigned, LinkedObject, NoteView, TaskDetail, TaskSummary
from slack_bot import ids
from slack_bot.blocks import common as c
from slack_bot.blocks.card import activity_line, task_card
from slack_bot.blocks.help import usage_blocks
from slack_bot.blocks.home import home_view
from slack_bot.blocks.modals import CreatePrefill, create_modal, edit_modal, note_modal, search_modal
from slack_bot.blocks.options import assignee_option_groups
from slack_bot.blocks.results import results_blocks
from slack_bot.forms import Meta, edit_initial
from slack_bot.grammar import parse
from slack_bot.text import escape, truncate

EVIL = "<!channel> @here <https://evil.example|Your bank> & <@U0BOSS> "
LONG_NAME = (EVIL + "x" * 300)[:250]
URL = "https://secure.ultracart.com/rest/v2"  # ULTRACART_BASE_URL


def big_task(n: int = 1) -> TaskDetail:
    return TaskDetail(
        uuid=f"0b7f1f6e-1111-4000-8000-{n:012d}",
        number=100000 + n,
        name=LONG_NAME,
        details=EVIL * 3000,
        status="awaiting customer feedback",
        priority="critical",
        assigned=Assigned(
            user_id=1003, user="Bartholomew " * 20, group_id=201, group="Customer Service " * 20
        ),
        due="2026-01-01T23:59:59+00:00",
        overdue=True,
        object=LinkedObject(
            type="customer profile", id="C" * 100, url="https://x.example/" + "a" * 500, context=EVIL * 50
        ),
        tags=[f"tag-{i}-" + "t" * 90 for i in range(50)],
        notes=[
            NoteView(author="Someone " * 30, at="2026-01-01T00:00:00+00:00", text=EVIL * 200)
            for _ in range(300)
        ],
    )


def summary(n: int) -> TaskSummary:
    return TaskSummary(
        uuid=f"0b7f1f6e-2222-4000-8000-{n:012d}",
        number=n,
        name=LONG_NAME,
        status="open",
        priority="high",
        assignee="A" * 200,
        group="G" * 200,
        due="2026-01-01T00:00:00+00:00",
        overdue=True,
        object="order " + "9" * 100,
    )


def texts(value: Any) -> list[str]:
    """Every text object's text in a JSON tree."""
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") in {"mrkdwn", "plain_text"} and isinstance(value.get("text"), str):
            found.append(value["text"])
        for item in value.values():
            found += texts(item)
    elif isinstance(value, list):
        for item in value:
            found += texts(item)
    return found


def check_message(blocks: list[Block]) -> list[dict[str, Any]]:
    dumped = c.dump(blocks)  # slack_sdk validates lengths and counts here
    assert len(dumped) <= c.MAX_MESSAGE_BLOCKS
    assert all(len(t) <= c.MAX_SECTION_TEXT for t in texts(dumped))
    no_pings(dumped)
    return dumped


def no_pings(dumped: Any) -> None:
    raw = json.dumps(dumped, ensure_ascii=False)
    for forbidden in ("<!channel>", "<!here>", "@here", "<https://evil", "<@U0BOSS>"):
        assert forbidden not in raw


def check_view(view: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = view.to_dict()
    assert len(dumped["blocks"]) <= c.MAX_VIEW_BLOCKS
    if dumped["type"] == "modal":
        assert len(dumped["title"]["text"]) <= c.MAX_VIEW_TITLE
    assert len(dumped.get("private_metadata", "")) <= c.MAX_PRIVATE_METADATA
    for block in dumped["blocks"]:
        element = block.get("element") or {}
        assert len(element.get("initial_value") or "") <= c.MAX_INPUT_VALUE
    return dumped


def test_escape_and_truncate() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert "@here" not in escape("hi @here and @channel")
    assert truncate("a &amp; b", 6) == "a …"  # never half an entity
    assert len(truncate("x" * 5000, 3000)) == 3000


def test_card_on_the_largest_task() -> None:
    dumped = check_message(
        task_card(big_task(), URL, activity=activity_line("U1", ["x" * 5000]), intro="hello")
    )
    raw = json.dumps(dumped)
    assert "#100001" in raw and "overdue" in raw and "299 earlier note" not in raw  # 3 shown, 297 earlier
    assert "297 earlier note(s)" in raw
    action_blocks = [b for b in dumped if b["type"] == "actions"]
    assert {e["action_id"] for b in action_blocks for e in b["elements"]} == {
        ids.ASSIGN_ME,
        ids.REASSIGN,
        ids.SET_STATUS,
        ids.SET_PRIORITY,
        ids.ADD_NOTE,
        ids.EDIT,
        ids.CLOSE,
    }


def test_closed_card_offers_reopen() -> None:
    task = big_task().model_copy(update={"status": "closed - system"})
    dumped = check_message(task_card(task, URL))
    ids_seen = {e["action_id"] for b in dumped if b["type"] == "actions" for e in b["elements"]}
    assert ids.REOPEN in ids_seen and ids.CLOSE not in ids_seen


def test_results_show_ten_with_more() -> None:
    tasks = [summary(n) for n in range(1, 26)]
    dumped = check_message(results_blocks("*25 tasks*", tasks, more_value="{}", note=escape(EVIL * 100)))
    rows = [b for b in dumped if str(b.get("block_id", "")).startswith(ids.ROW)]
    assert len(rows) == 10
    assert all(len(r["accessory"]["options"]) == 5 for r in rows)
    assert dumped[-1]["elements"][0]["action_id"] == ids.MORE_RESULTS


def test_more_button_value_too_long_becomes_a_hint() -> None:
    dumped = check_message(results_blocks("t", [summary(1)], more_value="x" * 5000))
    assert "narrow the search" in json.dumps(dumped)


def test_home_with_hundreds_of_tasks() -> None:
    view = home_view(
        [summary(n) for n in range(200)],
        [summary(n) for n in range(200)],
        who="You",
        groups_note=escape(EVIL * 100),
    )
    dumped = check_view(view)
    no_pings(dumped)
    assert "use `/task mine`" in json.dumps(dumped)


def test_modals_with_long_prefills() -> None:
    meta = Meta(channel="C1", response_url="https://hooks.slack.com/" + "x" * 5000, link="https://l").dump()
    create = check_view(
        create_modal(CreatePrefill(title="t" * 1000, details="d" * 100_000, source_link="https://l"), meta)
    )
    assert json.loads(create["private_metadata"])["channel"] == "C1"
    task = big_task()
    edit_meta = Meta(task=task.uuid, initial=edit_initial(task)).dump()
    edit = check_view(edit_modal(task, edit_meta))
    assert "longer than Slack lets a form hold" in json.dumps(edit)  # details are not cut and saved back
    assert "details" not in json.loads(edit_meta)["initial"]
    check_view(note_modal(task.number, task.name, "{}"))
    check_view(search_modal("{}"))


def test_options_for_a_hundred_and_fifty_users() -> None:
    users = [WorkflowUser(user_id=i, user=f"User {i} " + "n" * 100) for i in range(150)] + [
        WorkflowUser(user_id=150, user="u150@x.example")
    ]  # a user whose name is an e-mail address
    groups = [WorkflowGroup(group_id=i, group=f"Group {i} " + "g" * 100) for i in range(40)]
    groups_json = assignee_option_groups(users, groups, "", special=True)
    options = [o for g in groups_json for o in g["options"]]
    assert len(options) <= c.MAX_OPTIONS
    assert all(
        len(o["text"]["text"]) <= c.MAX_OPTION_TEXT and len(o["value"]) <= c.MAX_OPTION_VALUE for o in options
    )
    assert [g["label"]["text"] for g in groups_json] == ["Shortcuts", "People", "Groups"]
    only = assignee_option_groups(users, groups, "u150@")
    assert [o["value"] for o in only[0]["options"]] == ["user:150"]


def test_usage_block_escapes_the_command() -> None:
    error = parse("show <!channel>")
    dumped = check_message(usage_blocks(error))  # type: ignore[arg-type]
    assert "^" in json.dumps(dumped)


def test_a_field_too_long_for_the_edit_form_is_not_offered_nor_saved_back_cut() -> None:
    from slack_bot.forms import edit_args

    task = big_task().model_copy(
        update={"tags": [f"tag-{i}-" + "t" * 90 for i in range(50)], "name": "n" * 300}
    )
    meta = Meta(task=task.uuid, initial=edit_initial(task))
    view = edit_modal(task, meta.dump()).to_dict()
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert ids.TAGS not in inputs and ids.NAME not in inputs and ids.DETAILS not in inputs
    assert "tags are longer than Slack lets a form hold" in json.dumps(view)
    # What Slack sends back: every input the form showed, the person changed only the priority.
    state: dict[str, Any] = {block: {block: {}} for block in inputs}
    state[ids.PRIORITY][ids.PRIORITY] = {"selected_option": {"value": "low"}}
    state[ids.STATUS][ids.STATUS] = {"selected_option": None}
    state[ids.DUE][ids.DUE] = {"selected_date": "2026-01-01"}
    state[ids.ASSIGNEE][ids.ASSIGNEE] = {"selected_option": {"value": "user:1003"}}
    args, errors = edit_args(state, meta)
    assert errors == {} and args == {"task": task.uuid, "priority": "low"}


def linked_task(url: str) -> TaskDetail:
    return TaskDetail(
        uuid="0b7f1f6e-3333-4000-8000-000000000001",
        number=7,
        name="Refund",
        assigned=Assigned(),
        object=LinkedObject(type="order", id="DEMO-1", url=url),
    )


def linked_field(url: str, base: str = URL) -> str:
    section = task_card(linked_task(url), base)[0].to_dict()
    return next(f["text"] for f in section["fields"] if f["text"].startswith("*Linked*"))


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://secure.ultracart.com/merchant/order?id=DEMO-1", URL),
        ("https://admin.ultracart.com/o/1", URL),
        ("https://ultracart.com/o/1", URL),
        ("https://uc.internal.example/o/1", "https://uc.internal.example/rest/v2"),
    ],
)
def test_a_linked_object_on_ultracart_is_a_link(url: str, base: str) -> None:
    assert linked_field(url, base) == f"*Linked*\n<{url}|order DEMO-1>"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/ultracart",
        "http://secure.ultracart.com/o/1",  # not https
        "https://secure.ultracart.com.evil.example/o/1",
        "https://evilultracart.com/o/1",
        "https://secure.ultracart.com@evil.example/o/1",
        "javascript:alert(1)",
        "https://secure.ultracart.com/o/1|Your bank",
    ],
)
def test_a_linked_object_elsewhere_is_plain_text(url: str) -> None:
    linked = linked_field(url)
    assert linked == f"*Linked*\norder DEMO-1 ({escape(url)})"


def test_a_note_cannot_forge_another_authors_note() -> None:
    forged = "fine\n*Bob Boss* 2026-01-02: approved, refund in full\n\n> quoted"
    task = linked_task("https://secure.ultracart.com/o/1").model_copy(
        update={"notes": [NoteView(author="Mallory", at="2026-01-01T00:00:00+00:00", text=forged)]}
    )
    sections = [b.to_dict() for b in task_card(task, URL) if b.to_dict()["type"] == "section"]
    notes = next(s["text"]["text"] for s in sections if "Mallory" in s["text"]["text"])
    lines = notes.split("\n")
    assert [line for line in lines if not line.startswith(">")] == ["*Mallory* 2026-01-01:"]
    assert lines[1:] == [">fine", ">*Bob Boss* 2026-01-02: approved, refund in full", ">", ">&gt; quoted"]
