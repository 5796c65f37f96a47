"""What a watch runner is told (``WatchSpec``), what it hands over (``ReadyUnit``), and to whom
(``RunnerSink``, which ``worker.watcher.WatchManager`` implements)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from upqueue.core.watchrules import DEFAULT_SETTLE_SECONDS, FileKey, WatchState


@dataclass(frozen=True)
class WatchSpec:
    """What a runner needs to know about its watch (a plain copy of the watches row).

    Attributes:
        id: the watch's id.
        path: the watched folder, absolute.
        recursive: also watch sub-folders.
        include: globs of which one must match (empty: all).
        exclude: globs ignored on top of the defaults.
        settle_seconds: how long size and mtime must hold still.
        polling: use a polling observer (network drives, where inotify sees nothing).
        datasets: the target takes shapefile sets as one upload.
        skip_dirs: absolute folders never looked into (the after-upload move folder).
    """

    id: int
    path: str
    recursive: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    polling: bool = False
    datasets: bool = False
    skip_dirs: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, datasets: bool = False) -> WatchSpec:
        """From a decoded watches row (include/exclude as lists)."""
        move_to = row.get("move_to")
        # Both spellings: events carry the path as watched, which may differ from the real one.
        skip = (
            tuple(dict.fromkeys((os.path.abspath(move_to), os.path.realpath(move_to))))
            if move_to
            else ()
        )
        return cls(
            id=int(row["id"]),
            path=os.path.abspath(row["path"]),
            recursive=bool(row["recursive"]),
            include=tuple(row.get("include") or ()),
            exclude=tuple(row.get("exclude") or ()),
            settle_seconds=float(row["settle_seconds"]),
            polling=bool(row["polling"]),
            datasets=datasets,
            skip_dirs=skip,
        )


@dataclass(frozen=True)
class ReadyUnit:
    """A settled unit handed to the sink: its primary path and the key of every member."""

    primary: str
    files: dict[str, FileKey] = field(default_factory=dict)


class RunnerSink(Protocol):
    """What a runner reports to."""

    def is_new(self, watch_id: int, path: str, key: FileKey) -> bool:
        """Whether this version of the file still has to be sent."""

    def submit(self, watch_id: int, units: list[ReadyUnit]) -> None:
        """Submit settled units; raise to have them tried again later."""

    def refuse(self, watch_id: int, path: str, title: str, message: str) -> None:
        """A set that cannot go (a shapefile whose .shx never came): the batch's failure."""

    def round_finished(self, watch_id: int) -> None:
        """Nothing is pending and the stream has been quiet: the current round is complete."""

    def set_state(self, watch_id: int, state: WatchState, message: str | None) -> None:
        """The watch became watching or unavailable."""
