"""Reading uploads: one row, lists and counts for the API, members and jobs for the engine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from upqueue.core.errors import UpqueueError
from upqueue.core.filereader import FileFingerprint
from upqueue.core.models import Status
from upqueue.core.pathtext import from_stored
from upqueue.core.records import UPLOAD_FIELDS, upload_columns_sql
from upqueue.core.store import Store
from upqueue.core.transports.base import RemoteState, UploadFile, UploadJob
from upqueue.worker.errors import NotFound

UPLOAD_SELECT = "SELECT u.*, t.name AS target_name FROM uploads u LEFT JOIN targets t ON t.id = u.target_id"
# What clients get: the columns of core.records.UploadRecord, selected as they are (no per-row
# copy or filtering for a list of 100,000). The protocol's remote state is never among them.
PUBLIC_SELECT = (f"SELECT {upload_columns_sql('u')}"
                 " FROM uploads u LEFT JOIN targets t ON t.id = u.target_id")
BUSY_STATUSES = (Status.QUEUED.value, Status.UPLOADING.value, Status.RETRYING.value,
                 Status.PROCESSING.value)


def public_upload(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` (an upload with every column) as clients see it: core.records.UploadRecord's
    fields, whatever columns the table has gained."""
    return {name: row.get(name) for name in UPLOAD_FIELDS}


def remote_state(row: dict[str, Any]) -> RemoteState | None:
    """The upload's stored remote state (its protocol's JSON), or None."""
    text = row.get("remote_state")
    if not text:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


class UploadReads:
    """The queries. ``store`` is state.db; ``clock`` gives the time due retries are compared to."""

    def __init__(self, store: Store, clock: Any = time.time) -> None:
        self.store = store
        self.clock = clock

    # -- one upload ---------------------------------------------------------------------------
    def find(self, upload_id: int) -> dict[str, Any] | None:
        return self.store.query_one(f"{UPLOAD_SELECT} WHERE u.id = ?", (upload_id,))

    def get(self, upload_id: int) -> dict[str, Any]:
        row = self.find(upload_id)
        if row is None:
            raise NotFound("No such upload", f"There is no upload with id {upload_id}.")
        return row

    def events(self, upload_id: int) -> list[dict[str, Any]]:
        return self.store.events_for(upload_id)

    def members(self, upload_id: int) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT path, name, size, mtime_ns, inode, ctime_ns, role FROM upload_members"
            " WHERE upload_id = ? ORDER BY position", (upload_id,))

    def job(self, row: dict[str, Any], chunk_size: int | None) -> UploadJob:
        """What the transport is asked to send: the upload's file, or its dataset's members."""
        members = self.members(int(row["id"]))
        # Paths as the file system knows them (a name that is not UTF-8 is stored escaped).
        if members:
            files = tuple(UploadFile(from_stored(m["path"]), m["name"],
                                     FileFingerprint(m["size"], m["mtime_ns"], m["inode"],
                                                     m["ctime_ns"]),
                                     m["role"]) for m in members)
        else:
            files = (UploadFile(from_stored(row["path"]), row["name"],
                                FileFingerprint(row["size"], row["mtime_ns"], row["inode"],
                                                row.get("ctime_ns"))),)
        return UploadJob(int(row["id"]), row["name"], files, chunk_size)

    def target(self, target_id: int) -> dict[str, Any]:
        """A target's row with its headers and options decoded (no secret)."""
        row = self.store.query_one("SELECT * FROM targets WHERE id = ?", (target_id,))
        if row is None:
            raise NotFound("No such target", f"There is no target with id {target_id}.")
        row["headers"] = json.loads(row.get("headers") or "{}")
        row["options"] = json.loads(row.get("options") or "{}")
        return row

    # -- lists and counts ---------------------------------------------------------------------
    def listing(self, status: list[str] | None = None, since: int | None = None,
             batch_id: int | None = None, limit: int | None = None, offset: int | None = None,
             q: str | None = None, after_id: int | None = None) -> dict[str, Any]:
        where: list[str] = []
        params: list[Any] = []
        if status:
            unknown = set(status) - {s.value for s in Status}
            if unknown:
                raise UpqueueError("Unknown status", f"{', '.join(sorted(unknown))}: use one of "
                                   f"{', '.join(s.value for s in Status)}.")
            where.append(f"u.status IN ({_marks(status)})")
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
            total = self.store.query_one(f"SELECT count(*) AS n FROM uploads u{clause}", params)["n"]  # type: ignore[index]
            page = ""
            if limit is not None:
                page = f" LIMIT {int(limit)} OFFSET {int(offset or 0)}"
            # With `since`, "+u.id" lets SQLite find the few changed rows by the change_seq index
            # and sort them, rather than walk every upload in id order (17 ms a poll at 100,000).
            order = "+u.id" if since is not None else "u.id"
            rows = self.store.query(f"{PUBLIC_SELECT}{clause} ORDER BY {order}{page}", params)
            removed = []
            if since is not None:
                removed = [r["upload_id"] for r in self.store.query(
                    "SELECT upload_id FROM removed_uploads WHERE change_seq > ? ORDER BY upload_id",
                    (int(since),))]
        return {"seq": seq, "uploads": rows, "removed": removed, "total": total}

    def stats(self) -> dict[str, Any]:
        with self.store.read():
            counts = {s.value: 0 for s in Status}
            for row in self.store.query("SELECT status, count(*) AS n FROM uploads GROUP BY status"):
                counts[row["status"]] = row["n"]
            speed = self.store.query_one(
                "SELECT coalesce(sum(speed), 0) AS s FROM uploads WHERE status = ?",
                (Status.UPLOADING.value,))["s"]  # type: ignore[index]
            seq = self.store.seq
        active = counts["queued"] + counts["uploading"] + counts["retrying"] + counts["processing"]
        return {"counts": counts, "speed": float(speed), "active": active, "seq": seq}

    def with_status(self, statuses: Iterable[str]) -> list[dict[str, Any]]:
        states = list(statuses)
        return self.store.query(f"SELECT * FROM uploads WHERE status IN ({_marks(states)})", states)

    def count_due(self) -> int:
        """Uploads a runner could claim now."""
        row = self.store.query_one(
            "SELECT count(*) AS n FROM uploads WHERE status = ? OR (status = ? AND next_attempt_at <= ?)"
            " OR (status = ? AND lease_owner IS NULL)",
            (Status.QUEUED.value, Status.RETRYING.value, self.clock(), Status.PROCESSING.value))
        return int(row["n"]) if row else 0

    def next_retry_at(self) -> float | None:
        """When the earliest waiting retry falls due (the engine's one timer sleeps until then)."""
        row = self.store.query_one(
            "SELECT min(next_attempt_at) AS t FROM uploads WHERE status = ?", (Status.RETRYING.value,))
        return float(row["t"]) if row and row["t"] is not None else None

    def earliest_pause(self) -> float | None:
        row = self.store.query_one("SELECT min(paused_at) AS t FROM uploads WHERE status = ?",
                                   (Status.PAUSED.value,))
        return float(row["t"]) if row and row["t"] is not None else None

    def count_busy(self) -> int:
        """Uploads that still need the worker (queued, running, waiting to retry, processing)."""
        row = self.store.query_one(
            f"SELECT count(*) AS n FROM uploads WHERE status IN ({_marks(BUSY_STATUSES)})",
            BUSY_STATUSES)
        return int(row["n"]) if row else 0

    def unfinished_for_target(self, target_id: int, finished: Iterable[str]) -> int:
        states = list(finished)
        row = self.store.query_one(
            f"SELECT count(*) AS n FROM uploads WHERE target_id = ? AND status NOT IN ({_marks(states)})",
            (target_id, *states))
        return int(row["n"]) if row else 0

    def ids_of_target(self, target_id: int) -> list[int]:
        return [r["id"] for r in self.store.query("SELECT id FROM uploads WHERE target_id = ?",
                                                  (target_id,))]

    def created_between(self, start: str, end: str) -> list[dict[str, Any]]:
        return self.store.query(
            f"{UPLOAD_SELECT} WHERE u.created_at >= ? AND u.created_at < ? ORDER BY u.id", (start, end))

    # -- watched folders and batches ----------------------------------------------------------
    def of_watch(self, watch_id: int) -> list[dict[str, Any]]:
        """Every file a watch's uploads carried (members of datasets too), with its upload id."""
        return self.store.query(
            "SELECT id, path, size, mtime_ns, inode FROM uploads WHERE watch_id = ?"
            " UNION ALL SELECT m.upload_id AS id, m.path, m.size, m.mtime_ns, m.inode"
            " FROM upload_members m JOIN uploads u ON u.id = m.upload_id WHERE u.watch_id = ?",
            (watch_id, watch_id))

    def paths_of(self, ids: Sequence[int]) -> dict[str, int]:
        """Path -> id of the given uploads."""
        return {r["path"]: r["id"] for r in self.store.query(
            f"SELECT id, path FROM uploads WHERE id IN ({_marks(ids)})", list(ids))}

    def of_batch(self, batch_id: int, status: str | None = None,
                 from_watch: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM uploads WHERE batch_id = ?"
        params: list[Any] = [batch_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if from_watch:
            sql += " AND watch_id IS NOT NULL"
        return self.store.query(sql + " ORDER BY id", params)

    def batch_counts(self, batch_id: int, failed: Sequence[str]) -> dict[str, int]:
        row = self.store.query_one(
            "SELECT count(*) AS total, coalesce(sum(status = ?), 0) AS done,"
            f" coalesce(sum(status IN ({_marks(failed)})), 0) AS failed FROM uploads WHERE batch_id = ?",
            (Status.DONE.value, *failed, batch_id))
        return row or {"total": 0, "done": 0, "failed": 0}
