"""The /task grammar, as a table: command text → what the bot does."""

from __future__ import annotations

from typing import Any

import pytest

from shared_client.tools import ADD_TASK_NOTE, GET_TASK, SEARCH_TASKS, UPDATE_TASK, Tool
from shared_client.tools.task_refs import TASK_REF_ACCEPTS, TASK_REF_EXAMPLES, task_ref_problem
from slack_bot.grammar import (
    GroupMembership,
    Mine,
    OpenCreate,
    OpenSearch,
    SetIdentity,
    ShowHelp,
    SlackUser,
    ToolCall,
    UsageError,
    parse,
)

UUID = "0b7f1f6e-1111-4000-8000-000000000000"

CALLS = [
    ("show #12", GET_TASK, {"task": "#12"}),
    ("view 12", GET_TASK, {"task": "12"}),
    (f"show {UUID}", GET_TASK, {"task": UUID}),
    ("assign #12 <@U123ABC|alice>", UPDATE_TASK, {"task": "#12", "assignee": SlackUser("U123ABC")}),
    ("assign #12 <@U123ABC>", UPDATE_TASK, {"task": "#12", "assignee": SlackUser("U123ABC")}),
    ("assign #12 me", UPDATE_TASK, {"task": "#12", "assignee": SlackUser(None)}),
    ('assign #12 "Customer Service"', UPDATE_TASK, {"task": "#12", "assignee": "Customer Service"}),
    ("assign #12 “Customer Service”", UPDATE_TASK, {"task": "#12", "assignee": "Customer Service"}),
    ("reassign #12 @sam", UPDATE_TASK, {"task": "#12", "assignee": "sam"}),
    ("assign #12 unassigned", UPDATE_TASK, {"task": "#12", "assignee": "unassigned"}),
    # Only the plain word unassigns: the tools' other words for nobody are names here.
    ("assign #12 @none", UPDATE_TASK, {"task": "#12", "assignee": "user:none"}),
    ("assign #12 @nobody", UPDATE_TASK, {"task": "#12", "assignee": "user:nobody"}),
    ("assign #12 Nobody", UPDATE_TASK, {"task": "#12", "assignee": "user:Nobody"}),
    ("assign #12 @unassigned", UPDATE_TASK, {"task": "#12", "assignee": "user:unassigned"}),
    ('assign #12 "no one"', UPDATE_TASK, {"task": "#12", "assignee": "user:no one"}),
    ("status #12 closed", UPDATE_TASK, {"task": "#12", "status": "closed"}),
    ("status #12 awaiting", UPDATE_TASK, {"task": "#12", "status": "awaiting"}),
    ("priority #12 high", UPDATE_TASK, {"task": "#12", "priority": "high"}),
    ("close #12", UPDATE_TASK, {"task": "#12", "status": "closed"}),
    ("reopen #12", UPDATE_TASK, {"task": "#12", "status": "open"}),
    # Slack escapes what people type (should_escape): `<back> & soon` arrives as entities.
    (
        'note #12 Called "Kim" &lt;back&gt; &amp; soon',
        ADD_TASK_NOTE,
        {"task": "#12", "text": 'Called "Kim" <back> & soon'},
    ),
    (
        "note #12 see <https://x.example/o/1|order 1>",
        ADD_TASK_NOTE,
        {"task": "#12", "text": "see order 1 (https://x.example/o/1)"},
    ),
    ("assign #12 <@U1ABC|Sam Lee>", UPDATE_TASK, {"task": "#12", "assignee": SlackUser("U1ABC")}),
    ("assign #12 <!subteam^S0CS|@cs-team>", UPDATE_TASK, {"task": "#12", "assignee": "cs-team"}),
    (
        "assign #12 <mailto:sam@x.example|sam@x.example>",
        UPDATE_TASK,
        {"task": "#12", "assignee": "sam@x.example"},
    ),
    ("search created:&gt;2026-01-01", SEARCH_TASKS, {"created_after": "2026-01-01"}),
    ("search due:&lt;2026-01-31", SEARCH_TASKS, {"due_before": "2026-01-31"}),
    ('search group:"Parts &amp; Returns"', SEARCH_TASKS, {"group": "Parts & Returns"}),
    (
        "search assignee:<@U1ABC|sam> email:<mailto:a@b.example|a@b.example>",
        SEARCH_TASKS,
        {"assignee": SlackUser("U1ABC"), "object_email": "a@b.example"},
    ),
    ("search status:open priority:high", SEARCH_TASKS, {"status": "open", "priority": "high"}),
    ("list assignee:<@U1|al>", SEARCH_TASKS, {"assignee": SlackUser("U1")}),
    ("search assignee:me", SEARCH_TASKS, {"assignee": SlackUser(None)}),
    ("search assignee:unassigned", SEARCH_TASKS, {"assignee": "unassigned"}),
    ("search assignee:@none", SEARCH_TASKS, {"assignee": "user:none"}),
    (
        'search group:"Customer Service" tag:vip tag:a,b',
        SEARCH_TASKS,
        {"group": "Customer Service", "tags": ["vip", "a", "b"]},
    ),
    ("search type:order", SEARCH_TASKS, {"object_type": "order"}),
    ("search due:overdue sort:-due", SEARCH_TASKS, {"overdue": True, "sort": "-due"}),
    (
        "search due:2026-01-01..2026-01-31",
        SEARCH_TASKS,
        {"due_after": "2026-01-01", "due_before": "2026-01-31"},
    ),
    ("search due:..2026-01-31", SEARCH_TASKS, {"due_before": "2026-01-31"}),
    ("search created:>2026-01-01", SEARCH_TASKS, {"created_after": "2026-01-01"}),
    (
        "search created:2026-01-05",
        SEARCH_TASKS,
        {"created_after": "2026-01-05", "created_before": "2026-01-05"},
    ),
    (
        "search type:order object:12345",
        SEARCH_TASKS,
        {"object_type": "order", "object_id": "12345"},
    ),
    ("search by:me", SEARCH_TASKS, {"created_by": SlackUser(None)}),
    (
        "search type:order object:1 status:open",
        SEARCH_TASKS,
        {"object_type": "order", "object_id": "1", "status": "open"},
    ),
]


@pytest.mark.parametrize(("text", "tool", "args"), CALLS)
def test_commands_become_tool_calls(text: str, tool: Tool[Any, Any], args: dict[str, object]) -> None:
    parsed = parse(text)
    assert isinstance(parsed, ToolCall), parsed
    assert (parsed.tool, parsed.args) == (tool, args)


@pytest.mark.parametrize("ref", ["123", "#123", UUID, UUID.upper(), *TASK_REF_EXAMPLES])
def test_every_reference_the_tools_accept_is_accepted(ref: str) -> None:
    parsed = parse(f"show {ref}")
    assert isinstance(parsed, ToolCall), parsed
    assert (parsed.tool, parsed.args) == (GET_TASK, {"task": ref})


@pytest.mark.parametrize("ref", ["twelve", "#12a", "12345678901", "a-b"])
def test_a_reference_the_tools_refuse_is_refused_in_their_words(ref: str) -> None:
    parsed = parse(f"show {ref}")
    assert isinstance(parsed, UsageError), parsed
    assert f"`{ref}` is not a task reference" in parsed.message
    assert task_ref_problem(ref) in parsed.message
    assert parsed.word is not None and parsed.word.text == ref


def test_close_with_a_note_keeps_the_note_text() -> None:
    parsed = parse("close #7  resolved by  phone")
    assert isinstance(parsed, ToolCall) and parsed.note == "resolved by  phone"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ShowHelp()),
        ("help", ShowHelp()),
        ("new", OpenCreate("")),
        ('create Call "Kim" today', OpenCreate('Call "Kim" today')),
        ("search", OpenSearch()),
        ("list", OpenSearch()),
        ("mine", Mine()),
        ("iam sam@demo.example", SetIdentity("sam@demo.example")),
        ("iam", SetIdentity(None)),
        ("iam <mailto:sam@demo.example|sam@demo.example>", SetIdentity("sam@demo.example")),
        ("create Call <@U1|sam> &amp; <https://x.example|x.example>", OpenCreate("Call @sam & x.example")),
        ('join "Parts &amp; Returns"', GroupMembership("join", "Parts & Returns")),
        ('join "Fraud Review"', GroupMembership("join", "Fraud Review")),
        ("leave Warehouse", GroupMembership("leave", "Warehouse")),
        ("groups", GroupMembership("list", "")),
    ],
)
def test_forms_and_settings(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "word", "says"),
    [
        ("stauts #1 open", "stauts", "not a /task command"),
        ("show twelve", "twelve", "not a task reference"),
        ("show #1 extra", "extra", "only a task reference"),
        ("assign #1 sam rivera", "rivera", "quote names"),
        ("search status:open urgent", "urgent", "not a filter"),
        ("search colour:red", "colour:red", "not a search filter"),
        ("search status:", "status:", "has no value"),
        ("search status:open status:closed", "status:closed", "given twice"),
        ('note #1 "unclosed', '"unclosed', "not closed"),
        ("mine please", "please", "takes no filters"),
    ],
)
def test_usage_errors_point_at_the_word(text: str, word: str, says: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, UsageError), parsed
    assert parsed.word is not None
    assert says in parsed.message
    pointer = parsed.pointer()
    offset = len("/task ") + parsed.text.index(word)
    assert pointer.index("^") == offset


@pytest.mark.parametrize("text", ["show", "assign #1", "status #1", "note #1", "join"])
def test_missing_arguments_give_the_usage(text: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, UsageError) and parsed.usage.startswith("/task ")


def test_the_help_says_what_the_tools_accept() -> None:
    from slack_bot.grammar import REF_HELP

    assert TASK_REF_ACCEPTS in REF_HELP


def test_help_names_the_aliases() -> None:
    from slack_bot.grammar import help_lines

    lines = help_lines()
    new = next(line for line in lines if line.startswith("/task new"))
    search = next(line for line in lines if line.startswith("/task search"))
    assert "create" in new and "list" in search


@pytest.mark.parametrize(
    ("text", "shown", "marked"),
    [
        ("show &lt;!channel&gt;", "/task show <!channel>", "<!channel>"),
        ("stauts &amp;x #1", "/task stauts &x #1", "stauts"),
        ("status #1 &lt;b&gt; extra", "/task status #1 <b> extra", "extra"),
        ("assign <@U1|sam> #1", "/task assign @sam #1", "@sam"),
    ],
)
def test_the_pointer_marks_the_word_as_the_person_typed_it(text: str, shown: str, marked: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, UsageError), parsed
    assert parsed.shown() == shown
    pointer = parsed.pointer()
    assert pointer.index("^") == shown.index(marked) and pointer.count("^") == len(marked)


def test_subscribe_takes_the_search_filters_and_an_events_list() -> None:
    from slack_bot.grammar import SUBSCRIPTION_EVENTS, Subscribe

    parsed = parse('subscribe status:open assignee:me group:"Fraud Review" events:closed,assigned')
    assert isinstance(parsed, Subscribe)
    assert parsed.search.args == {"status": "open", "assignee": SlackUser(None), "group": "Fraud Review"}
    assert parsed.events == ("assigned", "closed")  # in the contract's order
    assert parsed.filters == 'status:open assignee:me group:"Fraud Review"'
    every = parse("subscribe due:overdue")
    assert isinstance(every, Subscribe) and every.events == SUBSCRIPTION_EVENTS
    assert every.search.args == {"overdue": True}
    assert isinstance(parse("subscribe"), Subscribe)  # every task


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("subscribe statsu:open", "is not a search filter"),
        ("subscribe open", "is not a filter"),
        ("subscribe events:bogus", "`bogus` is not an event"),
        ("subscribe events:", "needs a list"),
        ("subscribe events:closed events:note", "given twice"),
        ("subscribe sort:due", "`sort:` means nothing"),
        ("unsubscribe two", "is not a subscription"),
        ("unsubscribe 1 2", "takes one number"),
        ("subscriptions now", "takes nothing"),
    ],
)
def test_subscription_commands_say_what_is_wrong(text: str, says: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, UsageError) and says in parsed.message, parsed


def test_unsubscribe_and_subscriptions() -> None:
    from slack_bot.grammar import ShowSubscriptions, Unsubscribe

    assert parse("unsubscribe") == Unsubscribe("")
    assert parse("unsubscribe #2") == Unsubscribe("2")
    assert parse("unsubscribe ALL") == Unsubscribe("all")
    assert parse("subscriptions") == ShowSubscriptions()
