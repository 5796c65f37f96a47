"""What may be uploaded: checks on a path a person adds, and expanding folders."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from upqueue.core.errors import UpqueueError
from upqueue.core.pathtext import readable
from upqueue.core.walk import OnSkip, Skipped, walk


def check_file(path: str) -> os.stat_result:
    """Return the stat of a regular, readable file, or raise UpqueueError saying what is wrong."""
    shown = readable(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UpqueueError("File not found", f"{shown} does not exist. Check the path and try again.") from None
    except PermissionError:
        raise UpqueueError("Cannot read file", f"{shown} cannot be accessed: permission denied.") from None
    except OSError as exc:
        raise UpqueueError("Cannot read file", f"{shown} cannot be accessed: {exc.strerror}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise UpqueueError(
            "Is a folder",
            f"{shown} is a folder. Add the files inside it, or add it recursively "
            "(--recursive on the command line).",
        )
    if stat.S_ISFIFO(st.st_mode):
        raise UpqueueError("Not a regular file", f"{shown} is a named pipe (FIFO); only regular files can be uploaded.")
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        raise UpqueueError("Not a regular file", f"{shown} is a device; only regular files can be uploaded.")
    if stat.S_ISSOCK(st.st_mode):
        raise UpqueueError("Not a regular file", f"{shown} is a socket; only regular files can be uploaded.")
    if not stat.S_ISREG(st.st_mode):
        raise UpqueueError("Not a regular file", f"{shown} is not a regular file.")
    try:
        # access() lies for root, so really open it: that is what the upload will do.
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UpqueueError("Cannot read file", f"{shown} cannot be opened: {exc.strerror}.") from None
    return st


def expand(path: str, recursive: bool, on_skip: OnSkip | None = None) -> Iterator[str]:
    """The files a path stands for: itself, or (recursively) the files under a folder.

    Folders are walked by :func:`core.walk.walk` (the walker the window and watched folders
    use): junk names are left out silently, links leading outside the folder, links to folders,
    special files and unreadable sub-folders are told to ``on_skip`` with a reason. A path given
    by itself is taken as it is (its checks are :func:`check_file`'s).
    """
    if recursive and os.path.isdir(path):
        try:
            yield from walk(path, on_skip=on_skip)
        except OSError as exc:
            if on_skip is not None:
                on_skip(Skipped(path, "Cannot read folder",
                                f"{path} cannot be listed: {exc.strerror or exc}."))
    else:
        yield path


def absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())
