"""The transitions people ask for through the service: pause, resume, cancel, retry, remove.
Each refuses, with a message saying why, an upload in a state it may not leave."""

from __future__ import annotations

import os
from typing import Any

from upqueue.core.models import CANCELLABLE, PAUSABLE, RESUMABLE, RETRYABLE, EventKind, Status
from upqueue.core.store import now_iso
from upqueue.worker.errors import Conflict
from upqueue.worker.repository.adding import UploadAdding


class AskedTransitions(UploadAdding):
    """What the service asks of an upload's row (inside its transaction)."""

    # -- what people ask (the service) --------------------------------------------------------
    def pause(self, row: dict[str, Any], *, processing_pausable: bool) -> None:
        if row["status"] == Status.PROCESSING and not processing_pausable:
            raise Conflict(
                "Cannot pause",
                f"{row['name']} is being processed by the server, which "
                "cannot be paused; cancel stops following it (the server may still finish).",
            )
        if row["status"] not in PAUSABLE | ({Status.PROCESSING} if processing_pausable else set()):
            raise _not_allowed(row, "pause")
        self.set_status(
            row["id"],
            Status.PAUSED,
            event=EventKind.PAUSED,
            message="Paused by you",
            extra={"speed": 0, "paused_at": self.clock(), "next_attempt_at": None},
        )

    def resume(self, row: dict[str, Any]) -> None:
        if row["status"] not in RESUMABLE:
            raise _not_allowed(row, "resume")
        self.set_status(
            row["id"],
            Status.QUEUED,
            event=EventKind.RESUMED,
            message="Resumed by you",
            extra={"attempts": 0, "paused_at": None},
        )

    def cancel(self, row: dict[str, Any]) -> None:
        if row["status"] not in CANCELLABLE:
            raise _not_allowed(row, "cancel")
        message = "Cancelled by you"
        if row["status"] == Status.PROCESSING:
            message = (
                "Cancelled by you: upqueue stopped following the server's processing; "
                "the server may still finish it"
            )
        self.set_status(
            row["id"],
            Status.CANCELLED,
            event=EventKind.CANCELLED,
            message=message,
            extra={"speed": 0, "finished_at": now_iso(), "next_attempt_at": None},
        )

    def retry(self, row: dict[str, Any], *, changed: os.stat_result | None = None) -> None:
        """Queue a failed or cancelled upload again. ``changed``: the file's stat now, when it
        changed since its upload began: it is sent as it is now, from byte 0."""
        if row["status"] not in RETRYABLE:
            raise _not_allowed(row, "retry")
        extra: dict[str, Any] = {
            "attempts": 0,
            "error_title": None,
            "error_message": None,
            "finished_at": None,
            "next_attempt_at": None,
            "processing_progress": None,
            "processing_message": None,
        }
        if row["status"] == Status.CANCELLED:
            # Its remote upload was terminated (or left to the server): start afresh.
            extra.update(remote_state=None, result_url=None, offset=0, confirmed_offset=0)
        elif changed is not None:
            self.store.add_event(
                EventKind.RESUMED,
                "The file changed: it is sent again as it is now, from the start",
                upload_id=row["id"],
                status=row["status"],
            )
            extra.update(
                size=changed.st_size,
                mtime_ns=changed.st_mtime_ns,
                inode=changed.st_ino,
                ctime_ns=changed.st_ctime_ns,
                offset=0,
                confirmed_offset=0,
                remote_state=None,
                result_url=None,
                sha256=None,
            )
        self.set_status(
            row["id"],
            Status.QUEUED,
            event=EventKind.RESUMED,
            message="Retry asked by you",
            extra=extra,
        )

    def remove(self, upload_id: int, name: str | None) -> None:
        """Take the upload off the list (``name``: say so in the history; None: silently, as
        with its target)."""
        self.store.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
        self.store.execute("DELETE FROM upload_members WHERE upload_id = ?", (upload_id,))
        self.store.execute(
            "INSERT OR REPLACE INTO removed_uploads (upload_id, change_seq) VALUES (?, ?)",
            (upload_id, self.store.next_seq()),
        )
        if name is not None:
            self.store.add_event(
                EventKind.REMOVED, f"{name} removed from the list", upload_id=upload_id
            )

    def set_sha256(self, upload_id: int, digest: str) -> None:
        self.store.execute("UPDATE uploads SET sha256 = ? WHERE id = ?", (digest, upload_id))


# "big_copy.bin has failed", not "big_copy.bin is failed".
_STATE_PHRASES = {
    "queued": "is queued",
    "uploading": "is uploading",
    "retrying": "is waiting to retry",
    "paused": "is paused",
    "processing": "is being processed by the server",
    "done": "is already uploaded",
    "failed": "has failed",
    "cancelled": "was cancelled",
}


def _not_allowed(row: dict[str, Any], verb: str) -> Conflict:
    state = _STATE_PHRASES.get(row["status"], f"is {row['status']}")
    done = {"pause": "paused", "resume": "resumed", "cancel": "cancelled", "retry": "retried"}.get(
        verb, verb
    )
    return Conflict(f"Cannot {verb}", f"{row['name']} {state}; it cannot be {done} now.")
