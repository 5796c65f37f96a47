"""One ignore list and one folder walker for every way a folder's files are added: ``upqueue add
-r``, a folder dropped on the window, and a watched folder (its scans and its events).

The rules, the same for all three:
- Names still being written, or belonging to an editor or the OS, are left out silently
  (:data:`DEFAULT_IGNORES`, matched without regard to case: ``X.PART`` is as partial as
  ``x.part``); so is everything under a folder so named. A person's own include / exclude globs
  (watched folders) are matched case-sensitively.
- Only regular files are taken. Links to files are followed when they lead to a file inside the
  folder the person chose; a link is never a way to send what lies outside it. Links to folders
  are not followed (they can loop, or lead anywhere). Each such entry is reported to ``on_skip``
  with a reason a person can act on, as are special files and sub-folders that cannot be read.
- Order: a folder's own files in name order, then its sub-folders, each in name order.

Pure Python, no Qt or Huey: the window runs it off its GUI thread, the worker in its own.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath

log = logging.getLogger(__name__)

# Names that are still being written, or belong to an editor or the OS, never a person's upload.
DEFAULT_IGNORES: tuple[str, ...] = (
    "*.part",
    "*.partial",
    "*.tmp",
    "*.crdownload",
    "*.download",
    "*.swp",  # vim
    "*~",  # editors' backups
    "~$*",  # Office lock files
    ".~lock*",  # LibreOffice lock files
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
    ".*",  # dot files, and everything under a dot folder
)
_IGNORES_FOLDED = tuple(glob.lower() for glob in DEFAULT_IGNORES)


@dataclass(frozen=True)
class Skipped:
    """An entry the walker left out for a reason a person may want to know (not a junk name)."""

    path: str
    title: str
    message: str


OnSkip = Callable[[Skipped], None]


def is_ignored_name(name: str) -> bool:
    """Whether a file or folder called ``name`` is on the default ignore list."""
    folded = name.lower()
    return any(fnmatch.fnmatchcase(folded, glob) for glob in _IGNORES_FOLDED)


def _match_any(parts: Sequence[str], relative: str, globs: Iterable[str]) -> bool:
    name = parts[-1]
    for glob in globs:
        # A glob with a slash is about the path below the chosen folder; one without is about a
        # name, which may be the file's or any folder's on the way to it.
        if "/" in glob:
            if fnmatch.fnmatchcase(relative, glob):
                return True
        elif fnmatch.fnmatchcase(name, glob) or any(
            fnmatch.fnmatchcase(p, glob) for p in parts[:-1]
        ):
            return True
    return False


def is_wanted(relative: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> bool:
    """Should the file at ``relative`` (a path below the chosen folder) be uploaded?

    A file is wanted when no default-ignore (any case) or ``exclude`` glob (case-sensitive)
    matches its name or a folder on its way, and, when ``include`` globs are given, one of them
    matches. Globs containing ``/`` match the whole relative path (``"scans/*.tif"``).

    Args:
        relative: path below the chosen folder, with ``/`` or the OS separator.
        include: globs of which one must match, or empty for "everything".
        exclude: globs added to :data:`DEFAULT_IGNORES`.

    Returns:
        True if the file should be considered for upload.
    """
    parts = PurePath(relative).parts
    if not parts:
        return False
    posix = "/".join(parts)
    if any(is_ignored_name(part) for part in parts) or _match_any(parts, posix, exclude):
        return False
    if include:
        return any(
            fnmatch.fnmatchcase(posix if "/" in glob else parts[-1], glob) for glob in include
        )
    return True


def is_wanted_dir(relative: str, exclude: Sequence[str] = ()) -> bool:
    """Should a recursive walk descend into the folder at ``relative``?"""
    parts = PurePath(relative).parts
    if not parts:
        return True
    posix = "/".join(parts)
    if is_ignored_name(parts[-1]):
        return False
    return not any(fnmatch.fnmatchcase(parts[-1], g) for g in exclude if "/" not in g) and not any(
        fnmatch.fnmatchcase(posix, g) for g in exclude if "/" in g
    )


def leads_inside(path: str, root_real: str) -> bool:
    """Does ``path``, links resolved, stay inside the folder whose real path is ``root_real``?"""
    real = os.path.realpath(path)
    return real.startswith(root_real.rstrip(os.sep) + os.sep)


def walk(
    top: str,
    *,
    root: str | None = None,
    recursive: bool = True,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    skip: Callable[[str], bool] | None = None,
    on_skip: OnSkip | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """The files to upload under the folder ``top``, by the rules in this module's docstring.

    Args:
        top: the folder to walk.
        root: the folder the person chose, when ``top`` is a folder inside it (a watched
            folder's new sub-folder): names are matched relative to it and links must stay in
            it. Defaults to ``top``.
        recursive: descend into sub-folders.
        include, exclude: the person's globs, see :func:`is_wanted`.
        skip: paths (files or folders) the caller leaves out besides the rules (a watched
            folder's own "move here after upload" folder).
        on_skip: told of each entry left out for a reason other than its name.
        should_stop: asked before each folder; True ends the walk early.

    Yields:
        Paths (``top`` joined with the names found) of regular files.

    Raises:
        OSError: ``top`` itself cannot be listed (the caller says what that means).
    """
    root = top if root is None else root
    root_real = os.path.realpath(root)
    tell: OnSkip = on_skip or (lambda skipped: None)
    stack = [top]
    while stack:
        if should_stop is not None and should_stop():
            return
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                listing = sorted(entries, key=lambda entry: entry.name)
        except OSError as error:
            if folder == top:
                raise
            reason = error.strerror or str(error)
            tell(Skipped(folder, "Cannot read folder",
                         f"{folder} cannot be listed ({reason}); its files were left out."))
            continue
        subfolders: list[str] = []
        for entry in listing:
            relative = os.path.relpath(entry.path, root)
            if skip is not None and skip(entry.path):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive and is_wanted_dir(relative, exclude):
                        subfolders.append(entry.path)
                    continue
                if not is_wanted(relative, include, exclude):
                    continue
                problem = _problem(entry, root_real)
            except OSError as error:
                problem = Skipped(entry.path, "Cannot read file",
                                  f"{entry.path} cannot be accessed: {error.strerror or error}.")
            if problem is None:
                yield entry.path
            else:
                tell(problem)
        stack.extend(reversed(subfolders))


def _problem(entry: os.DirEntry[str], root_real: str) -> Skipped | None:
    """Why a (wanted by name) entry is not a file to upload, or None if it is one."""
    path = entry.path
    if entry.is_symlink():
        try:
            st = os.stat(path)
        except OSError:
            return Skipped(path, "Broken link", f"{path} is a link to something that is not there.")
        if stat.S_ISDIR(st.st_mode):
            return Skipped(path, "Link to a folder",
                           f"{path} is a link to a folder; links to folders are not followed. "
                           "Add that folder itself to upload its files.")
        if not leads_inside(path, root_real):
            return Skipped(path, "Link leads outside",
                           f"{path} is a link to {os.path.realpath(path)}, outside the folder "
                           "being added; add that file itself to upload it.")
    else:
        if entry.is_file(follow_symlinks=False):  # from the listing itself: no system call
            return None
        st = entry.stat(follow_symlinks=False)
    if not stat.S_ISREG(st.st_mode):
        return Skipped(path, "Not a regular file",
                       f"{path} is not a regular file (a pipe, socket or device); only regular "
                       "files can be uploaded.")
    return None
