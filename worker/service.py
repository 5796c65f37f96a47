"""The domain operations behind the control API: targets, uploads, settings, export.

Every change goes through here, inside the worker process, so state.db keeps one writer. The
upload SQL and status transitions are the repository's (worker/repository/); the engine
(worker/engine.py) does the transfers. This module records what people ask for and wakes the
engine through the small :class:`EngineControl` interface it is given at construction. Target
operations are in worker/service_targets.py and steering uploads (pause, resume, cancel, retry,
remove) in worker/service_steering.py; ``Service`` inherits both.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from upqueue.core import datasets, fileinfo
from upqueue.core.errors import TransferError, UpqueueError
from upqueue.core.humanize import plural
from upqueue.core.pathtext import from_stored, path_problem, readable
from upqueue.core.records import EXPORT_HEADER, Added, AddResult, Rejected, export_row
from upqueue.core.secrets import SecretStore
from upqueue.core.settings import SETTINGS
from upqueue.core.store import Store, now_iso, sqlite_version_report
from upqueue.core.transports import registry
from upqueue.core.version import VERSION
from upqueue.core.walk import Skipped
from upqueue.worker.errors import Conflict, NotFound
from upqueue.worker.repository import UploadRepository
from upqueue.worker.repository.reads import public_upload
from upqueue.worker.service_steering import UploadSteering
from upqueue.worker.service_targets import TargetOperations
from upqueue.worker.upload_events import FinishedUploads

if TYPE_CHECKING:
    from upqueue.worker.watcher import WatchManager

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


class Service(TargetOperations, UploadSteering):
    """Args:
    store: state.db.
    secrets: where passwords and tokens live.
    data_dir: the data directory (for health and the log path).
    repository: the upload SQL and transitions (made over ``store`` if not given).
    engine: the upload engine, or None (an API without transfers, in tests).
    finished: who hears of finished uploads (made if not given).
    """

    def __init__(
        self,
        store: Store,
        secrets: SecretStore,
        data_dir: os.PathLike[str] | str,
        *,
        repository: UploadRepository | None = None,
        engine: EngineControl | None = None,
        finished: FinishedUploads | None = None,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.data_dir = str(data_dir)
        self.uploads = repository or UploadRepository(store)
        self.engine = engine
        self.finished = finished or FinishedUploads(self.uploads)
        self.watches: WatchManager | None = None  # set by the runtime
        self.started_at = now_iso()
        self.on_shutdown: Callable[[], None] = lambda: None
        # Bumped when targets, settings or watches change (by any client): stats carry it, so
        # every open window reloads them, not only the one whose dialog made the change.
        self.config_version = 0

    def config_changed(self) -> None:
        self.config_version += 1
        # Moving the change counter wakes the windows' long polls, which bring the new "config"
        # with their stats; without it they would hear of the change only when an upload moved.
        with self.store.tx():
            self.store.next_seq()

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
            # True while the disk holding the data directory is full (uploads wait for space).
            "disk_full": bool(getattr(getattr(self.engine, "disk", None), "full", False)),
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
        force: bool = False,
    ) -> AddResult:
        """Queue files: what was added (ids and paths) and what was rejected (with reasons).

        Partial success is the answer, not an error, and so is "nothing added"; only an unknown
        target raises. Folders given with ``recursive`` are walked by :func:`core.walk.walk`
        (the window's and the watcher's walker); what it leaves out for a reason other than its
        name is rejected with that reason. A file queued or uploaded to the same target before
        (same path, size and modification time) is rejected with reason "duplicate" unless
        ``force``. ``members`` maps a path to its dataset's files (the path first), for targets
        whose protocol takes datasets: they travel as one upload, and a bad member rejects the
        set. All rows go in one transaction, so thousands of files cost one commit.
        """
        target_row = self.resolve_target(target)
        takes_datasets = registry.takes_datasets(target_row["protocol"])
        # A name that is not UTF-8 may come as its stored form (from `ls`) or escaped.
        texts = [from_stored(os.path.expanduser(str(given))) for given in paths]
        invalid = [(text, problem) for text in texts if (problem := path_problem(text))]
        if invalid:
            # Malformed input, not a file that cannot be sent: the request is refused (400).
            errors = []
            for text, problem in invalid:
                shown = readable(text).replace("\x00", "\\0")
                errors.append(
                    {"path": shown, "title": "Invalid path", "message": f"{shown} {problem}."}
                )
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            error = UpqueueError("Invalid path", errors[0]["message"] + more)
            error.errors = errors  # type: ignore[attr-defined]
            raise error
        rows: list[tuple[str, os.stat_result, list[tuple[str, os.stat_result]]]] = []
        rejected: list[Rejected] = []

        def skipped(entry: Skipped) -> None:
            rejected.append(Rejected(entry.path, entry.title, entry.message))

        expanded = [path for text in texts for path in fileinfo.expand(text, recursive, skipped)]
        if takes_datasets and members is None:
            # A .shp added by hand (CLI, window, a drop) brings its sidecars from its folder.
            planned, refused = datasets.plan(expanded)
            members = {d.primary: list(d.members) for d in planned if len(d.members) > 1}
            expanded = [d.primary for d in planned]
            rejected += [Rejected(p, e.title, e.message) for p, e in refused]
        for path in expanded:
            group = [from_stored(m) for m in (members or {}).get(path) or []]
            if group and not takes_datasets:
                raise UpqueueError(
                    "Datasets not taken",
                    f"{target_row['name']} ({target_row['protocol']}) takes one file per upload; "
                    "send the dataset's files one by one.",
                )
            try:
                st = fileinfo.check_file(path)
                checked = [(m, fileinfo.check_file(m)) for m in group] if len(group) > 1 else []
            except UpqueueError as exc:
                rejected.append(Rejected(path, exc.title, exc.message))
                continue
            rows.append((path, st, checked))
        ids = (
            self.uploads.add(target_row, rows, batch_id=batch_id, watch_id=watch_id, force=force)
            if rows
            else []
        )
        added: list[Added] = []
        for upload_id, (path, _st, _members) in zip(ids, rows, strict=True):
            if upload_id is None:
                rejected.append(
                    Rejected(
                        path,
                        "Already added",
                        f"{readable(os.path.basename(path))} is already queued for or uploaded "
                        f"to {target_row['name']} (same size and modification time); "
                        "add it with --force to upload it again.",
                        reason="duplicate",
                    )
                )
            else:
                added.append(Added(upload_id, path))
        if added and self.engine:
            self.engine.kick()
        return AddResult(tuple(added), tuple(rejected))

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
        return self.uploads.listing(
            status=status,
            since=since,
            batch_id=batch_id,
            limit=limit,
            offset=offset,
            q=q,
            after_id=after_id,
        )

    def get_upload(self, upload_id: int) -> dict[str, Any]:
        row = self.uploads.get(upload_id)
        members = [
            {k: m[k] for k in ("path", "name", "size", "role")}
            for m in self.uploads.members(upload_id)
        ]
        return {
            "upload": public_upload(row),
            "members": members,
            "events": self.uploads.events(upload_id),
        }

    def stats(self) -> dict[str, Any]:
        return {**self.uploads.stats(), "config": self.config_version}

    # -- uploads: finished ----------------------------------------------------------------
    def fire_finished(self, upload_id: int) -> None:
        self.finished.fire(upload_id)

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
            raise UpqueueError(
                "Dates reversed", f"The range ends ({end}) before it starts ({start})."
            )
        rows = self.uploads.created_between(
            start.isoformat(), (end + timedelta(days=1)).isoformat()
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
        self.finished.close()


def nothing_added_message(paths: list[str], recursive: bool, rejected: int) -> str:
    """What to say when a request to add files queued none: why, as far as it is known."""
    if rejected:
        return f"Nothing was added: {plural(rejected, 'path')} rejected, each with its reason."
    if not paths:
        return "Nothing was added: no paths were given; name at least one file or folder."
    folders = [readable(p) for p in paths if os.path.isdir(from_stored(p))]
    if folders and recursive:
        return (
            f"Nothing was added: no files were found in {', '.join(folders)} (hidden and "
            "temporary files, and links leading out of the folder, are left out)."
        )
    return "Nothing was added: no files were found among the paths given."


def _parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise UpqueueError(
            "Invalid date", f"{name} must be a date as YYYY-MM-DD, e.g. 2026-11-23; got {text!r}."
        ) from None
