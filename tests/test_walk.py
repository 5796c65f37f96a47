"""One folder walker and one ignore list (core/walk.py) for the three ways a folder's files are
added: ``upqueue add -r`` (Service.add_uploads on a real state.db), a folder dropped on the window
(gui/file_expand.py) and a watched folder (the real WatchRunner with real watchdog). The three
must take the same files from the same tree: temp, partial and hidden files, junk folders, and
links of every kind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from upqueue.core import paths
from upqueue.core.secrets import SecretStore
from upqueue.core.store import Store
from upqueue.core.walk import DEFAULT_IGNORES, Skipped, is_ignored_name, walk
from upqueue.core.watchrules import WatchState
from upqueue.gui.file_expand import expand_paths
from tests.fixtures.worker import wait_for
from tests.test_watcher import RecordingSink
from upqueue.worker.service import Service
from upqueue.worker.watch_runner import WatchRunner
from upqueue.worker.watch_spec import WatchSpec

WANTED = ["a.tif", "b.txt", "link-inside.tif", "sub/c.bin", "sub/deeper/d.bin"]
JUNK = [
    "film.mkv.part", "x.partial", "notes.tmp", "SHOUT.TMP", "dl.crdownload", "page.download",
    ".notes.txt.swp", "notes.txt~", "~$report.docx", ".~lock.sheet.ods#", ".DS_Store",
    "Thumbs.db", "desktop.ini", ".hidden", "sub/.git/config", ".cache/e.bin",
    "sub/cache.tmp/inside.bin",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "scans"
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"outside")
    for name in WANTED[:2] + WANTED[3:] + JUNK:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())
    (root / "link-inside.tif").symlink_to(root / "a.tif")
    (root / "link-outside.bin").symlink_to(outside)
    (root / "link-to-folder").symlink_to(root / "sub", target_is_directory=True)
    (root / "link-loop").symlink_to(root, target_is_directory=True)
    (root / "broken-link.bin").symlink_to(tmp_path / "nowhere")
    os.mkfifo(root / "pipe")
    return root


LEFT_OUT_WITH_A_REASON = {
    "link-outside.bin": "Link leads outside",
    "link-to-folder": "Link to a folder",
    "link-loop": "Link to a folder",
    "broken-link.bin": "Broken link",
    "pipe": "Not a regular file",
}


def relative(root: Path, found: list[str]) -> list[str]:
    return sorted(os.path.relpath(path, root) for path in found)


def test_the_walker_takes_regular_files_and_says_why_it_left_the_rest_out(tree: Path) -> None:
    told: list[Skipped] = []
    found = list(walk(str(tree), on_skip=told.append))
    # A folder's own files first in name order, then its sub-folders.
    assert [os.path.relpath(p, tree) for p in found] == WANTED
    assert {os.path.relpath(s.path, tree): s.title for s in told} == LEFT_OUT_WITH_A_REASON
    for entry in told:
        assert entry.path in entry.message  # a person can see which entry and why


def test_add_r_a_dropped_folder_and_a_watched_folder_take_the_same_files(
    tree: Path, upqueue_home: Path
) -> None:
    # upqueue add -r: the worker's Service on a real state.db.
    store = Store(upqueue_home / paths.STATE_DB)
    service = Service(store, SecretStore(upqueue_home), upqueue_home)
    try:
        service.add_target({"name": "t", "url": "http://127.0.0.1:9/files/"})
        result = service.add_uploads([str(tree)], "t", recursive=True)
    finally:
        service.close()
        store.close()
    by_add = relative(tree, [item.path for item in result.added])
    rejected = {os.path.relpath(r.path, tree): r.title for r in result.rejected}

    # A folder dropped on the window.
    dropped, skipped = expand_paths([tree])
    by_drop = relative(tree, dropped)

    # A recursive watched folder: its start scan, with real watchdog armed.
    sink = RecordingSink()
    runner = WatchRunner(WatchSpec(id=1, path=str(tree), recursive=True, settle_seconds=0.3), sink)
    runner.start()
    try:
        wait_for(lambda: sink.state() is WatchState.WATCHING, 10, "the watch to arm")
        wait_for(lambda: sink.rounds >= 1, 20, "the start scan's round to end")
    finally:
        runner.stop()
    by_watch = relative(tree, sink.paths())

    assert by_add == by_drop == by_watch == sorted(WANTED)
    # add -r and the window tell the person the same reasons for the same entries.
    assert rejected == LEFT_OUT_WITH_A_REASON
    assert {os.path.relpath(s.path, tree): s.title for s in skipped} == LEFT_OUT_WITH_A_REASON


def test_a_file_chosen_by_itself_is_taken_whatever_its_name(tree: Path) -> None:
    chosen = tree / "notes.tmp"
    assert expand_paths([chosen])[0] == [str(chosen)]


@pytest.mark.parametrize("name", ["X.PART", "Report.TMP", "Desktop.ini", "THUMBS.DB", "a.SWP"])
def test_default_ignores_match_any_case(name: str) -> None:
    assert is_ignored_name(name)


def test_there_is_one_ignore_list() -> None:
    from upqueue.core import fileinfo, watchrules
    from upqueue.gui import file_expand

    assert watchrules.DEFAULT_IGNORES is DEFAULT_IGNORES
    assert file_expand.is_skipped is is_ignored_name
    assert not hasattr(fileinfo, "SKIPPED_NAMES") and not hasattr(file_expand, "TEMP_PATTERNS")
