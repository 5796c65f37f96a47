"""Watched folders in the worker: the watch records, one runner per active watch, submission of
settled files into batches, deduplication, and the periodic rescan.

``WatchManager`` is ``service.watches``. It is the :class:`worker.watch_runner.RunnerSink` of
every runner: runners find settled files, the manager decides whether each was sent before
(same path, size, mtime and inode, via the seen_files table), queues the new ones through
``Service.add_uploads`` in large chunks (one transaction each), and records them as seen. That
side is in worker/watch_sink.py (``WatchSink``, which ``WatchManager`` inherits); this module
keeps the watch records and the runners' lifecycle.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from upqueue.core.errors import UpqueueError
from upqueue.core.models import EventKind
from upqueue.core.store import now_iso
from upqueue.core.watchrules import (
    FileKey,
    WatchState,
    takes_datasets,
)
from upqueue.worker.batches import BatchBook
from upqueue.worker.errors import Conflict, NotFound
from upqueue.worker.watch_fields import validate_watch
from upqueue.worker.watch_runner import WatchRunner
from upqueue.worker.watch_sink import WatchSink
from upqueue.worker.watch_spec import WatchSpec

if TYPE_CHECKING:
    from upqueue.worker.service import Service

log = logging.getLogger(__name__)


class WatchManager(WatchSink):
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
