"""Friendly values (priority, status, dates, sort) as people and assistants write them, end to end on the
sandbox; and bad values refused with one message that names the field and what it accepts, with nothing
written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tool_support import Tools, assert_nothing_written, assert_one_line, delta

from shared_client.models import Priority
from shared_client.tools import get_tool
from shared_client.tools import values as v

SEEDED_OPEN_TASK = "#3"  # any seeded task will do: updates are compared on the raw task


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("low", "1 - low"),
        ("medium", "2 - medium"),
        ("high", "3 - high"),
        ("critical", "4 - critical"),
        ("Critical", "4 - critical"),
        ("1", "1 - low"),
        ("2", "2 - medium"),
        ("3", "3 - high"),
        ("4", "4 - critical"),
        ("3 - high", "3 - high"),
        ("3-high", "3 - high"),
        ("4_critical", "4 - critical"),
    ],
)
async def test_update_priority_friendly(tools: Tools, given: str, stored: str) -> None:
    task = await tools.run("get_task", {"task": SEEDED_OPEN_TASK})
    uuid = task["task"]["uuid"]
    await tools.run("update_task", {"task": uuid, "priority": "low" if stored != "1 - low" else "high"})
    out = await tools.run("update_task", {"task": uuid, "priority": given})
    assert (await tools.raw(uuid))["priority"] == stored
    assert out["task"]["priority"] == stored.split(" - ")[1]  # shown the friendly way
    assert out["changes"] == [f"priority → {stored.split(' - ')[1]}"]


@pytest.mark.parametrize(
    ("given", "stored"), [("high", "3 - high"), ("2", "2 - medium"), ("4-critical", "4 - critical")]
)
async def test_create_priority_friendly(tools: Tools, given: str, stored: str) -> None:
    out = await tools.run("create_task", {"name": "Priority check", "priority": given})
    assert (await tools.raw(out["task"]["uuid"]))["priority"] == stored


async def test_create_default_priority_and_status(tools: Tools) -> None:
    out = await tools.run("create_task", {"name": "Defaults"})
    raw = await tools.raw(out["task"]["uuid"])
    assert (raw["priority"], raw["status"]) == (Priority.MEDIUM.value, "open")


async def test_priority_as_json_integer(tools: Tools) -> None:
    out = await tools.run("create_task", {"name": "Integer priority", "priority": 3})
    assert (await tools.raw(out["task"]["uuid"]))["priority"] == "3 - high"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("closed-system", "closed - system"),
        ("closed_customer", "closed - customer"),
        ("Closed - Expiration", "closed - expiration"),
        ("CLOSED  -  SYSTEM", "closed - system"),
        ("Awaiting Customer Feedback", "awaiting customer feedback"),
        ("awaiting-customer-feedback", "awaiting customer feedback"),
        ("awaiting", "awaiting customer feedback"),
        (" Delayed ", "delayed"),
        ("closed", "closed"),
    ],
)
async def test_update_status_spacing_quirks(tools: Tools, given: str, stored: str) -> None:
    uuid = (await tools.run("get_task", {"task": SEEDED_OPEN_TASK}))["task"]["uuid"]
    await tools.run("update_task", {"task": uuid, "status": "open"})
    await tools.run("update_task", {"task": uuid, "status": given})
    raw = await tools.raw(uuid)
    assert raw["status"] == stored


@pytest.mark.parametrize("given", ["awaiting", "Awaiting Customer Feedback", "awaiting_customer_feedback"])
async def test_search_status_friendly(tools: Tools, given: str) -> None:
    out = await tools.run("search_tasks", {"status": given, "limit": 100, "detail": True})
    assert out["count"] > 0
    assert {t["status"] for t in out["tasks_detail"]} == {"awaiting customer feedback"}


async def test_search_refuses_closed_substatus_with_the_accepted_values(tools: Tools) -> None:
    error = await tools.fail_input("search_tasks", {"status": "closed-system"})
    assert_one_line(error, "status", "open, closed, delayed", "awaiting")
    assert error.field == "status"


@pytest.mark.parametrize(
    ("given", "expected_utc"),
    [
        ("2030-06-01", datetime(2030, 6, 1, 23, 59, 59, tzinfo=UTC)),  # a due date lasts the whole day
        ("2030-06-01T17:00:00-05:00", datetime(2030, 6, 1, 22, 0, 0, tzinfo=UTC)),
        ("2030-06-01T17:00:00Z", datetime(2030, 6, 1, 17, 0, 0, tzinfo=UTC)),
        ("2030-06-01T17:00:00", datetime(2030, 6, 1, 17, 0, 0, tzinfo=UTC)),  # naive = UTC
    ],
)
async def test_due_dates(tools: Tools, given: str, expected_utc: datetime) -> None:
    out = await tools.run("create_task", {"name": "Date check", "due": given})
    assert utc((await tools.raw(out["task"]["uuid"]))["due_dts"]) == expected_utc
    assert utc(out["task"]["due"]) == expected_utc


async def test_due_tomorrow_and_clear(tools: Tools) -> None:
    uuid = (await tools.run("get_task", {"task": SEEDED_OPEN_TASK}))["task"]["uuid"]
    # "tomorrow" is read from the clock during the call: either side of it, if UTC midnight falls between.
    before = datetime.now(UTC).date() + timedelta(days=1)
    await tools.run("update_task", {"task": uuid, "due": "tomorrow"})
    after = datetime.now(UTC).date() + timedelta(days=1)
    due = utc((await tools.raw(uuid))["due_dts"])
    assert due.date() in {before, after} and (due.hour, due.minute) == (23, 59)
    out = await tools.run("update_task", {"task": uuid, "due": "none"})
    assert "due_dts" not in await tools.raw(uuid)
    assert "due" not in out["task"]
    assert out["changes"] == ["due → none"]


async def test_delay_until_bare_date_is_start_of_day(tools: Tools) -> None:
    out = await tools.run("create_task", {"name": "Delay check", "delay_until": "2030-05-01"})
    assert utc((await tools.raw(out["task"]["uuid"]))["delay_until_dts"]) == datetime(2030, 5, 1, tzinfo=UTC)


async def test_search_date_range_friendly(tools: Tools) -> None:
    out = await tools.run("search_tasks", {"due_before": "tomorrow", "limit": 100, "detail": True})
    # Read after the call: if UTC midnight fell during it, the bound only grew.
    end = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.max.time(), tzinfo=UTC)
    assert out["count"] > 0
    assert all("due" in t and utc(t["due"]) <= end for t in out["tasks_detail"])


PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


async def test_sort_due(tools: Tools) -> None:
    out = await tools.run("search_tasks", {"sort": "due", "due_after": "2000-01-01", "limit": 100})
    dues = [utc(t["due"]) for t in out["tasks"]]
    assert len(dues) > 5 and dues == sorted(dues)
    desc = await tools.run("search_tasks", {"sort": "-due", "due_after": "2000-01-01", "limit": 100})
    assert [utc(t["due"]) for t in desc["tasks"]] == sorted(dues, reverse=True)


async def test_sort_minus_priority_then_due(tools: Tools) -> None:
    out = await tools.run("search_tasks", {"sort": "-priority,due", "due_after": "2000-01-01", "limit": 100})
    keys = [(-PRIORITY_RANK[t["priority"]], utc(t["due"])) for t in out["tasks"]]
    assert len({k[0] for k in keys}) == 4, "every priority should appear"
    assert keys == sorted(keys)


# --------------------------------------------------------------------------- bad values

BAD_VALUES: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("create_task", {"name": "x", "priority": "whenever"}, "priority", ("low, medium, high or critical",)),
    ("create_task", {"name": "x", "priority": "5"}, "priority", ("low, medium, high or critical", "1-4")),
    (
        "create_task",
        {"name": "x", "status": "finished"},
        "status",
        ("open, closed, delayed", "closed - system"),
    ),
    ("create_task", {"name": "x", "due": "next week"}, "due", ("ISO date", "tomorrow")),
    ("create_task", {"name": "x", "due": "2030-02-30"}, "due", ("ISO date",)),
    ("create_task", {"name": "x", "delay_until": "soon"}, "delay_until", ("ISO date",)),
    ("create_task", {"name": "x", "object_type": "invoice", "object_id": "1"}, "object_type", ("order",)),
    ("update_task", {"task": "#3", "priority": "meh"}, "priority", ("low, medium, high or critical",)),
    ("update_task", {"task": "#3", "status": "done-ish"}, "status", ("open, closed, delayed",)),
    ("update_task", {"task": "#3", "due": "31/12/2030"}, "due", ("ISO date", "2026-12-01")),
    ("update_task", {"task": "#3", "delay_until": "later"}, "delay_until", ("ISO date",)),
    ("search_tasks", {"sort": "cost"}, "sort", ("due, priority", "'-'")),
    ("search_tasks", {"sort": "-priority,,zzz"}, "sort", ("due, priority",)),
    ("search_tasks", {"priority": "top"}, "priority", ("low, medium, high or critical",)),
    ("search_tasks", {"due_before": "eventually"}, "due_before", ("ISO date",)),
    ("search_tasks", {"object_type": "storefront"}, "object_type", ("object_id",)),
]


@pytest.mark.parametrize(("tool", "args", "field", "accepts"), BAD_VALUES)
async def test_bad_value_one_message_nothing_written(
    tools: Tools, tool: str, args: dict[str, Any], field: str, accepts: tuple[str, ...]
) -> None:
    before = await tools.counts()
    error = await tools.fail_input(tool, args)
    assert_one_line(error, f"{field}:", *accepts)
    assert error.field == field
    assert "Traceback" not in error.message and "pydantic" not in error.message.lower()
    after = await tools.counts()
    assert_nothing_written(before, after)
    assert delta(before, after) == {}, "bad values are refused before any UltraCart call"


async def test_several_bad_values_in_one_message(tools: Tools) -> None:
    before = await tools.counts()
    error = await tools.fail_input(
        "update_task", {"task": "#3", "priority": "zz", "status": "yy", "due": "next week"}
    )
    assert_one_line(error, "priority:", "status:", "due:", "Nothing was changed")
    assert error.message.count("Invalid arguments") == 1
    assert delta(before, await tools.counts()) == {}


async def test_unknown_argument_is_named(tools: Tools) -> None:
    error = await tools.fail_input("update_task", {"task": "#3", "prio": "high"})
    assert_one_line(error, "prio: is not an argument")


async def test_update_without_changes_is_refused(tools: Tools) -> None:
    before = await tools.counts()
    error = await tools.fail_input("update_task", {"task": "#3"})
    assert_one_line(error, "nothing to change", "priority")
    assert delta(before, await tools.counts()) == {}


def _other_words() -> dict[str, list[str]]:
    """Every alias of each table, per field (a value's own spelling without spaces left out)."""

    def others(aliases: dict[str, str]) -> list[str]:
        return [w for w, value in aliases.items() if w != value.replace(" ", "") and not w.isdigit()]

    priority = {w: m.value for w, m in v.PRIORITY_WORDS.items() if w not in v.PRIORITY_NAMES.values()}
    return {
        "priority": others(priority),
        "status": others(v._STATUS_ALIASES),
        "object_type": others(v._OBJECT_ALIASES),
    }


def _listed(word: str, text: str) -> bool:
    return f"{word} →" in text or f"{word}/" in text or f"`{word}`" in text


LISTED_FIELDS = [
    ("create_task", "priority"),
    ("create_task", "status"),
    ("create_task", "object_type"),
    ("update_task", "priority"),
    ("update_task", "status"),
    ("get_tasks_for_object", "object_type"),
    ("search_tasks", "priority"),
    ("search_tasks", "status"),
]


def test_the_other_words_are_listed_in_each_tools_schema() -> None:
    """An assistant reads the schema: every alias a field accepts is named in its description."""
    words = _other_words()
    assert {"urgent", "normal"} <= set(words["priority"])
    assert {"done", "complete", "completed", "awaiting", "waiting", "reopen"} <= set(words["status"])
    assert {"subscription", "customer", "sku", "product", "store"} <= set(words["object_type"])
    for name, field in LISTED_FIELDS:
        description = get_tool(name).input_model.model_json_schema()["properties"][field]["description"]
        missing = [w for w in words[field] if not _listed(w, description)]
        assert not missing, (name, field, missing, description)
    search = get_tool("search_tasks").input_model.model_json_schema()["properties"]["object_type"]
    assert [w for w in words["object_type"] if not _listed(w, search["description"])] == ["store"]


def test_the_other_words_are_listed_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    tools = readme[readme.index("## Tools") : readme.index("<!-- tools:start -->")]
    missing = [w for words in _other_words().values() for w in words if f"`{w}`" not in tools]
    assert not missing, missing


@pytest.mark.parametrize("word", [w for words in _other_words().values() for w in words])
def test_every_listed_word_is_accepted(word: str) -> None:
    parsers = (v.parse_priority, v.parse_status, v.parse_object_type)
    assert any(_parses(parse, word) for parse in parsers), word


def _parses(parse: Any, word: str) -> bool:
    try:
        parse(word)
    except ValueError:
        return False
    return True
