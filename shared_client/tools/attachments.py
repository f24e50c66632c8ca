"""Attachment tools: a presigned upload URL, and uploading a file onto a task or one of its notes.

The flow (undocumented by UltraCart; the sandbox implements the most plausible reading): GET an upload URL
for the file's extension, PUT the bytes to it, then put a WorkflowAttachment with ``upload_key`` on the
task (or a note) and PUT the task; UltraCart fills ``file_uuid`` and a temporary download URL.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from shared_client.models import WorkflowTask
from shared_client.tools.base import APPEND, InputModel, OutputModel, tool
from shared_client.tools.context import ToolContext
from shared_client.tools.errors import ToolInputError
from shared_client.tools.files import EXTENSION, FileInput, read_file, upload_file, upload_url
from shared_client.tools.outputs import AttachmentView, TaskOutput, attachment_view, detail
from shared_client.tools.task_refs import TASK_REF_DESCRIPTION, TaskRef, fetch_task, resolve_task_uuid
from shared_client.tools.writes import read_modify_write


class UploadUrlInput(InputModel):
    extension: str = Field(description="The file's extension without the dot, e.g. 'pdf' or 'png'.")

    @model_validator(mode="after")
    def _extension(self) -> UploadUrlInput:
        self.extension = self.extension.lstrip(".")
        if not EXTENSION.match(self.extension):
            raise ValueError("extension: use 1-10 letters or digits, e.g. 'pdf'")
        return self


PUT_THEN_ATTACH = (
    "HTTP PUT the file's bytes to url, then attach it with attach_file, or put "
    "{'upload_key': key, 'file_name': ..., 'mime_type': ...} in the task's attachments."
)
# ``ctx.sandbox`` is the sandbox embedded in this process (a served one is reached as UltraCart, at its own
# address): its URLs are under .invalid, and nobody outside this process can reach them.
IN_PROCESS_ONLY = (
    "Do not PUT to url: it belongs to the sandbox embedded in this server, which only this server's own "
    "process can reach. Attach files with attach_file (content_base64 and file_name), which uploads them."
)


class UploadUrlOutput(OutputModel):
    key: str
    url: str
    how_to_use: str = PUT_THEN_ATTACH


async def _upload_url(ctx: ToolContext, params: UploadUrlInput) -> UploadUrlOutput:
    """Get an attachment upload URL

    A presigned URL to upload one file (by extension, e.g. 'pdf') and the key to attach it with. Most
    callers want attach_file, which does the whole upload. Needs the workflow_write scope."""
    key, url = await upload_url(ctx, params.extension)
    return UploadUrlOutput(key=key, url=url, how_to_use=IN_PROCESS_ONLY if ctx.sandbox else PUT_THEN_ATTACH)


GET_ATTACHMENT_UPLOAD_URL = tool(
    _upload_url, name="get_attachment_upload_url", toolset="attachments", hints=APPEND
)


class AttachInput(FileInput):
    task: TaskRef = Field(description=TASK_REF_DESCRIPTION)
    note_index: int | None = Field(
        default=None, ge=0, description="Attach to this note (0 = first) instead of the task itself."
    )


class AttachOutput(TaskOutput):
    attachment: AttachmentView
    on_note: int | None = None

    def render(self) -> str:
        where = f"note {self.on_note + 1}" if self.on_note is not None else "the task"
        return f"Attached {self.attachment.file_name} to {where} of #{self.task.number}\n" + super().render()


async def _attach(ctx: ToolContext, params: AttachInput) -> AttachOutput:
    """Attach a file to a task

    Upload a file and attach it to a task, or to one of its notes (note_index, 0 = first). Give a local
    `path` (when running locally over stdio) or `content_base64` with `file_name`. Max 10 MB; the MIME
    type is detected. Every other note, attachment and field is kept. Example: {'task': '#1042', 'path':
    '/tmp/invoice.pdf'}."""
    content, file_name = await read_file(params, allow_local_files=ctx.allow_local_files)
    task_uuid = await resolve_task_uuid(ctx, params.task)
    if params.note_index is not None:
        # Check the note exists before uploading anything.
        current = await fetch_task(ctx, task_uuid)
        count = len(current.notes or [])
        if params.note_index >= count:
            raise ToolInputError.about(
                "note_index",
                f"the task has {count} note(s); use 0 to {count - 1}"
                if count
                else "the task has no notes; leave note_index out to attach to the task",
            )
    attachment = await upload_file(ctx, content, file_name, params.mime_type)

    def mutate(task: WorkflowTask) -> list[str]:
        if params.note_index is not None:
            notes = task.notes or []
            if params.note_index >= len(notes):
                raise ToolInputError.about("note_index", "that note no longer exists")
            note = notes[params.note_index]
            note.attachments = [*(note.attachments or []), attachment]
        else:
            task.attachments = [*(task.attachments or []), attachment]
        return ["attachment added"]

    saved, _, warnings = await read_modify_write(ctx, task_uuid, mutate)
    holder = (
        (saved.notes or [])[params.note_index].attachments
        if params.note_index is not None
        else saved.attachments
    )
    stored = next((a for a in reversed(holder or []) if a.file_name == file_name), attachment)
    view = attachment_view(stored)
    return AttachOutput(
        task=detail(saved), attachment=view, on_note=params.note_index, warnings=warnings or None
    )


ATTACH_FILE = tool(_attach, name="attach_file", toolset="attachments", hints=APPEND)
