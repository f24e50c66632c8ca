"""Attachments: upload keys and their bytes, the files they become, and resolving a task's attachments."""

from __future__ import annotations

import mimetypes
import sqlite3
import time
import uuid
from typing import Any

from ..wire import MERCHANT_ID, bad_request
from .database import Database

_OCTET_STREAM = "application/octet-stream"


class AttachmentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create_upload(self, extension: str) -> str:
        key = f"workflow/{MERCHANT_ID}/{uuid.uuid4()}.{extension.lower()}"
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO uploads (upload_key, created_ts) VALUES (?, ?)", (key, int(time.time()))
            )
        return key

    def store_upload(self, key: str, data: bytes) -> bool:
        with self._db.write() as conn:
            cursor = conn.execute("UPDATE uploads SET data = ? WHERE upload_key = ?", (data, key))
            return cursor.rowcount == 1

    def get_file(self, file_uuid: str) -> tuple[bytes, str, str] | None:
        row = self._db.conn.execute(
            "SELECT data, mime_type, file_name FROM files WHERE file_uuid = ?", (file_uuid,)
        ).fetchone()
        if row is None:
            return None
        return bytes(row["data"]), row["mime_type"] or _OCTET_STREAM, row["file_name"] or file_uuid


def resolve_attachments(
    conn: sqlite3.Connection, attachments: list[dict[str, Any]], now: int
) -> list[dict[str, Any]]:
    """Turn each uploaded `upload_key` into a stored file with its `file_uuid`, inside the caller's write."""
    resolved: list[dict[str, Any]] = []
    for attachment in attachments:
        item = dict(attachment)
        key = item.get("upload_key")
        if key and not item.get("file_uuid"):
            existing = conn.execute("SELECT file_uuid FROM files WHERE upload_key = ?", (key,)).fetchone()
            if existing is not None:  # a retried PUT resolves to the same file
                file_uuid = existing["file_uuid"]
            else:
                upload = conn.execute(
                    "SELECT data IS NOT NULL AS ready FROM uploads WHERE upload_key = ?", (key,)
                ).fetchone()
                if upload is None or not upload["ready"]:
                    raise bad_request(
                        "Attachment upload_key has not been uploaded: PUT the bytes to the upload url first",
                        object_id=key,
                    )
                file_uuid = str(uuid.uuid4())
                extension = key.rsplit(".", 1)[-1] if "." in key else "bin"
                name = item.get("file_name") or f"attachment.{extension}"
                mime = item.get("mime_type") or mimetypes.guess_type(name)[0] or _OCTET_STREAM
                conn.execute(
                    "INSERT INTO files (file_uuid, upload_key, file_name, mime_type, data, created_ts) "
                    "SELECT ?, ?, ?, ?, data, ? FROM uploads WHERE upload_key = ?",
                    (file_uuid, key, name, mime, now, key),
                )
            item["file_uuid"] = file_uuid
            item.setdefault("file_name", f"attachment.{key.rsplit('.', 1)[-1]}")
            item.setdefault("mime_type", mimetypes.guess_type(item["file_name"])[0] or _OCTET_STREAM)
            item.pop("upload_key", None)
        item.pop("download_key", None)  # filled in freshly on every answer
        resolved.append(item)
    return resolved


def file_names(doc: dict[str, Any]) -> dict[str, str]:
    """file_uuid -> file name, over the task's attachments and its notes' attachments."""
    found: dict[str, str] = {}
    for holder in [doc, *(doc.get("notes") or [])]:
        for att in holder.get("attachments") or []:
            if att.get("file_uuid"):
                found[att["file_uuid"]] = att.get("file_name", att["file_uuid"])
    return found
