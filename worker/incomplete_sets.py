"""Shapefile sets in a watched folder that wait for a member which never comes.

A set waits while its ``.shx`` or ``.dbf`` is missing, since a copy may still be bringing it;
but a set that stays incomplete long after its files settled is refused, naming the missing
file, as the batch's failure: a person is told rather than left looking at a folder where
nothing happens. Its files are not marked as sent, so a missing file that turns up later
(or any change to the set) brings the set back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from upqueue.core import datasets
from upqueue.core.errors import UpqueueError
from upqueue.core.watchrules import FileKey

# However short a watch's settle time, a set gets this long for a missing member to appear.
MIN_WAIT_SECONDS = 5.0
# Otherwise this many settle periods: a copy that settles one file at a time brings the next
# well within that.
SETTLE_PERIODS = 30


def wait_for(settle_seconds: float) -> float:
    """How long a settled, incomplete set waits for its missing member."""
    return max(MIN_WAIT_SECONDS, SETTLE_PERIODS * settle_seconds)


@dataclass(frozen=True)
class Overdue:
    """A set to refuse: its primary (the .shp, or a sidecar without one), its files, why."""

    primary: str
    members: tuple[str, ...]
    error: UpqueueError


def _stem(path: str) -> str:
    return datasets.split_suffix(path)[0].lower()


class IncompleteSets:
    """Tracks held (settled but incomplete) sets; tells which are overdue."""

    def __init__(self, wait_seconds: float) -> None:
        self.wait_seconds = wait_seconds
        self._since: dict[str, float] = {}  # held path -> when it was first held
        self._refused: dict[str, FileKey] = {}  # refused path -> its version then

    def held(self, waiting: Iterable[str], now: float) -> None:
        """The files held back this round (the others are no longer held)."""
        waiting = set(waiting)
        self._since = {p: self._since.get(p, now) for p in waiting}

    def next_due(self) -> float | None:
        return min(self._since.values()) + self.wait_seconds if self._since else None

    def overdue(self, present: Iterable[str], now: float) -> list[Overdue]:
        """Sets held for longer than the wait whose required member is absent (not merely
        still being written: a file in ``present`` holds its set back, not away)."""
        if not self._since or now - min(self._since.values()) < self.wait_seconds:
            return []  # the usual case, on every submission: no look at the pending files
        by_stem: dict[str, list[str]] = {}
        for path in present:
            if datasets.split_suffix(path)[1]:
                by_stem.setdefault(_stem(path), []).append(path)
        found: list[Overdue] = []
        done: set[str] = set()
        for path, since in sorted(self._since.items()):
            stem = _stem(path)
            if stem in done or now - since < self.wait_seconds:
                continue
            members = sorted(by_stem.get(stem, [path]), key=_order)
            problem = datasets.incomplete(members[0], members)
            if problem is None:
                continue  # complete: it waits for a member still being written
            if not datasets.is_shapefile(members[0]) and _shp_on_disk(members[0]):
                # sidecars changed after their .shp was sent: not a set that never came
                for member in members:
                    self._since[member] = now
                continue
            done.add(stem)
            found.append(Overdue(members[0], tuple(members), problem))
        return found

    def refused(self, keys: Mapping[str, FileKey]) -> None:
        for path, key in keys.items():
            self._refused[path] = key
            self._since.pop(path, None)

    def still_refused(self, path: str, key: FileKey) -> bool:
        """Is this the very version of ``path`` that was refused (nothing to look at again)?"""
        return self._refused.get(path) == key

    def come_back(self, path: str) -> list[str]:
        """A file of a refused set arrived or changed: the set's refused files, to look at
        again (the refusal no longer holds)."""
        if not self._refused:
            return []  # called for every file the watch considers: nothing to look up
        stem = _stem(path)
        back = [p for p in self._refused if _stem(p) == stem and p != path]
        for p in [*back, path]:
            self._refused.pop(p, None)
        return back


def _order(path: str) -> tuple[int, str]:
    # the .shp first (the set's primary), then the sidecars as the datasets module orders them
    suffix = datasets.split_suffix(path)[1]
    order = (".shp", *datasets.SIDECARS)
    return (order.index(suffix) if suffix in order else len(order), os.path.basename(path))


def _shp_on_disk(sidecar: str) -> bool:
    folder = os.path.dirname(sidecar) or "."
    stem = os.path.basename(datasets.split_suffix(sidecar)[0]).lower()
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    found = (datasets.split_suffix(n) for n in names)
    return any(suffix == ".shp" and other.lower() == stem for other, suffix in found)
