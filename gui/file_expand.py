"""Turning dropped or chosen paths into the files to queue: folders expand, junk is skipped.

Pure Python (no Qt) so it can run off the GUI thread: a dropped folder may hold many files.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path

# Partial downloads, editor and office lock files: they are not finished files yet.
TEMP_PATTERNS = ("*.part", "*.tmp", "*.crdownload", "~$*", "*.swp", "*~")


def is_skipped(name: str) -> bool:
    """Whether a file or folder called ``name`` is hidden or temporary and should not be queued."""
    if name.startswith("."):
        return True
    return any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in TEMP_PATTERNS)


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[str]]:
    """Files to upload for what a person dropped or chose.

    A file is taken as it is (a person who drops ``notes.tmp`` by itself means it); a folder
    adds its files recursively, skipping hidden and temporary files and folders. Symbolic links
    to folders are not followed (they can loop); links to files are.

    Args:
        paths: files and folders.

    Returns:
        ``(files, skipped)``: absolute file paths in a stable order, and the paths that were
        left out because they do not exist or cannot be read.
    """
    files: list[str] = []
    skipped: list[str] = []
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
            found = _walk(path, skipped)
            for item in found:
                add(item)
        else:
            skipped.append(path)
    return files, skipped


def _walk(root: str, skipped: list[str]) -> list[str]:
    found: list[str] = []

    def on_error(error: OSError) -> None:
        skipped.append(error.filename or root)

    for folder, dirs, names in os.walk(root, onerror=on_error, followlinks=False):
        # Pruning in place stops os.walk from descending into hidden and temp folders.
        dirs[:] = sorted(d for d in dirs if not is_skipped(d))
        for name in sorted(names):
            if is_skipped(name):
                continue
            full = os.path.join(folder, name)
            if os.path.isfile(full):
                found.append(full)
    return found


def common_label(paths: list[str]) -> str:
    """A short description of what was added: "report.pdf" or "12 files from Scans"."""
    if not paths:
        return "nothing"
    if len(paths) == 1:
        return Path(paths[0]).name
    parent = os.path.commonpath(paths)
    return f"{len(paths)} files from {Path(parent).name or parent}"
