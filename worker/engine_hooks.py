"""What connects one running upload to the worker: its stop flag, and the hooks its transport
calls (progress, remote state, events, the processing stage, bandwidth, stops)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from upqueue.core.bandwidth import TokenBucket
from upqueue.core.errors import TransferStopped
from upqueue.core.progress import SpeedMeter
from upqueue.core.transports.base import RemoteState
from upqueue.worker.repository import UploadRepository
from upqueue.worker.repository.reads import remote_state

PROGRESS_INTERVAL = 0.25  # seconds between progress writes: smooth bars, few commits
DISK_FULL = "disk_full"  # the stop reason of an upload that waits for disk space


class Control:
    """The flag a running upload checks between blocks: set by pause, cancel or shutdown."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.wake = threading.Event()

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.wake.set()

    def check(self) -> None:
        if self.reason is not None:
            raise TransferStopped(self.reason)


class UploadHooks:
    """The send and processing hooks for one upload (see core.transports.base.SendHooks).

    Args:
        upload: the upload's row as it was claimed.
        control: its stop flag.
        repository: where progress and state go.
        bandwidth: the shared limit.
        lease_until: gives the lease expiry to write with each progress write.
        write_failed: told of an exception from a write of state.db; True when it means the
            disk is full, and the upload stops as waiting for disk space.
    """

    def __init__(self, upload: dict[str, Any], control: Control, repository: UploadRepository,
                 bandwidth: TokenBucket, lease_until: Callable[[], float],
                 write_failed: Callable[[Exception], bool] = lambda exc: False) -> None:
        self.upload, self.control = upload, control
        self._repository, self._bandwidth, self._lease_until = repository, bandwidth, lease_until
        self._write_failed = write_failed
        self.meter = SpeedMeter()
        self.offset = int(upload["offset"])
        self.remote_state: RemoteState | None = remote_state(upload)
        self._result_url: str | None = upload.get("result_url")
        self.processing = False  # set once the server processes the upload
        # The claim just wrote the row: the first progress write waits an interval, so a small
        # file goes from claimed to done without one.
        self._last_write = time.monotonic()
        self._written = self.offset  # the offset state.db holds: an unchanged one is not rewritten
        # Progress that resets the retry count is what the server confirmed storing, never bytes
        # read from the file: a PATCH answered 503 after its whole body moved nothing.
        self.baseline = self.confirmed = int(upload.get("confirmed_offset") or 0)

    @property
    def progressed(self) -> bool:
        return self.confirmed > self.baseline

    def _write(self, write: Callable[..., None], *args: Any) -> None:
        """A write of state.db from inside the request body: a full disk stops the upload
        as "waiting for disk space" (TransferStopped), not as a crash of the transfer."""
        try:
            write(*args)
        except Exception as exc:
            if self._write_failed(exc):
                raise TransferStopped(DISK_FULL) from exc
            raise

    def check_stop(self) -> None:
        self.control.check()

    def throttle(self, nbytes: int) -> None:
        self._bandwidth.take(nbytes, self.control.check)

    def block_hint(self) -> int | None:
        return self._bandwidth.block_hint()

    def on_progress(self, offset: int) -> None:
        self.offset = offset
        speed = self.meter.update(offset)
        now = time.monotonic()
        if offset != self._written and now - self._last_write >= PROGRESS_INTERVAL:
            self._last_write, self._written = now, offset
            self._write(self._repository.save_progress, self.upload["id"], offset, speed,
                        self._lease_until())

    def on_confirmed(self, offset: int) -> None:
        self.confirmed = max(self.confirmed, offset)

    def on_remote_state(self, state: RemoteState | None, result_url: str | None = None) -> None:
        announce = bool(result_url) and result_url != self._result_url
        if state is None or (result_url and self._result_url and result_url != self._result_url):
            # Another server upload: what the old one held is not progress of this one.
            self.baseline = self.confirmed = 0
        self.remote_state, self._result_url = state, result_url
        self._write(self._repository.save_remote_state, self.upload["id"], state, result_url,
                    self.confirmed, announce)

    def on_event(self, kind: str, message: str) -> None:
        self._repository.add_event(self.upload["id"], kind, message)

    def on_processing(self, progress: float | None, message: str | None) -> None:
        if progress is not None:
            progress = max(0.0, min(100.0, float(progress)))
        self._repository.save_processing(self.upload["id"], progress, message, self._lease_until())

    def wait(self, seconds: float) -> None:
        self.control.check()
        self.control.wake.wait(max(0.0, seconds))
        self.control.check()
