"""Watched folders on real folders with real watchdog: the runner against a recording sink, the
manager on a real state.db, and the whole path through the real worker to the real @tus/server.

About "unreadable": the tests run as root, and root reads a chmod 000 folder anyway
(CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH). Two real ways are used instead: the folder replaced
by a file (what a broken mount or a mistaken script leaves), and a runner in a child process
started through ``setpriv`` without those two capabilities, where chmod 000 really locks it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core.watchrules import FileKey, WatchState
from tests.fixtures.tus import make_file
from tests.fixtures.worker import wait_for
from worker.watch_runner import ReadyUnit, WatchRunner, WatchSpec

REPO = Path(__file__).resolve().parent.parent
SETTLE = 0.8


class RecordingSink:
    """Stands in for the WatchManager: records what a runner hands over, remembers what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.submitted: list[tuple[float, str, FileKey]] = []
        self.units: list[ReadyUnit] = []
        self.seen: dict[str, FileKey] = {}
        self.states: list[tuple[WatchState, str | None]] = []
        self.rounds = 0

    def is_new(self, watch_id: int, path: str, key: FileKey) -> bool:
        with self.lock:
            return self.seen.get(path) != key

    def submit(self, watch_id: int, units: list[ReadyUnit]) -> None:
        with self.lock:
            for unit in units:
                self.units.append(unit)
                self.seen.update(unit.files)
                self.submitted.append((time.monotonic(), unit.primary, unit.files[unit.primary]))

    def round_finished(self, watch_id: int) -> None:
        with self.lock:
            self.rounds += 1

    def set_state(self, watch_id: int, state: WatchState, message: str | None) -> None:
        with self.lock:
            self.states.append((state, message))

    def paths(self) -> list[str]:
        with self.lock:
            return [p for _, p, _ in self.submitted]

    def state(self) -> WatchState | None:
        with self.lock:
            return self.states[-1][0] if self.states else None


@pytest.fixture
def watched(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def run_watch():
    runners: list[WatchRunner] = []

    def start(folder: Path, runner_class: type[WatchRunner] = WatchRunner, **options: Any):
        sink = RecordingSink()
        spec = WatchSpec(id=1, path=str(folder), settle_seconds=options.pop("settle_seconds", SETTLE), **options)
        runner = runner_class(spec, sink)
        runners.append(runner)
        runner.start()
        wait_for(lambda: sink.state() is WatchState.WATCHING, 10, "the watch to arm")
        wait_for(lambda: sink.rounds >= 1, 10, "the start scan's round to end")
        return runner, sink

    yield start
    for runner in runners:
        runner.stop()


def wait_round(sink: RecordingSink, after: int) -> None:
    """Wait until the runner says all is quiet and nothing is pending: a round that began after
    ``after`` rounds had ended (read ``sink.rounds`` before acting) is over."""
    wait_for(lambda: sink.rounds > after, 20, "the round to end")


# -- the runner ------------------------------------------------------------------------------------
def slow_write(path: Path, *, seconds: float, pause: float, rate: int = 1 << 20) -> tuple[bytes, float]:
    """Write at ``rate`` bytes/s, pausing ``pause`` s every half second, the file kept open.

    Returns the content and the monotonic time of the last write.
    """
    written = bytearray()
    block = os.urandom(64 << 10)
    interval = len(block) / rate
    deadline = time.monotonic() + seconds
    with open(path, "wb") as handle:
        burst_end = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            handle.write(block)
            handle.flush()
            written += block
            last = time.monotonic()
            time.sleep(interval)  # the writer's pace, not a wait for a condition
            if time.monotonic() >= burst_end:
                time.sleep(pause)
                burst_end = time.monotonic() + 0.5
        last = time.monotonic()
    return bytes(written), last


def test_slow_writer_is_never_submitted_early(run_watch, watched: Path) -> None:
    runner, sink = run_watch(watched)
    rounds = sink.rounds
    target = watched / "scan.tif"
    content, last_write = slow_write(target, seconds=3.0, pause=SETTLE * 0.75)
    wait_for(lambda: sink.paths(), 10, "the file to be submitted")
    wait_round(sink, rounds)
    assert sink.paths() == [str(target)]
    at, _, key = sink.submitted[0]
    assert at >= last_write, "submitted while the writer was still writing"
    assert key.size == len(content) == target.stat().st_size


def test_temp_then_rename_is_submitted_once_and_without_waiting(run_watch, watched: Path) -> None:
    runner, sink = run_watch(watched, settle_seconds=2.5)
    rounds = sink.rounds
    partial = watched / "report.pdf.part"
    make_file(partial, 300_000, seed=1)
    renamed_at = time.monotonic()
    partial.rename(watched / "report.pdf")
    wait_for(lambda: sink.paths(), 10, "the renamed file to be submitted")
    # Renamed into place counts as complete: no settle wait.
    assert sink.submitted[0][0] - renamed_at < 2.5
    wait_round(sink, rounds)
    assert sink.paths() == [str(watched / "report.pdf")]


def test_temp_written_elsewhere_then_moved_in(run_watch, watched: Path, tmp_path: Path) -> None:
    runner, sink = run_watch(watched)
    rounds = sink.rounds
    outside = make_file(tmp_path / "staged.bin", 200_000, seed=2)
    os.rename(outside, watched / "staged.bin")
    wait_for(lambda: sink.paths(), 10, "the moved-in file")
    wait_round(sink, rounds)
    assert sink.paths() == [str(watched / "staged.bin")]


def test_ignored_names_include_and_exclude(run_watch, watched: Path) -> None:
    runner, sink = run_watch(watched, include=("*.tif", "*.csv"), exclude=("draft*",))
    rounds = sink.rounds
    for name in ["a.tif", "b.csv", "c.txt", "draft-1.tif", ".hidden.tif", "d.tif.part", "e.tmp", "~$f.csv"]:
        (watched / name).write_bytes(b"x" * 10)
    wait_for(lambda: len(sink.paths()) >= 2, 10, "the wanted files")
    wait_round(sink, rounds)
    assert sorted(sink.paths()) == [str(watched / "a.tif"), str(watched / "b.csv")]


def test_recursive_watch_and_new_subfolders(run_watch, watched: Path) -> None:
    (watched / "old").mkdir()
    (watched / "old" / "1.bin").write_bytes(b"1")
    runner, sink = run_watch(watched, recursive=True)
    rounds = sink.rounds
    (watched / "new" / "deeper").mkdir(parents=True)
    (watched / "new" / "deeper" / "2.bin").write_bytes(b"2")
    (watched / ".git").mkdir()
    (watched / ".git" / "3.bin").write_bytes(b"3")
    wait_for(lambda: len(sink.paths()) >= 2, 10, "files in sub-folders")
    wait_round(sink, rounds)
    assert sorted(sink.paths()) == [str(watched / "new" / "deeper" / "2.bin"), str(watched / "old" / "1.bin")]


def test_symbolic_links_are_not_followed_out_of_the_folder(run_watch, watched: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for upload")
    (outside / "sub").mkdir()
    (outside / "sub" / "deep.txt").write_text("nor this")
    (watched / "inside.txt").write_text("fine")
    os.symlink(outside / "secret.txt", watched / "link-out.txt")
    os.symlink(outside / "sub", watched / "dir-out")
    os.symlink(watched / "inside.txt", watched / "link-in.txt")
    runner, sink = run_watch(watched, recursive=True)
    rounds = sink.rounds
    wait_for(lambda: len(sink.paths()) >= 2, 10, "the files inside")
    os.symlink(outside / "secret.txt", watched / "late-link.txt")  # through an event, too
    (watched / "later.txt").write_text("fine too")
    wait_for(lambda: str(watched / "later.txt") in sink.paths(), 10, "a later file")
    wait_round(sink, rounds)
    assert sorted(sink.paths()) == sorted(str(watched / n) for n in ("inside.txt", "link-in.txt", "later.txt"))


def test_polling_observer(run_watch, watched: Path) -> None:
    class QuickPolling(WatchRunner):
        POLLING_INTERVAL = 0.2

    runner, sink = run_watch(watched, QuickPolling, polling=True)
    (watched / "on-a-share.bin").write_bytes(b"x" * 1000)
    wait_for(lambda: sink.paths(), 10, "the polled file")
    assert sink.paths() == [str(watched / "on-a-share.bin")]


def test_rescan_finds_files_whose_events_were_lost(run_watch, watched: Path) -> None:
    class DeafPolling(WatchRunner):
        # A poll once an hour: in this test no event ever arrives, as on a share that sends none.
        POLLING_INTERVAL = 3600.0

    runner, sink = run_watch(watched, DeafPolling, polling=True)
    (watched / "unnoticed.bin").write_bytes(b"x" * 1000)
    runner.request_rescan()
    wait_for(lambda: sink.paths(), 10, "the rescan to find the file")
    assert sink.paths() == [str(watched / "unnoticed.bin")]


def test_folder_removed_and_recreated(run_watch, watched: Path) -> None:
    runner, sink = run_watch(watched)
    (watched / "one.bin").write_bytes(b"1" * 100)
    wait_for(lambda: sink.paths(), 10, "the first file")
    shutil.rmtree(watched)
    wait_for(lambda: sink.state() is WatchState.UNAVAILABLE, 10, "the watch to become unavailable")
    assert "not there" in sink.states[-1][1]
    watched.mkdir()
    (watched / "two.bin").write_bytes(b"2" * 100)
    wait_for(lambda: sink.state() is WatchState.WATCHING, 15, "the watch to re-arm")
    wait_for(lambda: len(sink.paths()) == 2, 10, "the file in the new folder")
    assert sink.paths()[1] == str(watched / "two.bin")


def test_folder_replaced_quickly_is_watched_afresh(run_watch, watched: Path, tmp_path: Path) -> None:
    runner, sink = run_watch(watched)
    (tmp_path / "fresh").mkdir()
    shutil.rmtree(watched)
    os.rename(tmp_path / "fresh", watched)  # gone and back between two health checks
    wait_for(lambda: runner._identity == (os.stat(watched).st_dev, os.stat(watched).st_ino), 10,
             "the runner to watch the new folder")
    (watched / "after.bin").write_bytes(b"x")
    wait_for(lambda: sink.paths() == [str(watched / "after.bin")], 10, "a file in the new folder")


def test_folder_turned_into_a_file_is_unavailable(run_watch, watched: Path) -> None:
    runner, sink = run_watch(watched)
    shutil.rmtree(watched)
    watched.write_text("an empty mount point's stand-in")
    wait_for(lambda: sink.state() is WatchState.UNAVAILABLE and "no longer a folder" in (sink.states[-1][1] or ""),
             10, "unavailable: not a folder")
    watched.unlink()
    watched.mkdir()
    (watched / "back.bin").write_bytes(b"b")
    wait_for(lambda: sink.paths() == [str(watched / "back.bin")], 15, "the file after the folder came back")
    assert sink.state() is WatchState.WATCHING


_CAPLESS_RUNNER = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[2])
    from worker.watch_runner import WatchRunner, WatchSpec

    class Sink:
        def is_new(self, w, p, k): return True
        def submit(self, w, units):
            for u in units: print(json.dumps({"submitted": u.primary}), flush=True)
        def round_finished(self, w): pass
        def set_state(self, w, state, message):
            print(json.dumps({"state": state.value, "message": message}), flush=True)

    runner = WatchRunner(WatchSpec(id=1, path=sys.argv[1], settle_seconds=0.3), Sink())
    WatchRunner.BACKOFF = (0.2,)
    runner.start()
    sys.stdin.readline()  # until the test closes our stdin
    runner.stop()
    """
)


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_unreadable_folder_without_root_overrides(watched: Path) -> None:
    watched.chmod(0o755)
    proc = subprocess.Popen(
        ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "-c", _CAPLESS_RUNNER,
         str(watched), str(REPO)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    lines: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: [lines.append(json.loads(line)) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(m.get("state") == "watching" for m in lines), 15, "the capless runner to arm")
        watched.chmod(0o000)
        wait_for(lambda: lines[-1].get("state") == "unavailable", 10, "unavailable when unreadable")
        assert "cannot be read" in lines[-1]["message"]
        watched.chmod(0o755)
        (watched / "readable-again.bin").write_bytes(b"r")
        wait_for(lambda: {"submitted": str(watched / "readable-again.bin")} in lines, 15, "the file after chmod back")
        assert [m["state"] for m in lines if "state" in m][-1] == "watching"
    finally:
        watched.chmod(0o755)
        proc.stdin.close()
        proc.wait(timeout=10)


def test_runner_survives_a_failing_sink(run_watch, watched: Path) -> None:
    class Flaky(WatchRunner):
        SUBMIT_RETRY = 0.2

    runner, sink = run_watch(watched, Flaky)
    original = sink.submit
    failures = []

    def failing_once(watch_id: int, units: list[ReadyUnit]) -> None:
        if not failures:
            failures.append(units)
            raise RuntimeError("database on fire")
        original(watch_id, units)

    sink.submit = failing_once  # type: ignore[method-assign]
    (watched / "x.bin").write_bytes(b"x")
    wait_for(lambda: sink.paths(), 10, "the file after a failed submission")
    assert failures and sink.paths() == [str(watched / "x.bin")] and runner.alive
