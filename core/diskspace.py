"""A full disk under the data directory: how it is recognised and what a person is told."""

from __future__ import annotations

import errno
import os
import sqlite3

from upqueue.core.errors import UpqueueError

DISK_FULL_TITLE = "Disk full"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"


def is_disk_full(exc: BaseException | None) -> bool:
    """Is ``exc`` (or an exception it was raised from) a full disk or an exhausted quota?"""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return True
        if isinstance(exc, sqlite3.OperationalError) and (
            getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(exc)
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_message(data_dir: os.PathLike[str] | str) -> str:
    return f"The disk holding upqueue's data ({data_dir}) is full: free some space."


def disk_full_error(data_dir: os.PathLike[str] | str) -> UpqueueError:
    return UpqueueError(DISK_FULL_TITLE, disk_full_message(data_dir))


def free_bytes(path: os.PathLike[str] | str) -> int:
    """Bytes an unprivileged program may still write on the file system holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
