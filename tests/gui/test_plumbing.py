"""The window's plumbing: folder expansion, the background pool, the poller, imports."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread

from upqueue.gui.background import Background
from upqueue.gui.file_expand import common_label, expand_paths, is_skipped
from upqueue.gui.poller import Poller

ROOT = Path(__file__).resolve().parent.parent.parent


def test_expand_paths_walks_folders_and_skips_hidden_and_temp(tmp_path: Path) -> None:
    root = tmp_path / "scans"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "cache.tmp").mkdir()
    for name in (
        "one.tif",
        "a/two.tif",
        "a/b/three.tif",
        ".DS_Store",
        "a/x.part",
        "a/~$lock.xlsx",
        "a/dl.crdownload",
        ".git/config",
        "cache.tmp/inside.bin",
        "a/b/notes.txt~",
    ):
        (root / name).write_text("x")
    missing = tmp_path / "gone.bin"
    files, skipped = expand_paths([root, missing])
    # A folder's own files first, then its subfolders, each in name order.
    assert [os.path.relpath(f, root) for f in files] == ["one.tif", "a/two.tif", "a/b/three.tif"]
    assert [(s.path, s.title) for s in skipped] == [(str(missing), "File not found")]
    # A temp file chosen by itself is what the person asked for.
    chosen = root / "a" / "x.part"
    assert expand_paths([chosen])[0] == [str(chosen)]
    assert is_skipped(".hidden") and is_skipped("~$doc.docx") and not is_skipped("data.parquet")
    assert common_label([str(root / "one.tif")]) == "one.tif"
    assert common_label(files) == "3 files from scans"


def test_folder_links_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.bin").write_text("x")
    (root / "loop").symlink_to(root, target_is_directory=True)
    files, _ = expand_paths([root])
    assert files == [str(root / "f.bin")]


def test_background_delivers_results_and_errors_on_the_gui_thread(qtbot: Any) -> None:
    pool = Background()
    gui_thread = QThread.currentThread()
    seen: list[tuple[str, Any, bool]] = []
    worker_threads: list[int] = []

    def work() -> int:
        worker_threads.append(threading.get_ident())
        return 42

    def fail() -> None:
        raise ValueError("boom")

    pool.run(work, lambda r: seen.append(("done", r, QThread.currentThread() is gui_thread)))
    pool.run(
        fail, None, lambda e: seen.append(("error", str(e), QThread.currentThread() is gui_thread))
    )
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert sorted(seen) == [("done", 42, True), ("error", "boom", True)]
    assert worker_threads and worker_threads[0] != threading.get_ident()
    pool.close()
    pool.run(work, lambda r: seen.append(("late", r, True)))
    qtbot.wait(100)
    assert len(seen) == 2  # nothing runs or arrives after close


class SlowSource:
    """A source whose answers wait for the test to release them."""

    def __init__(self) -> None:
        self.calls: list[int | None] = []
        self.release = threading.Event()
        self.seq = 5

    def uploads(self, since: int | None = None, **_: Any) -> dict[str, Any]:
        self.calls.append(since)
        self.release.wait(5)
        return {"seq": self.seq, "uploads": [{"id": 1}] if since is None else [], "removed": []}

    def stats(self) -> dict[str, Any]:
        return {"active": 1, "counts": {}, "speed": 0.0}


def test_poller_keeps_one_request_in_flight_and_asks_since_the_last_counter(qtbot: Any) -> None:
    pool = Background()
    poller = Poller(pool, fast_ms=20, slow_ms=1000)
    source = SlowSource()
    full: list[Any] = []
    poller.full.connect(full.append)
    poller.set_source(source)
    qtbot.waitUntil(lambda: len(source.calls) == 1, timeout=5000)
    for _ in range(5):
        poller.poll_now()  # while the first is still out: coalesced into one more
    qtbot.wait(100)
    assert source.calls == [None]
    source.release.set()
    qtbot.waitUntil(lambda: len(full) == 1 and len(source.calls) >= 3, timeout=5000)
    assert source.calls[1:3] == [5, 5]
    assert poller.active and poller.interval == 20
    poller.stop()
    pool.close()


def test_the_window_never_imports_the_worker() -> None:
    code = (
        "import sys; from upqueue.gui import app, main_window, targets_dialog, settings_dialog, "
        "details_dialog, history_view, watches_view, tray; "
        "bad = sorted(m for m in sys.modules if m in ('worker', 'upqueue.worker')"
        " or m.startswith(('worker.', 'upqueue.worker.', 'huey')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
