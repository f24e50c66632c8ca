"""Errors say which operation failed and whether it was a write: the table, and every client call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import yaml

from shared_client.client import WorkflowClient
from shared_client.errors import (
    APIConnectionError,
    APIResponseError,
    BadRequestError,
    RateLimitError,
    UltraCartError,
    error_for_status,
)
from shared_client.models import WorkflowTask, WorkflowTasksRequest
from shared_client.operations import OPERATIONS
from tests.conftest import mock_client

SPEC = Path(__file__).resolve().parents[1] / "shared_client" / "openapi" / "workflow-openapi.yaml"

IS_WRITE = {
    "getWorkflowAgentWebsocketAuthorization": False,  # a PUT that only hands out a token
    "getWorkflowAssignmentGroups": False,
    "getWorkflowAssignmentUsers": False,
    "getWorkflowMe": False,
    "getWorkflowTask": False,
    "getWorkflowTaskByObjectType": False,
    "getWorkflowTaskOpenCount": False,
    "getWorkflowTaskTags": False,
    "getWorkflowTasks": False,  # the search, a POST
    "insertWorkflowTask": True,
    "updateWorkflowTask": True,
    "getWorkflowTaskAttachmentUploadUrl": True,  # allocates an upload key
    "uploadAttachmentBytes": True,  # the PUT of the bytes to the presigned URL
}


@pytest.mark.parametrize(("operation", "is_write"), sorted(IS_WRITE.items()))
def test_is_write_for_each_operation(operation: str, is_write: bool) -> None:
    assert OPERATIONS[operation].is_write is is_write
    assert UltraCartError("x", operation=operation).is_write is is_write
    assert APIConnectionError("x", request_sent=True, operation=operation).is_write is is_write
    assert APIResponseError("x", status=200, operation=operation).is_write is is_write
    error = error_for_status(500, "x", request_id=None, error=None, body=None, operation=operation)
    assert error.is_write is is_write


def test_the_table_is_every_operation_of_the_openapi_document_and_the_upload() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    ids = {
        op["operationId"] for item in spec["paths"].values() for op in item.values() if "operationId" in op
    }
    assert len(ids) == 12
    assert set(OPERATIONS) == ids | {"uploadAttachmentBytes"} == set(IS_WRITE)


@pytest.mark.parametrize("operation", [None, "", "someFutureOperation"])
def test_an_error_without_a_known_operation_counts_as_a_write(operation: str | None) -> None:
    assert UltraCartError("x", operation=operation).is_write is True


# --------------------------------------------------------------------------- every call names its operation

Call = Callable[[WorkflowClient], Awaitable[object]]
CALLS: list[tuple[str, Call]] = [
    ("getWorkflowAgentWebsocketAuthorization", lambda c: c.get_agent_websocket_authorization()),
    ("getWorkflowAssignmentGroups", lambda c: c.get_assignment_groups()),
    ("getWorkflowAssignmentUsers", lambda c: c.get_assignment_users()),
    ("getWorkflowMe", lambda c: c.get_me()),
    ("getWorkflowTask", lambda c: c.get_task("u1")),
    ("getWorkflowTaskByObjectType", lambda c: c.get_tasks_by_object("auto order", "AO-1")),
    ("getWorkflowTaskOpenCount", lambda c: c.get_open_count()),
    ("getWorkflowTaskTags", lambda c: c.get_tags()),
    ("getWorkflowTasks", lambda c: c.search_tasks(WorkflowTasksRequest())),
    ("insertWorkflowTask", lambda c: c.insert_task(WorkflowTask(task_name="x"))),
    ("updateWorkflowTask", lambda c: c.update_task("u1", WorkflowTask(task_name="x"))),
    ("getWorkflowTaskAttachmentUploadUrl", lambda c: c.get_attachment_upload_url("pdf")),
    (
        "uploadAttachmentBytes",
        lambda c: c.upload_bytes("http://mock/upload/k.pdf", b"x", content_type="application/pdf"),
    ),
]


def test_every_client_call_is_in_the_table() -> None:
    assert [name for name, _ in CALLS] == list(IS_WRITE)


@pytest.mark.parametrize(("operation", "call"), CALLS, ids=[name for name, _ in CALLS])
async def test_a_refusal_names_the_operation(operation: str, call: Call) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"user_message": "no"}}, headers={"UC-REST-ERROR": "no"})

    async with mock_client(refuse) as client:
        with pytest.raises(UltraCartError) as info:
            await call(client)
    assert info.value.operation == operation
    assert info.value.is_write is IS_WRITE[operation]
    if operation != "uploadAttachmentBytes":  # the presigned URL is not UltraCart: not its error tree
        assert isinstance(info.value, BadRequestError)


@pytest.mark.parametrize(("operation", "call"), CALLS, ids=[name for name, _ in CALLS])
async def test_a_broken_connection_names_the_operation(operation: str, call: Call) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with mock_client(refuse) as client:
        with pytest.raises(APIConnectionError) as info:
            await call(client)
    assert info.value.operation == operation
    assert info.value.is_write is IS_WRITE[operation]


async def test_an_answer_that_is_not_json_names_the_operation() -> None:
    async with mock_client(lambda r: httpx.Response(200, text="<html>maintenance</html>")) as client:
        with pytest.raises(APIResponseError) as info:
            await client.get_tags()
    assert info.value.operation == "getWorkflowTaskTags" and info.value.is_write is False


async def test_an_upload_url_that_cannot_be_built_names_the_operation() -> None:
    async with mock_client(lambda r: httpx.Response(200)) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.upload_bytes("http://mock/up\x00load", b"x", content_type="text/plain")
    assert info.value.operation == "uploadAttachmentBytes" and info.value.request_sent is False


def test_rate_limit_errors_keep_their_context() -> None:
    error = RateLimitError(
        "slow down", status=429, retry_after=3.0, request_id="r", operation="getWorkflowMe"
    )
    assert (error.retry_after, error.request_id, error.operation, error.is_write) == (
        3.0,
        "r",
        "getWorkflowMe",
        False,
    )
