"""Every write to uploads and every change of an upload's status, each with its history event.

Methods that change a status take the guard that makes them safe against a second actor (the
service pausing while the engine finishes, a reconcile while a runner claims): they change
nothing and return False when the upload is no longer in a state they may leave. Call them inside
``store.tx()`` unless they say they open their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from upqueue.core.models import EventKind, Status
from upqueue.core.store import now_iso
from upqueue.core.transports.base import RemoteState
from upqueue.worker.repository.batched import BatchedTransitions
from upqueue.worker.repository.reads import remote_state
from upqueue.worker.repository.status import RUNNING, SETTLED


class UploadRepository(BatchedTransitions):
    """The engine's and housekeeping's transitions, over several small uploads at once
    (:mod:`.batched`), what people ask (:mod:`.asked`), adding uploads (:mod:`.adding`) and
    the one generic transition (:mod:`.status`).

    Args:
        store: state.db (the worker is its only writer).
        clock: wall-clock seconds (tests pass a fake one).
    """

    # -- the engine's transitions -------------------------------------------------------------
    def claim_next(self, owner: str, lease_until: float) -> dict[str, Any] | None:
        """Lease the next due upload (queued, a due retry, or a processing one nobody follows)
        to ``owner``; returns its row as it was. Opens its own transaction."""
        with self.store.tx():
            # One statement of three index-ordered lookups rather than one OR query, which
            # would sort every queued row on each claim (thousands of files from a watched
            # folder), and one row read rather than three.
            row = self.store.query_one(
                "SELECT * FROM uploads WHERE id = (SELECT min(id) FROM ("
                " SELECT * FROM (SELECT id FROM uploads WHERE status = ? ORDER BY id LIMIT 1)"
                " UNION ALL SELECT * FROM (SELECT id FROM uploads WHERE status = ?"
                "  AND next_attempt_at <= ? ORDER BY id LIMIT 1)"
                " UNION ALL SELECT * FROM (SELECT id FROM uploads WHERE status = ?"
                "  AND lease_owner IS NULL ORDER BY id LIMIT 1)))",
                (Status.QUEUED.value, Status.RETRYING.value, self.clock(), Status.PROCESSING.value),
            )
            if row is None:
                return None
            lease = {"lease_owner": owner, "lease_expires": lease_until}
            if row["status"] == Status.PROCESSING.value:
                self._touch(row["id"], lease)
                self.store.add_event(
                    EventKind.INFO, "Following the server's processing again", upload_id=row["id"]
                )
                return row
            self._start_sending(row, owner, lease_until)
            return row

    def save_progress(self, upload_id: int, offset: int, speed: float, lease_until: float) -> None:
        with self.store.tx():
            self.store.execute(
                'UPDATE uploads SET "offset" = ?, speed = ?, change_seq = ?, updated_at = ?, lease_expires = ?'
                " WHERE id = ? AND status = ?",
                (
                    offset,
                    speed,
                    self.store.next_seq(),
                    now_iso(),
                    lease_until,
                    upload_id,
                    Status.UPLOADING.value,
                ),
            )

    def save_remote_state(
        self,
        upload_id: int,
        state: RemoteState | None,
        result_url: str | None,
        confirmed: int,
        announce: bool,
    ) -> None:
        """Keep the protocol's state now (before another byte goes), where the upload is, and
        how much of it the server confirmed. Written through to the disk: after a power cut
        the upload must continue this server upload, not start a second copy there."""
        with self.store.tx(durable=True):
            self._keep_remote_state(upload_id, state, result_url, confirmed, announce)

    def add_event(self, upload_id: int, kind: str, message: str) -> None:
        with self.store.tx():
            self.store.add_event(kind, message, upload_id=upload_id)

    def start_processing(
        self, upload_id: int, state: RemoteState, result_url: str | None, size: int
    ) -> bool:
        with self.store.tx():
            return self.set_status(
                upload_id,
                Status.PROCESSING,
                event=EventKind.PROCESSING,
                message="Uploaded; the server is processing it",
                extra={
                    "offset": size,
                    "speed": 0,
                    "remote_state": json.dumps(state),
                    "result_url": result_url,
                    "processing_progress": None,
                    "processing_message": None,
                },
                only_from=[Status.UPLOADING.value],
            )

    def save_processing(
        self, upload_id: int, progress: float | None, message: str | None, lease_until: float
    ) -> None:
        """The server's progress; a new message also goes into the history."""
        with self.store.tx():
            row = self.store.query_one(
                "SELECT processing_message FROM uploads WHERE id = ? AND status = ?",
                (upload_id, Status.PROCESSING.value),
            )
            if row is None:
                return
            self._touch(
                upload_id,
                {
                    "processing_progress": progress,
                    "processing_message": message,
                    "lease_expires": lease_until,
                },
                only_status=Status.PROCESSING.value,
            )
            if message and message != row["processing_message"]:
                shown = f"{progress:.0f} %: {message}" if progress is not None else message
                self.store.add_event(
                    EventKind.PROCESSING, shown, upload_id=upload_id, status=Status.PROCESSING.value
                )

    def finish(
        self,
        upload_id: int,
        status: Status,
        event: str,
        message: str,
        *,
        title: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Done or failed, from uploading or processing. Opens its own transaction."""
        with self.store.tx():
            return self._finished(upload_id, status, event, message, title=title, extra=extra)

    def retry_later(
        self,
        upload_id: int,
        when: float,
        attempts: int,
        offset: int,
        confirmed: int,
        title: str,
        reason: str,
        message: str,
    ) -> bool:
        return self._retrying(
            upload_id,
            when,
            offset,
            confirmed,
            title,
            reason,
            message,
            extra={"attempts": attempts},
            only_from=RUNNING,
        )

    def _retrying(
        self,
        upload_id: int,
        when: float,
        offset: int,
        confirmed: int,
        title: str,
        reason: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        only_from: Iterable[str],
    ) -> bool:
        """Due again at ``when``, where it stopped, saying why (a failed attempt, a full disk)."""
        with self.store.tx():
            return self.set_status(
                upload_id,
                Status.RETRYING,
                event=EventKind.RETRYING,
                message=message,
                title=title,
                extra={
                    **SETTLED,
                    "offset": offset,
                    "next_attempt_at": when,
                    "confirmed_offset": confirmed,
                    "error_title": title,
                    "error_message": reason,
                    **(extra or {}),
                },
                only_from=only_from,
            )

    def attempts(self, upload_id: int) -> int:
        row = self.store.query_one("SELECT attempts FROM uploads WHERE id = ?", (upload_id,))
        return int(row["attempts"]) if row else 0

    def release(self, upload_id: int, offset: int, confirmed: int, *, shutdown: bool) -> None:
        """A runner let go of an upload (pause, cancel, shutdown). A shutdown queues an upload
        that was sending; one being processed stays so, for the next start to follow again."""
        with self.store.tx():
            self.store.execute(
                'UPDATE uploads SET "offset" = CASE WHEN status = ? THEN "offset" ELSE ? END,'
                " confirmed_offset = ?, speed = 0, lease_owner = NULL, lease_expires = NULL,"
                " change_seq = ? WHERE id = ?",
                (Status.PROCESSING.value, offset, confirmed, self.store.next_seq(), upload_id),
            )
            if shutdown:
                self.set_status(
                    upload_id,
                    Status.QUEUED,
                    event=EventKind.REQUEUED,
                    message="The worker stopped; this upload resumes when it starts again",
                    only_from=[Status.UPLOADING.value],
                )

    def wait_for_disk(
        self, upload_id: int, offset: int, confirmed: int, title: str, message: str
    ) -> bool:
        """A full disk stopped the upload: due again at once, claimed when there is room."""
        return self._retrying(
            upload_id,
            self.clock(),
            offset,
            confirmed,
            title,
            message,
            message,
            only_from=[Status.UPLOADING.value],
        )

    def requeue_unrun(self, owner: str, live: set[int], message: str) -> None:
        """Uploads leased to ``owner`` and marked uploading that no runner of its runs."""
        with self.store.tx():
            rows = self.store.query(
                "SELECT id FROM uploads WHERE status = ? AND lease_owner = ?",
                (Status.UPLOADING.value, owner),
            )
            for row in rows:
                if row["id"] not in live:
                    self.set_status(
                        row["id"],
                        Status.QUEUED,
                        event=EventKind.REQUEUED,
                        message=message,
                        extra={"lease_owner": None, "lease_expires": None, "speed": 0},
                    )

    def forget_remote(self, upload_id: int, message: str, *, left_there: bool = False) -> None:
        """After a cancel's terminate: forget the server's copy (``left_there``: the protocol
        cannot delete it, so where it is stays shown)."""
        columns: dict[str, Any] = {"remote_state": None}
        if not left_there:
            columns["result_url"] = None
        with self.store.tx():
            self._touch(upload_id, columns, only_status=Status.CANCELLED.value)
            self.store.add_event(EventKind.INFO, message, upload_id=upload_id)

    # -- housekeeping -------------------------------------------------------------------------
    def requeue_lost(self, owner: str, live: set[int]) -> int:
        """Uploads marked running that no live runner of ours holds: queue the sending ones
        again (they resume from the server's offset); unlease the processing ones (the next
        runner follows them again from their remote state). Opens its own transaction."""
        count = 0
        with self.store.tx():
            rows = self.store.query(
                "SELECT id, status, lease_owner, lease_expires FROM uploads"
                " WHERE status = ? OR (status = ? AND lease_owner IS NOT NULL)",
                RUNNING,
            )
            for row in rows:
                if row["id"] in live:
                    continue
                if row["lease_owner"] == owner and (row["lease_expires"] or 0) > self.clock():
                    continue
                if row["status"] == Status.PROCESSING.value:
                    self._touch(row["id"], {"lease_owner": None, "lease_expires": None})
                else:
                    self.set_status(
                        row["id"],
                        Status.QUEUED,
                        event=EventKind.REQUEUED,
                        message="The worker stopped while this was uploading; it resumes from the server's offset",
                        extra={"lease_owner": None, "lease_expires": None, "speed": 0},
                    )
                count += 1
        return count

    def renew_leases(self, owner: str, ids: list[int], until: float) -> None:
        if not ids:
            return
        with self.store.tx():
            self.store.execute(
                f"UPDATE uploads SET lease_expires = ? WHERE lease_owner = ? AND id IN ({', '.join('?' * len(ids))})",
                (until, owner, *ids),
            )

    def paused_before(self, when: float) -> list[int]:
        return [
            r["id"]
            for r in self.store.query(
                "SELECT id FROM uploads WHERE status = ? AND paused_at < ?",
                (Status.PAUSED.value, when),
            )
        ]

    def auto_cancel(self, upload_id: int, limit: float) -> bool:
        with self.store.tx():
            return self.set_status(
                upload_id,
                Status.CANCELLED,
                event=EventKind.CANCELLED,
                message=f"Cancelled after being paused for more than {limit:g} s (auto-cancel setting)",
                extra={"finished_at": now_iso()},
                only_from=[Status.PAUSED.value],
            )


__all__ = ["UploadRepository", "remote_state"]
