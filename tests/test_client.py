"""The client against the sandbox: every operation, pagination, sort, filters, errors, pacing, faults."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared_client.client import WorkflowClient, encode_sort
from shared_client.errors import (
    APIConnectionError,
    APIResponseError,
    ApplicationDisabledError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from shared_client.models import (
    Priority,
    Status,
    WorkflowNote,
    WorkflowTask,
    WorkflowTasksRequest,
    WorkflowUser,
)
from shared_client.pacing import Budget, BudgetSpec
from shared_client.sandbox import parse_rate_limit
from tests.conftest import FAST_RETRIES, MakeClient, StartSandbox, mock_client

# --------------------------------------------------------------------------- every operation


async def test_every_operation_in_process(client: WorkflowClient) -> None:
    await _exercise_every_operation(client)


async def test_every_operation_over_loopback(start_sandbox: StartSandbox) -> None:
    live = start_sandbox()
    async with WorkflowClient(
        api_key="loopback-owner", base_url=live.api, retry_policy=FAST_RETRIES
    ) as client:
        await _exercise_every_operation(client)
    assert live.stats()["requests"]["insertWorkflowTask"] == 1


async def _exercise_every_operation(client: WorkflowClient) -> None:
    me = (await client.get_me()).user
    assert me is not None and me.user_id is not None
    users = await client.get_assignment_users()
    assert users.my_user_id == me.user_id
    assert users.users and all(u.user_id for u in users.users)
    groups = await client.get_assignment_groups()
    assert groups.groups and any(g.group for g in groups.groups)
    count = (await client.get_open_count()).open_count
    assert isinstance(count, int) and count > 0
    tags = (await client.get_tags()).tags
    assert tags and tags == sorted(tags)

    created = (
        await client.insert_task(
            WorkflowTask(
                task_name="Check fraud hold",
                priority=Priority.HIGH,
                object_type="auto order",
                object_id="AO-77",
                tags=["fraud"],
                notes=[WorkflowNote(note="first")],
            )
        )
    ).task
    assert created is not None and created.workflow_task_uuid and created.global_task_number
    assert created.status == Status.OPEN and created.created_by is not None
    fetched = (await client.get_task(created.workflow_task_uuid)).task
    assert fetched is not None and fetched.task_name == "Check fraud hold"
    assert fetched.notes and fetched.notes[0].note_dts is not None

    by_object = await client.get_tasks_by_object("auto order", "AO-77")
    assert [t.workflow_task_uuid for t in by_object.tasks or []] == [created.workflow_task_uuid]

    fetched.status = Status.CLOSED
    updated = (await client.update_task(created.workflow_task_uuid, fetched)).task
    assert updated is not None and updated.status == Status.CLOSED
    assert updated.notes and updated.notes[0].note == "first"  # whole-object PUT kept the note
    assert any("closed" in (h.description or "").lower() for h in updated.histories or [])

    page = await client.search_tasks(WorkflowTasksRequest(status="closed"), limit=500)
    assert created.workflow_task_uuid in {t.workflow_task_uuid for t in page.tasks or []}

    upload = (await client.get_attachment_upload_url("pdf")).workflow_attachment_upload_url
    assert upload is not None and upload.key and upload.url

    agent = (await client.get_agent_websocket_authorization()).agent_auth
    assert agent is not None and agent.jwt and agent.websocket_url


# --------------------------------------------------------------------------- pagination and sort


async def test_pagination_walks_every_page_and_more_is_left_out_on_the_last(client: WorkflowClient) -> None:
    everything = WorkflowTasksRequest()
    first = await client.search_tasks(everything, limit=7)
    total = first.result_set.total_records if first.result_set else None
    assert total and total > 14
    assert first.result_set and first.result_set.more is True

    seen: list[str] = []
    last_page_more: list[bool | None] = []
    async for page in client.paginate(
        lambda limit, offset: client.search_tasks(everything, limit=limit, offset=offset), 7
    ):
        seen.extend(t.workflow_task_uuid or "" for t in page.tasks or [])
        last_page_more.append(page.result_set.more if page.result_set else None)
    assert len(seen) == total == len(set(seen))
    assert last_page_more[-1] is None  # left out, not false
    assert len(last_page_more) == -(-total // 7)
    assert [
        t.workflow_task_uuid async for t in client.iter_tasks(everything)
    ] == seen  # same tasks, same order


def test_sort_is_encoded_with_explicit_signs() -> None:
    assert encode_sort("due_dts,-priority") == "+due_dts,-priority"
    request = httpx.Request("GET", "http://x/y", params={"_sort": encode_sort(["due_dts"])})
    assert "_sort=%2Bdue_dts" in str(request.url)


async def test_sort_orders_results(client: WorkflowClient) -> None:
    page = await client.search_tasks(WorkflowTasksRequest(), sort="-global_task_number", limit=500)
    numbers = [t.global_task_number or 0 for t in page.tasks or []]
    assert numbers == sorted(numbers, reverse=True)
    page = await client.search_tasks(WorkflowTasksRequest(), sort=["due_dts"], limit=500)
    dues = [t.due_dts for t in page.tasks or [] if t.due_dts is not None]
    assert dues == sorted(dues)


async def test_unencoded_plus_is_refused_like_ultracart(make_client: MakeClient) -> None:
    app = make_client().app
    from shared_client.sandbox import SandboxTransport

    async with httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://s/rest/v2") as http:
        response = await http.post(
            "/workflow/tasks/search?_sort=+due_dts",
            json={},
            headers={"x-ultracart-simple-key": "k", "X-UltraCart-Api-Version": "2017-03-01"},
        )
    assert response.status_code == 400
    assert "UC-REST-ERROR" in response.headers


# --------------------------------------------------------------------------- search filters


async def _all(client: WorkflowClient, request: WorkflowTasksRequest) -> list[WorkflowTask]:
    return [t async for t in client.iter_tasks(request)]


async def test_each_search_filter(client: WorkflowClient) -> None:
    everything = await _all(client, WorkflowTasksRequest())
    assert len(everything) >= 30

    def expect(request: WorkflowTasksRequest, predicate: Any) -> None:
        wanted = {t.workflow_task_uuid for t in everything if predicate(t)}
        assert wanted, f"seed has no task for {request.to_wire()}"
        checks.append((request, wanted))

    checks: list[tuple[WorkflowTasksRequest, set[str | None]]] = []
    sample_user = next(t for t in everything if t.assigned_to_user_id)
    sample_group = next(t for t in everything if t.assigned_to_group_id)
    sample_email = next(t for t in everything if t.object_email)
    sample_tag = next(t for t in everything if t.tags)
    creator = next(t for t in everything if t.created_by and t.created_by.user_id)
    expect(WorkflowTasksRequest(status="open"), lambda t: t.status == "open")
    expect(WorkflowTasksRequest(status="delayed"), lambda t: t.status == "delayed")
    expect(WorkflowTasksRequest(priority="4 - critical"), lambda t: t.priority == "4 - critical")
    expect(WorkflowTasksRequest(object_type="item"), lambda t: t.object_type == "item")
    expect(
        WorkflowTasksRequest(assigned_to_user_id=sample_user.assigned_to_user_id),
        lambda t: t.assigned_to_user_id == sample_user.assigned_to_user_id,
    )
    expect(
        WorkflowTasksRequest(assigned_to_user=sample_user.assigned_to_user),
        lambda t: t.assigned_to_user == sample_user.assigned_to_user,
    )
    expect(
        WorkflowTasksRequest(assigned_to_group_id=sample_group.assigned_to_group_id),
        lambda t: t.assigned_to_group_id == sample_group.assigned_to_group_id,
    )
    expect(
        WorkflowTasksRequest(assigned_to_group=sample_group.assigned_to_group),
        lambda t: t.assigned_to_group == sample_group.assigned_to_group,
    )
    expect(
        WorkflowTasksRequest(unassigned=True),
        lambda t: not t.assigned_to_user_id and not t.assigned_to_group_id,
    )
    expect(
        WorkflowTasksRequest(object_email=sample_email.object_email),
        lambda t: t.object_email == sample_email.object_email,
    )
    tag = (sample_tag.tags or [""])[0]
    expect(WorkflowTasksRequest(tags=[tag]), lambda t: tag in (t.tags or []))
    expect(
        WorkflowTasksRequest(created_by=WorkflowUser(user_id=creator.created_by.user_id)),  # type: ignore[union-attr]
        lambda t: t.created_by is not None and t.created_by.user_id == creator.created_by.user_id,  # type: ignore[union-attr]
    )
    now = datetime.now(UTC)
    expect(WorkflowTasksRequest(due_dts_end=now), lambda t: t.due_dts is not None and t.due_dts <= now)
    expect(WorkflowTasksRequest(due_dts_begin=now), lambda t: t.due_dts is not None and t.due_dts >= now)
    week_ago = now - timedelta(days=7)
    expect(
        WorkflowTasksRequest(created_dts_begin=week_ago),
        lambda t: t.created_dts and t.created_dts >= week_ago,
    )
    expect(
        WorkflowTasksRequest(created_dts_end=week_ago), lambda t: t.created_dts and t.created_dts <= week_ago
    )
    expect(
        WorkflowTasksRequest(last_update_dts_end=now),
        lambda t: t.last_update_dts and t.last_update_dts <= now,
    )
    expect(
        WorkflowTasksRequest(last_update_dts_begin=week_ago),
        lambda t: t.last_update_dts and t.last_update_dts >= week_ago,
    )
    expect(
        WorkflowTasksRequest(delay_until_dts_begin=week_ago),
        lambda t: t.delay_until_dts and t.delay_until_dts >= week_ago,
    )
    expect(
        WorkflowTasksRequest(delay_until_dts_end=now + timedelta(days=365)),
        lambda t: t.delay_until_dts and t.delay_until_dts <= now + timedelta(days=365),
    )
    expect(
        WorkflowTasksRequest(status="open", priority="3 - high"),
        lambda t: t.status == "open" and t.priority == "3 - high",
    )
    for request, wanted in checks:
        got = {t.workflow_task_uuid for t in await _all(client, request)}
        assert got == wanted, request.to_wire()


async def test_assigned_to_me_through_a_group(make_client: MakeClient) -> None:
    owner = make_client().client
    users, _ = await owner.list_all_users()
    groups = await owner.list_all_groups()
    # Find a demo user: tasks assigned to their groups must show up as theirs.
    alice = next(u for u in users if (u.user or "").startswith("Alice"))
    as_alice = make_client(key="user:alice@demo.example").client  # the sandbox's way to pick a demo user
    me = (await as_alice.get_me()).user
    assert me is not None and me.user_id == alice.user_id
    mine = await _all(as_alice, WorkflowTasksRequest(assigned_to_me=True))
    direct = {t.workflow_task_uuid for t in mine if t.assigned_to_user_id == alice.user_id}
    through_group = [t for t in mine if t.assigned_to_group_id and not t.assigned_to_user_id]
    assert direct and through_group, "seed should give alice tasks directly and through a group"
    # A new task for one of those groups becomes hers too.
    group_id = through_group[0].assigned_to_group_id
    assert any(g.group_id == group_id for g in groups)
    new = (await owner.insert_task(WorkflowTask(task_name="group work", assigned_to_group_id=group_id))).task
    assert new is not None
    mine_after = {
        t.workflow_task_uuid for t in await _all(as_alice, WorkflowTasksRequest(assigned_to_me=True))
    }
    assert new.workflow_task_uuid in mine_after
    # ...and not the owner's, unless the owner is in that group.
    assert {
        t.workflow_task_uuid for t in await _all(as_alice, WorkflowTasksRequest(unassigned=True))
    }.isdisjoint(mine_after)


# --------------------------------------------------------------------------- errors from the sandbox


async def test_unknown_task_is_not_found_with_message_and_request_id(client: WorkflowClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.get_task("00000000-0000-0000-0000-000000000000")
    assert info.value.status == 400
    assert info.value.request_id
    assert "not found" in info.value.message.lower()


async def test_bad_enum_in_search_is_a_bad_request(client: WorkflowClient) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.search_tasks(WorkflowTasksRequest(status="closed - system"))
    assert info.value.request_id and info.value.message


async def test_missing_credentials_are_refused(make_client: MakeClient) -> None:
    app = make_client().app
    from shared_client.sandbox import SandboxTransport

    async with httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://s/rest/v2") as http:
        response = await http.get("/workflow/me", headers={"X-UltraCart-Api-Version": "2017-03-01"})
    assert response.status_code == 401
    assert "success" not in response.json()


async def test_unknown_demo_user_is_an_authentication_error(make_client: MakeClient) -> None:
    client = make_client(key="user:nobody@nowhere.example").client
    with pytest.raises(AuthenticationError) as info:
        await client.get_me()
    assert info.value.status == 401 and info.value.request_id


# --------------------------------------------------------------------------- errors from a hostile upstream


def _uc_error(status: int, message: str, **headers: str) -> httpx.Response:
    body = {
        "error": {"developer_message": message, "user_message": message, "error_code": str(status)},
        "metadata": {},
    }
    return httpx.Response(
        status,
        json=body,
        headers={"UC-REST-ERROR": message, "X-UltraCart-Request-Id": f"req-{status}", **headers},
    )


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (410, ApplicationDisabledError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
async def test_every_error_status_is_mapped(status: int, error_type: type[Exception]) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return _uc_error(status, f"problem {status}")

    async with mock_client(handler) as client:
        with pytest.raises(error_type) as info:
            await client.get_me()
    error = info.value
    assert getattr(error, "status", None) == status
    assert getattr(error, "request_id", None) == f"req-{status}"
    assert f"problem {status}" in str(error)
    retried = status in (429, 500, 503)
    assert (calls > 1) is retried


async def test_header_message_is_read_first_and_html_pages_are_explained() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/me"):
            return httpx.Response(
                502, text="<html><body>Bad gateway</body></html>", headers={"content-type": "text/html"}
            )
        return httpx.Response(400, text="not json at all", headers={"UC-REST-ERROR": "Invalid sort field"})

    async with mock_client(handler) as client:
        with pytest.raises(ServerError) as html:
            await client.get_me()
        assert "HTML page" in html.value.message
        with pytest.raises(BadRequestError) as plain:
            await client.get_tags()
        assert plain.value.message == "Invalid sort field"


async def test_a_200_that_is_not_json_is_an_api_response_error() -> None:
    async with mock_client(lambda r: httpx.Response(200, text="<html>maintenance</html>")) as client:
        with pytest.raises(APIResponseError):
            await client.get_tags()


async def test_warning_with_status_200_is_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    body = {"warning": {"warning_message": "tags are deprecated", "warning_code": "W1"}, "metadata": {}}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body, headers={"X-UltraCart-Request-Id": "req-w"})

    async with mock_client(handler) as client:
        with caplog.at_level("WARNING", logger="uc_workflow.client"):
            result = await client.get_tags()
    assert result.warning is not None and result.warning.warning_code == "W1"
    assert result.tags is None and result.request_id == "req-w"
    assert "tags are deprecated" in caplog.text and "req-w" in caplog.text


async def test_unknown_enum_values_and_fields_survive_a_round_trip() -> None:
    task = {
        "workflow_task_uuid": "u1",
        "task_name": "x",
        "status": "escalated to legal",
        "priority": "5 - apocalyptic",
        "object_type": "gift card",
        "brand_new_field": {"nested": [1, 2]},
        "due_dts": "2024-01-02T03:04:05-05:00",
    }
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            import json

            seen.append(json.loads(request.content))
        return httpx.Response(200, json={"success": True, "task": task, "metadata": {}})

    async with mock_client(handler) as client:
        got = (await client.get_task("u1")).task
        assert got is not None
        assert got.status == "escalated to legal" and not got.status.is_known  # type: ignore[union-attr]
        await client.update_task("u1", got)
    assert seen[0] == task


# --------------------------------------------------------------------------- pacing under UltraCart's limits


async def test_fifty_concurrent_calls_succeed_one_at_a_time(make_client: MakeClient) -> None:
    sandbox = make_client(latency=0.002)
    client = sandbox.client
    calls = [client.search_tasks(WorkflowTasksRequest(), limit=i + 1) for i in range(25)]
    calls += [client.get_assignment_users(limit=i + 1) for i in range(25)]
    results = await asyncio.gather(*calls)
    assert len(results) == 50 and all(r.success for r in results)
    stats = await sandbox.stats()
    assert stats["max_in_flight"] == 1
    assert stats["rate_limited"] == 0


async def test_identical_gets_in_flight_are_sent_once(make_client: MakeClient) -> None:
    sandbox = make_client(latency=0.01)
    results = await asyncio.gather(*(sandbox.client.get_tags() for _ in range(10)))
    assert all(r.tags == results[0].tags for r in results)
    stats = await sandbox.stats()
    assert stats["requests"]["getWorkflowTaskTags"] == 1


async def test_upload_urls_in_flight_are_not_shared(make_client: MakeClient) -> None:
    # A GET, but each call allocates its own upload key: two files must never share one.
    sandbox = make_client(latency=0.01)
    results = await asyncio.gather(*(sandbox.client.get_attachment_upload_url("pdf") for _ in range(3)))
    keys = {r.workflow_attachment_upload_url.key for r in results if r.workflow_attachment_upload_url}
    assert len(keys) == 3
    stats = await sandbox.stats()
    assert stats["requests"]["getWorkflowTaskAttachmentUploadUrl"] == 3


def test_budget_is_a_leaky_bucket_that_says_how_long_to_wait() -> None:
    now = [0.0]
    budget = Budget(BudgetSpec(limits=((3, 30.0), (5, 3600.0))), clock=lambda: now[0])
    assert [budget.reserve() for _ in range(3)] == [0, 0, 0]
    assert budget.reserve() == pytest.approx(10.0)  # one drains every 10 s
    now[0] = 10.0
    assert budget.reserve() == 0
    now[0] = 40.0
    assert budget.reserve() == 0
    # Now the hourly bucket is the one that is (nearly) full: 5 taken, 40 s of draining at 5/3600 a second.
    hourly_level = 5 - 40.0 * 5 / 3600
    assert budget.reserve() == pytest.approx((hourly_level + 1 - 5) * 3600 / 5)


def test_a_429_with_ultracarts_message_fills_that_bucket() -> None:
    now = [0.0]
    budget = Budget(BudgetSpec(), clock=lambda: now[0])
    assert budget.reserve() == 0
    budget.note_rate_limited("rate of 1000 per 3600 second(s) exceeded")
    assert budget.reserve() == pytest.approx(3.6)


async def test_client_budget_waits_instead_of_spending_a_429(make_client: MakeClient) -> None:
    # The sandbox allows 10 a second; so does the client's own budget, so the 11th call waits for the
    # bucket to drain instead of being refused.
    sandbox = make_client(rate_limit=parse_rate_limit("10/second"), budget=BudgetSpec(limits=((10, 1.0),)))
    results = await asyncio.gather(*(sandbox.client.get_assignment_users(limit=i + 1) for i in range(14)))
    assert all(r.success for r in results)
    stats = await sandbox.stats()
    assert stats["rate_limited"] == 0 and stats["requests_total"] == 14


async def test_rate_limit_from_the_server_is_waited_out(make_client: MakeClient) -> None:
    # No client budget here: the injected 429s say "rate of 1000 per 3600 second(s)", which would
    # (rightly) make the client wait 3.6 s per request for its hourly bucket to drain.
    sandbox = make_client(
        rate_limit=None, fault_rate=1.0, fault_kinds=("429",), seed=1, budget=BudgetSpec.none()
    )
    client = sandbox.client
    with pytest.raises(RateLimitError):
        await client.get_tags()
    stats = await sandbox.stats()
    # Bounded: the first attempt and then exactly the policy's rate-limit retries.
    assert stats["requests_total"] == FAST_RETRIES.max_rate_limit_retries + 1


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("kind", ["500", "503", "429", "timeout", "reset"])
async def test_reads_succeed_through_faults(make_client: MakeClient, kind: str) -> None:
    sandbox = make_client(
        rate_limit=None, fault_rate=0.5, fault_kinds=(kind,), seed=7, budget=BudgetSpec.none()
    )
    for _ in range(10):
        assert (await sandbox.client.get_tags()).tags
    assert (await sandbox.stats())["faults_injected"] > 0


@pytest.mark.parametrize("kind", ["timeout", "reset", "500"])
async def test_an_insert_that_may_have_reached_the_server_is_not_sent_twice(
    make_client: MakeClient, kind: str
) -> None:
    sandbox = make_client(rate_limit=None, fault_rate=1.0, fault_kinds=(kind,), seed=3)
    with pytest.raises((APIConnectionError, ServerError)):
        await sandbox.client.insert_task(WorkflowTask(task_name=f"once {kind}"))
    stats = await sandbox.stats()
    assert stats["requests"]["insertWorkflowTask"] == 1


async def test_an_insert_refused_with_429_is_retried(make_client: MakeClient) -> None:
    sandbox = make_client(
        rate_limit=None, fault_rate=0.5, fault_kinds=("429",), seed=11, budget=BudgetSpec.none()
    )
    clean = make_client(rate_limit=None).client
    names = [f"retry-429-{i}" for i in range(6)]
    for name in names:
        await sandbox.client.insert_task(WorkflowTask(task_name=name))
    stored = [t.task_name async for t in clean.iter_tasks(WorkflowTasksRequest()) if t.task_name in names]
    assert sorted(stored) == sorted(names)  # each exactly once
    assert (await sandbox.stats())["faults_injected"] > 0


async def test_connection_refused_is_a_connection_error_that_was_not_sent() -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/rest/v2"
    async with WorkflowClient(api_key="k", base_url=url, retry_policy=FAST_RETRIES) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.get_me()
    assert info.value.request_sent is False


async def test_credentials_never_appear_in_errors(make_client: MakeClient) -> None:
    secret = "user:nobody-SECRET-CANARY@x.example"
    client = make_client(key=secret).client
    with pytest.raises(AuthenticationError) as info:
        await client.get_me()
    assert "SECRET-CANARY" not in str(info.value) and "SECRET-CANARY" not in repr(info.value.body)
