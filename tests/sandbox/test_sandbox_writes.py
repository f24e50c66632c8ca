"""Insert and update semantics: server fields, names, notes, history and the attachment flow."""

from __future__ import annotations

from typing import Any

import httpx
from sandbox_support import assert_error


async def _create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/workflow/tasks", json={"task_name": "New task", **fields})
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()["task"]
    return task


async def _put(client: httpx.AsyncClient, task: dict[str, Any]) -> dict[str, Any]:
    response = await client.put(f"/workflow/tasks/{task['workflow_task_uuid']}", json=task)
    assert response.status_code == 200, response.text
    updated: dict[str, Any] = response.json()["task"]
    return updated


async def test_insert_fills_server_fields(client: httpx.AsyncClient) -> None:
    before = (await client.get("/workflow/tasks/open_count")).json()["open_count"]
    task = await _create(
        client,
        object_type="order",
        object_id="DEMO-0001234",
        assigned_to_user_id=1002,
        tags=["vip", "vip", "rush"],
        properties=[{"name": "source", "value": "slack"}],
        custom_field={"kept": True},
        global_task_number=1,
        merchant_id="HACKER",
        notes=[{"note": "first"}],
    )
    assert task["status"] == "open" and task["priority"] == "2 - medium"
    assert task["merchant_id"] == "DEMO"
    assert task["global_task_number"] > 40
    assert task["object_task_number"] == 2  # the seed has one task on DEMO-0001234
    assert task["task_context"] == "Order DEMO-0001234"
    assert task["assigned_to_user"] == "Alice Carter" == task["assigned_to_user_or_group"]
    assert task["created_by"]["user"] == "Demo Owner"
    assert task["created_dts"] == task["last_update_dts"]
    assert task["tags"] == ["vip", "rush"]
    assert task["properties"] == [{"name": "source", "value": "slack"}]
    assert task["custom_field"] == {"kept": True}
    assert task["notes"][0]["user"]["user"] == "Demo Owner" and task["notes"][0]["note_dts"]
    [history] = task["histories"]
    assert history["description"] == "Task created" and history["ip_address"] == "127.0.0.1"
    assert "assigned_to_group_id" not in task and "due_dts" not in task  # nulls left out
    assert (await client.get("/workflow/tasks/open_count")).json()["open_count"] == before + 1
    fetched = (await client.get(f"/workflow/tasks/{task['workflow_task_uuid']}")).json()["task"]
    assert fetched == task


async def test_insert_as_another_user(app: Any, make_client: Any) -> None:
    async with make_client(app, key="user:sam@demo.example") as sam:
        task = await _create(sam, assigned_to_group_id=204, assigned_to_user_id=1003)
    assert task["created_by"]["user"] == "Sam Rivera"
    assert task["assigned_to_group"] == "Warehouse" and task["assigned_to_user"] == "Sam Rivera"
    assert task["assigned_to_user_or_group"] == "Sam Rivera"


async def test_update_replaces_the_whole_task_and_writes_history(client: httpx.AsyncClient) -> None:
    task = await _create(
        client,
        task_details="details",
        due_dts="2030-01-01T12:00:00Z",
        tags=["a", "b"],
        assigned_to_user_id=1002,
    )
    change = {
        key: value
        for key, value in task.items()
        if key not in ("task_details", "due_dts")  # left out: cleared
    }
    change.update(
        status="closed",
        priority="4 - critical",
        task_name="Renamed",
        tags=["b", "c"],
        assigned_to_user_id=None,
        assigned_to_group_id=203,
        global_task_number=999999,
        created_dts="2000-01-01T00:00:00Z",
        histories=[],
    )
    updated = await _put(client, change)
    assert "task_details" not in updated and "due_dts" not in updated
    assert "assigned_to_user_id" not in updated and "assigned_to_user" not in updated
    assert updated["assigned_to_group"] == "Fraud Review" == updated["assigned_to_user_or_group"]
    assert updated["global_task_number"] == task["global_task_number"]
    assert updated["created_dts"] == task["created_dts"]
    assert updated["last_update_dts"] >= task["last_update_dts"]
    descriptions = [h["description"] for h in updated["histories"]]
    assert descriptions[0] == "Task created"
    for expected in (
        "Status changed from open to closed",
        "Priority changed from 2 - medium to 4 - critical",
        "Unassigned from user Alice Carter",
        "Assigned to group Fraud Review",
        "Name changed from New task to Renamed",
        "Details changed",
        "Tags added: c",
        "Tags removed: a",
    ):
        assert expected in descriptions, (expected, descriptions)
    assert any(
        d.startswith("Due date changed from 2030-01-01T07:00:00-05:00 to (none)") for d in descriptions
    )
    assert all(h["user"]["user"] == "Demo Owner" and h["ip_address"] for h in updated["histories"])
    tags = (await client.get("/workflow/tasks/tags")).json()["tags"]
    assert "c" in tags


async def test_update_unknown_assignee_is_400_and_changes_nothing(client: httpx.AsyncClient) -> None:
    task = await _create(client)
    assert_error(
        await client.put(
            f"/workflow/tasks/{task['workflow_task_uuid']}", json={**task, "assigned_to_user_id": 5}
        ),
        400,
    )
    assert (await client.get(f"/workflow/tasks/{task['workflow_task_uuid']}")).json()["task"] == task


async def test_notes_added_and_edited(app: Any, make_client: Any, client: httpx.AsyncClient) -> None:
    task = await _create(client, notes=[{"note": "original text"}])
    task["notes"][0]["note"] = "edited text"
    async with make_client(app, key="user:alice@demo.example") as alice:
        task["notes"].append({"note": "Alice's note"})
        updated = await _put(alice, task)
    first, second = updated["notes"]
    assert first["note"] == "edited text" and first["original_note"] == "original text" and first["edit_dts"]
    assert first["user"]["user"] == "Demo Owner"  # the author stays
    assert second["user"]["user"] == "Alice Carter" and second["note_dts"]
    descriptions = [h["description"] for h in updated["histories"]]
    assert "Note edited" in descriptions and "Note added" in descriptions
    updated["notes"][0]["note"] = "edited twice"
    again = await _put(client, updated)
    assert again["notes"][0]["original_note"] == "original text"


async def test_attachment_flow_end_to_end(client: httpx.AsyncClient) -> None:
    upload = (await client.get("/workflow/tasks/attachments/pdf")).json()["workflow_attachment_upload_url"]
    assert upload["url"] == f"http://sandbox/_sandbox/uploads/{upload['key']}"
    task = await _create(client)
    unsent = {**task, "attachments": [{"upload_key": upload["key"], "file_name": "a.pdf"}]}
    assert_error(
        await client.put(f"/workflow/tasks/{task['workflow_task_uuid']}", json=unsent), 400, "upload"
    )

    content = b"%PDF-1.4 sandbox test"
    put = await client.put(upload["url"], content=content)  # no credentials needed, like S3
    assert put.status_code == 200
    note_upload = (await client.get("/workflow/tasks/attachments/png")).json()[
        "workflow_attachment_upload_url"
    ]
    await client.put(note_upload["url"], content=b"\x89PNG fake")

    task["attachments"] = [
        {"upload_key": upload["key"], "file_name": "invoice.pdf", "mime_type": "application/pdf"}
    ]
    task["notes"] = [
        {"note": "see screenshot", "attachments": [{"upload_key": note_upload["key"], "file_name": "s.png"}]}
    ]
    updated = await _put(client, task)
    [attachment] = updated["attachments"]
    assert "upload_key" not in attachment and attachment["file_uuid"]
    assert attachment["download_key"] == f"http://sandbox/_sandbox/files/{attachment['file_uuid']}"
    downloaded = await client.get(attachment["download_key"])
    assert downloaded.content == content and downloaded.headers["content-type"] == "application/pdf"
    note_attachment = updated["notes"][0]["attachments"][0]
    assert note_attachment["mime_type"] == "image/png"
    assert (await client.get(note_attachment["download_key"])).content == b"\x89PNG fake"
    descriptions = [h["description"] for h in updated["histories"]]
    assert "Attachment added: invoice.pdf" in descriptions and "Attachment added: s.png" in descriptions

    # A retried PUT with the same upload key resolves to the same file, without a second history entry.
    retried = await _put(client, task)
    assert retried["attachments"][0]["file_uuid"] == attachment["file_uuid"]
    assert [h["description"] for h in retried["histories"]].count("Attachment added: invoice.pdf") == 1


async def test_upload_endpoint_rejects_unknown_keys_and_big_files(client: httpx.AsyncClient) -> None:
    assert (
        await client.put("http://sandbox/_sandbox/uploads/not-issued.pdf", content=b"x")
    ).status_code == 404
    upload = (await client.get("/workflow/tasks/attachments/bin")).json()["workflow_attachment_upload_url"]
    too_big = await client.put(upload["url"], content=b"\0" * (10 * 1024 * 1024 + 1))
    assert too_big.status_code == 413
    assert (await client.get("http://sandbox/_sandbox/files/nope")).status_code == 404


async def test_dependant_task_must_be_closed_first(client: httpx.AsyncClient) -> None:
    blocker = await _create(client, task_name="blocker")
    task = await _create(client, dependant_workflow_task_uuid=blocker["workflow_task_uuid"])
    closing = {**task, "status": "closed"}
    assert_error(
        await client.put(f"/workflow/tasks/{task['workflow_task_uuid']}", json=closing), 400, "dependant"
    )
    await _put(client, {**blocker, "status": "closed"})
    assert (await _put(client, closing))["status"] == "closed"
