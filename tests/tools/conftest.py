"""Fixtures for the tool behaviour tests: a fresh seeded sandbox per test, a ToolContext on it, and a
task that carries notes, attachments (on the task and on a note), tags and properties."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from tool_support import Tools

from shared_client.tools import ToolContext


@pytest.fixture
async def tools(make_client: Any) -> Tools:
    sandbox = make_client()
    return Tools(sandbox, ToolContext(sandbox.client, sandbox=True))


@pytest.fixture
async def rich_task(tools: Tools) -> str:
    """A task with every kind of content an update must keep; returns its uuid."""
    created = await tools.run(
        "create_task",
        {
            "name": "Refund check for order DEMO-0009999",
            "details": "Customer asks for a refund of the second box.",
            "priority": "high",
            "status": "open",
            "due": "2030-06-01",
            "delay_until": "2030-05-01T09:00:00Z",
            "assignee": "Sam Rivera",
            "tags": ["refund", "vip"],
            "object_type": "order",
            "object_id": "DEMO-0009999",
            "object_url": "https://secure.ultracart.com/merchant/order/DEMO-0009999",
            "object_email": "buyer@acme.example",
            "note": "First note: customer called.",
            "properties": {"chargeback_id": "CB-1", "amount": "12.50"},
        },
    )
    uuid = str(created["task"]["uuid"])
    await tools.run("add_task_note", {"task": uuid, "text": "Second note: refund approved."})
    await tools.run(
        "attach_file",
        {"task": uuid, "content_base64": base64.b64encode(b"invoice 1").decode(), "file_name": "inv.txt"},
    )
    await tools.run(
        "attach_file",
        {
            "task": uuid,
            "content_base64": base64.b64encode(b"%PDF-1.4 receipt").decode(),
            "file_name": "receipt.pdf",
            "note_index": 0,
        },
    )
    return uuid
