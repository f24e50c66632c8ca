"""The note tool: append a note, optionally with files, keeping every other note and attachment."""

from __future__ import annotations

from pydantic import Field

from shared_client.models import WorkflowNote, WorkflowTask
from shared_client.tools.base import APPEND, InputModel, tool
from shared_client.tools.context import ToolContext
from shared_client.tools.files import FileInput, read_file, upload_file
from shared_client.tools.outputs import TaskOutput, detail
from shared_client.tools.task_refs import TASK_REF_DESCRIPTION, TaskRef, resolve_task_uuid
from shared_client.tools.writes import note_text, read_modify_write


class NoteInput(InputModel):
    task: TaskRef = Field(description=TASK_REF_DESCRIPTION)
    text: str = Field(min_length=1, max_length=100_000, description="The note to append.")
    attachments: list[FileInput] | None = Field(
        default=None,
        max_length=10,
        description="Files to attach to the note: each {'content_base64', 'file_name'} or {'path'} (stdio).",
    )


class NoteOutput(TaskOutput):
    note_index: int

    def render(self) -> str:
        return f"Added note {self.note_index + 1} to #{self.task.number}\n" + super().render()


async def _add_note(ctx: ToolContext, params: NoteInput) -> NoteOutput:
    """Add a note to a task

    Append a note to a task, optionally with files (attachments: [{'content_base64', 'file_name'}]);
    every existing note, attachment and field is kept. Example: {'task': '#1042', 'text': 'Customer called
    back; refund approved.'}."""
    files = [
        await read_file(source, allow_local_files=ctx.allow_local_files, field=f"attachments.{i}")
        for i, source in enumerate(params.attachments or [])
    ]
    task_uuid = await resolve_task_uuid(ctx, params.task)
    # Upload first: the note and its files then arrive in one write.
    uploaded = [
        await upload_file(ctx, content, name, source.mime_type)
        for (content, name), source in zip(files, params.attachments or [], strict=True)
    ]
    text = note_text(ctx, params.text)

    def mutate(task: WorkflowTask) -> list[str]:
        task.notes = [*(task.notes or []), WorkflowNote(note=text, attachments=uploaded or None)]
        return ["note added"]

    saved, _, warnings = await read_modify_write(ctx, task_uuid, mutate)
    return NoteOutput(task=detail(saved), note_index=len(saved.notes or []) - 1, warnings=warnings or None)


ADD_TASK_NOTE = tool(_add_note, name="add_task_note", toolset="tasks", hints=APPEND)
