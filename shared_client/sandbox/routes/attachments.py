"""Attachments: the upload URL operation, and the sandbox's stand-ins for a presigned upload URL and a
download URL (under /_sandbox, no auth, like S3's)."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..asgi import error_response, read_body
from ..calls import Call, Sandbox
from ..wire import bad_request, header_safe

MAX_UPLOAD = 10 * 1024 * 1024
_EXTENSION = re.compile(r"^[A-Za-z0-9]{1,10}$")


async def upload_url(sb: Sandbox, call: Call) -> dict[str, Any]:
    extension = call.path["extension"]
    if not _EXTENSION.fullmatch(extension):
        raise bad_request("extension must be 1 to 10 letters or digits, e.g. pdf or png")
    key = await sb.run(sb.attachments.create_upload, extension)
    return {"workflow_attachment_upload_url": {"key": key, "url": f"{call.base_url}/_sandbox/uploads/{key}"}}


def file_routes(sb: Sandbox) -> list[Route]:
    """PUT /_sandbox/uploads/{key} takes the bytes; GET /_sandbox/files/{file_uuid} serves a stored file."""

    async def put_upload(request: Request) -> Response:
        key = request.path_params["key"]
        data = await read_body(request.receive, MAX_UPLOAD)
        if data is None:
            return error_response(413, "Uploads are limited to 10 MB")
        if not await sb.run(sb.attachments.store_upload, key, data):
            return error_response(
                404, "Unknown upload key: ask /workflow/tasks/attachments/{extension} first"
            )
        return Response(status_code=200)

    async def get_file(request: Request) -> Response:
        found = await sb.run(sb.attachments.get_file, request.path_params["file_uuid"])
        if found is None:
            return error_response(404, "No such file")
        data, mime, name = found
        safe_name = header_safe(name).replace('"', "")
        return Response(
            data, media_type=mime, headers={"Content-Disposition": f'inline; filename="{safe_name}"'}
        )

    return [
        Route("/_sandbox/uploads/{key:path}", put_upload, methods=["PUT"]),
        Route("/_sandbox/files/{file_uuid}", get_file, methods=["GET"]),
    ]
