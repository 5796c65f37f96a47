"""What batches do to files: hash them, write a batch's manifest, and move or delete a file
once its upload is confirmed (never overwriting anything on the way)."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from upqueue.core.models import Status
from upqueue.core.paths import private_dir
from upqueue.core.pathtext import from_stored
from upqueue.core.watchrules import AfterUpload

MANIFEST_COLUMNS = ("file", "size", "sha256", "result_url", "status", "reason")


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unchanged(upload: dict[str, Any]) -> bool:
    """Is the file at the upload's path still the version that was uploaded?"""
    try:
        st = os.stat(from_stored(upload["path"]))
    except OSError:
        return False
    ctime_ns = upload.get("ctime_ns")
    return (st.st_size, st.st_mtime_ns, st.st_ino) == (
        upload["size"],
        upload["mtime_ns"],
        upload["inode"],
    ) and (ctime_ns is None or st.st_ctime_ns == ctime_ns)


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem (2).ext`` and so on if that is taken."""
    candidate = folder / name
    stem, suffix = os.path.splitext(name)
    number = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = folder / f"{stem} ({number}){suffix}"
        number += 1
    return candidate


def move_or_delete(upload: dict[str, Any], watch: dict[str, Any]) -> tuple[str, str] | None:
    """Apply the watch's after-upload action to the upload's file.

    The caller has checked that the upload is done and the file unchanged. A moved file keeps
    its place below the watched folder (``inbox/a/b.tif`` -> ``sent/a/b.tif``).

    Returns:
        ``(title, message)`` for the history, or None when the action is to keep the file.

    Raises:
        OSError: the file could not be moved or deleted.
    """
    path = upload["path"]
    if watch["after_upload"] == AfterUpload.DELETE.value:
        os.remove(path)
        return "Deleted after upload", f"{path} was deleted: the server has it."
    if watch["after_upload"] == AfterUpload.MOVE.value and watch["move_to"]:
        relative = os.path.relpath(os.path.dirname(path), watch["path"])
        folder = Path(watch["move_to"])
        if relative != "." and not relative.startswith(".."):
            folder = folder / relative
        folder.mkdir(parents=True, exist_ok=True)
        destination = free_name(folder, os.path.basename(path))
        shutil.move(path, destination)
        return "Moved after upload", f"{path} was moved to {destination}."
    return None


def write_manifest(
    folder: Path, batch_id: int, uploads: list[dict[str, Any]], refused: list[dict[str, Any]]
) -> Path:
    """The batch's CSV (file, size, sha256, result_url, status, reason), written whole and then
    renamed into place, so a reader never sees half of it."""
    private_dir(folder)  # manifests name files and servers: for their owner only
    path = folder / f"batch-{batch_id:05d}-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    partial = path.with_suffix(".csv.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for u in uploads:
            reason = ": ".join(x for x in (u["error_title"], u["error_message"]) if x)
            if u["status"] == Status.CANCELLED.value and not reason:
                reason = "cancelled"
            writer.writerow(
                [
                    u["path"],
                    u["size"],
                    u["sha256"] or "",
                    u["result_url"] or "",
                    u["status"],
                    reason,
                ]
            )
        for r in refused:
            size = "" if r["size"] is None else r["size"]
            writer.writerow([r["path"], size, "", "", "rejected", f"{r['title']}: {r['message']}"])
    os.replace(partial, path)
    return path
