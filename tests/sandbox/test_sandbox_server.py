"""The real CLI on a loopback port: readiness, a request, a reset fault, and UltraCart's own SDK."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_check import check_sync
from sandbox_support import OWNER_KEY, VERSION

from shared_client.sandbox.cli import main
from tests.conftest import ListeningProcess, start_listening

HEADERS = {**VERSION, "x-ultracart-simple-key": OWNER_KEY}


def _start(db: Path, *extra: str) -> ListeningProcess:
    command = [sys.executable, "-m", "shared_client.sandbox", "--port", "0", "--db", str(db), *extra]
    return start_listening(command, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A plain server, one whose every answer is a reset and one that hangs, on one database file."""
    db = tmp_path_factory.mktemp("server") / "shared.sqlite3"
    plain = _start(db, "--rate-limit", "none")
    resets = _start(db, "--fault-rate", "1", "--fault-kinds", "reset", "--seed", "3")
    hangs = _start(db, "--fault-rate", "1", "--fault-kinds", "timeout", "--fault-timeout", "2")
    try:
        yield (
            f"http://127.0.0.1:{plain.port}",
            f"http://127.0.0.1:{resets.port}",
            f"http://127.0.0.1:{hangs.port}",
        )
    finally:
        logs = plain.stop() + resets.stop() + hangs.stop()
        assert OWNER_KEY not in logs  # credentials never logged


def test_request_over_a_real_port(servers: tuple[str, str, str]) -> None:
    base, _, _ = servers
    url = f"{base}/rest/v2/workflow/tasks/search?_limit=2&_sort=%2Bdue_dts"
    response = httpx.post(url, json={"status": "open"}, headers=HEADERS)
    assert response.status_code == 200
    check_sync("POST", url, response)
    assert response.json()["metadata"]["result_set"]["more"] is True
    unauthorized = httpx.get(f"{base}/rest/v2/workflow/me", headers=VERSION)
    assert unauthorized.status_code == 401 and unauthorized.headers["UC-REST-ERROR"]


def test_reset_fault_drops_the_connection_after_commit(servers: tuple[str, str, str]) -> None:
    plain, faulty, _ = servers
    name = f"reset-{time.time_ns()}"
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{faulty}/rest/v2/workflow/tasks", json={"task_name": name}, headers=HEADERS)
    found = httpx.post(
        f"{plain}/rest/v2/workflow/tasks/search", json={}, headers=HEADERS, params={"_limit": 5}
    )
    assert name in [t["task_name"] for t in found.json()["tasks"]]
    assert httpx.get(f"{faulty}/_sandbox/stats").json()["faults_injected"] == 1


def test_timeout_fault_hangs_after_commit(servers: tuple[str, str, str]) -> None:
    plain, _, hangs = servers
    name = f"timeout-{time.time_ns()}"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{hangs}/rest/v2/workflow/tasks", json={"task_name": name}, headers=HEADERS, timeout=0.3)
    found = httpx.post(
        f"{plain}/rest/v2/workflow/tasks/search", json={}, headers=HEADERS, params={"_limit": 5}
    )
    assert name in [t["task_name"] for t in found.json()["tasks"]]


def test_ultracart_sdk_works_for_every_operation(servers: tuple[str, str, str]) -> None:
    from ultracart.api.workflow_api import WorkflowApi
    from ultracart.api_client import ApiClient
    from ultracart.configuration import Configuration
    from ultracart.model.workflow_task import WorkflowTask
    from ultracart.model.workflow_tasks_request import WorkflowTasksRequest

    base, _, _ = servers
    # WorkflowApi.fromApiKey is what UltraCart's docs show, but in ultracart-rest-sdk 4.1.x it raises
    # NameError (Configuration is not imported in workflow_api.py); this is its body, spelled out.
    config = Configuration(host=f"{base}/rest/v2")
    config.api_key["x-ultracart-simple-key"] = OWNER_KEY
    client = ApiClient(configuration=config, header_name="X-UltraCart-Api-Version", header_value="2017-03-01")
    api = WorkflowApi(client)

    me = api.get_workflow_me()
    assert me.success and me.user.user == "Demo Owner"
    users = api.get_workflow_assignment_users(limit=3)
    assert len(users.users) == 3 and users.my_user_id == me.user.user_id and users.metadata.result_set.more
    groups = api.get_workflow_assignment_groups()
    assert {g.group for g in groups.groups} >= {"Warehouse", "Fraud Review"}
    page = api.get_workflow_tasks(
        WorkflowTasksRequest(status="open", assigned_to_me=False), limit=5, sort="+due_dts"
    )
    assert len(page.tasks) == 5
    one = api.get_workflow_task(page.tasks[0].workflow_task_uuid)
    assert one.task.workflow_task_uuid == page.tasks[0].workflow_task_uuid
    by_object = api.get_workflow_task_by_object_type("auto order", "DEMO-AO-000551")
    assert by_object.task_context == "Auto Order DEMO-AO-000551" and len(by_object.tasks) == 1
    assert api.get_workflow_task_open_count().open_count > 0
    assert "fraud" in api.get_workflow_task_tags().tags
    upload = api.get_workflow_task_attachment_upload_url("pdf").workflow_attachment_upload_url
    assert upload.url.startswith(base)
    created = api.insert_workflow_task(
        WorkflowTask(task_name="From the SDK", priority="3 - high", object_type="order", object_id="SDK-1")
    ).task
    assert created.global_task_number > 0 and created.task_context == "Order SDK-1"
    created.status = "closed"
    updated = api.update_workflow_task(created.workflow_task_uuid, created).task
    assert updated.status == "closed"
    assert "Status changed from open to closed" in [h.description for h in updated.histories]
    auth = api.get_workflow_agent_websocket_authorization()
    assert auth.agent_auth.merchant_id == "DEMO"

    from ultracart.exceptions import ApiException

    with pytest.raises(ApiException) as caught:
        api.get_workflow_task("no-such-task")
    assert caught.value.status == 400


def test_cli_help_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as help_exit:
        main(["--help"])
    assert help_exit.value.code == 0 and "--fault-kinds" in capsys.readouterr().out
    for bad in (["--rate-limit", "lots"], ["--fault-rate", "2"], ["--fault-kinds", "boom"], ["--port", "x"]):
        with pytest.raises(SystemExit) as bad_exit:
            main(bad)
        assert bad_exit.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("uc-workflow-sandbox:"), err


def test_cli_unusable_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["--db", str(blocker / "sub" / "db.sqlite3")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("uc-workflow-sandbox:")


async def test_served_upload_url_takes_a_put_from_anyone(servers: tuple[str, str, str]) -> None:
    """Served over a port, the sandbox hands out its own address: get_attachment_upload_url says PUT there,
    and a plain HTTP client (not ours) can."""
    import uuid

    from shared_client.client import WorkflowClient
    from shared_client.pacing import BudgetSpec
    from shared_client.tools import ToolContext, get_tool

    base, _, _ = servers
    client = WorkflowClient(
        api_key=OWNER_KEY, base_url=f"{base}/rest/v2", gate_key=uuid.uuid4().hex, budget=BudgetSpec.none()
    )
    try:
        context = ToolContext(client, description=f"UltraCart at {base}/rest/v2")
        out = (await get_tool("get_attachment_upload_url").run(context, {"extension": "pdf"})).to_data()
    finally:
        await client.aclose()
    assert out["url"].startswith(f"{base}/_sandbox/uploads/")
    assert out["how_to_use"].startswith("HTTP PUT the file's bytes to url")
    async with httpx.AsyncClient() as http:
        assert (await http.put(out["url"], content=b"%PDF-1.7")).status_code == 200
