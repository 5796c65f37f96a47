"""Turning dropped or chosen paths into the files to queue: folders expand, junk is skipped.

Pure Python (no Qt) so it can run off the GUI thread: a dropped folder may hold many files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from upqueue.core.walk import Skipped, is_ignored_name, walk

# The one ignore list (core.walk), shared with `upqueue add -r` and watched folders.
is_skipped = is_ignored_name


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[Skipped]]:
    """Files to upload for what a person dropped or chose.

    A file is taken as it is (a person who drops ``notes.tmp`` by itself means it); a folder
    adds its files recursively by :func:`core.walk.walk`, the walker ``upqueue add -r`` and
    watched folders use: hidden and temporary names are skipped, links to folders are not
    followed, links to files only when they stay inside the folder.

    Args:
        paths: files and folders.

    Returns:
        ``(files, skipped)``: absolute file paths in a stable order, and what was left out for a
        reason other than its name (missing, unreadable, a link leading out), with the reason.
    """
    files: list[str] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        if path not in seen:
            seen.add(path)
            files.append(path)

    for raw in paths:
        path = os.path.abspath(os.fspath(raw))
        if os.path.isfile(path):
            add(path)
        elif os.path.isdir(path):
            try:
                for item in walk(path, on_skip=skipped.append):
                    add(item)
            except OSError as error:
                skipped.append(Skipped(path, "Cannot read folder",
                                       f"{path} cannot be listed: {error.strerror or error}."))
        else:
            skipped.append(Skipped(path, "File not found",
                                   f"{path} is not there any more (moved or deleted?)."))
    return files, skipped


def common_label(paths: list[str]) -> str:
    """A short description of what was added: "report.pdf" or "12 files from Scans"."""
    if not paths:
        return "nothing"
    if len(paths) == 1:
        return Path(paths[0]).name
    parent = os.path.commonpath(paths)
    return f"{len(paths)} files from {Path(parent).name or parent}"
