"""Watches the disk holding the data directory: notices it is full, and that space came back.

A full disk must not kill running uploads nor leave their rows "uploading": the engine stops
them as "waiting for disk space" and starts them again by itself within a second or so of
space returning. To be able to write that down when the disk is full, a small reserve file
is kept in the data directory and given up at that moment (the ballast trick of databases).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from upqueue.core.diskspace import free_bytes, is_disk_full

log = logging.getLogger(__name__)

RESERVE_FILE = "disk-reserve"
RESERVE_BYTES = 2 << 20
FULL_BELOW = 1 << 20  # free bytes under which the disk counts as full
RESUME_AT = RESERVE_BYTES + (2 << 20)  # room for the reserve again, and then some
POLL_SECONDS = 0.5


class DiskGuard:
    """Args:
        data_dir: the data directory.
        on_full: called (on the guard's thread, or the reporter's) when the disk became full.
        on_space: called on the guard's thread when space came back.
    """

    def __init__(self, data_dir: os.PathLike[str] | str, on_full: Callable[[], None],
                 on_space: Callable[[], None]) -> None:
        self.data_dir = Path(data_dir)
        self.reserve = self.data_dir / RESERVE_FILE
        self._on_full, self._on_space = on_full, on_space
        self._full = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def full(self) -> bool:
        return self._full

    def start(self) -> None:
        if self._free() < FULL_BELOW:
            self._enter_full()
        else:
            self._make_reserve()
        self._thread = threading.Thread(target=self._loop, name="disk-guard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def report(self, exc: BaseException) -> bool:
        """Tell the guard about a failed write; True when it was a full disk."""
        if not is_disk_full(exc):
            return False
        self._enter_full()
        return True

    # -- internals --------------------------------------------------------------------------
    def _free(self) -> int:
        try:
            return free_bytes(self.data_dir)
        except OSError:
            return RESUME_AT  # cannot tell: do not stop uploads on a guess

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                free = self._free()
                if not self._full and free < FULL_BELOW:
                    self._enter_full()
                elif self._full and free >= RESUME_AT:
                    self._leave_full()
            except Exception:  # the guard must outlive anything it calls
                log.exception("disk guard check failed")

    def _enter_full(self) -> None:
        with self._lock:
            if self._full:
                return
            self._full = True
        try:
            self.reserve.unlink(missing_ok=True)  # room to record what stopped, and why
        except OSError:
            pass
        log.warning("the disk holding %s is full; uploads wait for space", self.data_dir)
        self._on_full()

    def _leave_full(self) -> None:
        self._make_reserve()
        with self._lock:
            self._full = False
        log.info("disk space is back in %s; uploads resume", self.data_dir)
        self._on_space()

    def _make_reserve(self) -> None:
        try:
            fd = os.open(self.reserve, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except (OSError, AttributeError):  # no room, or no fallocate here: go without
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
        finally:
            os.close(fd)
