"""The domain operations behind the control API: targets, uploads, settings, export.

Every change goes through here, inside the worker process, so state.db keeps one writer. The
upload engine (worker/engine.py) does the transfers; this module records what people ask for
and wakes the engine.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any, Callable, Iterable

from core import fileinfo
from core.errors import TransferError, UpqueueError
from core.humanize import plural
from core.models import (
    CANCELLABLE,
    PAUSABLE,
    RESUMABLE,
    RETRYABLE,
    EventKind,
    Status,
)
from core.pathtext import from_stored, path_problem, readable
from core.records import (
    EXPORT_HEADER,
    UPLOAD_FIELDS,
    Added,
    AddResult,
    Rejected,
    export_row,
    upload_columns_sql,
)
from core.secrets import SecretStore
from core.settings import SETTINGS
from core.store import Store, now_iso, sqlite_version_report
from core.version import VERSION
from core.walk import Skipped
from worker.errors import Conflict, NotFound
from worker.service_targets import TargetOperations

log = logging.getLogger(__name__)

_UPLOAD_SELECT = "SELECT u.*, t.name AS target_name FROM uploads u LEFT JOIN targets t ON t.id = u.target_id"
# What clients get: the columns of core.records.UploadRecord, selected as they are (no per-row
# copy or filtering for a list of 100,000).
_PUBLIC_SELECT = (f"SELECT {upload_columns_sql('u')}"
                  " FROM uploads u LEFT JOIN targets t ON t.id = u.target_id")


# "big_copy.bin has failed", not "big_copy.bin is failed".
_STATE_PHRASES = {
    "queued": "is queued", "uploading": "is uploading", "retrying": "is waiting to retry",
    "paused": "is paused", "processing": "is being processed by the server",
    "done": "is already uploaded", "failed": "has failed", "cancelled": "was cancelled",
}


def public_upload(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` (an upload with every column) as clients see it: core.records.UploadRecord's
    fields, whatever columns the table has gained."""
    return {name: row.get(name) for name in UPLOAD_FIELDS}


class Service(TargetOperations):
    """Args:
        store: state.db.
        secrets: where passwords and tokens live.
        data_dir: the data directory (for health and the log path).
    """

    def __init__(self, store: Store, secrets: SecretStore, data_dir: os.PathLike[str] | str):
        self.store = store
        self.secrets = secrets
        self.data_dir = str(data_dir)
        self.engine: Any = None  # worker.engine.Engine, set by the runtime
        self.watches: Any = None  # worker.watcher.WatchManager, set by the runtime
        self.finished_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.started_at = now_iso()
        self.on_shutdown: Callable[[], None] = lambda: None
        self._notifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify")
        # Bumped when targets, settings or watches change (by any client): stats carry it, so
        # every open window reloads them, not only the one whose dialog made the change.
        self.config_version = 0

    def config_changed(self) -> None:
        self.config_version += 1
        # Moving the change counter wakes the windows' long polls, which bring the new "config"
        # with their stats; without it they would hear of the change only when an upload moved.
        with self.store.tx():
            self.store.next_seq()

    # -- health ---------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": VERSION,
            "pid": os.getpid(),
            "data_dir": self.data_dir,
            "started_at": self.started_at,
            "seq": self.store.seq,
            "secret_store": self.secrets.backend_name,
            # True while the disk holding the data directory is full (uploads wait for space).
            "disk_full": bool(self.engine is not None and getattr(self.engine, "disk", None)
                              and self.engine.disk.full),
            **sqlite_version_report(),
        }

    # -- uploads: adding ------------------------------------------------------------------
    def add_uploads(
        self,
        paths: Iterable[str],
        target: str | int,
        recursive: bool = False,
        *,
        batch_id: int | None = None,
        watch_id: int | None = None,
        force: bool = False,
    ) -> AddResult:
        """Queue files: what was added (ids and paths) and what was rejected (with reasons).

        Partial success is the answer, not an error, and so is "nothing added"; only an unknown
        target raises. Folders given with ``recursive`` are walked by :func:`core.walk.walk`
        (the window's and the watcher's walker); what it leaves out for a reason other than its
        name is rejected with that reason. A file queued or uploaded to the same target before
        (same path, size and modification time) is rejected with reason "duplicate" unless
        ``force``. All rows go in one transaction, so thousands of files cost one commit.
        """
        target_row = self.resolve_target(target)
        # A name that is not UTF-8 may come as its stored form (from `ls`) or escaped.
        texts = [from_stored(os.path.expanduser(str(given))) for given in paths]
        invalid = [(text, problem) for text in texts if (problem := path_problem(text))]
        if invalid:
            # Malformed input, not a file that cannot be sent: the request is refused (400).
            errors = []
            for text, problem in invalid:
                shown = readable(text).replace("\x00", "\\0")
                errors.append({"path": shown, "title": "Invalid path", "message": f"{shown} {problem}."})
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            error = UpqueueError("Invalid path", errors[0]["message"] + more)
            error.errors = errors  # type: ignore[attr-defined]
            raise error
        rows: list[tuple[str, os.stat_result]] = []
        rejected: list[Rejected] = []

        def skipped(entry: Skipped) -> None:
            rejected.append(Rejected(entry.path, entry.title, entry.message))

        for text in texts:
            for path in fileinfo.expand(text, recursive, skipped):
                try:
                    st = fileinfo.check_file(path)
                except UpqueueError as exc:
                    rejected.append(Rejected(path, exc.title, exc.message))
                    continue
                rows.append((path, st))
        added: list[Added] = []
        if rows:
            with self.store.tx():
                for path, st in rows:
                    if not force and self._is_duplicate(target_row["id"], path, st):
                        rejected.append(Rejected(
                            path, "Already added",
                            f"{readable(os.path.basename(path))} is already queued for or uploaded "
                            f"to {target_row['name']} (same size and modification time); "
                            "add it with --force to upload it again.", reason="duplicate"))
                        continue
                    seq = self.store.next_seq()
                    stamp = now_iso()
                    upload_id = self.store.next_id("uploads")
                    self.store.execute(
                        "INSERT INTO uploads (id, target_id, path, name, size, mtime_ns, inode, ctime_ns, status,"
                        " created_at, updated_at, change_seq, batch_id, watch_id)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (upload_id, target_row["id"], path, readable(os.path.basename(path)), st.st_size,
                         st.st_mtime_ns, st.st_ino, st.st_ctime_ns, Status.QUEUED.value, stamp, stamp, seq,
                         batch_id, watch_id),
                    )
                    added.append(Added(upload_id, path))
                    self.store.add_event(EventKind.ADDED, f"Queued for {target_row['name']}",
                                         upload_id=upload_id, batch_id=batch_id, status=Status.QUEUED)
        if added and self.engine:
            self.engine.kick()
        return AddResult(tuple(added), tuple(rejected))

    def _is_duplicate(self, target_id: int, path: str, st: os.stat_result) -> bool:
        """The same file (path, size, mtime) is queued, running or done for this target."""
        return self.store.query_one(
            "SELECT 1 FROM uploads WHERE target_id = ? AND path = ? AND size = ? AND mtime_ns = ?"
            " AND status NOT IN (?, ?)",
            (target_id, path, st.st_size, st.st_mtime_ns, Status.FAILED.value, Status.CANCELLED.value),
        ) is not None

    # -- uploads: reading -----------------------------------------------------------------
    def list_uploads(
        self,
        status: list[str] | None = None,
        since: int | None = None,
        batch_id: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
        q: str | None = None,
        after_id: int | None = None,
    ) -> dict[str, Any]:
        where, params = [], []
        if status:
            unknown = set(status) - {s.value for s in Status}
            if unknown:
                raise UpqueueError("Unknown status", f"{', '.join(sorted(unknown))}: use one of "
                                   f"{', '.join(s.value for s in Status)}.")
            where.append(f"u.status IN ({', '.join('?' * len(status))})")
            params += list(status)
        if since is not None:
            where.append("u.change_seq > ?")
            params.append(int(since))
        if after_id is not None:
            # Pages by id (a window's first screenful, then the rest): unlike an offset, a row
            # removed in between cannot shift a row out of both pages.
            where.append("u.id > ?")
            params.append(int(after_id))
        if batch_id is not None:
            where.append("u.batch_id = ?")
            params.append(int(batch_id))
        if q:
            where.append("u.name LIKE ?")
            params.append(f"%{q}%")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.store.read():
            seq = self.store.seq
            total = self.store.query_one(f"SELECT count(*) AS n FROM uploads u{clause}", params)["n"]
            page = ""
            if limit is not None:
                page = f" LIMIT {int(limit)} OFFSET {int(offset or 0)}"
            # With `since`, "+u.id" lets SQLite find the few changed rows by the change_seq index
            # and sort them, rather than walk every upload in id order (17 ms a poll at 100,000).
            order = "+u.id" if since is not None else "u.id"
            rows = self.store.query(f"{_PUBLIC_SELECT}{clause} ORDER BY {order}{page}", params)
            removed = []
            if since is not None:
                removed = [r["upload_id"] for r in self.store.query(
                    "SELECT upload_id FROM removed_uploads WHERE change_seq > ? ORDER BY upload_id", (int(since),))]
        return {"seq": seq, "uploads": rows, "removed": removed, "total": total}

    def _upload_row(self, upload_id: int) -> dict[str, Any]:
        row = self.store.query_one(f"{_UPLOAD_SELECT} WHERE u.id = ?", (upload_id,))
        if row is None:
            raise NotFound("No such upload", f"There is no upload with id {upload_id}.")
        return row

    def get_upload(self, upload_id: int) -> dict[str, Any]:
        row = self._upload_row(upload_id)
        return {"upload": public_upload(row), "events": self.store.events_for(upload_id)}

    def stats(self) -> dict[str, Any]:
        with self.store.read():
            counts = {s.value: 0 for s in Status}
            for row in self.store.query("SELECT status, count(*) AS n, sum(speed) AS speed FROM uploads GROUP BY status"):
                counts[row["status"]] = row["n"]
            speed = self.store.query_one("SELECT coalesce(sum(speed), 0) AS s FROM uploads WHERE status = ?",
                                         (Status.UPLOADING.value,))["s"]
            seq = self.store.seq
        active = counts["queued"] + counts["uploading"] + counts["retrying"] + counts["processing"]
        return {"counts": counts, "speed": float(speed), "active": active, "seq": seq,
                "config": self.config_version}

    # -- uploads: steering ----------------------------------------------------------------
    def set_status(self, upload_id: int, status: Status, *, event: str, message: str = "",
                   title: str | None = None, extra: dict[str, Any] | None = None,
                   only_from: Iterable[str] | None = None) -> bool:
        """One state transition with its event, in one transaction. Call inside ``store.tx()``.

        Returns False (and changes nothing) when ``only_from`` is given and the upload is not in
        one of those states: the guard that keeps two actors from both deciding an outcome.
        """
        columns = {"status": status.value, "updated_at": now_iso(), "change_seq": self.store.next_seq()}
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

    def act(self, upload_id: int, action: str) -> dict[str, Any]:
        handlers = {"pause": self._pause, "resume": self._resume, "cancel": self._cancel, "retry": self._retry}
        if action not in handlers:
            raise UpqueueError("Unknown action", f"{action!r}: use pause, resume, cancel or retry.")
        with self.store.tx():
            row = self._upload_row(upload_id)
            handlers[action](row)
        if self.engine:
            self.engine.kick()
        return public_upload(self._upload_row(upload_id))

    def _not_allowed(self, row: dict[str, Any], verb: str) -> Conflict:
        state = _STATE_PHRASES.get(row["status"], f"is {row['status']}")
        done = {"pause": "paused", "resume": "resumed", "cancel": "cancelled", "retry": "retried"}.get(verb, verb)
        return Conflict(f"Cannot {verb}", f"{row['name']} {state}; it cannot be {done} now.")

    def _pause(self, row: dict[str, Any]) -> None:
        if row["status"] not in PAUSABLE:
            raise self._not_allowed(row, "pause")
        self.set_status(row["id"], Status.PAUSED, event=EventKind.PAUSED, message="Paused by you",
                        extra={"speed": 0, "paused_at": time.time(), "next_attempt_at": None})
        if self.engine:
            self.engine.stop(row["id"], "pause")

    def _resume(self, row: dict[str, Any]) -> None:
        if row["status"] not in RESUMABLE:
            raise self._not_allowed(row, "resume")
        self.set_status(row["id"], Status.QUEUED, event=EventKind.RESUMED, message="Resumed by you",
                        extra={"attempts": 0, "paused_at": None})

    def _cancel(self, row: dict[str, Any]) -> None:
        if row["status"] not in CANCELLABLE:
            raise self._not_allowed(row, "cancel")
        running = bool(self.engine and self.engine.is_running(row["id"]))
        self.set_status(row["id"], Status.CANCELLED, event=EventKind.CANCELLED, message="Cancelled by you",
                        extra={"speed": 0, "finished_at": now_iso(), "next_attempt_at": None})
        if self.engine:
            if running:
                self.engine.stop(row["id"], "cancel")  # the runner terminates the remote upload itself
            elif row["remote_url"]:
                self.engine.terminate_later(row["id"])
        self._notify_finished(row["id"])

    def _retry(self, row: dict[str, Any]) -> None:
        if row["status"] not in RETRYABLE:
            raise self._not_allowed(row, "retry")
        target = self.store.query_one("SELECT removed_at FROM targets WHERE id = ?", (row["target_id"],))
        if target is None or target["removed_at"]:
            raise Conflict("Target removed", f"{row['name']} went to {row['target_name']}, which was removed; "
                           "add the file again to another target.")
        extra: dict[str, Any] = {"attempts": 0, "error_title": None, "error_message": None, "finished_at": None,
                                 "next_attempt_at": None}
        if row["status"] == Status.CANCELLED:
            # its remote upload was terminated
            extra.update(remote_url=None, remote_expires=None, offset=0, confirmed_offset=0, all_sent=0)
        else:
            extra.update(self._restart_if_changed(row))
        self.set_status(row["id"], Status.QUEUED, event=EventKind.RESUMED, message="Retry asked by you", extra=extra)

    def _restart_if_changed(self, row: dict[str, Any]) -> dict[str, Any]:
        """A file that changed since its upload began is sent as it is now: a new fingerprint,
        from byte 0, and the stale partial upload is terminated where the protocol can."""
        try:
            st = fileinfo.check_file(row["path"])
        except UpqueueError as exc:
            raise Conflict(f"Cannot retry: {exc.title}", f"{exc.message} Put the file back, or remove the upload.") from None
        ctime_ns = row.get("ctime_ns")
        if (st.st_size, st.st_mtime_ns, st.st_ino) == (row["size"], row["mtime_ns"], row["inode"]) and (
            ctime_ns is None or st.st_ctime_ns == ctime_ns
        ):
            return {}
        if row["remote_url"] and self.engine:
            self.engine.terminate_later(row["id"])  # reads remote_url now, before it is cleared
        self.store.add_event(EventKind.RESUMED, "The file changed: it is sent again as it is now, from the start",
                             upload_id=row["id"], status=row["status"])
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino,
                "ctime_ns": st.st_ctime_ns, "offset": 0, "confirmed_offset": 0, "all_sent": 0,
                "remote_url": None, "remote_expires": None, "sha256": None}

    def remove_upload(self, upload_id: int) -> None:
        with self.store.tx():
            row = self._upload_row(upload_id)
            if row["status"] in CANCELLABLE:
                self._cancel(row)
            self.store.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
            self.store.execute("INSERT OR REPLACE INTO removed_uploads (upload_id, change_seq) VALUES (?, ?)",
                               (upload_id, self.store.next_seq()))
            self.store.add_event(EventKind.REMOVED, f"{row['name']} removed from the list", upload_id=upload_id)

    def bulk(self, action: str, ids: list[int]) -> dict[str, Any]:
        done, skipped = [], []
        for upload_id in ids:
            try:
                if action == "remove":
                    self.remove_upload(int(upload_id))
                else:
                    self.act(int(upload_id), action)
                done.append(upload_id)
            except UpqueueError as exc:
                skipped.append({"id": upload_id, "title": exc.title, "message": exc.message})
        return {"done": done, "skipped": skipped}

    def clear_finished(self) -> int:
        """Remove every upload that is done from the list; the files stay on the server."""
        rows = self.store.query("SELECT id FROM uploads WHERE status = ?", (Status.DONE.value,))
        for row in rows:
            self.remove_upload(int(row["id"]))
        return len(rows)

    def pause_all(self) -> int:
        with self.store.tx():
            rows = self.store.query(
                f"SELECT * FROM uploads WHERE status IN ({', '.join('?' * len(PAUSABLE))})", list(PAUSABLE))
            for row in rows:
                self._pause(row)
        return len(rows)

    def resume_all(self) -> int:
        with self.store.tx():
            rows = self.store.query("SELECT * FROM uploads WHERE status = ?", (Status.PAUSED.value,))
            for row in rows:
                self._resume(row)
        if self.engine:
            self.engine.kick()
        return len(rows)

    def _notify_finished(self, upload_id: int) -> None:
        """Tell listeners (batches, after-upload actions) about a finished upload.

        Runs on one notifier thread: it needs the store, so it naturally waits until the
        caller's transaction has committed, and listeners see events in order.
        """
        self._notifier.submit(self.fire_finished, upload_id)

    def fire_finished(self, upload_id: int) -> None:
        row = self.store.query_one(f"{_UPLOAD_SELECT} WHERE u.id = ?", (upload_id,))
        if row is None:
            return
        for listener in list(self.finished_listeners):
            try:
                listener(row)
            except Exception:  # a listener's bug must not stop the upload engine
                log.exception("finished-listener failed for upload %s", upload_id)

    # -- settings -------------------------------------------------------------------------
    def get_settings(self) -> dict[str, Any]:
        return {"settings": self.store.settings(), "help": {k: s.help for k, s in SETTINGS.items()}}

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        self.store.set_settings(changes)
        self.config_changed()
        if self.engine:
            self.engine.settings_changed()
        return {"settings": self.store.settings()}

    # -- export ---------------------------------------------------------------------------
    def export_csv(self, from_date: str, to_date: str) -> str:
        start, end = _parse_day(from_date, "from_date"), _parse_day(to_date, "to_date")
        if end < start:
            raise UpqueueError("Dates reversed", f"The range ends ({end}) before it starts ({start}).")
        rows = self.store.query(
            f"{_UPLOAD_SELECT} WHERE u.created_at >= ? AND u.created_at < ? ORDER BY u.id",
            (start.isoformat(), (end + timedelta(days=1)).isoformat()),
        )
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_HEADER)
        for r in rows:
            writer.writerow(export_row(r))
        return out.getvalue()

    def shutdown(self) -> None:
        self.on_shutdown()

    def close(self) -> None:
        """Let queued notifications finish (the runtime calls this as the worker stops)."""
        self._notifier.shutdown(wait=True)


def nothing_added_message(paths: list[str], recursive: bool, rejected: int) -> str:
    """What to say when a request to add files queued none: why, as far as it is known."""
    if rejected:
        return f"Nothing was added: {plural(rejected, 'path')} rejected, each with its reason."
    if not paths:
        return "Nothing was added: no paths were given; name at least one file or folder."
    folders = [readable(p) for p in paths if os.path.isdir(from_stored(p))]
    if folders and recursive:
        return (f"Nothing was added: no files were found in {', '.join(folders)} (hidden and "
                "temporary files, and links leading out of the folder, are left out).")
    return "Nothing was added: no files were found among the paths given."


def _parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise UpqueueError("Invalid date", f"{name} must be a date as YYYY-MM-DD, e.g. 2026-11-23; got {text!r}.") from None


__all__ = ["Service", "NotFound", "Conflict", "TransferError"]
