"""Every write to uploads and every change of an upload's status, each with its history event.

Methods that change a status take the guard that makes them safe against a second actor (the
service pausing while the engine finishes, a reconcile while a runner claims): they change
nothing and return False when the upload is no longer in a state they may leave. Call them inside
``store.tx()`` unless they say they open their own.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import Any

from upqueue.core.models import CANCELLABLE, PAUSABLE, RESUMABLE, RETRYABLE, EventKind, Status
from upqueue.core.pathtext import readable
from upqueue.core.store import Store, now_iso
from upqueue.core.transports.base import RemoteState
from upqueue.worker.errors import Conflict
from upqueue.worker.repository.reads import UploadReads, remote_state

_RUNNING = (Status.UPLOADING.value, Status.PROCESSING.value)
_SETTLED = {"speed": 0, "lease_owner": None, "lease_expires": None, "next_attempt_at": None}


class UploadRepository(UploadReads):
    """Args:
    store: state.db (the worker is its only writer).
    clock: wall-clock seconds (tests pass a fake one).
    """

    def __init__(self, store: Store, clock: Any = time.time) -> None:
        super().__init__(store, clock)

    # -- the one generic transition -----------------------------------------------------------
    def set_status(
        self,
        upload_id: int,
        status: Status,
        *,
        event: str,
        message: str = "",
        title: str | None = None,
        extra: dict[str, Any] | None = None,
        only_from: Iterable[str] | None = None,
    ) -> bool:
        """One state transition with its event. Returns False (and changes nothing) when
        ``only_from`` is given and the upload is not in one of those states."""
        columns = {
            "status": status.value,
            "updated_at": now_iso(),
            "change_seq": self.store.next_seq(),
        }
        columns.update(extra or {})
        sets = ", ".join(f'"{key}" = ?' for key in columns)
        params: list[Any] = [*columns.values(), upload_id]
        guard = ""
        if only_from is not None:
            states = list(only_from)
            guard = f" AND status IN ({', '.join('?' * len(states))})"
            params += states
        cur = self.store.execute(f"UPDATE uploads SET {sets} WHERE id = ?{guard}", params)
        if cur.rowcount == 0:
            return False
        self.store.add_event(event, message, upload_id=upload_id, status=status.value, title=title)
        return True

    def _touch(
        self, upload_id: int, columns: dict[str, Any], *, only_status: str | None = None
    ) -> None:
        columns = {**columns, "change_seq": self.store.next_seq(), "updated_at": now_iso()}
        sets = ", ".join(f'"{key}" = ?' for key in columns)
        guard = " AND status = ?" if only_status else ""
        params = [*columns.values(), upload_id, *([only_status] if only_status else [])]
        self.store.execute(f"UPDATE uploads SET {sets} WHERE id = ?{guard}", params)

    # -- adding -------------------------------------------------------------------------------
    def add(
        self,
        target: dict[str, Any],
        files: list[tuple[str, os.stat_result, list[tuple[str, os.stat_result]]]],
        *,
        batch_id: int | None = None,
        watch_id: int | None = None,
        force: bool = False,
    ) -> list[int | None]:
        """Queue uploads, one per entry of ``files``: ``(path, stat, members)``, where members
        (a dataset's files, the primary first) is empty for a single file. One transaction.

        Returns each entry's new id, or None for a duplicate (the same file, by path, size and
        modification time, queued, running or done for this target) unless ``force``.
        """
        ids: list[int | None] = []
        with self.store.tx():
            for path, st, members in files:
                if not force and self._is_duplicate(target["id"], path, st):
                    ids.append(None)
                    continue
                stamp = now_iso()
                size = sum(m[1].st_size for m in members) if members else st.st_size
                upload_id = self.store.next_id("uploads")  # never one used before
                self.store.execute(
                    "INSERT INTO uploads (id, target_id, path, name, size, mtime_ns, inode, ctime_ns,"
                    " status, created_at, updated_at, change_seq, batch_id, watch_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        upload_id,
                        target["id"],
                        path,
                        dataset_name(path, len(members)),
                        size,
                        st.st_mtime_ns,
                        st.st_ino,
                        st.st_ctime_ns,
                        Status.QUEUED.value,
                        stamp,
                        stamp,
                        self.store.next_seq(),
                        batch_id,
                        watch_id,
                    ),
                )
                ids.append(upload_id)
                self._insert_members(upload_id, members)
                more = f" with {len(members) - 1} more file(s)" if len(members) > 1 else ""
                self.store.add_event(
                    EventKind.ADDED,
                    f"Queued for {target['name']}{more}",
                    upload_id=upload_id,
                    batch_id=batch_id,
                    status=Status.QUEUED,
                )
        return ids

    def _is_duplicate(self, target_id: int, path: str, st: os.stat_result) -> bool:
        return (
            self.store.query_one(
                "SELECT 1 FROM uploads WHERE target_id = ? AND path = ? AND size = ? AND mtime_ns = ?"
                " AND status NOT IN (?, ?)",
                (
                    target_id,
                    path,
                    st.st_size,
                    st.st_mtime_ns,
                    Status.FAILED.value,
                    Status.CANCELLED.value,
                ),
            )
            is not None
        )

    def _insert_members(self, upload_id: int, members: list[tuple[str, os.stat_result]]) -> None:
        for position, (member, mst) in enumerate(members):
            self.store.execute(
                "INSERT INTO upload_members (upload_id, position, path, name, size, mtime_ns,"
                " inode, ctime_ns, role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    upload_id,
                    position,
                    member,
                    readable(os.path.basename(member)),
                    mst.st_size,
                    mst.st_mtime_ns,
                    mst.st_ino,
                    mst.st_ctime_ns,
                    "primary" if position == 0 else "member",
                ),
            )

    def replace_members(self, upload_id: int, members: list[tuple[str, os.stat_result]]) -> None:
        """A dataset's members as they are on disk now (a retry after the person fixed the set):
        the files, their fingerprints, the size and the row's name follow. Runs in the
        caller's transaction (the service's retry)."""
        before = [
            r["name"]
            for r in self.store.query(
                "SELECT name FROM upload_members WHERE upload_id = ? ORDER BY position",
                (upload_id,),
            )
        ]
        self.store.execute("DELETE FROM upload_members WHERE upload_id = ?", (upload_id,))
        self._insert_members(upload_id, members)
        path, st = members[0]
        self._touch(
            upload_id,
            {
                "name": dataset_name(path, len(members)),
                "size": sum(m[1].st_size for m in members),
                "mtime_ns": st.st_mtime_ns,
                "inode": st.st_ino,
                "ctime_ns": st.st_ctime_ns,
            },
        )
        now = [readable(os.path.basename(m)) for m, _ in members]
        added = [n for n in now if n not in before]
        gone = [n for n in before if n not in now]
        if added or gone:
            change = "; ".join(
                filter(
                    None,
                    [
                        f"now with {', '.join(added)}" if added else "",
                        f"without {', '.join(gone)}" if gone else "",
                    ],
                )
            )
            self.store.add_event(
                EventKind.INFO,
                f"The dataset's files were read again: {change}",
                upload_id=upload_id,
            )

    # -- the engine's transitions -------------------------------------------------------------
    def claim_next(self, owner: str, lease_until: float) -> dict[str, Any] | None:
        """Lease the next due upload (queued, a due retry, or a processing one nobody follows)
        to ``owner``; returns its row as it was. Opens its own transaction."""
        with self.store.tx():
            # Index-ordered lookups rather than one OR query, which would sort every queued row
            # on each claim (thousands of files from a watched folder).
            candidates = [
                r
                for r in (
                    self.store.query_one(
                        "SELECT * FROM uploads WHERE status = ? ORDER BY id LIMIT 1",
                        (Status.QUEUED.value,),
                    ),
                    self.store.query_one(
                        "SELECT * FROM uploads WHERE status = ? AND next_attempt_at <= ?"
                        " ORDER BY id LIMIT 1",
                        (Status.RETRYING.value, self.clock()),
                    ),
                    self.store.query_one(
                        "SELECT * FROM uploads WHERE status = ? AND lease_owner IS NULL"
                        " ORDER BY id LIMIT 1",
                        (Status.PROCESSING.value,),
                    ),
                )
                if r is not None
            ]
            if not candidates:
                return None
            row = min(candidates, key=lambda r: r["id"])
            lease = {"lease_owner": owner, "lease_expires": lease_until}
            if row["status"] == Status.PROCESSING.value:
                self._touch(row["id"], lease)
                self.store.add_event(
                    EventKind.INFO, "Following the server's processing again", upload_id=row["id"]
                )
                return row
            extra = {**lease, "next_attempt_at": None, "speed": 0}
            if not row["started_at"]:
                extra["started_at"] = now_iso()
            message = (
                "Starting" if not row["remote_state"] else "Resuming: asking the server what it has"
            )
            self.set_status(
                row["id"], Status.UPLOADING, event=EventKind.STARTED, message=message, extra=extra
            )
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
        how much of it the server confirmed."""
        with self.store.tx():
            self._touch(
                upload_id,
                {
                    "remote_state": json.dumps(state) if state is not None else None,
                    "result_url": result_url,
                    "confirmed_offset": confirmed,
                },
            )
            if announce and result_url:
                self.store.add_event(
                    EventKind.INFO, f"Server upload created: {result_url}", upload_id=upload_id
                )

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
        columns = {**_SETTLED, "finished_at": now_iso(), **(extra or {})}
        if status == Status.FAILED:
            columns.update(error_title=title, error_message=message)
        with self.store.tx():
            return self.set_status(
                upload_id,
                status,
                event=event,
                message=message,
                title=title,
                extra=columns,
                only_from=_RUNNING,
            )

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
            only_from=_RUNNING,
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
                    **_SETTLED,
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
                _RUNNING,
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


def dataset_name(path: str, members: int) -> str:
    """What a row is called: the file's name, or ``roads.shp + 4 files`` for a dataset."""
    name = readable(os.path.basename(path))
    others = members - 1
    return name if others <= 0 else f"{name} + {others} file{'s' if others > 1 else ''}"


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


__all__ = ["UploadRepository", "remote_state"]
