"""UltraCart's wire behaviour: auth, version header, error shape, identities, bad input, stats."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sandbox_support import OWNER_KEY, MakeApp, MakeClient, assert_error


async def test_no_credentials_is_401(app: Any, make_client: MakeClient) -> None:
    async with make_client(app, key=None) as c:
        assert_error(await c.get("/workflow/me"), 401, "credentials")
        bearer_empty = await c.get("/workflow/me", headers={"Authorization": "Bearer "})
        assert_error(bearer_empty, 401)


async def test_missing_version_header_is_400(app: Any, make_client: MakeClient) -> None:
    async with make_client(app, version=False) as c:
        assert_error(await c.get("/workflow/me"), 400, "X-UltraCart-Api-Version")


async def test_every_answer_has_a_fresh_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/workflow/me")
    second = await client.get("/workflow/tasks/not-a-task")
    ids = {first.headers["X-UltraCart-Request-Id"], second.headers["X-UltraCart-Request-Id"]}
    assert len(ids) == 2
    for value in ids:
        uuid.UUID(value)
    stats = await client.get("http://sandbox/_sandbox/stats")
    assert stats.headers["X-UltraCart-Request-Id"]


async def test_unknown_task_is_ultracart_400_with_object_id(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get("/workflow/tasks/nope-123"), 400, "Workflow task not found")
    assert body["error"]["object_id"] == "nope-123"
    assert body["error"]["developer_message"] and body["error"]["user_message"]


async def test_unknown_path_is_404_in_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/workflow/nothing/here"), 404)
    assert_error(await client.get("http://sandbox/elsewhere"), 404)
    assert_error(await client.delete("/workflow/me"), 405)


async def test_identities_per_key(app: Any, make_client: MakeClient) -> None:
    async with make_client(app, key="user:alice@demo.example") as alice:
        me = (await alice.get("/workflow/me")).json()["user"]
        assert me["user"] == "Alice Carter"
        users = (await alice.get("/workflow/assignment_users")).json()
        assert users["my_user_id"] == me["user_id"]
    async with make_client(app, key=None, headers={"Authorization": "Bearer some-oauth-token"}) as owner:
        me = (await owner.get("/workflow/me")).json()["user"]
        assert me["user"] == "Demo Owner"
    async with make_client(app, key="user:nobody@demo.example") as unknown:
        response = await unknown.get("/workflow/me")
        assert_error(response, 401)
        assert "nobody@demo.example" not in response.text


async def test_credentials_never_echoed(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/workflow/me"),
        await client.post("/workflow/tasks", content=b"{oops"),
        await client.get("/workflow/tasks/x"),
    ):
        assert OWNER_KEY not in response.text
        assert all(OWNER_KEY not in v for v in response.headers.values())


BAD_INPUTS: list[tuple[str, str, Any, str]] = [
    ("POST", "/workflow/tasks", b"{not json", "Invalid JSON"),
    ("POST", "/workflow/tasks", b"", "body is required"),
    ("POST", "/workflow/tasks", [1, 2], "JSON object"),
    ("POST", "/workflow/tasks", {"task_name": 5}, "task_name must be a string"),
    ("POST", "/workflow/tasks", {}, "task_name is required"),
    ("POST", "/workflow/tasks", {"task_name": "x", "assigned_to_user_id": "1002"}, "integer"),
    ("POST", "/workflow/tasks", {"task_name": "x", "assigned_to_user_id": True}, "integer"),
    ("POST", "/workflow/tasks", {"task_name": "x", "priority": "high"}, "priority"),
    ("POST", "/workflow/tasks", {"task_name": "x", "status": "done"}, "status"),
    ("POST", "/workflow/tasks", {"task_name": "x", "object_type": "invoice"}, "object_type"),
    ("POST", "/workflow/tasks", {"task_name": "x", "system_task_type": "nope"}, "system_task_type"),
    ("POST", "/workflow/tasks", {"task_name": "x", "due_dts": "tomorrow"}, "due_dts"),
    ("POST", "/workflow/tasks", {"task_name": "x", "due_dts": "2024-05-01T10:00:00"}, "offset"),
    ("POST", "/workflow/tasks", {"task_name": "x", "due_dts": "2024-05-01"}, "due_dts"),
    ("POST", "/workflow/tasks", {"task_name": "x", "tags": "vip"}, "array"),
    ("POST", "/workflow/tasks", {"task_name": "x", "tags": [1]}, "string"),
    ("POST", "/workflow/tasks", {"task_name": "x", "notes": [{"note": 3}]}, "note"),
    ("POST", "/workflow/tasks", {"task_name": "x", "notes": ["text"]}, "object"),
    ("POST", "/workflow/tasks", {"task_name": "x", "attachments": [{"file_name": 1}]}, "file_name"),
    ("POST", "/workflow/tasks", {"task_name": "x", "properties": [{"name": 1}]}, "properties"),
    ("POST", "/workflow/tasks", {"task_name": "x", "assigned_to_user_id": 99999}, "99999"),
    ("POST", "/workflow/tasks", {"task_name": "x", "assigned_to_user_id": 2**40}, "range"),
    ("POST", "/workflow/tasks", {"task_name": "x", "assigned_to_group_id": 7}, "group"),
    ("POST", "/workflow/tasks", {"task_name": "x", "dependant_workflow_task_uuid": "zz"}, "not found"),
    ("POST", "/workflow/tasks/search", b"[", "Invalid JSON"),
    ("POST", "/workflow/tasks/search", "just a string", "WorkflowTasksRequest"),
    ("POST", "/workflow/tasks/search", {"status": "closed - system"}, "status"),
    ("POST", "/workflow/tasks/search", {"object_type": "storefront"}, "object_type"),
    ("POST", "/workflow/tasks/search", {"priority": 3}, "priority"),
    ("POST", "/workflow/tasks/search", {"assigned_to_me": "yes"}, "assigned_to_me"),
    ("POST", "/workflow/tasks/search", {"unassigned": 1}, "unassigned"),
    ("POST", "/workflow/tasks/search", {"assigned_to_user_id": "x"}, "integer"),
    ("POST", "/workflow/tasks/search", {"tags": "vip"}, "array"),
    ("POST", "/workflow/tasks/search", {"created_by": "me"}, "object"),
    ("POST", "/workflow/tasks/search", {"due_dts_begin": "2024-13-01T00:00:00Z"}, "due_dts_begin"),
    ("POST", "/workflow/tasks/search?_limit=abc", {}, "_limit"),
    ("POST", "/workflow/tasks/search?_limit=-1", {}, "_limit"),
    ("POST", "/workflow/tasks/search?_offset=1.5", {}, "_offset"),
    ("POST", "/workflow/tasks/search?_sort=-color", {}, "color"),
    ("GET", "/workflow/assignment_users?_limit=0", None, "_limit"),
    ("GET", "/workflow/assignment_groups?_offset=-3", None, "_offset"),
    ("GET", "/workflow/tasks/attachments/p.df", None, "extension"),
    ("GET", "/workflow/tasks/attachments/abcdefghijk", None, "extension"),
    ("GET", "/workflow/tasks/by/invoice/1", None, "object_type"),
]


@pytest.mark.parametrize(("method", "url", "payload", "message"), BAD_INPUTS)
async def test_bad_input_is_a_clean_400(
    client: httpx.AsyncClient, method: str, url: str, payload: Any, message: str
) -> None:
    if isinstance(payload, bytes):
        response = await client.request(method, url, content=payload)
    elif payload is None:
        response = await client.request(method, url)
    else:
        response = await client.request(method, url, json=payload)
    assert_error(response, 400, message)


async def test_bad_update_inputs(client: httpx.AsyncClient) -> None:
    task = (await client.post("/workflow/tasks", json={"task_name": "x"})).json()["task"]
    url = f"/workflow/tasks/{task['workflow_task_uuid']}"
    assert_error(await client.put(url, content=b"{"), 400, "Invalid JSON")
    assert_error(await client.put(url, json={**task, "status": "finished"}), 400, "status")
    assert_error(await client.put(url, json={**task, "task_name": ""}), 400, "task_name")
    missing = await client.put("/workflow/tasks/does-not-exist", json=task)
    assert assert_error(missing, 400, "not found")["error"]["object_id"] == "does-not-exist"


async def test_stats_count_and_reset(client: httpx.AsyncClient) -> None:
    stats = (await client.get("http://sandbox/_sandbox/stats")).json()
    assert stats == {
        "requests_total": 0,
        "requests": dict.fromkeys(stats["requests"], 0),
        "rate_limited": 0,
        "faults_injected": 0,
        "max_in_flight": 0,
    }
    assert len(stats["requests"]) == 12 and "getWorkflowTasks" in stats["requests"]
    await client.get("/workflow/me")
    await client.post("/workflow/tasks/search", json={})
    await client.post("/workflow/tasks/search", json={})
    stats = (await client.get("http://sandbox/_sandbox/stats")).json()
    assert stats["requests_total"] == 3
    assert stats["requests"]["getWorkflowTasks"] == 2 and stats["requests"]["getWorkflowMe"] == 1
    assert stats["max_in_flight"] == 1
    reset = await client.post("http://sandbox/_sandbox/stats/reset")
    assert reset.json()["requests_total"] == 0
    assert (await client.get("http://sandbox/_sandbox/stats")).json()["requests"]["getWorkflowMe"] == 0


async def test_dates_are_seconds_with_new_york_offset(client: httpx.AsyncClient) -> None:
    task = (
        await client.post("/workflow/tasks", json={"task_name": "d", "due_dts": "2024-01-15T15:00:00.250Z"})
    ).json()["task"]
    assert task["due_dts"] == "2024-01-15T10:00:00-05:00"
    summer = {"task_name": "d", "due_dts": "2024-07-01T12:00:00+00:00"}
    task = (await client.post("/workflow/tasks", json=summer)).json()["task"]
    assert task["due_dts"] == "2024-07-01T08:00:00-04:00"


async def test_two_apps_share_one_database(make_app: MakeApp, make_client: MakeClient) -> None:
    first, second = make_app(), make_app()
    async with make_client(first) as a, make_client(second) as b:
        created = (await a.post("/workflow/tasks", json={"task_name": "shared"})).json()["task"]
        seen = (await b.get(f"/workflow/tasks/{created['workflow_task_uuid']}")).json()["task"]
        assert seen["task_name"] == "shared"
        other = (await b.post("/workflow/tasks", json={"task_name": "second"})).json()["task"]
        assert other["global_task_number"] == created["global_task_number"] + 1


CONTROL_IDS = ["ab%0Acd", "ab%0Dcd", "ab%09cd", "ab%00cd", "%0A", "abc%0A", "%0Aabc"]


@pytest.mark.parametrize("segment", CONTROL_IDS)
async def test_control_characters_in_a_task_uuid_are_an_unknown_task(
    client: httpx.AsyncClient, segment: str
) -> None:
    """UltraCart's document lists no 404 for a task: a uuid with control characters is a task that does not
    exist (400, "Workflow task not found", the id as given), for a read and for an update alike."""
    decoded = httpx.URL(f"http://x/{segment}").path[1:]
    got = assert_error(await client.get(f"/workflow/tasks/{segment}"), 400, "Workflow task not found")
    assert got["error"]["object_id"] == decoded
    put = await client.put(f"/workflow/tasks/{segment}", json={"task_name": "x"})
    assert assert_error(put, 400, "Workflow task not found")["error"]["object_id"] == decoded


@pytest.mark.parametrize("segment", CONTROL_IDS)
async def test_control_characters_in_an_object_id_are_an_object_without_tasks(
    client: httpx.AsyncClient, segment: str
) -> None:
    unknown = (await client.get("/workflow/tasks/by/order/NO-SUCH-ORDER")).json()
    response = await client.get(f"/workflow/tasks/by/order/{segment}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["tasks"] == unknown["tasks"] == []


@pytest.mark.parametrize("segment", ["pdf%0A", "p%0Adf", "%0A"])
async def test_control_characters_in_an_extension_are_a_bad_extension(
    client: httpx.AsyncClient, segment: str
) -> None:
    assert_error(await client.get(f"/workflow/tasks/attachments/{segment}"), 400, "extension")
