"""attach_file (base64 or a local path; onto the task or a note; size limit; MIME detection; missing
files) and get_attachment_upload_url."""

from __future__ import annotations

import base64
import uuid as uuid_module
from pathlib import Path
from typing import Any

import httpx
import pytest
from tool_support import Tools, assert_one_line, delta

from shared_client.client import WorkflowClient
from shared_client.sandbox import SandboxTransport
from shared_client.tools import ToolContext, get_tool
from shared_client.tools.files import MAX_ATTACHMENT_BYTES
from tests.conftest import FAST_RETRIES, SANDBOX_URL

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def download(tools: Tools, url: str) -> bytes:
    async with httpx.AsyncClient(transport=SandboxTransport(tools.sandbox.app)) as http:
        response = await http.get(url)
        response.raise_for_status()
        return response.content


async def plain_task(tools: Tools) -> str:
    return str((await tools.run("create_task", {"name": "Attach here", "note": "a note"}))["task"]["uuid"])


async def test_attach_base64_to_task(tools: Tools, rich_task: str) -> None:
    before = await tools.raw(rich_task)
    out = await tools.run(
        "attach_file",
        {"task": rich_task, "content_base64": b64(b"col1,col2\n1,2\n"), "file_name": "data.csv"},
    )
    after = await tools.raw(rich_task)
    assert after["attachments"][:-1] == before["attachments"], "earlier attachments are kept"
    assert after["notes"] == before["notes"]
    assert after["properties"] == before["properties"] and after["tags"] == before["tags"]
    stored = after["attachments"][-1]
    assert (stored["file_name"], stored["mime_type"]) == ("data.csv", "text/csv")
    assert stored["file_uuid"]
    att = out["attachment"]
    assert att["file_name"] == "data.csv" and att["file_uuid"] == stored["file_uuid"]
    assert "on_note" not in out
    assert await download(tools, att["url"]) == b"col1,col2\n1,2\n"
    assert "notice" in out


async def test_attach_local_path(tools: Tools, tmp_path: Path) -> None:
    uuid = await plain_task(tools)
    path = tmp_path / "invoice.pdf"
    path.write_bytes(PDF)
    out = await tools.run("attach_file", {"task": uuid, "path": str(path)})
    assert out["attachment"]["file_name"] == "invoice.pdf"
    assert out["attachment"]["mime_type"] == "application/pdf"
    assert await download(tools, out["attachment"]["url"]) == PDF
    raw = await tools.raw(uuid)
    assert [a["file_name"] for a in raw["attachments"]] == ["invoice.pdf"]


async def test_attach_path_with_display_name(tools: Tools, tmp_path: Path) -> None:
    uuid = await plain_task(tools)
    path = tmp_path / "scan-0001.jpg"
    path.write_bytes(JPEG)
    out = await tools.run("attach_file", {"task": uuid, "path": str(path), "file_name": "Receipt.jpg"})
    assert (out["attachment"]["file_name"], out["attachment"]["mime_type"]) == ("Receipt.jpg", "image/jpeg")


async def test_attach_to_note(tools: Tools, rich_task: str) -> None:
    before = await tools.raw(rich_task)
    out = await tools.run(
        "attach_file",
        {"task": rich_task, "content_base64": b64(PNG), "file_name": "photo.png", "note_index": 1},
    )
    after = await tools.raw(rich_task)
    assert out["on_note"] == 1
    assert after["attachments"] == before["attachments"], "task attachments untouched"
    assert after["notes"][0] == before["notes"][0], "the other note (and its attachment) is kept"
    assert after["notes"][1]["note"] == before["notes"][1]["note"]
    assert [a["file_name"] for a in after["notes"][1]["attachments"]] == ["photo.png"]
    assert after["notes"][1]["attachments"][0]["mime_type"] == "image/png"
    assert out["task"]["notes"][1]["attachments"][0]["file_name"] == "photo.png"


async def test_attach_to_note_that_has_attachments_appends(tools: Tools, rich_task: str) -> None:
    await tools.run(
        "attach_file",
        {"task": rich_task, "content_base64": b64(b"more"), "file_name": "more.txt", "note_index": 0},
    )
    names = [a["file_name"] for a in (await tools.raw(rich_task))["notes"][0]["attachments"]]
    assert names == ["receipt.pdf", "more.txt"]


@pytest.mark.parametrize(
    ("content", "file_name", "mime"),
    [
        (PNG, "photo.dat", "image/png"),  # the bytes win over a misleading name
        (PDF, "statement", "application/pdf"),
        (JPEG, "x.jpeg", "image/jpeg"),
        (b"GIF89a" + b"\x00" * 8, "anim", "image/gif"),
        (b"just some words", "readme", "text/plain"),
        (b"\x00\x01\xfe\xff" * 4, "blob", "application/octet-stream"),
        (b"a,b\n", "sheet.csv", "text/csv"),
        (b"<html></html>", "page.html", "text/html"),
    ],
)
async def test_mime_detection(tools: Tools, content: bytes, file_name: str, mime: str) -> None:
    uuid = await plain_task(tools)
    out = await tools.run(
        "attach_file", {"task": uuid, "content_base64": b64(content), "file_name": file_name}
    )
    assert out["attachment"]["mime_type"] == mime
    assert (await tools.raw(uuid))["attachments"][0]["mime_type"] == mime
    assert await download(tools, out["attachment"]["url"]) == content


async def test_explicit_mime_type_wins(tools: Tools) -> None:
    uuid = await plain_task(tools)
    out = await tools.run(
        "attach_file",
        {"task": uuid, "content_base64": b64(b"{}"), "file_name": "x.txt", "mime_type": "application/json"},
    )
    assert out["attachment"]["mime_type"] == "application/json"


async def _refused(tools: Tools, args: dict[str, Any], *must: str) -> None:
    uuid = await plain_task(tools)
    before_raw = await tools.raw(uuid)
    before = await tools.counts()
    error = await tools.fail_input("attach_file", {"task": uuid, **args})
    assert_one_line(error, *must)
    made = delta(before, await tools.counts())
    assert "getWorkflowTaskAttachmentUploadUrl" not in made and "updateWorkflowTask" not in made, made
    assert await tools.raw(uuid) == before_raw


@pytest.mark.parametrize("hidden", [".env", ".ssh/id_ed25519", ".aws/credentials"])
async def test_hidden_files_and_folders_are_not_attached(tools: Tools, tmp_path: Path, hidden: str) -> None:
    secret = tmp_path / hidden
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(b"ULTRACART_API_KEY=not-for-a-task")  # a real, readable file
    await _refused(tools, {"path": str(secret)}, "path", "hidden")


async def test_a_remote_caller_cannot_attach_a_local_path(tools: Tools, tmp_path: Path) -> None:
    # Over HTTP (MCP) or Slack the caller is on another machine: this machine's files are not theirs.
    readable = tmp_path / "invoice.pdf"
    readable.write_bytes(PDF)
    remote = Tools(tools.sandbox, ToolContext(tools.client, sandbox=True, allow_local_files=False))
    await _refused(remote, {"path": str(readable)}, "path", "does not read local files", "content_base64")
    # ... while the same file sent as its bytes is attached.
    uuid = await plain_task(remote)
    out = await remote.run("attach_file", {"task": uuid, "content_base64": b64(PDF), "file_name": "i.pdf"})
    assert await download(remote, out["attachment"]["url"]) == PDF


class RecordingTransport(httpx.AsyncBaseTransport):
    """The sandbox, with every request it was sent kept (the body read)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.requests = inner, list[httpx.Request]()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


async def test_the_upload_carries_the_bytes_and_not_the_ultracart_credential(tools: Tools) -> None:
    recorder = RecordingTransport(SandboxTransport(tools.sandbox.app))
    client = WorkflowClient(
        api_key="test-owner",
        base_url=SANDBOX_URL,
        transport=recorder,
        gate_key=uuid_module.uuid4().hex,
        retry_policy=FAST_RETRIES,
    )
    try:
        ctx = ToolContext(client, sandbox=True)
        created = (await get_tool("create_task").run(ctx, {"name": "Upload here"})).to_data()
        uuid = str(created["task"]["uuid"])
        await get_tool("attach_file").run(
            ctx, {"task": uuid, "content_base64": b64(PDF), "file_name": "statement.pdf"}
        )
    finally:
        await client.aclose()
    api = [r for r in recorder.requests if "/_sandbox/" not in r.url.path]
    assert api and all(r.headers.get("x-ultracart-simple-key") == "test-owner" for r in api)
    [upload] = [r for r in recorder.requests if "/_sandbox/" in r.url.path]
    assert upload.method == "PUT" and upload.content == PDF
    assert upload.headers["content-type"] == "application/pdf"
    # The presigned URL carries its own authorization: our credential never goes there.
    sent = {name.lower() for name in upload.headers}
    assert not sent & {"x-ultracart-simple-key", "authorization"}, sent


async def test_missing_file(tools: Tools, tmp_path: Path) -> None:
    await _refused(tools, {"path": str(tmp_path / "nope.pdf")}, "path", "no such file", "nope.pdf")


async def test_directory_is_not_a_file(tools: Tools, tmp_path: Path) -> None:
    await _refused(tools, {"path": str(tmp_path)}, "path")


async def test_path_over_the_size_limit(tools: Tools, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:  # sparse: no 10 MB actually written
        handle.truncate(MAX_ATTACHMENT_BYTES + 1)
    await _refused(tools, {"path": str(big)}, "path", str(MAX_ATTACHMENT_BYTES), "limit")


async def test_path_at_the_size_limit_is_accepted(tools: Tools, tmp_path: Path) -> None:
    exact = tmp_path / "exact.bin"
    with exact.open("wb") as handle:
        handle.truncate(MAX_ATTACHMENT_BYTES)
    uuid = await plain_task(tools)
    out = await tools.run("attach_file", {"task": uuid, "path": str(exact)})
    assert out["attachment"]["file_name"] == "exact.bin"


async def test_base64_over_the_size_limit(tools: Tools) -> None:
    await _refused(
        tools,
        {"content_base64": b64(b"\x00" * (MAX_ATTACHMENT_BYTES + 1)), "file_name": "big.bin"},
        "content_base64",
        "limit",
    )


@pytest.mark.parametrize(
    ("args", "must"),
    [
        ({"content_base64": "not base64!!", "file_name": "x.txt"}, ("content_base64", "base64")),
        ({"content_base64": "", "file_name": "x.txt"}, ("exactly one of path or content_base64",)),
        ({"content_base64": b64(b"x")}, ("file_name: is required",)),
        ({}, ("exactly one of path or content_base64",)),
        ({"content_base64": b64(b"x"), "file_name": "x.txt", "note_index": 5}, ("note_index", "1 note")),
        ({"content_base64": b64(b"x"), "file_name": "x.txt", "note_index": -1}, ("note_index",)),
    ],
)
async def test_bad_attach_arguments(tools: Tools, args: dict[str, Any], must: tuple[str, ...]) -> None:
    await _refused(tools, args, *must)


async def test_path_and_content_together_refused(tools: Tools, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a")
    await _refused(
        tools, {"path": str(path), "content_base64": b64(b"a"), "file_name": "a.txt"}, "exactly one of"
    )


async def test_empty_file_refused(tools: Tools, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    await _refused(tools, {"path": str(empty)}, "empty")


async def test_note_index_on_task_without_notes(tools: Tools) -> None:
    uuid = str((await tools.run("create_task", {"name": "No notes"}))["task"]["uuid"])
    error = await tools.fail_input(
        "attach_file", {"task": uuid, "content_base64": b64(b"x"), "file_name": "x.txt", "note_index": 0}
    )
    assert_one_line(error, "note_index", "no notes")


async def test_attach_unknown_task(tools: Tools) -> None:
    error = await tools.fail(
        "attach_file",
        {"task": "0f0f0f0f-0000-4000-8000-000000000000", "content_base64": b64(b"x"), "file_name": "x.txt"},
    )
    assert "not found" in error.message.lower()


# --------------------------------------------------------------------------- upload URL


@pytest.mark.parametrize(("given", "suffix"), [("pdf", ".pdf"), (".PNG", ".png"), ("csv", ".csv")])
async def test_get_attachment_upload_url(tools: Tools, given: str, suffix: str) -> None:
    out = await tools.run("get_attachment_upload_url", {"extension": given})
    assert out["key"].lower().endswith(suffix)
    assert out["url"].startswith("http")
    assert "attach_file" in out["how_to_use"]
    # The URL takes the bytes (the sandbox stores them under the key).
    await tools.client.upload_bytes(out["url"], b"hello", content_type="application/octet-stream")


@pytest.mark.parametrize("given", ["", "p d f", "tar.gz", "x" * 11])
async def test_get_attachment_upload_url_bad_extension(tools: Tools, given: str) -> None:
    before = await tools.counts()
    error = await tools.fail_input("get_attachment_upload_url", {"extension": given})
    assert_one_line(error, "extension")
    assert delta(before, await tools.counts()) == {}
