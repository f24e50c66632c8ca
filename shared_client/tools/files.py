"""Files for attachments: where the bytes come from, what they are, and the upload.

UltraCart's flow (undocumented; the sandbox implements the most plausible reading): GET an upload URL for
the file's extension, PUT the bytes to it, then put a WorkflowAttachment with ``upload_key`` on the task or
on one of its notes and PUT the task; UltraCart fills ``file_uuid`` and a temporary download URL.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from anyio import to_thread
from pydantic import Field, model_validator

from shared_client.logs import redactable
from shared_client.models import WorkflowAttachment
from shared_client.settings import configured_secrets
from shared_client.tools.base import InputModel
from shared_client.tools.context import ToolContext
from shared_client.tools.errors import ErrorKind, ToolError, ToolInputError
from shared_client.tools.values import shown

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
EXTENSION = re.compile(r"^[A-Za-z0-9]{1,10}$")
SYSTEM_TREES = frozenset({"proc", "sys", "dev"})  # the process's environment, devices, kernel state
# Opening never follows a last-moment symlink and never waits on a FIFO's writer.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)

# Magic numbers beat file names when they disagree.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
)


def detect_mime(content: bytes, file_name: str) -> str:
    for signature, mime in _SIGNATURES:
        if content.startswith(signature):
            if mime == "application/zip":  # docx/xlsx are zips: trust the name for those
                return mimetypes.guess_type(file_name)[0] or mime
            return mime
    guessed = mimetypes.guess_type(file_name)[0]
    if guessed:
        return guessed
    try:
        content[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


class FileInput(InputModel):
    """One file: a local path (when the server runs locally over stdio) or its bytes in base64."""

    path: str | None = Field(
        default=None,
        max_length=4096,
        description="A local file to upload (stdio only; hidden, system and secret-holding files refused).",
    )
    content_base64: str | None = Field(
        default=None, max_length=MAX_ATTACHMENT_BYTES * 4 // 3 + 1024, description="The file's bytes, base64."
    )
    file_name: str | None = Field(
        default=None, max_length=255, description="Name to show (default: the path's)."
    )
    mime_type: str | None = Field(
        default=None, max_length=127, description="Default: detected from the content."
    )

    @model_validator(mode="after")
    def _one_source(self) -> FileInput:
        if bool(self.path) == bool(self.content_base64):
            raise ValueError("path: give exactly one of path or content_base64")
        if self.content_base64 and not self.file_name:
            raise ValueError("file_name: is required with content_base64")
        return self


def _bad(where: str, key: str, problem: str) -> ToolInputError:
    return ToolInputError.about(f"{where}{key}", problem)


async def read_file(source: FileInput, *, allow_local_files: bool, field: str = "") -> tuple[bytes, str]:
    """The bytes and the name of a file; every problem is one ToolInputError naming the field."""
    where = f"{field}." if field else ""
    if source.path:
        if not allow_local_files:
            raise _bad(
                where,
                "path",
                "this server does not read local files (it is not running locally over stdio); "
                "send the file as content_base64 with file_name",
            )
        content, real_name = await to_thread.run_sync(_read_local_file, source.path, where)
        name = source.file_name or real_name
    else:
        try:
            # Wrapped base64 (as `base64 FILE` prints it) is fine: white space is not data.
            compact = "".join((source.content_base64 or "").split())
            content = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(where, "content_base64", "not valid base64") from None
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise _bad(
                where,
                "content_base64",
                f"the limit is {MAX_ATTACHMENT_BYTES} bytes",
            )
        name = source.file_name or "file"
    if not content:
        key = "path" if source.path else "content_base64"
        raise _bad(where, key, "the file is empty")
    if _holds_a_secret(content, configured_secrets()):
        key = "path" if source.path else "content_base64"
        raise _bad(where, key, "the file holds a configured secret (an UltraCart, Slack or MCP key or token)")
    return content, name


def _is_hidden(parts: Sequence[str]) -> bool:
    return any(part.startswith(".") and part not in {".", ".."} for part in parts)


def _holds_a_secret(content: bytes, secrets: Sequence[str]) -> bool:
    return any(secret.encode() in content for secret in redactable(secrets))


def _read_local_file(text: str, where: str) -> tuple[bytes, str]:
    """A local file's bytes and name, in a worker thread. Refused unless its real path (symlinks
    resolved) is a regular file outside /proc, /sys and /dev with no hidden part: never
    ``/proc/self/environ`` or ``~/.ssh/id_rsa``, however a note asked an assistant to attach it."""
    shown_path = shown(text, 200)

    def unreadable(exc: OSError | RuntimeError) -> ToolInputError:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return _bad(where, "path", f"cannot read {shown_path}: {reason}")

    if _is_hidden(Path(text).parts):
        # .env, ~/.ssh, ~/.aws: never upload secrets because a note asked an assistant to.
        raise _bad(where, "path", f"hidden files and folders are not attached: {shown_path}")
    given = Path(text).expanduser()
    try:
        real = given.resolve(strict=True)
    except FileNotFoundError:
        raise _bad(where, "path", f"no such file: {shown_path}") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a folder we may not enter
        raise unreadable(exc) from None
    if real.parts[1:2] and real.parts[1] in SYSTEM_TREES:
        raise _bad(where, "path", f"system files (/{real.parts[1]}) are not attached: {shown_path}")
    if _is_hidden(real.parts):
        raise _bad(where, "path", f"{shown_path} leads to a hidden file or folder: not attached")
    try:
        descriptor = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        raise unreadable(exc) from None
    try:  # the opened file is checked, not the name again
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise _bad(where, "path", f"not a regular file: {shown_path}")
        with open(descriptor, "rb", closefd=False) as handle:
            content = handle.read(MAX_ATTACHMENT_BYTES + 1)  # it may have grown since fstat
    except OSError as exc:
        raise unreadable(exc) from None
    finally:
        os.close(descriptor)
    size = max(info.st_size, len(content))
    if size > MAX_ATTACHMENT_BYTES:
        raise _bad(where, "path", f"the file is {size} bytes; the limit is {MAX_ATTACHMENT_BYTES}")
    return content, given.name


async def upload_file(
    ctx: ToolContext, content: bytes, file_name: str, mime_type: str | None
) -> WorkflowAttachment:
    """Upload the bytes; the attachment to put on a task or note (UltraCart resolves its upload_key)."""
    mime = mime_type or detect_mime(content, file_name)
    extension = Path(file_name).suffix.lstrip(".")
    if not EXTENSION.match(extension):
        extension = (mimetypes.guess_extension(mime) or ".bin").lstrip(".")
    key, url = await upload_url(ctx, extension)
    await ctx.client.upload_bytes(url, content, content_type=mime)
    return WorkflowAttachment(upload_key=key, file_name=file_name, mime_type=mime)


async def upload_url(ctx: ToolContext, extension: str) -> tuple[str, str]:
    """A presigned upload URL for a file extension: (key, url)."""
    upload = (await ctx.client.get_attachment_upload_url(extension)).workflow_attachment_upload_url
    if upload is None or not upload.key or not upload.url:
        raise ToolError("UltraCart returned no upload URL", kind=ErrorKind.UPSTREAM)
    return upload.key, upload.url
