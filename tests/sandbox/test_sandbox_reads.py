"""The read operations and the seeded demo account."""

from __future__ import annotations

from datetime import datetime

import httpx
from sandbox_support import search_all

from shared_client.sandbox.wire import OBJECT_TYPES, PRIORITIES, STATUSES


async def test_me(client: httpx.AsyncClient) -> None:
    body = (await client.get("/workflow/me")).json()
    assert body["success"] is True
    # Exactly UltraCart's WorkflowUser: no e-mail, not even the sandbox's own login.
    assert body["user"]["user"] == "Demo Owner"
    assert set(body["user"]) == {"user_id", "user", "user_icon_url"}
    assert "owner@demo.example" not in str(body)


async def test_assignment_users_pages_and_my_user_id(client: httpx.AsyncClient) -> None:
    first = (await client.get("/workflow/assignment_users", params={"_limit": 3})).json()
    assert first["my_user_id"] == 1001
    assert first["metadata"]["result_set"] == {
        "count": 3,
        "offset": 0,
        "limit": 3,
        "more": True,
        "next_offset": 3,
        "total_records": 8,
    }
    assert all(set(u) == {"user_id", "user", "user_icon_url"} for u in first["users"])
    last = (await client.get("/workflow/assignment_users", params={"_limit": 3, "_offset": 6})).json()
    assert last["metadata"]["result_set"] == {"count": 2, "offset": 6, "limit": 3, "total_records": 8}
    everyone = (await client.get("/workflow/assignment_users", params={"_limit": 1000})).json()
    assert everyone["metadata"]["result_set"]["limit"] == 200  # clamped to the maximum
    names = {u["user"] for u in everyone["users"]}
    assert "System" not in names
    assert "tom@demo.example" in names  # an account whose user name is an e-mail address
    assert "alice@demo.example" not in str(everyone)  # logins are the sandbox's, not UltraCart's


async def test_assignment_groups(client: httpx.AsyncClient) -> None:
    body = (await client.get("/workflow/assignment_groups")).json()
    assert [g["group"] for g in body["groups"]] == [
        "Customer Service",
        "Accounts Receivable",
        "Fraud Review",
        "Warehouse",
    ]
    assert "more" not in body["metadata"]["result_set"]
    page = (await client.get("/workflow/assignment_groups", params={"_limit": 2, "_offset": 1})).json()
    assert [g["group_id"] for g in page["groups"]] == [202, 203]
    assert page["metadata"]["result_set"]["next_offset"] == 3


async def test_seed_covers_the_vocabulary(client: httpx.AsyncClient) -> None:
    tasks = await search_all(client, {})
    assert 35 <= len(tasks) <= 50
    assert {t["object_type"] for t in tasks} == set(OBJECT_TYPES)
    assert {t["status"] for t in tasks} == set(STATUSES)
    assert {t["priority"] for t in tasks} == set(PRIORITIES)
    now = datetime.now().astimezone()
    overdue = [
        t
        for t in tasks
        if t.get("due_dts") and t["status"] == "open" and datetime.fromisoformat(t["due_dts"]) < now
    ]
    assert overdue
    system = [t for t in tasks if t.get("system_task_type")]
    assert system and all(t["created_by"]["user"] == "System" and t.get("expiration_dts") for t in system)
    assert any(t.get("notes") for t in tasks)
    assert any(t.get("attachments") for t in tasks)
    assert any(t.get("properties") for t in tasks)
    assert any("assigned_to_group_id" in t for t in tasks)
    assert any("assigned_to_user_id" not in t and "assigned_to_group_id" not in t for t in tasks)
    assert all(t["histories"] for t in tasks)
    assert all(t["merchant_id"] == "DEMO" for t in tasks)


async def test_get_task(client: httpx.AsyncClient) -> None:
    listed = (await client.post("/workflow/tasks/search", json={}, params={"_limit": 1})).json()["tasks"][0]
    body = (await client.get(f"/workflow/tasks/{listed['workflow_task_uuid']}")).json()
    assert body["task"] == listed


async def test_tasks_by_object_type_spellings(client: httpx.AsyncClient) -> None:
    encoded = (await client.get("/workflow/tasks/by/auto%20order/DEMO-AO-000551")).json()
    underscored = (await client.get("/workflow/tasks/by/auto_order/DEMO-AO-000551")).json()
    assert encoded["task_context"] == "Auto Order DEMO-AO-000551"
    assert [t["workflow_task_uuid"] for t in encoded["tasks"]] == [
        t["workflow_task_uuid"] for t in underscored["tasks"]
    ]
    assert len(encoded["tasks"]) == 1
    many = (await client.get("/workflow/tasks/by/storefront/STORE-1")).json()
    assert len(many["tasks"]) > 1
    assert [t["object_task_number"] for t in many["tasks"]] == list(range(1, len(many["tasks"]) + 1))
    none = (await client.get("/workflow/tasks/by/order/NO-SUCH-ORDER")).json()
    assert none["tasks"] == [] and none["task_context"] == "Order NO-SUCH-ORDER"


async def test_open_count_excludes_every_closed_status(client: httpx.AsyncClient) -> None:
    tasks = await search_all(client, {})
    expected = sum(1 for t in tasks if not t["status"].startswith("closed"))
    assert (await client.get("/workflow/tasks/open_count")).json()["open_count"] == expected


async def test_tags_are_distinct_and_sorted(client: httpx.AsyncClient) -> None:
    tags = (await client.get("/workflow/tasks/tags")).json()["tags"]
    assert tags == sorted(set(tags)) and "fraud" in tags
    await client.post("/workflow/tasks", json={"task_name": "t", "tags": ["aaa-new"]})
    assert (await client.get("/workflow/tasks/tags")).json()["tags"][0] == "aaa-new"


async def test_agent_websocket_authorization(client: httpx.AsyncClient) -> None:
    auth = (await client.put("/workflow/agent/auth")).json()["agent_auth"]
    assert auth["merchant_id"] == "DEMO"
    assert auth["jwt"].count(".") == 2
    assert auth["websocket_url"].startswith("ws://sandbox/")
