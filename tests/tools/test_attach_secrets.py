"""attach_file and note attachments never read secrets: the real path (symlinks resolved) is checked, so
``/proc/self/environ``, a device, a FIFO, a symlink into ``~/.ssh`` and a file holding a configured key
are each refused with one line naming the path field, and nothing is sent to UltraCart."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from test_tool_attachments import b64, plain_task
from tool_support import Tools, assert_one_line, delta


async def refused(tools: Tools, tool: str, args: dict[str, Any], field: str, *must: str) -> str:
    """The call is refused naming ``field``, nothing was asked of UltraCart beyond reading the task, and
    the task is unchanged; returns the message."""
    uuid = await plain_task(tools)
    before_raw = await tools.raw(uuid)
    before = await tools.counts()
    error = await tools.fail_input(tool, {"task": uuid, **args})
    assert_one_line(error, *must)
    assert [f.path for f in error.fields] == [field], error.fields
    made = delta(before, await tools.counts())
    assert "getWorkflowTaskAttachmentUploadUrl" not in made and "updateWorkflowTask" not in made, made
    assert await tools.raw(uuid) == before_raw
    return error.message


def ssh_key(tmp_path: Path) -> Path:
    key = tmp_path / ".ssh" / "id_rsa"
    key.parent.mkdir()
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n")
    return key


@pytest.mark.parametrize("path", ["/proc/self/environ", "/proc/self/cmdline", "/sys/class"])
async def test_system_files_are_refused(tools: Tools, path: str) -> None:
    message = await refused(tools, "attach_file", {"path": path}, "path", "not attached", path)
    assert "PATH=" not in message


async def test_a_symlink_to_the_environment_is_refused(tools: Tools, tmp_path: Path) -> None:
    link = tmp_path / "report.txt"
    link.symlink_to("/proc/self/environ")
    await refused(tools, "attach_file", {"path": str(link)}, "path", "system files", "report.txt")


async def test_a_symlink_into_a_hidden_folder_is_refused(tools: Tools, tmp_path: Path) -> None:
    link = tmp_path / "invoice.pdf"
    link.symlink_to(ssh_key(tmp_path))
    await refused(tools, "attach_file", {"path": str(link)}, "path", "hidden", "invoice.pdf")


async def test_a_symlinked_folder_into_a_hidden_one_is_refused(tools: Tools, tmp_path: Path) -> None:
    ssh_key(tmp_path)
    (tmp_path / "docs").symlink_to(tmp_path / ".ssh")
    await refused(tools, "attach_file", {"path": str(tmp_path / "docs" / "id_rsa")}, "path", "hidden")


async def test_a_device_is_refused(tools: Tools) -> None:
    await refused(tools, "attach_file", {"path": "/dev/zero"}, "path", "system files")


async def test_a_fifo_is_refused_without_waiting_for_a_writer(tools: Tools, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    await refused(tools, "attach_file", {"path": str(fifo)}, "path", "not a regular file")


async def test_a_file_holding_a_configured_secret_is_refused(
    tools: Tools, tmp_path: Path, configured_slack_token: str
) -> None:
    config = tmp_path / "config.txt"
    config.write_text(f"bot: {configured_slack_token}\n")
    message = await refused(tools, "attach_file", {"path": str(config)}, "path", "configured secret")
    assert configured_slack_token not in message
    await refused(
        tools,
        "attach_file",
        {"content_base64": b64(config.read_bytes()), "file_name": "config.txt"},
        "content_base64",
        "configured secret",
    )


async def test_note_attachments_follow_the_same_rules(
    tools: Tools, tmp_path: Path, configured_slack_token: str
) -> None:
    link = tmp_path / "invoice.pdf"
    link.symlink_to(ssh_key(tmp_path))
    config = tmp_path / "config.txt"
    config.write_text(configured_slack_token)
    for path, problem in (
        (link, "hidden"),
        (config, "configured secret"),
        (Path("/proc/self/environ"), "/proc"),
    ):
        args = {"text": "see attached", "attachments": [{"path": str(path)}]}
        await refused(tools, "add_task_note", args, "attachments.0.path", problem)


async def test_a_symlink_to_an_ordinary_file_is_attached(tools: Tools, tmp_path: Path) -> None:
    """Not over-refusing: a link whose real path is an ordinary file is read, under the link's name."""
    real = tmp_path / "exports" / "statement-2026.pdf"
    real.parent.mkdir()
    real.write_bytes(b"%PDF-1.7\nstatement")
    link = tmp_path / "statement.pdf"
    link.symlink_to(real)
    uuid = await plain_task(tools)
    out = await tools.run("attach_file", {"task": uuid, "path": str(link)})
    assert out["attachment"]["file_name"] == "statement.pdf"
    assert out["attachment"]["mime_type"] == "application/pdf"
