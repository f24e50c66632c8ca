"""POST /workflow/tasks/search: every filter, sorting and paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sandbox_support import assert_error, search, search_all


async def _uuids(client: httpx.AsyncClient, body: dict[str, Any]) -> set[str]:
    return {t["workflow_task_uuid"] for t in await search_all(client, body)}


@pytest.fixture
async def everything(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return await search_all(client, {})


FIELD_FILTERS = [
    ({"status": "open"}, lambda t: t["status"] == "open"),
    ({"status": "closed"}, lambda t: t["status"] == "closed"),
    ({"status": "delayed"}, lambda t: t["status"] == "delayed"),
    ({"priority": "4 - critical"}, lambda t: t["priority"] == "4 - critical"),
    ({"object_type": "auto order"}, lambda t: t["object_type"] == "auto order"),
    ({"object_email": "ann@home.example"}, lambda t: t.get("object_email") == "ann@home.example"),
    ({"assigned_to_user_id": 1002}, lambda t: t.get("assigned_to_user_id") == 1002),
    ({"assigned_to_user": "Alice Carter"}, lambda t: t.get("assigned_to_user") == "Alice Carter"),
    ({"assigned_to_group_id": 204}, lambda t: t.get("assigned_to_group_id") == 204),
    ({"assigned_to_group": "Fraud Review"}, lambda t: t.get("assigned_to_group") == "Fraud Review"),
    ({"unassigned": True}, lambda t: "assigned_to_user_id" not in t and "assigned_to_group_id" not in t),
    ({"unassigned": False}, lambda t: True),
    ({"tags": ["fraud"]}, lambda t: "fraud" in t.get("tags", [])),
    ({"tags": ["inventory", "urgent"]}, lambda t: {"inventory", "urgent"} <= set(t.get("tags", []))),
    ({"created_by": {"user_id": 1000}}, lambda t: t["created_by"]["user_id"] == 1000),
    ({"created_by": {"user": "System"}}, lambda t: t["created_by"]["user"] == "System"),
    (
        {"status": "open", "priority": "3 - high"},
        lambda t: t["status"] == "open" and t["priority"] == "3 - high",
    ),
    (
        {"status": "open", "object_type": "item", "assigned_to_group_id": 204, "unknown_field": 1},
        lambda t: (
            t["status"] == "open" and t["object_type"] == "item" and t.get("assigned_to_group_id") == 204
        ),
    ),
]


@pytest.mark.parametrize(("body", "predicate"), FIELD_FILTERS)
async def test_filter(
    client: httpx.AsyncClient, everything: list[dict[str, Any]], body: dict[str, Any], predicate: Any
) -> None:
    expected = {t["workflow_task_uuid"] for t in everything if predicate(t)}
    assert expected, f"the seed should have tasks for {body}"
    assert await _uuids(client, body) == expected


async def test_assigned_to_me_includes_my_groups(app: Any, make_client: Any, everything: Any) -> None:
    # Priya (1004) is in Accounts Receivable (202) and Fraud Review (203).
    async with make_client(app, key="user:priya@demo.example") as priya:
        mine = await _uuids(priya, {"assigned_to_me": True})
    expected = {
        t["workflow_task_uuid"]
        for t in everything
        if t.get("assigned_to_user_id") == 1004 or t.get("assigned_to_group_id") in (202, 203)
    }
    assert mine == expected
    assert any(t.get("assigned_to_group_id") == 203 for t in everything if t["workflow_task_uuid"] in mine)


async def test_date_ranges_are_inclusive(client: httpx.AsyncClient, everything: list[dict[str, Any]]) -> None:
    with_due = sorted((t for t in everything if t.get("due_dts")), key=lambda t: t["due_dts"])
    pivot = with_due[len(with_due) // 2]["due_dts"]
    begin = await _uuids(client, {"due_dts_begin": pivot})
    end = await _uuids(client, {"due_dts_end": pivot})
    at = datetime.fromisoformat(pivot)
    assert begin == {t["workflow_task_uuid"] for t in with_due if datetime.fromisoformat(t["due_dts"]) >= at}
    assert end == {t["workflow_task_uuid"] for t in with_due if datetime.fromisoformat(t["due_dts"]) <= at}
    exact = await _uuids(client, {"due_dts_begin": pivot, "due_dts_end": pivot})
    assert exact and exact == begin & end
    now = datetime.now(UTC)
    created = await _uuids(
        client,
        {
            "created_dts_begin": (now - timedelta(days=3)).isoformat(timespec="milliseconds"),
            "created_dts_end": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    assert created == {
        t["workflow_task_uuid"]
        for t in everything
        if now - timedelta(days=3) <= datetime.fromisoformat(t["created_dts"]) <= now
    }
    delayed = await _uuids(client, {"delay_until_dts_begin": now.isoformat()})
    assert delayed == {t["workflow_task_uuid"] for t in everything if t.get("delay_until_dts")}
    updated = await _uuids(client, {"last_update_dts_end": (now - timedelta(days=1000)).isoformat()})
    assert updated == set()


async def test_default_order_is_newest_first_and_pages_do_not_overlap(client: httpx.AsyncClient) -> None:
    first = await search(client, {}, _limit=10)
    second = await search(client, {}, _limit=10, _offset=10)
    numbers = [t["global_task_number"] for t in first["tasks"] + second["tasks"]]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == 20
    assert first["metadata"]["result_set"]["more"] is True
    total = first["metadata"]["result_set"]["total_records"]
    last = await search(client, {}, _limit=10, _offset=total - 3)
    assert last["metadata"]["result_set"] == {
        "count": 3,
        "offset": total - 3,
        "limit": 10,
        "total_records": total,
    }
    clamped = await search(client, {}, _limit=100000)
    assert clamped["metadata"]["result_set"]["limit"] == 500


async def test_sort_by_due_puts_nulls_last_both_ways(client: httpx.AsyncClient) -> None:
    for sort, reverse in (("+due_dts", False), ("due_dts", False), ("-due_dts", True)):
        tasks = (await search(client, {}, _limit=500, _sort=sort))["tasks"]
        dated = [datetime.fromisoformat(t["due_dts"]) for t in tasks if t.get("due_dts")]
        assert dated == sorted(dated, reverse=reverse)
        first_null = next(i for i, t in enumerate(tasks) if "due_dts" not in t)
        assert all("due_dts" not in t for t in tasks[first_null:])


async def test_multi_field_sort(client: httpx.AsyncClient) -> None:
    tasks = (await search(client, {}, _limit=500, _sort="-priority,+global_task_number"))["tasks"]
    keys = [(t["priority"], -t["global_task_number"]) for t in tasks]
    assert keys == sorted(keys, reverse=True)
    for field in (
        "created_dts",
        "last_update_dts",
        "delay_until_dts",
        "status",
        "task_name",
        "object_type",
        "assigned_to_user_or_group",
    ):
        response = await client.post("/workflow/tasks/search", json={}, params={"_sort": f"-{field}"})
        assert response.status_code == 200, field


async def test_unencoded_plus_is_a_400(client: httpx.AsyncClient) -> None:
    # httpx encodes '+' in params, so write the raw query the way a careless client would.
    response = await client.post("/workflow/tasks/search?_sort=+due_dts", json={})
    assert_error(response, 400, "%2B")
    encoded = await client.post("/workflow/tasks/search?_sort=%2Bdue_dts", json={})
    assert encoded.status_code == 200


async def test_empty_body_searches_everything(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflow/tasks/search", content=b"")
    assert response.status_code == 200
    assert response.json()["metadata"]["result_set"]["total_records"] >= 35
