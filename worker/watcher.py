"""Watched folders in the worker: the watch records, one runner per active watch, submission of
settled files into batches, deduplication, and the periodic rescan.

``WatchManager`` is ``service.watches``. It is the :class:`worker.watch_runner.RunnerSink` of
every runner: runners find settled files, the manager decides whether each was sent before
(same path, size, mtime and inode, via the seen_files table), queues the new ones through
``Service.add_uploads`` in large chunks (one transaction each), and records them as seen.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from upqueue.core.errors import UpqueueError
from upqueue.core.humanize import plural
from upqueue.core.models import EventKind
from upqueue.core.pathtext import from_stored
from upqueue.core.store import now_iso
from upqueue.core.watchrules import (
    FileKey,
    WatchState,
    should_send,
    takes_datasets,
)
from upqueue.worker.batches import BatchBook
from upqueue.worker.errors import Conflict, NotFound
from upqueue.worker.watch_fields import validate_watch
from upqueue.worker.watch_runner import WatchRunner
from upqueue.worker.watch_spec import ReadyUnit, WatchSpec

if TYPE_CHECKING:
    from upqueue.worker.service import Service

log = logging.getLogger(__name__)

SUBMIT_CHUNK = 1000  # paths per add_uploads call: one transaction each


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class WatchManager:
    """Every watched folder of the worker.

    Args:
        service: the worker's Service.
        clock: monotonic seconds (injectable, for the rescan schedule).
        runner_class: the runner to use (tests may pass a subclass with other timings).
    """

    def __init__(
        self,
        service: Service,
        *,
        clock: Callable[[], float] = time.monotonic,
        runner_class: type[WatchRunner] = WatchRunner,
    ):
        self.service = service
        self.store = service.store
        self.clock = clock
        self.runner_class = runner_class
        self.batches = BatchBook(service, forget=self.forget)
        self._runners: dict[int, WatchRunner] = {}
        self._seen: dict[int, dict[str, FileKey]] = {}
        self._lock = threading.RLock()
        self._submit_lock = threading.Lock()
        self._last_rescan = clock()
        self._reupload_cache: tuple[float, bool] = (0.0, True)
        self.submissions = 0  # add_uploads calls made (one transaction each)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Arm every active watch (each scans its folder first) and catch up on batches."""
        rows = self.store.query("SELECT * FROM watches ORDER BY id")
        active = [r for r in rows if not r["paused"]]
        for row in active:
            self.batches.adopt(row["id"])
        self.batches.start()
        for row in rows:
            if row["paused"]:
                self._record_state(row["id"], WatchState.PAUSED, None)
            else:
                self._start_runner(row)
        self._last_rescan = self.clock()

    def stop(self) -> None:
        with self._lock:
            ids = list(self._runners)
        for watch_id in ids:
            self._stop_runner(watch_id, seal=False)
        self.batches.stop()

    def rescan_if_due(self) -> bool:
        """Rescan every active watch if ``rescan_interval`` seconds passed since the last time."""
        interval = float(self.store.setting("rescan_interval"))
        now = self.clock()
        if now - self._last_rescan < interval:
            return False
        self._last_rescan = now
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            runner.request_rescan()
        log.info("rescanning %d watched folder(s)", len(runners))
        return True

    def _start_runner(self, row: dict[str, Any]) -> None:
        watch = self._decode(row)
        try:
            datasets = takes_datasets(self.service.get_target(watch["target_id"]))
        except UpqueueError:
            datasets = False
        spec = WatchSpec.from_row(watch, datasets=datasets)
        self._load_seen(spec.id)
        runner = self.runner_class(spec, self)
        with self._lock:
            self._runners[spec.id] = runner
        runner.start()

    def _stop_runner(self, watch_id: int, *, seal: bool = True) -> None:
        with self._lock:
            runner = self._runners.pop(watch_id, None)
        if runner is not None:
            runner.stop()
        if seal:
            self.batches.seal(watch_id)

    # -- records --------------------------------------------------------------------------------
    @staticmethod
    def _decode(row: dict[str, Any]) -> dict[str, Any]:
        watch = dict(row)
        watch["include"] = json.loads(watch.get("include") or "[]")
        watch["exclude"] = json.loads(watch.get("exclude") or "[]")
        for flag in ("recursive", "polling", "paused"):
            watch[flag] = bool(watch[flag])
        return watch

    def _row(self, watch_id: int) -> dict[str, Any]:
        row = self.store.query_one("SELECT * FROM watches WHERE id = ?", (watch_id,))
        if row is None:
            raise NotFound("No such watch", f"There is no watched folder with id {watch_id}.")
        return row

    def _public(self, row: dict[str, Any]) -> dict[str, Any]:
        watch = self._decode(row)
        target = self.store.query_one(
            "SELECT name FROM targets WHERE id = ?", (watch["target_id"],)
        )
        watch["target_name"] = target["name"] if target else None
        with self._lock:
            runner = self._runners.get(watch["id"])
        watch["pending"] = runner.pending_count if runner else 0
        watch["sent"] = self.store.query(
            "SELECT count(*) AS n FROM seen_files WHERE watch_id = ? AND upload_id IS NOT NULL",
            (watch["id"],),
        )[0]["n"]
        latest = self.batches.listing(watch["id"], limit=1)
        watch["batch"] = latest[0] if latest else None
        return watch

    def listing(self) -> dict[str, Any]:
        rows = self.store.query("SELECT * FROM watches ORDER BY id")
        return {"watches": [self._public(r) for r in rows], "seq": self.store.seq}

    def get(self, watch_id: int) -> dict[str, Any]:
        return self._public(self._row(watch_id))

    def add(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a watch and start watching (its folder is scanned at once)."""
        clean = self._validate(fields, current=None)
        stamp = now_iso()
        with self.store.tx():
            self._check_unique(clean["path"], clean["target_id"], None)
            cur = self.store.execute(
                "INSERT INTO watches (path, target_id, recursive, include, exclude, settle_seconds, after_upload,"
                " move_to, polling, paused, state, created_at, updated_at, change_seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *_columns(clean),
                    (WatchState.PAUSED if clean["paused"] else WatchState.STARTING).value,
                    stamp,
                    stamp,
                    self.store.next_seq(),
                ),
            )
            watch_id = int(cur.lastrowid or 0)  # an INSERT always sets it
            self.store.add_event(
                EventKind.WATCH, f"Watching {clean['path']}", watch_id=watch_id, title="Watch added"
            )
        row = self._row(watch_id)
        if not clean["paused"]:
            self._start_runner(row)
        return self.get(watch_id)

    def update(self, watch_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        current = self._decode(self._row(watch_id))
        clean = self._validate(fields, current=current)
        with self.store.tx():
            self._check_unique(clean["path"], clean["target_id"], watch_id)
            self.store.execute(
                "UPDATE watches SET path = ?, target_id = ?, recursive = ?, include = ?, exclude = ?,"
                " settle_seconds = ?, after_upload = ?, move_to = ?, polling = ?, paused = ?, updated_at = ?,"
                " change_seq = ? WHERE id = ?",
                (
                    *_columns(clean),
                    now_iso(),
                    self.store.next_seq(),
                    watch_id,
                ),
            )
            if clean["path"] != current["path"]:
                self.store.execute("DELETE FROM seen_files WHERE watch_id = ?", (watch_id,))
                self._seen.pop(watch_id, None)
        self._stop_runner(watch_id)
        if clean["paused"]:
            self._record_state(watch_id, WatchState.PAUSED, None)
        else:
            self._start_runner(self._row(watch_id))
        return self.get(watch_id)

    def remove(self, watch_id: int) -> None:
        row = self._row(watch_id)
        self._stop_runner(watch_id)
        with self.store.tx():
            self.store.execute("DELETE FROM watches WHERE id = ?", (watch_id,))
            self.store.execute("DELETE FROM seen_files WHERE watch_id = ?", (watch_id,))
            self.store.next_seq()  # so a window polling the counter notices
            self.store.add_event(
                EventKind.WATCH,
                f"Stopped watching {row['path']}",
                watch_id=watch_id,
                title="Watch removed",
            )
        with self._lock:
            self._seen.pop(watch_id, None)

    def pause(self, watch_id: int) -> dict[str, Any]:
        return self.update(watch_id, {"paused": True})

    def resume(self, watch_id: int) -> dict[str, Any]:
        return self.update(watch_id, {"paused": False})

    def _check_unique(self, path: str, target_id: int, watch_id: int | None) -> None:
        other = self.store.query_one(
            "SELECT id FROM watches WHERE path = ? AND target_id = ? AND id IS NOT ?",
            (path, target_id, watch_id),
        )
        if other is not None:
            raise Conflict(
                "Already watched",
                f"{path} is already watched for this target (watch {other['id']}).",
            )

    def _validate(self, fields: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        return validate_watch(fields, current, self.service.resolve_target)

    # -- the runners' sink ------------------------------------------------------------------------
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


def _columns(clean: dict[str, Any]) -> tuple[Any, ...]:
    """A checked watch's settings in the column order of the INSERT and the UPDATE."""
    return (
        clean["path"],
        clean["target_id"],
        clean["recursive"],
        json.dumps(clean["include"]),
        json.dumps(clean["exclude"]),
        clean["settle_seconds"],
        clean["after_upload"],
        clean["move_to"],
        clean["polling"],
        clean["paused"],
    )
