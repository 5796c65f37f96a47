"""What may be uploaded: checks on a path a person adds, and expanding folders."""

from __future__ import annotations

import fnmatch
import os
import stat
from pathlib import Path
from typing import Iterator

from core.errors import UpqueueError
from core.pathtext import readable

# Names a person does not mean to send when they add a folder: editors' and browsers'
# partial or lock files, OS metadata, hidden files.
SKIPPED_NAMES = ("*.part", "*.tmp", "*.crdownload", "~$*", ".~lock*", ".DS_Store", "Thumbs.db", ".*")


def is_skipped_name(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SKIPPED_NAMES)


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


def expand(path: str, recursive: bool) -> Iterator[str]:
    """The files a path stands for: itself, or (recursively) the files under a folder.

    Hidden and temporary names are skipped inside folders. Links are never a way out of the
    folder the person chose, the rule of watched folders (worker/watch_folder.file_key):
    symbolic links to folders are not followed, and a file reached through a link must
    resolve to a path inside the folder.
    """
    if recursive and os.path.isdir(path):
        inside = os.path.realpath(path).rstrip(os.sep) + os.sep
        for root, dirs, files in os.walk(path, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not is_skipped_name(d))
            for name in sorted(files):
                if is_skipped_name(name):
                    continue
                full = os.path.join(root, name)
                if os.path.islink(full) and not os.path.realpath(full).startswith(inside):
                    continue
                yield full
    else:
        yield path


def absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())

