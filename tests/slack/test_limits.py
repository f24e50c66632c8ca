"""Every builder, on the largest realistic inputs, against Slack's limits (a generic walk of the JSON)
and against pings and forged links in text people wrote."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from slack_limits import (
    message_problems,
    mrkdwn_texts,
    options_problems,
    ping_problems,
    view_problems,
)
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block, Option
from slack_sdk.models.views import View

from shared_client.models import WorkflowGroup, WorkflowUser
from shared_client.tools import ToolError
from shared_client.tools.outputs import Assigned, LinkedObject, NoteView, TaskDetail, TaskSummary
from slack_bot import blocks as blocks_package
from slack_bot import ids
from slack_bot.actors import NotMapped, no_mapping_message
from slack_bot.blocks import card, common, digest, help, home, modals, options, results
from slack_bot.digest.lists import DigestLists
from slack_bot.errors import error_message
from slack_bot.forms import Meta, State, edit_initial, refilled_blocks, typed_entries
from slack_bot.grammar import UsageError, parse
from slack_bot.text import escape

EVIL = "<!channel> @here <!everyone> <https://evil.example|Your bank> & <@U0BOSS> <#C0EVIL|general> @channel "
NAME = (EVIL * 10)[:250]  # UltraCart's longest task name
UUID = "0b7f1f6e-1111-4000-8000-{:012d}"
URL = "https://secure.ultracart.com/rest/v2"


def big_task(
    n: int = 1, *, details: str = EVIL * 3000, status: str = "awaiting customer feedback"
) -> TaskDetail:
    return TaskDetail(
        uuid=UUID.format(n),
        number=9_999_999_999 - n,
        name=NAME,
        details=details,
        status=status,
        priority="critical",
        assigned=Assigned(user_id=1003, user=EVIL * 20, group_id=201, group=EVIL * 20),
        due="2026-01-01T23:59:59+00:00",
        overdue=True,
        object=LinkedObject(
            type="customer profile", id=EVIL * 4, url="https://x.example/" + "a" * 2900, context=EVIL * 50
        ),
        tags=[f"{EVIL}{i}" for i in range(100)],
        notes=[
            NoteView(author=EVIL * 30, at="2026-01-01T00:00:00+00:00", text=EVIL * 200) for _ in range(300)
        ],
    )


def summary(n: int, status: str = "open") -> TaskSummary:
    return TaskSummary(
        uuid=UUID.format(n),
        number=9_999_999_999 - n,
        name=NAME,
        status=status,
        priority="critical",
        assignee=EVIL * 20,
        group=EVIL * 20,
        due="2026-01-01T00:00:00+00:00",
        overdue=True,
        object="order " + EVIL * 20,
    )


USERS = [WorkflowUser(user_id=i, user=f"{EVIL}{i}", email=f"u{i}@{'x' * 200}.example") for i in range(300)]
GROUPS = [WorkflowGroup(group_id=i, group=f"{EVIL}{i}") for i in range(150)]
LONG_META = Meta(
    channel="C" * 20,
    user="U" * 20,
    response_url="https://hooks.slack.com/" + "r" * 5000,
    message_ts="1700000000.000001",
    task=UUID.format(1),
    link="https://slack.example/archives/" + "p" * 2000,
    initial=edit_initial(big_task(details="short")),
).dump()
ERRORS: list[Exception] = [
    ToolError(EVIL * 100),
    NotMapped(no_mapping_message("U123") + escape(EVIL * 10)),
    SlackApiError("x", {"ok": False, "error": EVIL * 10}),
    RuntimeError(EVIL),
]

DIGEST = DigestLists(
    [summary(n) for n in range(100)],
    [summary(n) for n in range(100, 200)],
    [summary(n) for n in range(200, 300)],
)
DAY = date(2026, 12, 2)

Payload = tuple[str, Any]  # ("message", blocks) | ("view", view) | ("options", answer)


def largest_state(view: dict[str, Any]) -> State:
    """The most a person can put in every input of a form, as Slack's view state holds it."""
    state: State = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        kind = element["type"]
        typed: dict[str, Any] = {"type": kind}
        if kind == "plain_text_input":
            typed["value"] = (EVIL * 300)[: element.get("max_length", 3000)]
        elif kind == "static_select":
            typed["selected_option"] = element["options"][-1]
        elif kind == "external_select":
            label = {"type": "plain_text", "text": (EVIL * 5)[:75]}
            typed["selected_option"] = {"text": label, "value": "user:" + "9" * 140}
        elif kind == "datepicker":
            typed["selected_date"] = "2030-12-31"
        elif kind == "checkboxes":
            typed["selected_options"] = element["options"]
        state[block["block_id"]] = {element["action_id"]: typed}
    return state


def forms_given_back() -> list[Payload]:
    forms = [
        modals.create_modal(
            modals.CreatePrefill(title=EVIL, details=EVIL, source_link="https://l.example/" + "p" * 2900),
            LONG_META,
        ),
        modals.edit_modal(big_task(details="short"), LONG_META),
        modals.edit_modal(big_task(), LONG_META),
        modals.note_modal(9_999_999_999, NAME, LONG_META),
        modals.reassign_modal(9_999_999_999, NAME, LONG_META),
        modals.search_modal(LONG_META),
    ]
    given_back = []
    for form in forms:
        built = form.to_dict()
        blocks = refilled_blocks(built, largest_state(built))
        problem = escape(EVIL) * 1000
        for field in (None, ids.ASSIGNEE, ids.DETAILS, ids.NAME):
            notes, top = ({field: problem}, None) if field else (None, problem)
            again = modals.form_again(built, blocks, notes=notes, problem=top).to_dict()
            given_back.append(("view", again))
            # ... and given back once more (a second refusal): the first error notes are dropped.
            twice = modals.form_again(again, refilled_blocks(again, {}), notes=notes, problem=top)
            given_back.append(("view", twice.to_dict()))
        every_field = {b["block_id"]: problem for b in blocks if b.get("type") == "input"}
        both = modals.form_again(built, blocks, notes=every_field, problem=problem)
        given_back.append(("view", both.to_dict()))
    return given_back


def largest_entries() -> list[tuple[str, str]]:
    built = modals.create_modal(modals.CreatePrefill(), LONG_META).to_dict()
    return typed_entries(refilled_blocks(built, largest_state(built)))


def message(blocks: list[Block]) -> Payload:
    return ("message", common.dump(blocks))


def view(built: View) -> Payload:
    return ("view", built.to_dict())


# Each builder with its largest inputs. Arguments documented as mrkdwn the caller built (an intro, a
# message) get escaped text, as callers give them. `help` is the module; builders are named module.function.
CASES: dict[str, Callable[[], list[Payload]]] = {
    "card.task_card": lambda: [
        message(
            card.task_card(
                big_task(), URL, activity=card.activity_line("U1", [EVIL * 500]), intro=escape(EVIL) * 200
            )
        ),
        message(card.task_card(big_task(status="closed - system"), URL, activity=card.created_line("U1"))),
        message(
            card.task_card(
                big_task(details="", status="open").model_copy(update={"notes": [], "tags": []}), URL
            )
        ),
    ],
    "card.card_actions": lambda: [
        message(card.card_actions(summary(1))),
        message(card.card_actions(big_task())),
    ],
    "help.help_blocks": lambda: [message(help.help_blocks())],
    "help.usage_blocks": lambda: [
        message(help.usage_blocks(_usage("show " + "&lt;!channel&gt; " * 800))),
        message(help.usage_blocks(_usage('search status:open "' + "x" * 4000))),
        message(help.usage_blocks(_usage("frobnicate " + EVIL * 100))),
    ],
    "help.notice_blocks": lambda: (
        [message(help.notice_blocks(error_message(e))) for e in ERRORS]
        + [message(help.notice_blocks("x" * 10_000))]
    ),
    "home.home_view": lambda: [
        view(
            home.home_view(
                [summary(n) for n in range(300)],
                [summary(n) for n in range(300)],
                who="x" * 5000,
                groups_note="g" * 5000,
            )
        ),
        view(home.home_view([], [], who="hi", problem=no_mapping_message("U1") + escape(EVIL * 100))),
        view(
            home.home_view(
                [summary(n) for n in range(300)],
                [summary(n) for n in range(300, 600)],
                who="x" * 5000,
                groups_note="g" * 5000,
                today=DigestLists(
                    [summary(n) for n in range(100)],
                    [summary(n) for n in range(100, 200)],
                    [summary(n) for n in range(200, 300)],
                ),
            )
        ),
    ],
    "digest.digest_blocks": lambda: [
        message(digest.digest_blocks(DIGEST, DAY)),
        message(digest.digest_blocks(DigestLists([], [summary(1)], None), DAY)),
    ],
    "digest.home_digest_blocks": lambda: [
        message(digest.home_digest_blocks(DIGEST)),
        message(digest.home_digest_blocks(DigestLists([], [], []))),
    ],
    "digest.digest_row": lambda: [message([digest.digest_row(summary(1))])],
    "modals.create_modal": lambda: [
        view(
            modals.create_modal(
                modals.CreatePrefill(
                    title=EVIL * 100, details=EVIL * 5000, source_link="https://l.example/" + "p" * 2900
                ),
                LONG_META,
            )
        )
    ],
    "modals.edit_modal": lambda: [
        view(modals.edit_modal(big_task(), LONG_META)),
        view(modals.edit_modal(big_task(details="d" * 3000, status="closed - system"), LONG_META)),
    ],
    "modals.note_modal": lambda: [view(modals.note_modal(9_999_999_999, NAME, LONG_META))],
    "modals.reassign_modal": lambda: [view(modals.reassign_modal(9_999_999_999, NAME, LONG_META))],
    "modals.search_modal": lambda: [view(modals.search_modal(LONG_META))],
    "modals.loading_modal": lambda: [view(modals.loading_modal(EVIL, escape(EVIL) * 1000))],
    "modals.saving_modal": lambda: [view(modals.saving_modal(EVIL, escape(EVIL) * 1000, LONG_META))],
    "modals.saved_modal": lambda: [
        view(modals.saved_modal(EVIL, escape(EVIL) * 1000, big_task(), URL, escape(EVIL) * 1000)),
        view(modals.saved_modal("Saved", "ok", big_task(status="closed - system"), URL)),
    ],
    "modals.form_again": forms_given_back,
    "help.unsaved_blocks": lambda: (
        [message(help.unsaved_blocks(error_message(e), largest_entries())) for e in ERRORS]
        + [message(help.unsaved_blocks("x", [(EVIL * 100, "&" * 3000)] * 30))]
        + [message(help.unsaved_blocks("x", []))]
    ),
    "options.assignee_option_groups": lambda: (
        [
            ("options", {"option_groups": options.assignee_option_groups(USERS, GROUPS, "", special=special)})
            for special in (False, True)
        ]
        + [("options", {"option_groups": options.assignee_option_groups(USERS, GROUPS, "@")})]
    ),
    "options.user_option": lambda: [_option_payload(options.user_option(USERS[1]))],
    "options.group_option": lambda: [_option_payload(options.group_option(GROUPS[1]))],
    "options.assignee_initial_option": lambda: [
        _option_payload(options.assignee_initial_option(1, EVIL * 10, None, None)),
        _option_payload(options.assignee_initial_option(None, None, 2, EVIL * 10)),
    ],
    "results.results_blocks": lambda: [
        message(
            results.results_blocks(
                "x" * 5000, [summary(n) for n in range(300)], more_value="m" * 2000, note="n" * 5000
            )
        ),
        message(results.results_blocks("t", [summary(1, "closed")], more_value="m" * 2001)),
        message(results.results_blocks("t", [])),
    ],
    "results.task_row": lambda: [message([results.task_row(summary(1))])],
    "results.row_menu": lambda: [message([results.task_row(summary(2, "closed"))])],
}


def _usage(text: str) -> UsageError:
    parsed = parse(text)
    assert isinstance(parsed, UsageError), parsed
    return parsed


def _option_payload(option: Option | None) -> Payload:
    assert option is not None
    return ("options", {"options": [option.to_dict()]})


def _problems(kind: str, payload: Any) -> list[str]:
    if kind == "message":
        return message_problems(payload)
    if kind == "view":
        return view_problems(payload)
    return options_problems(payload)


@pytest.mark.parametrize("builder", sorted(CASES))
def test_every_builder_stays_within_slacks_limits(builder: str) -> None:
    for kind, payload in CASES[builder]():
        assert _problems(kind, payload) == [], builder
        assert ping_problems(mrkdwn_texts(payload)) == [], builder


def test_every_builder_is_walked() -> None:
    """A new builder (a public function of slack_bot.blocks returning blocks, a view or options) must
    be added to CASES."""
    found = set()
    for module in (card, common, digest, help, home, modals, options, results):
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            returns = str(inspect.signature(function).return_annotation)
            if any(kind in returns for kind in ("Block", "View", "Option", "list[dict[str, Any]]")):
                found.add(f"{module.__name__.rsplit('.', 1)[1]}.{name}")
    found -= {"common.dump", "common.options", "common.option", "common.find_option"}  # pieces, not builders
    assert found - set(CASES) == set()
    assert blocks_package.__doc__  # the package the walk covers


def test_a_card_from_the_largest_task_keeps_what_matters() -> None:
    kind, dumped = message(card.task_card(big_task(), URL))
    assert kind == "message"
    fields = " ".join(mrkdwn_texts(dumped))
    for label in ("*Status*", "*Priority*", "*Assignee*", "*Due*", "*Linked*", "#9999999998"):
        assert label in fields


@pytest.mark.parametrize(
    ("kind", "bad", "says"),
    [
        ("message", [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "section text"),
        ("message", [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}], "header"),
        ("message", [{"type": "divider"}] * 51, "blocks > 50"),
        (
            "message",
            [
                {
                    "type": "actions",
                    "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 76}}],
                }
            ],
            "button text",
        ),
        (
            "message",
            [{"type": "section", "block_id": "b" * 256, "text": {"type": "mrkdwn", "text": "x"}}],
            "block_id",
        ),
        (
            "message",
            [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "x"},
                    "accessory": {
                        "type": "overflow",
                        "action_id": "o",
                        "options": [
                            {"text": {"type": "plain_text", "text": "x"}, "value": str(i)} for i in range(6)
                        ],
                    },
                }
            ],
            "overflow has 6",
        ),
        (
            "view",
            {"type": "modal", "title": {"type": "plain_text", "text": "x" * 25}, "blocks": []},
            "title 25",
        ),
        (
            "view",
            {
                "type": "modal",
                "title": {"type": "plain_text", "text": "x"},
                "blocks": [],
                "private_metadata": '{"a":"' + "x" * 3000,
            },
            "private_metadata",
        ),
        (
            "view",
            {
                "type": "modal",
                "title": {"type": "plain_text", "text": "x"},
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "i",
                        "label": {"type": "plain_text", "text": "l"},
                        "element": {"type": "plain_text_input", "max_length": 10, "initial_value": "x" * 11},
                    }
                ],
            },
            "initial_value",
        ),
        (
            "options",
            {"options": [{"text": {"type": "plain_text", "text": "x"}, "value": "v" * 151}]},
            "option value",
        ),
        (
            "options",
            {
                "option_groups": [
                    {
                        "label": {"type": "plain_text", "text": "g"},
                        "options": [
                            {"text": {"type": "plain_text", "text": "x"}, "value": str(i)} for i in range(101)
                        ],
                    }
                ]
            },
            "100",
        ),
    ],
)
def test_the_walk_catches_each_limit(kind: str, bad: Any, says: str) -> None:
    problems = _problems(kind, bad)
    assert any(says in p for p in problems), problems


def test_the_ping_check_catches_pings() -> None:
    assert ping_problems(["hi <!here>"]) and ping_problems(["hi @channel"]) and ping_problems(["<@U0BOSS>"])
    assert ping_problems(["@\u2060here and <@U1> and <!date^1^{date}|x>"]) == []


def test_a_form_given_back_keeps_every_value_and_says_what_is_wrong() -> None:
    built = modals.create_modal(modals.CreatePrefill(source_link="https://l.example/x"), LONG_META).to_dict()
    state = largest_state(built)
    blocks = refilled_blocks(built, state)
    again = modals.form_again(built, blocks, notes={ids.ASSIGNEE: "bad *assignee*"}).to_dict()
    inputs = {b["block_id"]: b["element"] for b in again["blocks"] if b["type"] == "input"}
    for block, typed in state.items():
        element, value = inputs[block], typed[block]
        if "value" in value:
            assert element["initial_value"] == value["value"], block
        elif "selected_date" in value:
            assert element["initial_date"] == value["selected_date"]
        else:
            assert element["initial_option"]["value"] == value["selected_option"]["value"], block
    kept = json.dumps(again)
    assert again["private_metadata"] == LONG_META and "https://l.example/x" in kept  # the message link stays
    order = [b.get("block_id") for b in again["blocks"]]
    assert order[0] == ids.FORM_ERROR and order[order.index(ids.ASSIGNEE) + 1] == f"{ids.FORM_ERROR}:assignee"
    assert again["callback_id"] == ids.CREATE_MODAL and again["submit"]["text"] == "Create"


def test_what_was_typed_survives_whole_in_the_fallback_message() -> None:
    details = "a & b <c> " * 300  # 3,000 characters that grow when escaped
    blocks = common.dump(help.unsaved_blocks(":warning: no", [("Title", "T"), ("Details", details)]))
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"][1:]
    assert texts[0] == "*Title*\nT"
    joined = "".join(texts[1:]).removeprefix("*Details*\n")
    assert joined.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == details
    assert message_problems(blocks) == []


def test_a_field_the_person_emptied_comes_back_empty() -> None:
    built = modals.create_modal(modals.CreatePrefill(title="Prefilled", details="Also"), LONG_META).to_dict()
    state: State = {
        ids.NAME: {ids.NAME: {"type": "plain_text_input", "value": None}},
        ids.PRIORITY: {ids.PRIORITY: {"type": "static_select", "selected_option": None}},
    }
    shown = {b["block_id"]: b["element"] for b in refilled_blocks(built, state) if b["type"] == "input"}
    assert "initial_value" not in shown[ids.NAME] and "initial_option" not in shown[ids.PRIORITY]
    assert shown[ids.DETAILS]["initial_value"] == "Also"  # not in the state: as it was built
