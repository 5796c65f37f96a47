"""The domain operations behind the control API: targets, uploads, settings, export.

Every change goes through here, inside the worker process, so state.db keeps one writer. The
upload SQL and status transitions are the repository's (worker/repository/); the engine
(worker/engine.py) does the transfers. This module records what people ask for and wakes the
engine through the small :class:`EngineControl` interface it is given at construction.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any, Protocol

from core import datasets, fileinfo
from core.errors import TransferError, UpqueueError
from core.models import CANCELLABLE, PAUSABLE, Status
from core.secrets import SecretStore
from core.settings import SETTINGS
from core.store import Store, now_iso, sqlite_version_report
from core.transports import registry
from core.version import VERSION
from worker.errors import Conflict, NotFound
from worker.repository import UploadRepository
from worker.repository.reads import public_upload
from worker.service_targets import TargetOperations
from worker.upload_events import FinishedUploads

log = logging.getLogger(__name__)

# Kept importable from here for the callers that used it.
__all__ = ["Conflict", "EngineControl", "NotFound", "Service", "TransferError", "public_upload"]


class EngineControl(Protocol):
    """What the service asks of the engine (worker.engine.Engine)."""

    def kick(self) -> None: ...
    def stop(self, upload_id: int, reason: str) -> None: ...
    def is_running(self, upload_id: int) -> bool: ...
    def terminate_later(self, upload_id: int) -> None: ...
    def forget_transport(self, target_id: int) -> None: ...
    def settings_changed(self) -> None: ...
    def timers_changed(self) -> None: ...


class Service(TargetOperations):
    """Args:
        store: state.db.
        secrets: where passwords and tokens live.
        data_dir: the data directory (for health and the log path).
        repository: the upload SQL and transitions (made over ``store`` if not given).
        engine: the upload engine, or None (an API without transfers, in tests).
        finished: who hears of finished uploads (made if not given).
    """

    def __init__(self, store: Store, secrets: SecretStore, data_dir: os.PathLike[str] | str, *,
                 repository: UploadRepository | None = None, engine: EngineControl | None = None,
                 finished: FinishedUploads | None = None) -> None:
        self.store = store
        self.secrets = secrets
        self.data_dir = str(data_dir)
        self.uploads = repository or UploadRepository(store)
        self.engine = engine
        self.finished = finished or FinishedUploads(self.uploads)
        self.watches: Any = None  # worker.watcher.WatchManager, set by the runtime
        self.started_at = now_iso()
        self.on_shutdown: Callable[[], None] = lambda: None

    @property
    def finished_listeners(self) -> list[Callable[[dict[str, Any]], None]]:
        return self.finished.listeners

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
            "protocols": registry.names(),
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
        members: dict[str, list[str]] | None = None,
    ) -> dict[str, Any]:
        """Queue files; each bad path is reported with its reason and the good ones still go.

        ``members`` maps a path to its dataset's files (the path first), for targets whose
        protocol takes datasets: they travel as one upload, and a bad member rejects the set.
        All rows go in one transaction, so thousands of files cost one commit.
        """
        target_row = self.resolve_target(target)
        takes_datasets = registry.takes_datasets(target_row["protocol"])
        rows: list[tuple[str, os.stat_result, list[tuple[str, os.stat_result]]]] = []
        rejected: list[dict[str, Any]] = []
        expanded = [path for given in paths
                    for path in fileinfo.expand(fileinfo.absolute(str(given)), recursive)]
        if takes_datasets and members is None:
            # A .shp added by hand (CLI, window, a drop) brings its sidecars from its folder.
            planned, refused = datasets.plan(expanded)
            members = {d.primary: list(d.members) for d in planned if len(d.members) > 1}
            expanded = [d.primary for d in planned]
            rejected += [{"path": p, "title": e.title, "message": e.message} for p, e in refused]
        for path in expanded:
            group = (members or {}).get(path) or []
            if group and not takes_datasets:
                raise UpqueueError(
                    "Datasets not taken",
                    f"{target_row['name']} ({target_row['protocol']}) takes one file per upload; "
                    "send the dataset's files one by one.")
            try:
                st = fileinfo.check_file(path)
                checked = [(m, fileinfo.check_file(m)) for m in group] if len(group) > 1 else []
            except UpqueueError as exc:
                rejected.append({"path": path, "title": exc.title, "message": exc.message})
                continue
            rows.append((path, st, checked))
        ids = self.uploads.add(target_row, rows, batch_id=batch_id, watch_id=watch_id) if rows else []
        if not ids and rejected:
            first = rejected[0]
            error = UpqueueError(first["title"], first["message"] if len(rejected) == 1 else
                                 f"None of the {len(rejected)} paths could be added; first: {first['message']}")
            error.rejected = rejected  # type: ignore[attr-defined]
            raise error
        if ids and self.engine:
            self.engine.kick()
        return {"ids": ids, "rejected": rejected}

    # -- uploads: reading -----------------------------------------------------------------
    def list_uploads(
        self,
        status: list[str] | None = None,
        since: int | None = None,
        batch_id: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
        q: str | None = None,
    ) -> dict[str, Any]:
        return self.uploads.listing(status=status, since=since, batch_id=batch_id, limit=limit,
                                    offset=offset, q=q)

    def get_upload(self, upload_id: int) -> dict[str, Any]:
        row = self.uploads.get(upload_id)
        members = [{k: m[k] for k in ("path", "name", "size", "role")}
                   for m in self.uploads.members(upload_id)]
        return {"upload": public_upload(row), "members": members,
                "events": self.uploads.events(upload_id)}

    def stats(self) -> dict[str, Any]:
        return self.uploads.stats()

    # -- uploads: steering ----------------------------------------------------------------
    def act(self, upload_id: int, action: str) -> dict[str, Any]:
        handlers = {"pause": self._pause, "resume": self._resume, "cancel": self._cancel, "retry": self._retry}
        if action not in handlers:
            raise UpqueueError("Unknown action", f"{action!r}: use pause, resume, cancel or retry.")
        with self.store.tx():
            row = self.uploads.get(upload_id)
            handlers[action](row)
        if self.engine:
            self.engine.kick()
        return public_upload(self.uploads.get(upload_id))

    def _protocol_of(self, row: dict[str, Any]) -> str:
        return str(self.uploads.target(row["target_id"])["protocol"])

    def _pause(self, row: dict[str, Any]) -> None:
        pausable = row["status"] == Status.PROCESSING and registry.pausable_processing(self._protocol_of(row))
        self.uploads.pause(row, processing_pausable=pausable)
        if self.engine:
            self.engine.stop(row["id"], "pause")
            self.engine.timers_changed()

    def _resume(self, row: dict[str, Any]) -> None:
        self.uploads.resume(row)

    def _cancel(self, row: dict[str, Any]) -> None:
        running = bool(self.engine and self.engine.is_running(row["id"]))
        self.uploads.cancel(row)
        if self.engine:
            if running:
                self.engine.stop(row["id"], "cancel")  # the runner terminates the remote upload itself
            elif row["remote_state"] and row["status"] != Status.PROCESSING:
                self.engine.terminate_later(row["id"])
        self.finished.fire_later(row["id"])

    def _retry(self, row: dict[str, Any]) -> None:
        if datasets.is_shapefile(row["path"]) and registry.takes_datasets(self._protocol_of(row)):
            # The person may have fixed the set (a .prj added): read its members again.
            found = datasets.find_members(row["path"])
            checked = [(m, fileinfo.check_file(m)) for m in found.members]
            self.uploads.replace_members(row["id"], checked)
        self.uploads.retry(row)

    def remove_upload(self, upload_id: int) -> None:
        with self.store.tx():
            row = self.uploads.get(upload_id)
            if row["status"] in CANCELLABLE:
                self._cancel(row)
            self.uploads.remove(upload_id, row["name"])

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

    def pause_all(self) -> int:
        with self.store.tx():
            rows = self.uploads.with_status(s.value for s in PAUSABLE)
            for row in rows:
                self._pause(row)
        return len(rows)

    def resume_all(self) -> int:
        with self.store.tx():
            rows = self.uploads.with_status([Status.PAUSED.value])
            for row in rows:
                self._resume(row)
        if self.engine:
            self.engine.kick()
        return len(rows)

    def fire_finished(self, upload_id: int) -> None:
        self.finished.fire(upload_id)

    # -- settings -------------------------------------------------------------------------
    def get_settings(self) -> dict[str, Any]:
        return {"settings": self.store.settings(), "help": {k: s.help for k, s in SETTINGS.items()}}

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        self.store.set_settings(changes)
        if self.engine:
            self.engine.settings_changed()
        return {"settings": self.store.settings()}

    # -- export ---------------------------------------------------------------------------
    def export_csv(self, from_date: str, to_date: str) -> str:
        start, end = _parse_day(from_date, "from_date"), _parse_day(to_date, "to_date")
        if end < start:
            raise UpqueueError("Dates reversed", f"The range ends ({end}) before it starts ({start}).")
        rows = self.uploads.created_between(start.isoformat(), (end + timedelta(days=1)).isoformat())
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "name", "path", "size", "status", "target", "result_url", "created_at",
                         "finished_at", "attempts", "error"])
        for r in rows:
            error = ": ".join(x for x in (r["error_title"], r["error_message"]) if x)
            writer.writerow([r["id"], r["name"], r["path"], r["size"], r["status"], r["target_name"],
                             r["result_url"] or "", r["created_at"], r["finished_at"] or "", r["attempts"], error])
        return out.getvalue()

    def shutdown(self) -> None:
        self.on_shutdown()

    def close(self) -> None:
        """Let queued notifications finish (the runtime calls this as the worker stops)."""
        self.finished.close()


def _parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise UpqueueError("Invalid date", f"{name} must be a date as YYYY-MM-DD, e.g. 2026-11-23; got {text!r}.") from None

