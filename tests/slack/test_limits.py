"""Every builder, on the largest realistic inputs, against Slack's limits (a generic walk of the JSON)
and against pings and forged links in text people wrote."""

from __future__ import annotations

import inspect
from collections.abc import Callable
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
from shared_client.tools.views import Assigned, LinkedObject, NoteView, TaskDetail, TaskSummary
from slack_bot import blocks as blocks_package
from slack_bot.blocks import card, common, help, home, modals, options, results
from slack_bot.errors import error_message
from slack_bot.forms import Meta, edit_initial
from slack_bot.grammar import UsageError, parse
from slack_bot.operations import NotMapped, no_mapping_message
from slack_bot.text import escape

EVIL = "<!channel> @here <!everyone> <https://evil.example|Your bank> & <@U0BOSS> <#C0EVIL|general> @channel "
NAME = (EVIL * 10)[:250]  # UltraCart's longest task name
UUID = "0b7f1f6e-1111-4000-8000-{:012d}"


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
    NotMapped(no_mapping_message("U123", EVIL * 10)),
    SlackApiError("x", {"ok": False, "error": EVIL * 10}),
    RuntimeError(EVIL),
]

Payload = tuple[str, Any]  # ("message", blocks) | ("view", view) | ("options", answer)


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
                big_task(), activity=card.activity_line("U1", [EVIL * 500]), intro=escape(EVIL) * 200
            )
        ),
        message(card.task_card(big_task(status="closed - system"), activity=card.created_line("U1"))),
        message(
            card.task_card(big_task(details="", status="open").model_copy(update={"notes": [], "tags": []}))
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
        view(home.home_view([], [], who="hi", problem=no_mapping_message("U1", EVIL * 100))),
    ],
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
    "modals.done_modal": lambda: [view(modals.done_modal(EVIL, escape(EVIL) * 1000))],
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
    for module in (card, common, help, home, modals, options, results):
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
    kind, dumped = message(card.task_card(big_task()))
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
