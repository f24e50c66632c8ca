"""search_tasks (compact by default, detail, cursor paging, 'me', overdue, storefront), get_task (uuid,
'#number', the number cache, unknown refs), get_tasks_for_object, create_task with every field,
count_open_tasks, list_task_tags."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from tool_support import Tools, assert_one_line, delta

from shared_client.tools import get_tool

SUMMARY_FIELDS = {
    "uuid",
    "number",
    "name",
    "status",
    "priority",
    "assignee",
    "group",
    "due",
    "overdue",
    "object",
}


async def test_search_is_compact_by_default(tools: Tools) -> None:
    out = await tools.run("search_tasks", {"limit": 50})
    assert out["count"] == len(out["tasks"]) > 10
    assert "tasks_detail" not in out
    for task in out["tasks"]:
        assert set(task) <= SUMMARY_FIELDS, set(task) - SUMMARY_FIELDS
        # The number is the reference in a list (every tool takes '#123'); get_task has the uuid.
        assert {"number", "name", "status", "priority"} <= set(task) and "uuid" not in task
        assert task.get("overdue", True) is True, "overdue is sent only when true (the default is false)"
    assert any("overdue" in task for task in out["tasks"])
    assert "notice" in out


async def test_search_detail_gives_full_tasks(tools: Tools) -> None:
    out = await tools.run("search_tasks", {"limit": 50, "detail": True})
    assert "tasks" not in out
    tasks = out["tasks_detail"]
    assert len(tasks) == out["count"] > 10
    assert all({"details", "assigned", "history", "notes", "attachments", "tags"} <= set(t) for t in tasks)
    assert any(t["notes"] for t in tasks) and any(t["properties"] for t in tasks)


async def test_search_cursor_paging(tools: Tools) -> None:
    first = await tools.run("search_tasks", {"limit": 10, "sort": "number"})
    total = first["total"]
    assert total > 30 and first["has_more"] is True and first["next_cursor"]
    seen = [t["number"] for t in first["tasks"]]
    cursor = first["next_cursor"]
    pages = 1
    while cursor:
        page = await tools.run("search_tasks", {"limit": 10, "sort": "number", "cursor": cursor})
        assert page["total"] == total
        seen += [t["number"] for t in page["tasks"]]
        cursor = page.get("next_cursor")
        assert page["has_more"] is bool(cursor)
        pages += 1
    assert pages == -(-total // 10)
    assert len(seen) == total == len(set(seen)), "every task exactly once"
    assert seen == sorted(seen)


async def test_a_cursor_goes_on_with_its_own_search_whatever_the_page_size_or_spelling(tools: Tools) -> None:
    first = await tools.run("search_tasks", {"priority": "high", "sort": "number", "limit": 2})
    same = {"priority": "3 - high", "sort": "+number", "detail": True, "cursor": first["next_cursor"]}
    page = await tools.run("search_tasks", {**same, "limit": 5})
    assert page["total"] == first["total"] and page["count"] == 5


@pytest.mark.parametrize(
    "other",
    [{"priority": "low"}, {"priority": "high", "sort": "-number"}, {"priority": "high", "status": "open"},
     {"sort": "number"}],
)  # fmt: skip
async def test_a_cursor_of_another_search_is_refused(tools: Tools, other: dict[str, Any]) -> None:
    first = await tools.run("search_tasks", {"priority": "high", "sort": "number", "limit": 2})
    before = await tools.counts()
    error = await tools.fail_input("search_tasks", {**other, "cursor": first["next_cursor"]})
    assert error.field == "cursor"
    assert_one_line(error, "this cursor belongs to another search; start again without cursor")
    assert delta(before, await tools.counts()) == {}


async def test_a_cursor_made_before_cursors_named_their_search_still_works(tools: Tools) -> None:
    """Slack "More" buttons already posted carry the old form, {"o": offset}."""
    legacy = base64.urlsafe_b64encode(b'{"o": 10}').decode().rstrip("=")
    page = await tools.run("search_tasks", {"limit": 10, "sort": "number", "cursor": legacy})
    first = await tools.run("search_tasks", {"limit": 20, "sort": "number"})
    assert [t["number"] for t in page["tasks"]] == [t["number"] for t in first["tasks"][10:]]


async def test_search_last_page_has_no_cursor(tools: Tools) -> None:
    out = await tools.run("search_tasks", {"limit": 500})
    assert out["has_more"] is False and "next_cursor" not in out
    assert out["count"] == out["total"]


@pytest.mark.parametrize("cursor", ["garbage", "eyJvIjogLTF9", "e30"])
async def test_search_bad_cursor(tools: Tools, cursor: str) -> None:
    before = await tools.counts()
    error = await tools.fail_input("search_tasks", {"cursor": cursor})
    assert_one_line(error, "cursor", "next_cursor")
    assert delta(before, await tools.counts()) == {}


async def test_search_me_uses_assigned_to_me(tools: Tools) -> None:
    """'me' includes tasks of my groups: the owner is in Accounts Receivable."""
    out = await tools.run("search_tasks", {"assignee": "me", "limit": 100, "detail": True})
    tasks = out["tasks_detail"]
    assert {t["assigned"].get("user_id") for t in tasks if t["assigned"].get("user_id")} == {1001}
    assert any(t["assigned"].get("group_id") == 202 and "user_id" not in t["assigned"] for t in tasks)
    direct = await tools.run("search_tasks", {"assignee": "user:me", "limit": 100})
    assert 0 < direct["total"] < out["total"]


async def test_search_me_costs_no_people_lookup(tools: Tools) -> None:
    before = await tools.counts()
    await tools.run("search_tasks", {"assignee": "me"})
    assert delta(before, await tools.counts()) == {"getWorkflowTasks": 1}


async def test_search_overdue(tools: Tools) -> None:
    out = await tools.run("search_tasks", {"overdue": True, "limit": 100})
    now = datetime.now(UTC)
    assert out["count"] > 0
    for task in out["tasks"]:
        assert task["overdue"] is True and task["status"] == "open"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", task["due"])  # a summary sends the date
    # The typed summary (what the front ends read) has the whole due date-time: it is past.
    typed = await get_tool("search_tasks").run(tools.ctx, {"overdue": True, "limit": 100})
    assert typed.tasks and all(t.due and datetime.fromisoformat(t.due) < now for t in typed.tasks)
    everything = await tools.run("search_tasks", {"limit": 500})
    assert {t["number"] for t in everything["tasks"] if t.get("overdue") and t["status"] == "open"} == {
        t["number"] for t in out["tasks"]
    }


async def test_search_filters_combine(tools: Tools) -> None:
    out = await tools.run(
        "search_tasks", {"status": "open", "priority": "critical", "object_type": "order", "limit": 100}
    )
    assert out["count"] > 0
    assert all(t["status"] == "open" and t["priority"] == "critical" for t in out["tasks"])
    assert all(t["object"].startswith("order ") for t in out["tasks"])
    tagged = await tools.run("search_tasks", {"tags": ["fraud"], "limit": 100, "detail": True})
    assert tagged["count"] > 0 and all("fraud" in t["tags"] for t in tagged["tasks_detail"])


async def test_search_refuses_storefront(tools: Tools) -> None:
    before = await tools.counts()
    error = await tools.fail_input("search_tasks", {"object_type": "storefront"})
    assert_one_line(error, "object_type", "storefront", "object_id")
    assert delta(before, await tools.counts()) == {}


# --------------------------------------------------------------------------- get_task


async def test_get_task_by_uuid_and_number(tools: Tools) -> None:
    by_number = await tools.run("get_task", {"task": "#14"})
    task = by_number["task"]
    assert task["number"] == 14
    assert task["notes"] and task["attachments"] and task["history"]
    assert task["properties"]["chargeback_id"] == "CB-99812"
    by_uuid = await tools.run("get_task", {"task": task["uuid"]})
    assert by_uuid == by_number
    assert (await tools.run("get_task", {"task": "14"}))["task"]["uuid"] == task["uuid"]
    assert "notice" in by_number


async def test_task_number_cache(tools: Tools) -> None:
    before = await tools.counts()
    await tools.run("get_task", {"task": "#7"})
    cold = await tools.counts()
    assert delta(before, cold).get("getWorkflowTasks", 0) >= 1
    await tools.run("get_task", {"task": "#7"})
    await tools.run("get_task", {"task": "#12"})  # the first search page cached its neighbours too
    assert delta(cold, await tools.counts()) == {"getWorkflowTask": 2}


async def test_search_and_create_feed_the_number_cache(tools: Tools) -> None:
    await tools.run("search_tasks", {"limit": 5})
    created = (await tools.run("create_task", {"name": "Cache me"}))["task"]
    before = await tools.counts()
    await tools.run("get_task", {"task": f"#{created['number']}"})
    assert delta(before, await tools.counts()) == {"getWorkflowTask": 1}


async def test_get_old_task_number_beyond_first_page(make_client: object, tools: Tools) -> None:
    for i in range(105):  # push #1 off the newest page of 100
        await tools.insert_raw(task_name=f"filler {i}")
    out = await tools.run("get_task", {"task": "#1"})
    assert out["task"]["number"] == 1


@pytest.mark.parametrize("ref", ["#99999", "99999"])
async def test_get_unknown_number(tools: Tools, ref: str) -> None:
    error = await tools.fail("get_task", {"task": ref})
    assert_one_line(error, "99999")


async def test_get_unknown_uuid(tools: Tools) -> None:
    error = await tools.fail("get_task", {"task": "0f0f0f0f-0000-4000-8000-000000000000"})
    assert_one_line(error, "not found", "search_tasks")
    assert "Traceback" not in error.message


@pytest.mark.parametrize("ref", ["abc", "#", "#12a", "", "../../etc"])
async def test_get_bad_ref(tools: Tools, ref: str) -> None:
    before = await tools.counts()
    error = await tools.fail_input("get_task", {"task": ref})
    assert_one_line(error, "task")
    assert delta(before, await tools.counts()) == {}


# --------------------------------------------------------------------------- by object, create, counts


async def test_get_tasks_for_object(tools: Tools) -> None:
    out = await tools.run("get_tasks_for_object", {"object_type": "order", "object_id": "DEMO-0001234"})
    assert out["object_type"] == "order" and out["object_id"] == "DEMO-0001234"
    assert out["count"] == len(out["tasks"]) >= 1
    assert all(t["object"] == "order DEMO-0001234" for t in out["tasks"])
    assert "notice" in out
    detail = await tools.run(
        "get_tasks_for_object", {"object_type": "order", "object_id": "DEMO-0001234", "detail": True}
    )
    assert [t["number"] for t in detail["tasks_detail"]] == [t["number"] for t in out["tasks"]]


@pytest.mark.parametrize("spelling", ["storefront", "store", "Storefront"])
async def test_get_tasks_for_storefront(tools: Tools, spelling: str) -> None:
    out = await tools.run("get_tasks_for_object", {"object_type": spelling, "object_id": "STORE-1"})
    assert out["object_type"] == "storefront" and out["count"] >= 1


@pytest.mark.parametrize("spelling", ["auto order", "auto-order", "autoorder", "Auto_Order"])
async def test_get_tasks_for_auto_order(tools: Tools, spelling: str) -> None:
    out = await tools.run("get_tasks_for_object", {"object_type": spelling, "object_id": "DEMO-AO-000551"})
    assert out["object_type"] == "auto order" and out["count"] >= 1


async def test_get_tasks_for_object_none(tools: Tools) -> None:
    out = await tools.run("get_tasks_for_object", {"object_type": "item", "object_id": "NO-SUCH-ITEM"})
    assert out["count"] == 0


async def test_create_task_with_every_field(tools: Tools) -> None:
    out = await tools.run(
        "create_task",
        {
            "name": "Call customer about order DEMO-0005555",
            "details": "They asked for a call back after 3pm.",
            "priority": "critical",
            "status": "delayed",
            "due": "2030-03-01",
            "delay_until": "2030-02-20T14:00:00Z",
            "assignee": "Priya Shah",
            "tags": ["callback", "vip"],
            "object_type": "order",
            "object_id": "DEMO-0005555",
            "object_url": "https://secure.ultracart.com/merchant/order/DEMO-0005555",
            "object_email": "caller@mail.example",
            "note": "Logged from the phone queue.",
            "properties": {"ticket": "T-77", "channel": "phone"},
        },
    )
    assert out["created"] is True
    raw = await tools.raw(out["task"]["uuid"])
    assert raw["task_name"] == "Call customer about order DEMO-0005555"
    assert raw["task_details"] == "They asked for a call back after 3pm."
    assert (raw["priority"], raw["status"]) == ("4 - critical", "delayed")
    assert datetime.fromisoformat(raw["due_dts"]) == datetime(2030, 3, 1, 23, 59, 59, tzinfo=UTC)
    assert datetime.fromisoformat(raw["delay_until_dts"]) == datetime(2030, 2, 20, 14, tzinfo=UTC)
    assert (raw["assigned_to_user_id"], raw.get("assigned_to_group_id")) == (1004, None)
    assert raw["tags"] == ["callback", "vip"]
    assert (raw["object_type"], raw["object_id"], raw["object_email"]) == (
        "order",
        "DEMO-0005555",
        "caller@mail.example",
    )
    assert raw["object_url"] == "https://secure.ultracart.com/merchant/order/DEMO-0005555"
    assert [n["note"] for n in raw["notes"]] == ["Logged from the phone queue."]
    props = {p["name"]: p["value"] for p in raw["properties"]}
    assert props["ticket"] == "T-77" and props["channel"] == "phone"
    assert raw["global_task_number"] == out["task"]["number"]
    linked = await tools.run("get_tasks_for_object", {"object_type": "order", "object_id": "DEMO-0005555"})
    assert [t["number"] for t in linked["tasks"]] == [out["task"]["number"]]


async def test_create_is_one_insert(tools: Tools) -> None:
    before = await tools.counts()
    await tools.run("create_task", {"name": "Just a name"})
    assert delta(before, await tools.counts()) == {"insertWorkflowTask": 1}


@pytest.mark.parametrize(
    ("args", "must"),
    [
        ({}, ("name: is required",)),
        ({"name": "   "}, ("name",)),
        ({"name": "x", "object_type": "order"}, ("object_type and object_id",)),
        ({"name": "x", "object_id": "1"}, ("object_type and object_id",)),
        ({"name": "x", "assignee": "Sam", "group": "Warehouse"}, ("not both",)),
        ({"name": "x" * 251}, ("name",)),
    ],
)
async def test_create_refused(tools: Tools, args: dict[str, object], must: tuple[str, ...]) -> None:
    before = await tools.counts()
    error = await tools.fail_input("create_task", args)
    assert_one_line(error, *must)
    assert delta(before, await tools.counts()) == {}


async def test_count_open_tasks(tools: Tools) -> None:
    """The sandbox counts every task that is not closed (open, delayed, awaiting customer feedback)."""
    not_closed = 0
    for status in ("open", "delayed", "awaiting"):
        not_closed += (await tools.run("search_tasks", {"status": status, "limit": 1}))["total"]
    count = (await tools.run("count_open_tasks"))["open_count"]
    assert count == not_closed > 0
    await tools.run("create_task", {"name": "One more open"})
    assert (await tools.run("count_open_tasks"))["open_count"] == count + 1


async def test_list_task_tags(tools: Tools) -> None:
    out = await tools.run("list_task_tags")
    assert {"fraud", "vip", "net30"} <= set(out["tags"])
    assert out["count"] == len(out["tags"])
    await tools.run("create_task", {"name": "Tagged", "tags": ["brand-new-tag"]})
    assert "brand-new-tag" in (await tools.run("list_task_tags"))["tags"]


# --------------------------------------------------------------------------- search by object


async def test_search_by_object_applies_the_other_filters_to_its_tasks(tools: Tools) -> None:
    made = [
        (
            await tools.run(
                "create_task", {"name": f"obj {i}", "object_type": "item", "object_id": "SKU-9", **extra}
            )
        )
        for i, extra in enumerate(
            [
                {"priority": "high"},
                {"priority": "low", "status": "delayed"},
                {"priority": "critical", "assignee": "me"},
            ]
        )
    ]
    numbers = [m["task"]["number"] for m in made]
    before = await tools.counts()
    everything = await tools.run(
        "search_tasks", {"object_type": "item", "object_id": "SKU-9", "sort": "-priority"}
    )
    assert [t["number"] for t in everything["tasks"]] == [numbers[2], numbers[0], numbers[1]]
    assert everything["total"] == 3 and everything["has_more"] is False
    assert delta(before, await tools.counts()) == {"getWorkflowTaskByObjectType": 1}
    open_ones = await tools.run(
        "search_tasks", {"object_type": "item", "object_id": "SKU-9", "status": "open"}
    )
    assert {t["number"] for t in open_ones["tasks"]} == {numbers[0], numbers[2]}
    mine = await tools.run("search_tasks", {"object_type": "item", "object_id": "SKU-9", "assignee": "me"})
    assert [t["number"] for t in mine["tasks"]] == [numbers[2]]
    paged = await tools.run("search_tasks", {"object_type": "item", "object_id": "SKU-9", "limit": 2})
    assert paged["count"] == 2 and paged["has_more"] is True
    rest = await tools.run(
        "search_tasks",
        {"object_type": "item", "object_id": "SKU-9", "limit": 2, "cursor": paged["next_cursor"]},
    )
    assert rest["count"] == 1 and rest["has_more"] is False


async def test_search_by_object_needs_its_type_and_allows_storefront(tools: Tools) -> None:
    error = await tools.fail_input("search_tasks", {"object_id": "SKU-9"})
    assert_one_line(error, "object_type")
    assert error.field == "object_type"
    out = await tools.run("search_tasks", {"object_type": "storefront", "object_id": "STORE-1"})
    assert out["count"] == len(out["tasks"]) > 0  # the demo account has storefront tasks
    assert all(t["object"].startswith("storefront ") for t in out["tasks"])


@pytest.mark.parametrize("task_uuid", ["ab\ncd", "0f0f0f0f-0000-4000-8000-00000000\r0000", "\n"])
async def test_get_task_of_a_uuid_with_control_characters_is_not_found(tools: Tools, task_uuid: str) -> None:
    """The client's getWorkflowTask gets UltraCart's answer for an unknown task (400), never a 404; the
    get_task tool refuses such a reference before asking."""
    from shared_client.errors import NotFoundError

    with pytest.raises(NotFoundError) as raised:
        await tools.client.get_task(task_uuid)
    assert raised.value.status == 400
    assert raised.value.message == "Workflow task not found"
    before = await tools.counts()
    error = await tools.fail_input("get_task", {"task": task_uuid})
    assert "task" in error.message
    assert delta(before, await tools.counts()) == {}


async def test_get_tasks_for_object_with_control_characters_is_an_object_without_tasks(tools: Tools) -> None:
    out = await tools.run("get_tasks_for_object", {"object_type": "order", "object_id": "DEMO\n0001234"})
    assert out["count"] == 0 and out.get("tasks", []) == []
