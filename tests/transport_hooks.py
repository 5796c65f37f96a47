"""Hooks and jobs for transport-level tests (no engine): they record what a transport reports
and can stop it once a given number of bytes went out, as a pause or a kill would."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from core.errors import TransferStopped
from core.filereader import fingerprint
from core.transports.base import RemoteState, UploadFile, UploadJob


def job_for(*paths: Path, upload_id: int = 1) -> UploadJob:
    files = tuple(
        UploadFile(str(p), p.name, fingerprint(p), "primary" if i == 0 else "member")
        for i, p in enumerate(paths)
    )
    return UploadJob(upload_id=upload_id, name=paths[0].name, files=files)


class RecordingHooks:
    """SendHooks that keep everything; ``stop_at`` bytes of progress raise TransferStopped."""

    def __init__(self, stop_at: int | None = None, *, stop_on_state: bool = False) -> None:
        self.stop_at = stop_at
        self.stop_on_state = stop_on_state
        self.progress: list[int] = []
        self.states: list[RemoteState | None] = []
        self.events: list[tuple[str, str]] = []
        self.result_urls: list[str | None] = []
        self.throttled = 0
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def state(self) -> RemoteState | None:
        return self.states[-1] if self.states else None

    def check_stop(self) -> None:
        if self._stopped:
            raise TransferStopped("paused")

    def throttle(self, nbytes: int) -> None:
        with self._lock:
            self.throttled += nbytes

    def on_progress(self, offset: int) -> None:
        self.progress.append(offset)
        if self.stop_at is not None and offset >= self.stop_at:
            self._stopped = True

    def on_remote_state(self, state: RemoteState | None, result_url: str | None = None) -> None:
        self.states.append(state)
        self.result_urls.append(result_url)
        # What a state.db row would hold: a JSON round trip, not the live dict.
        import json

        self.states[-1] = json.loads(json.dumps(state)) if state is not None else None
        if self.stop_on_state:
            self._stopped = True

    def on_event(self, kind: str, message: str) -> None:
        self.events.append((kind, message))


SETTINGS: dict[str, Any] = {"connect_timeout": 5.0, "stall_timeout": 10.0, "read_timeout": 30.0}
