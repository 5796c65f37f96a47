"""The WatchManager's side as every runner's :class:`worker.watch_spec.RunnerSink`: what each
watch already sent (the seen_files table and its in-memory copy), queueing settled files into
the watch's open batch in large chunks, refusing incomplete sets, and recording a watch's state.

Separate from worker/watcher.py, which keeps the watch records and the runners' lifecycle: this
is the path of a settled file from a runner to the queue. Runners call it from their threads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from upqueue.core.humanize import plural
from upqueue.core.models import EventKind
from upqueue.core.pathtext import from_stored
from upqueue.core.store import now_iso
from upqueue.core.watchrules import FileKey, WatchState, should_send
from upqueue.worker.watch_spec import ReadyUnit

if TYPE_CHECKING:
    from upqueue.core.store import Store
    from upqueue.worker.batches import BatchBook
    from upqueue.worker.service import Service

# The watch manager's logger: these are its messages.
log = logging.getLogger("upqueue.worker.watcher")

SUBMIT_CHUNK = 1000  # paths per add_uploads call: one transaction each


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class WatchSink:
    """Mixed into WatchManager; uses its ``service``, ``store``, ``batches``, its locks, the
    seen files, the setting cache, the ``submissions`` counter and ``_row``."""

    service: Service
    store: Store
    batches: BatchBook
    _lock: threading.RLock  # over _seen and the runners
    _submit_lock: threading.Lock  # one submission at a time
    _seen: dict[int, dict[str, FileKey]]  # watch id -> path -> the key last sent
    _reupload_cache: tuple[float, bool]
    submissions: int  # add_uploads calls made (one transaction each)

    def _row(self, watch_id: int) -> dict[str, Any]:
        """WatchManager's: the watch's row (raises NotFound)."""
        raise NotImplementedError

    def _load_seen(self, watch_id: int) -> None:
        """What the watch already sent: seen_files, plus uploads of the watch whose seen row a
        killed worker may not have written yet (so nothing is ever sent twice)."""
        seen: dict[str, tuple[int, FileKey]] = {}
        for r in self.store.query(
            "SELECT path, size, mtime_ns, inode, upload_id FROM seen_files WHERE watch_id = ?",
            (watch_id,),
        ):
            seen[from_stored(r["path"])] = (
                r["upload_id"] or 0,
                FileKey(r["size"], r["mtime_ns"], r["inode"]),
            )
        for r in self.service.uploads.of_watch(watch_id):
            path = from_stored(r["path"])  # the name the folder scan sees
            if path not in seen or seen[path][0] < r["id"]:
                seen[path] = (r["id"], FileKey(r["size"], r["mtime_ns"], r["inode"]))
        with self._lock:
            self._seen[watch_id] = {path: key for path, (_, key) in seen.items()}

    def _reupload_changed(self) -> bool:
        at, value = self._reupload_cache
        if time.monotonic() - at > 1.0:
            value = bool(self.store.setting("reupload_changed_files"))
            self._reupload_cache = (time.monotonic(), value)
        return value

    def is_new(self, watch_id: int, path: str, key: FileKey) -> bool:
        with self._lock:
            seen = self._seen.get(watch_id, {}).get(path)
        return should_send(seen, key, self._reupload_changed())

    def forget(self, watch_id: int, path: str) -> None:
        """The file left ``path`` after its upload; a new file there is a new file."""
        with self._lock:
            self._seen.get(watch_id, {}).pop(path, None)
        with self.store.tx():
            self.store.execute(
                "DELETE FROM seen_files WHERE watch_id = ? AND path = ?", (watch_id, path)
            )

    def submit(self, watch_id: int, units: list[ReadyUnit]) -> None:
        """Queue settled files into the watch's open batch and record them as sent."""
        with self._submit_lock:
            row = self._row(watch_id)
            batch_id = self.batches.collecting_batch(watch_id)
            for chunk in _chunks(units, SUBMIT_CHUNK):
                self._submit_chunk(row, batch_id, chunk)
            self.batches.request_refresh(batch_id)

    def _submit_chunk(self, row: dict[str, Any], batch_id: int, chunk: list[ReadyUnit]) -> None:
        watch_id = int(row["id"])
        paths = [unit.primary for unit in chunk]
        # A dataset (a shapefile with its sidecars) goes as one upload carrying every member.
        members = {u.primary: list(u.files) for u in chunk if len(u.files) > 1}
        result = self.service.add_uploads(
            paths,
            row["target_id"],
            batch_id=batch_id,
            watch_id=watch_id,
            force=True,
            members=members or None,
        )
        self.submissions += 1
        ids = result.ids
        uploaded = {item.path: item.id for item in result.added}
        rejected = [asdict(item) for item in result.rejected]
        stamp = now_iso()
        # Never mark a member as seen that no upload carries: a refused primary is recorded
        # (the batch counts it), but the rest of its set is not, so it is looked at again.
        sent = {
            unit.primary: unit.files
            if unit.primary in uploaded
            else {unit.primary: unit.files[unit.primary]}
            for unit in chunk
        }
        with self.store.tx():
            for unit in chunk:
                upload_id = uploaded.get(unit.primary)
                for member, key in sent[unit.primary].items():
                    self.store.execute(
                        "INSERT OR REPLACE INTO seen_files (watch_id, path, size, mtime_ns, inode, upload_id, at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (watch_id, member, key.size, key.mtime_ns, key.inode, upload_id, stamp),
                    )
            self.batches.add_rejects(batch_id, rejected)
            refused = f"; {len(rejected)} refused" if rejected else ""
            self.store.add_event(
                EventKind.WATCH,
                f"{plural(len(ids), 'file')} from {row['path']} queued in batch {batch_id}{refused}",
                watch_id=watch_id,
                batch_id=batch_id,
                title="Files queued",
            )
        with self._lock:
            seen = self._seen.setdefault(watch_id, {})
            for unit in chunk:
                seen.update(sent[unit.primary])

    def refuse(self, watch_id: int, path: str, title: str, message: str) -> None:
        """Record a set the folder's runner gave up waiting for as refused in the open batch
        (its files are not marked as sent: when the missing file comes, the set goes)."""
        with self._submit_lock:
            row = self._row(watch_id)
            batch_id = self.batches.collecting_batch(watch_id)
            with self.store.tx():
                self.batches.add_rejects(
                    batch_id, [{"path": path, "title": title, "message": message}]
                )
                self.store.add_event(
                    EventKind.WATCH,
                    f"{os.path.basename(path)} from {row['path']} refused: {message}",
                    watch_id=watch_id,
                    batch_id=batch_id,
                    title=title,
                )
            self.batches.request_refresh(batch_id)

    def round_finished(self, watch_id: int) -> None:
        self.batches.seal(watch_id)

    def set_state(self, watch_id: int, state: WatchState, message: str | None) -> None:
        if state is WatchState.UNAVAILABLE:
            self.batches.seal(watch_id)  # nothing more can join until the folder is back
        self._record_state(watch_id, state, message)

    def _record_state(self, watch_id: int, state: WatchState, message: str | None) -> None:
        with self.store.tx():
            row = self.store.query_one(
                "SELECT path, state, state_message FROM watches WHERE id = ?", (watch_id,)
            )
            if row is None or (row["state"], row["state_message"]) == (state.value, message):
                return
            self.store.execute(
                "UPDATE watches SET state = ?, state_message = ?, updated_at = ?, change_seq = ? WHERE id = ?",
                (state.value, message, now_iso(), self.store.next_seq(), watch_id),
            )
            if state is WatchState.UNAVAILABLE:
                title, text = (
                    "Watched folder unavailable",
                    message or f"{row['path']} cannot be watched.",
                )
            elif state is WatchState.WATCHING and row["state"] == WatchState.UNAVAILABLE.value:
                title, text = "Watching again", f"{row['path']} is back; watching it again."
            else:
                title, text = f"Watch {state.value}", f"{row['path']}: {state.value}"
            self.store.add_event(
                EventKind.WATCH, text, watch_id=watch_id, status=state.value, title=title
            )
        if state is WatchState.UNAVAILABLE:
            log.warning("watch %s: %s", watch_id, message)
