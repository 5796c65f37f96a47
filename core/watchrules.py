"""The rules of a watched folder as pure functions: what to ignore, how events collapse, when a
file has settled, which files travel together, and whether a file was already sent.

Nothing here touches the disk or a clock: callers pass paths, observations and times in, so every
rule is tested with synthetic data (the worker's ``watch_runner`` applies them to real folders).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from upqueue.core import datasets

# The name rules live with the one folder walker: add -r, a dropped folder and watches share them.
from upqueue.core.walk import DEFAULT_IGNORES, is_wanted, is_wanted_dir  # noqa: F401 (re-exported)

DEFAULT_SETTLE_SECONDS = 3.0


class AfterUpload(StrEnum):
    """What happens to a watched file once the server confirmed it."""

    KEEP = "keep"
    DELETE = "delete"
    MOVE = "move"


class WatchState(StrEnum):
    STARTING = "starting"
    WATCHING = "watching"
    UNAVAILABLE = "unavailable"
    PAUSED = "paused"


class BatchState(StrEnum):
    OPEN = "open"
    FINISHED = "finished"
    FINISHED_WITH_FAILURES = "finished_with_failures"


# -- events ------------------------------------------------------------------------------------


class Change(StrEnum):
    """What a burst of events amounts to for one path."""

    UPDATED = "updated"  # created or written: wait until it settles
    ARRIVED = "arrived"  # renamed into place: complete as it stands
    DELETED = "deleted"  # gone (deleted or renamed away)
    DIR_ADDED = "dir_added"  # a folder appeared: look inside it


@dataclass(frozen=True)
class FsEvent:
    """A file-system event as the watcher queues it (a plain copy of watchdog's).

    Attributes:
        kind: ``created``, ``modified``, ``closed``, ``deleted`` or ``moved``.
        path: the path the event is about (for ``moved``, where it came from; may be ``""``
            when it came from outside the watched folder).
        dest: for ``moved``, where it went (``""`` when it left the watched folder).
        is_dir: whether the path is a folder.
    """

    kind: str
    path: str
    dest: str = ""
    is_dir: bool = False


def collapse(events: Iterable[FsEvent]) -> dict[str, Change]:
    """Reduce a burst of events, in order, to the one change per path that matters.

    The rules, per path: anything written after it arrived needs to settle again (UPDATED);
    a rename into place with nothing after it is complete (ARRIVED); created then deleted
    within the burst is nothing at all; a path deleted and created again is UPDATED.
    A folder renamed away or deleted drops what was pending below it.

    Args:
        events: events in the order they happened.

    Returns:
        ``{path: Change}`` with one entry per path that still matters.
    """
    state: dict[str, Change] = {}
    # Paths first seen in this burst: their deletion means they never existed for us.
    born: set[str] = set()

    def appear(path: str, change: Change, *, new: bool) -> None:
        if new and path not in state:
            born.add(path)
        state[path] = change

    def vanish(path: str, is_dir: bool) -> None:
        if is_dir:
            prefix = path.rstrip("/\\") + "/"
            alt = path.rstrip("/\\") + "\\"
            for other in [p for p in state if p.startswith((prefix, alt))]:
                del state[other]
        if path in born and path in state:
            del state[path]
            born.discard(path)
        else:
            state[path] = Change.DELETED

    for event in events:
        if event.kind == "moved":
            if event.path:
                vanish(event.path, event.is_dir)
            if event.dest:
                appear(event.dest, Change.DIR_ADDED if event.is_dir else Change.ARRIVED, new=True)
        elif event.kind == "deleted":
            vanish(event.path, event.is_dir)
        elif event.kind in ("created", "modified", "closed"):
            if event.is_dir:
                if event.kind == "created":
                    appear(event.path, Change.DIR_ADDED, new=True)
                continue
            # A close after a rename-in is the writer finishing; only real writes reset it.
            if event.kind == "closed" and state.get(event.path) is Change.ARRIVED:
                continue
            appear(event.path, Change.UPDATED, new=event.kind == "created")
    return state


# -- settling ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileKey:
    """What identifies one version of a file: path aside, size, mtime and inode."""

    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True)
class Settle:
    """The settle tracking of one candidate file.

    Attributes:
        key: the last (size, mtime, inode) seen.
        since: the clock time since which ``key`` has not changed.
        complete: renamed into place, so no waiting is needed while ``key`` holds.
    """

    key: FileKey
    since: float
    complete: bool = False


def observe(previous: Settle | None, key: FileKey, now: float, *, complete: bool = False) -> Settle:
    """Fold one new observation of a file into its settle tracking.

    Any change of size, mtime or inode restarts the clock and drops a "complete" mark: the
    file is being written again.
    """
    if previous is None:
        return Settle(key, now, complete)
    if previous.key != key:
        return Settle(key, now, False)
    return previous


def settled(tracking: Settle, settle_seconds: float, now: float) -> bool:
    """Has the file held still long enough to be sent?"""
    return tracking.complete or now - tracking.since >= settle_seconds


def settle_wait(tracking: Settle, settle_seconds: float, now: float) -> float:
    """Seconds until :func:`settled` could become true (0 if it already is)."""
    return 0.0 if tracking.complete else max(0.0, tracking.since + settle_seconds - now)


# -- deduplication -----------------------------------------------------------------------------


def should_send(seen: FileKey | None, current: FileKey, reupload_changed: bool) -> bool:
    """Decide whether a file at a path already handled by the watch is sent (again).

    Args:
        seen: the key recorded when the path was last sent, or None if never.
        current: the file's key now.
        reupload_changed: the ``reupload_changed_files`` setting.

    Returns:
        True for a new file, or for a changed one when re-uploading changed files is on.
    """
    if seen is None:
        return True
    if seen == current:
        return False
    return reupload_changed


# -- sidecar grouping --------------------------------------------------------------------------

# The rules are core.datasets' (GeoNode's): without .shx/.dbf no GIS program opens a .shp; a
# missing .prj does not hold a set back (a .prj still being copied does, as any unsettled
# member): the set goes, and the server's answer says to add one.
SHAPEFILE_REQUIRED = datasets.REQUIRED
SHAPEFILE_OPTIONAL = (datasets.PROJECTION, *datasets.OPTIONAL)


@dataclass(frozen=True)
class Unit:
    """What is submitted as one upload: a file, or a shapefile with its sidecars.

    Attributes:
        primary: the file the upload is named after (the ``.shp`` for a set).
        members: every file of the unit, ``primary`` first.
    """

    primary: str
    members: tuple[str, ...]


_split_sidecar = datasets.split_suffix  # /d/roads.SHP.xml -> (/d/roads, .shp.xml)


def group_units(
    ready: Iterable[str], present: Iterable[str] = (), *, datasets: bool
) -> tuple[list[Unit], list[str]]:
    """Group settled files into upload units.

    For targets that take datasets, a ``.shp`` travels with its ``.shx`` and ``.dbf``
    (required) and any ``.prj .cpg .sbn .sbx .xml .shp.xml .sld .cst .qix`` of the same stem
    (core.datasets). A set is
    submitted only once every required member is ready; until then all its members wait. A
    sidecar without a ``.shp`` also waits (its ``.shp`` may still be on the way). For other
    targets every file is its own unit.

    Args:
        ready: files that have settled.
        present: files known to exist but not yet settled (they hold their set back).
        datasets: whether the target takes datasets.

    Returns:
        ``(units, waiting)``: units to submit, in the order of ``ready``, and the ready files
        that must keep waiting.
    """
    ready_list = list(dict.fromkeys(ready))
    if not datasets:
        return [Unit(p, (p,)) for p in ready_list], []
    ready_set = set(ready_list)
    unsettled = set(present) - ready_set
    by_stem: dict[str, dict[str, str]] = {}
    for path in [*ready_list, *unsettled]:
        stem, suffix = _split_sidecar(path)
        if suffix:
            by_stem.setdefault(stem, {})[suffix] = path
    units: list[Unit] = []
    waiting: list[str] = []
    placed: set[str] = set()
    for path in ready_list:
        if path in placed:
            continue
        stem, suffix = _split_sidecar(path)
        if not suffix:
            units.append(Unit(path, (path,)))
            placed.add(path)
            continue
        members = by_stem[stem]
        required = [".shp", *SHAPEFILE_REQUIRED]
        complete = all(members.get(s) in ready_set for s in required) and not any(
            m in unsettled for m in members.values()
        )
        group = [members[s] for s in (*required, *SHAPEFILE_OPTIONAL) if s in members]
        if complete:
            units.append(Unit(members[".shp"], tuple(group)))
        else:
            waiting.extend(m for m in group if m in ready_set)
        placed.update(group)
    return units, waiting


def takes_datasets(target: Mapping[str, object]) -> bool:
    """Does this target take a shapefile set as one upload? Its protocol's transport says."""
    from upqueue.core.transports import registry  # local: the rules above stay free of transports

    return registry.takes_datasets(str(target.get("protocol", "")))


# -- the after-upload setting as people type it --------------------------------------------------


def parse_after(text: str) -> tuple[AfterUpload, str | None]:
    """``keep``, ``delete`` or ``move:DIR`` -> (action, folder or None).

    Raises:
        ValueError: with a message a person can act on.
    """
    cleaned = text.strip()
    if cleaned.lower() in (AfterUpload.KEEP, AfterUpload.DELETE):
        return AfterUpload(cleaned.lower()), None
    if cleaned.lower().startswith("move:") and cleaned[5:].strip():
        return AfterUpload.MOVE, cleaned[5:].strip()
    raise ValueError(
        f"{text!r} is not an after-upload action: use keep, delete or move:FOLDER "
        "(for example move:/data/sent)."
    )
