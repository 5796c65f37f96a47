"""The file-system side of a watched folder: is it there and readable, which observer watches
it, what a file's key is, and the messages a person sees when a folder cannot be watched."""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from upqueue.core.watchrules import FileKey

log = logging.getLogger(__name__)

# Opened and closed-without-writing events are noise here (the engine reading a file makes them).
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]


class FolderUnavailable(Exception):
    """The folder cannot be watched now; the message says why, for a person."""


def probe(root: str) -> tuple[int, int]:
    """Check that ``root`` is there, a folder, and readable; return its (device, inode).

    Raises:
        FolderUnavailable: with a message saying what is wrong.
        OSError: for other failures (see :func:`describe`).
    """
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise FolderUnavailable(
            f"The folder {root} is not there (deleted, renamed, or its drive is not mounted)."
        ) from None
    except PermissionError:
        raise FolderUnavailable(
            f"The folder {root} cannot be reached (permission denied on the way to it)."
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise FolderUnavailable(
            f"{root} is no longer a folder; put the folder back or remove the watch."
        )
    try:
        # access() says yes to root whatever the mode; listing is what the scan will do.
        with os.scandir(root) as entries:
            next(entries, None)
    except PermissionError:
        raise FolderUnavailable(
            f"The folder {root} cannot be read (permission denied); give upqueue read access."
        ) from None
    return (st.st_dev, st.st_ino)


def describe(root: str, error: OSError) -> str:
    """A person's words for an OSError met while watching ``root``."""
    if error.errno == errno.ENOSPC:  # from inotify_add_watch
        return (
            f"Cannot watch {root}: the system's limit of watched folders is reached. "
            "Raise fs.inotify.max_user_watches, or choose polling for this watch."
        )
    if error.errno == errno.EMFILE:
        return (
            f"Cannot watch {root}: too many watches or open files. Remove some watches, or "
            "raise fs.inotify.max_user_instances."
        )
    return f"Cannot watch {root}: {error.strerror or error}."


def make_observer(polling: bool, interval: float) -> BaseObserver:
    """The observer for one watch: native events, or polling every ``interval`` seconds."""
    if polling:
        return PollingObserver(timeout=interval)
    try:
        # Full events tell a file renamed in from outside (complete) from one being created.
        return Observer(generate_full_events=True)  # type: ignore[call-arg]
    except TypeError:  # observers other than inotify have no such option
        return Observer()


def stop_observer(observer: BaseObserver) -> None:
    """Stop an observer and wait a moment for its threads; never raises."""
    try:
        observer.stop()
        if observer.is_alive() and threading.current_thread() is not observer:
            observer.join(timeout=2.0)
    except Exception:
        log.exception("could not stop a watch observer")


def file_key(path: str, root_real: str, *, check_links: bool = True) -> FileKey | None:
    """The key of the regular file at ``path``, or None if it is not one, or is gone, or
    leads out of the watched folder whose real path is ``root_real``.

    Symbolic links (of the file, or of a folder on its way) are resolved and must stay inside:
    a link is never a way to send what lies outside the folder a person chose. Resolving costs
    a system call per path component, so the settle loop, which re-reads the key of every
    waiting file, passes ``check_links=False``; the check runs when a file is first seen and
    again just before it is submitted.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if not check_links:
        return FileKey(st.st_size, st.st_mtime_ns, st.st_ino)
    real = os.path.realpath(path)
    if not real.startswith(root_real.rstrip(os.sep) + os.sep):
        log.info("%s leads outside the watched folder %s; not followed", path, root_real)
        return None
    return FileKey(st.st_size, st.st_mtime_ns, st.st_ino)


def can_open(path: str) -> bool:
    """Can the file be opened for reading now? (A writer's exclusive lock shows here on
    Windows; elsewhere an unreadable file does.)"""
    try:
        with open(path, "rb") as handle:
            handle.read(0)
        return True
    except OSError:
        return False
