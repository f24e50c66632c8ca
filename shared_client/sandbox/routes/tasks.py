"""Tasks: one task, the tasks of an object, the search, the open count, tags, insert and update."""

from __future__ import annotations

from typing import Any

from ..calls import Call, Sandbox
from ..search import build_search
from ..task_rules import validate_task
from ..wire import bad_request, normalise_object_type, render_task, result_set, task_context_for


async def get_task(sb: Sandbox, call: Call) -> dict[str, Any]:
    doc = await sb.run(sb.tasks.get_task, call.path["task_uuid"])
    return {"task": render_task(doc, call.base_url)}


async def tasks_by_object(sb: Sandbox, call: Call) -> dict[str, Any]:
    object_type = normalise_object_type(call.path["object_type"])
    if object_type is None:
        raise bad_request(
            f"Unknown object_type {call.path['object_type']!r}: use order, auto order, item, "
            "customer profile or storefront (URL-encode the space)"
        )
    object_id = call.path["object_id"]
    docs = await sb.run(sb.tasks.tasks_by_object, object_type, object_id)
    context = next((d["task_context"] for d in docs if d.get("task_context")), None)
    return {
        "task_context": context or task_context_for(object_type, object_id, None),
        "tasks": [render_task(d, call.base_url) for d in docs],
    }


async def search_tasks(sb: Sandbox, call: Call) -> dict[str, Any]:
    query = build_search(call.json(empty={}), call.query)
    docs, total = await sb.run(sb.tasks.search, query, call.caller["user_id"])
    return {
        "tasks": [render_task(d, call.base_url) for d in docs],
        "metadata": {"result_set": result_set(len(docs), query.offset, query.limit, total)},
    }


async def open_count(sb: Sandbox, call: Call) -> dict[str, Any]:
    return {"open_count": await sb.run(sb.tasks.open_count)}


async def task_tags(sb: Sandbox, call: Call) -> dict[str, Any]:
    return {"tags": await sb.run(sb.tasks.tags)}


async def insert_task(sb: Sandbox, call: Call) -> dict[str, Any]:
    body = validate_task(call.json())
    doc = await sb.run(sb.tasks.insert_task, body, call.caller, call.ip)
    return {"task": render_task(doc, call.base_url)}


async def update_task(sb: Sandbox, call: Call) -> dict[str, Any]:
    body = validate_task(call.json())
    doc = await sb.run(sb.tasks.update_task, call.path["task_uuid"], body, call.caller, call.ip)
    return {"task": render_task(doc, call.base_url)}
