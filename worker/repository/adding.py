"""Adding uploads (a file, or a dataset with its members) and reading a dataset's members again."""

from __future__ import annotations

import os
from typing import Any

from upqueue.core.models import EventKind, Status
from upqueue.core.pathtext import readable
from upqueue.core.store import now_iso
from upqueue.worker.repository.status import StatusWrites


class UploadAdding(StatusWrites):
    """Uploads into the queue, one transaction for thousands."""

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


def dataset_name(path: str, members: int) -> str:
    """What a row is called: the file's name, or ``roads.shp + 4 files`` for a dataset."""
    name = readable(os.path.basename(path))
    others = members - 1
    return name if others <= 0 else f"{name} + {others} file{'s' if others > 1 else ''}"
