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
from upqueue.core.watchrules import FileKey, WatchState
from upqueue.worker.watch_runner import WatchRunner
from upqueue.worker.watch_spec import ReadyUnit, WatchSpec

from tests.fixtures.tus import make_file
from tests.fixtures.worker import wait_for

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
        spec = WatchSpec(
            id=1, path=str(folder), settle_seconds=options.pop("settle_seconds", SETTLE), **options
        )
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
def slow_write(
    path: Path, *, seconds: float, pause: float, rate: int = 1 << 20
) -> tuple[bytes, float]:
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
    _runner, sink = run_watch(watched)
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
    _runner, sink = run_watch(watched, settle_seconds=2.5)
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
    _runner, sink = run_watch(watched)
    rounds = sink.rounds
    outside = make_file(tmp_path / "staged.bin", 200_000, seed=2)
    os.rename(outside, watched / "staged.bin")
    wait_for(lambda: sink.paths(), 10, "the moved-in file")
    wait_round(sink, rounds)
    assert sink.paths() == [str(watched / "staged.bin")]


def test_ignored_names_include_and_exclude(run_watch, watched: Path) -> None:
    _runner, sink = run_watch(watched, include=("*.tif", "*.csv"), exclude=("draft*",))
    rounds = sink.rounds
    for name in [
        "a.tif",
        "b.csv",
        "c.txt",
        "draft-1.tif",
        ".hidden.tif",
        "d.tif.part",
        "e.tmp",
        "~$f.csv",
    ]:
        (watched / name).write_bytes(b"x" * 10)
    wait_for(lambda: len(sink.paths()) >= 2, 10, "the wanted files")
    wait_round(sink, rounds)
    assert sorted(sink.paths()) == [str(watched / "a.tif"), str(watched / "b.csv")]


def test_recursive_watch_and_new_subfolders(run_watch, watched: Path) -> None:
    (watched / "old").mkdir()
    (watched / "old" / "1.bin").write_bytes(b"1")
    _runner, sink = run_watch(watched, recursive=True)
    rounds = sink.rounds
    (watched / "new" / "deeper").mkdir(parents=True)
    (watched / "new" / "deeper" / "2.bin").write_bytes(b"2")
    (watched / ".git").mkdir()
    (watched / ".git" / "3.bin").write_bytes(b"3")
    wait_for(lambda: len(sink.paths()) >= 2, 10, "files in sub-folders")
    wait_round(sink, rounds)
    assert sorted(sink.paths()) == [
        str(watched / "new" / "deeper" / "2.bin"),
        str(watched / "old" / "1.bin"),
    ]


def test_symbolic_links_are_not_followed_out_of_the_folder(
    run_watch, watched: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for upload")
    (outside / "sub").mkdir()
    (outside / "sub" / "deep.txt").write_text("nor this")
    (watched / "inside.txt").write_text("fine")
    os.symlink(outside / "secret.txt", watched / "link-out.txt")
    os.symlink(outside / "sub", watched / "dir-out")
    os.symlink(watched / "inside.txt", watched / "link-in.txt")
    _runner, sink = run_watch(watched, recursive=True)
    rounds = sink.rounds
    wait_for(lambda: len(sink.paths()) >= 2, 10, "the files inside")
    os.symlink(outside / "secret.txt", watched / "late-link.txt")  # through an event, too
    (watched / "later.txt").write_text("fine too")
    wait_for(lambda: str(watched / "later.txt") in sink.paths(), 10, "a later file")
    wait_round(sink, rounds)
    assert sorted(sink.paths()) == sorted(
        str(watched / n) for n in ("inside.txt", "link-in.txt", "later.txt")
    )


def test_polling_observer(run_watch, watched: Path) -> None:
    class QuickPolling(WatchRunner):
        POLLING_INTERVAL = 0.2

    _runner, sink = run_watch(watched, QuickPolling, polling=True)
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
    _runner, sink = run_watch(watched)
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


def test_folder_replaced_quickly_is_watched_afresh(
    run_watch, watched: Path, tmp_path: Path
) -> None:
    runner, sink = run_watch(watched)
    (tmp_path / "fresh").mkdir()
    shutil.rmtree(watched)
    os.rename(tmp_path / "fresh", watched)  # gone and back between two health checks
    wait_for(
        lambda: runner._identity == (os.stat(watched).st_dev, os.stat(watched).st_ino),
        10,
        "the runner to watch the new folder",
    )
    (watched / "after.bin").write_bytes(b"x")
    wait_for(lambda: sink.paths() == [str(watched / "after.bin")], 10, "a file in the new folder")


def test_folder_turned_into_a_file_is_unavailable(run_watch, watched: Path) -> None:
    _runner, sink = run_watch(watched)
    shutil.rmtree(watched)
    watched.write_text("an empty mount point's stand-in")
    wait_for(
        lambda: (
            sink.state() is WatchState.UNAVAILABLE
            and "no longer a folder" in (sink.states[-1][1] or "")
        ),
        10,
        "unavailable: not a folder",
    )
    watched.unlink()
    watched.mkdir()
    (watched / "back.bin").write_bytes(b"b")
    wait_for(
        lambda: sink.paths() == [str(watched / "back.bin")],
        15,
        "the file after the folder came back",
    )
    assert sink.state() is WatchState.WATCHING


_CAPLESS_RUNNER = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[2])
    from upqueue.worker.watch_runner import WatchRunner, WatchSpec

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


@pytest.mark.skipif(
    shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv"
)
def test_unreadable_folder_without_root_overrides(watched: Path) -> None:
    watched.chmod(0o755)
    proc = subprocess.Popen(
        [
            "setpriv",
            "--bounding-set",
            "-dac_override,-dac_read_search",
            sys.executable,
            "-c",
            _CAPLESS_RUNNER,
            str(watched),
            str(REPO),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=lambda: [lines.append(json.loads(line)) for line in proc.stdout], daemon=True
    )
    reader.start()
    try:
        wait_for(
            lambda: any(m.get("state") == "watching" for m in lines),
            15,
            "the capless runner to arm",
        )
        watched.chmod(0o000)
        wait_for(lambda: lines[-1].get("state") == "unavailable", 10, "unavailable when unreadable")
        assert "cannot be read" in lines[-1]["message"]
        watched.chmod(0o755)
        (watched / "readable-again.bin").write_bytes(b"r")
        wait_for(
            lambda: {"submitted": str(watched / "readable-again.bin")} in lines,
            15,
            "the file after chmod back",
        )
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


# -- through the real worker to the real @tus/server ---------------------------------------------
@pytest.fixture
def target(worker, tus_server) -> dict[str, Any]:
    return worker.api.add_target(name="srv", url=tus_server.url)


def watch_uploads(api, watch_id: int) -> list[dict[str, Any]]:
    return [u for u in api.uploads()["uploads"] if u["watch_id"] == watch_id]


def finished_batches(api, watch_id: int) -> list[dict[str, Any]]:
    return [b for b in api.batches(watch_id=watch_id)["batches"] if b["state"] != "open"]


def armed(api, watch: dict[str, Any]) -> dict[str, Any]:
    return wait_for(
        lambda: api.watch(watch["id"])["state"] == "watching" and api.watch(watch["id"]),
        15,
        "the watch to arm",
    )


def test_e2e_slow_writer_uploads_once_with_the_final_bytes(
    worker, target, tus_server, watched: Path
) -> None:
    api = worker.api
    watch = armed(api, api.add_watch(path=str(watched), target="srv", settle_seconds=SETTLE))
    path = watched / "survey.gpkg"
    result: list[tuple[bytes, float]] = []
    writer = threading.Thread(
        target=lambda: result.append(slow_write(path, seconds=3.0, pause=SETTLE * 0.75))
    )
    writer.start()
    while writer.is_alive():
        assert watch_uploads(api, watch["id"]) == [], "queued while the writer was still writing"
        writer.join(0.1)
    content, _ = result[0]
    done = wait_for(
        lambda: [u for u in watch_uploads(api, watch["id"]) if u["status"] == "done"],
        30,
        "the upload",
    )
    wait_for(lambda: finished_batches(api, watch["id"]), 20, "the batch to finish")
    uploads = watch_uploads(api, watch["id"])
    assert len(uploads) == 1 and uploads[0]["size"] == len(content)
    assert tus_server.stored_bytes(done[0]["result_url"]) == content == path.read_bytes()


def test_e2e_temp_then_rename_uploads_exactly_once(
    worker, target, tus_server, watched: Path
) -> None:
    api = worker.api
    watch = armed(api, api.add_watch(path=str(watched), target="srv", settle_seconds=SETTLE))
    partial = watched / "export.zip.crdownload"
    with open(partial, "wb") as handle:  # a browser's download, in three pieces
        for seed in range(3):
            handle.write(os.urandom(200_000))
            handle.flush()
            time.sleep(0.2)  # the writer's pace
    final = watched / "export.zip"
    partial.rename(final)
    batch = wait_for(lambda: finished_batches(api, watch["id"]), 30, "the batch to finish")[0]
    uploads = watch_uploads(api, watch["id"])
    assert [u["name"] for u in uploads] == ["export.zip"]
    assert uploads[0]["status"] == "done" and batch["total"] == batch["done"] == 1
    assert tus_server.stored_bytes(uploads[0]["result_url"]) == final.read_bytes()
    assert len(list(tus_server.dir.glob("*.json"))) == 1  # one upload on the server, not two


def test_e2e_start_scan_finds_files_created_while_the_worker_was_stopped(
    worker, target, tus_server, watched: Path
) -> None:
    api = worker.api
    unchanged = make_file(watched / "unchanged.bin", 10_000, seed=1)
    changed = make_file(watched / "changed.bin", 10_000, seed=2)
    watch = armed(api, api.add_watch(path=str(watched), target="srv", settle_seconds=0.3))
    wait_for(lambda: len(finished_batches(api, watch["id"])) == 1, 30, "the first batch")
    worker.stop()
    make_file(watched / "new.bin", 20_000, seed=3)
    make_file(changed, 12_000, seed=4)  # rewritten while nothing watched
    api = worker.start()
    wait_for(
        lambda: len(finished_batches(api, watch["id"])) == 2, 30, "the batch of the start scan"
    )
    names = sorted(u["name"] for u in watch_uploads(api, watch["id"]))
    assert names == ["changed.bin", "changed.bin", "new.bin", "unchanged.bin"]
    assert all(u["status"] == "done" for u in watch_uploads(api, watch["id"]))
    assert len(list(tus_server.dir.glob("*.json"))) == 4
    assert unchanged.exists()

    # With re-uploading of changed files off, a rewrite is left alone.
    api.update_settings(reupload_changed_files=False)
    make_file(changed, 13_000, seed=5)
    make_file(
        watched / "sentinel.bin", 1_000, seed=6
    )  # written after: once it is sent, so is the round
    wait_for(lambda: len(finished_batches(api, watch["id"])) == 3, 30, "the sentinel's batch")
    names = sorted(u["name"] for u in watch_uploads(api, watch["id"]))
    assert names == ["changed.bin", "changed.bin", "new.bin", "sentinel.bin", "unchanged.bin"]


def test_e2e_folder_removed_and_recreated(worker, target, tus_server, watched: Path) -> None:
    api = worker.api
    watch = armed(api, api.add_watch(path=str(watched), target="srv", settle_seconds=0.3))
    shutil.rmtree(watched)
    gone = wait_for(
        lambda: (w := api.watch(watch["id"]))["state"] == "unavailable" and w, 15, "unavailable"
    )
    assert str(watched) in gone["state_message"]
    watched.mkdir()
    make_file(watched / "after.bin", 5_000)
    wait_for(lambda: api.watch(watch["id"])["state"] == "watching", 15, "watching again")
    done = wait_for(
        lambda: [u for u in watch_uploads(api, watch["id"]) if u["status"] == "done"], 30, "upload"
    )
    assert tus_server.stored_bytes(done[0]["result_url"]) == (watched / "after.bin").read_bytes()


def test_api_watch_crud_and_errors(worker, target, watched: Path, tmp_path: Path) -> None:
    from upqueue.core.api_client import ApiError

    api = worker.api
    watch = api.add_watch(
        path=str(watched),
        target="srv",
        recursive=True,
        include=["*.tif"],
        exclude=["draft*"],
        settle_seconds=2,
        after_upload=f"move:{tmp_path / 'sent'}",
        polling=True,
    )
    assert (watch["recursive"], watch["include"], watch["exclude"], watch["settle_seconds"]) == (
        True,
        ["*.tif"],
        ["draft*"],
        2.0,
    )
    assert (watch["after_upload"], watch["move_to"], watch["polling"]) == (
        "move",
        str(tmp_path / "sent"),
        True,
    )
    with pytest.raises(ApiError) as exc:
        api.add_watch(path=str(watched), target="srv")
    assert exc.value.status == 409 and "already watched" in exc.value.message
    for bad, status in [
        ({"path": str(tmp_path / "nope"), "target": "srv"}, 400),
        ({"path": str(watched), "target": "nosuch"}, 404),
        ({"path": str(watched), "target": "srv", "after_upload": "shred"}, 400),
        ({"path": str(watched), "target": "srv", "after_upload": "move"}, 400),
        ({"path": str(watched), "target": "srv", "settle_seconds": -1}, 400),
    ]:
        with pytest.raises(ApiError) as exc:
            api.add_watch(**bad)
        assert exc.value.status == status, bad
        assert exc.value.title and exc.value.message
    paused = api.pause_watch(watch["id"])
    assert paused["paused"] and paused["state"] == "paused"
    resumed = api.resume_watch(watch["id"])
    assert not resumed["paused"]
    wait_for(lambda: api.watch(watch["id"])["state"] == "watching", 15, "watching after resume")
    edited = api.update_watch(watch["id"], after_upload="keep", polling=False)
    assert edited["after_upload"] == "keep" and edited["move_to"] is None and not edited["polling"]
    seq = api.watches()["seq"]
    api.remove_watch(watch["id"])
    assert api.watches()["watches"] == [] and api.watches()["seq"] > seq
    with pytest.raises(ApiError) as exc:
        api.watch(watch["id"])
    assert exc.value.status == 404


def test_cli_watch_commands(
    worker, target, watched: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from upqueue.core import cli

    assert (
        cli.run(
            [
                "watch",
                "add",
                str(watched),
                "--target",
                "srv",
                "--include",
                "*.bin",
                "--settle",
                "0.3",
                "--after",
                "keep",
            ]
        )
        == 0
    )
    watch_id = int(capsys.readouterr().out.strip())
    wait_for(lambda: worker.api.watch(watch_id)["state"] == "watching", 15, "watching")
    make_file(watched / "cli.bin", 3_000)
    wait_for(lambda: finished_batches(worker.api, watch_id), 30, "the batch")
    assert cli.run(["watch", "ls"]) == 0
    out = capsys.readouterr().out
    assert str(watched) in out and "watching" in out and "srv" in out
    assert cli.run(["watch", "pause", str(watch_id)]) == 0
    assert worker.api.watch(watch_id)["state"] == "paused"
    assert cli.run(["watch", "resume", str(watch_id)]) == 0
    assert cli.run(["batch", "ls"]) == 0
    assert "finished" in capsys.readouterr().out
    batch_id = finished_batches(worker.api, watch_id)[0]["id"]
    assert cli.run(["batch", "show", str(batch_id)]) == 0
    out = capsys.readouterr().out
    assert "cli.bin" in out and "Manifest:" in out
    assert cli.run(["watch", "add", str(watched / "missing"), "--target", "srv"]) == 1
    assert "Folder not found" in capsys.readouterr().err
    assert cli.run(["watch", "rm", str(watch_id)]) == 0
    assert worker.api.watches()["watches"] == []


def test_shapefile_set_waits_for_its_members_when_the_target_takes_datasets(
    run_watch, watched: Path
) -> None:
    runner, sink = run_watch(watched, datasets=True, settle_seconds=0.3)
    rounds = sink.rounds
    for suffix in (".shp", ".shx", ".prj", ".cpg"):
        (watched / f"roads{suffix}").write_bytes(b"s" * 100)
    (watched / "notes.txt").write_text("alone")
    wait_for(lambda: sink.paths() == [str(watched / "notes.txt")], 10, "the lone file")
    # The set waits for its .dbf (core.datasets: .shx and .dbf are required; a settled set
    # without a .prj goes), but does not hold the round (and its batch) open.
    wait_round(sink, rounds)
    assert runner.pending_count == 4
    rounds = sink.rounds
    (watched / "roads.dbf").write_bytes(b"d" * 100)
    wait_for(lambda: len(sink.units) == 2, 10, "the completed set")
    wait_round(sink, rounds)
    unit = sink.units[1]
    assert unit.primary == str(watched / "roads.shp")
    assert sorted(Path(p).suffix for p in unit.files) == [".cpg", ".dbf", ".prj", ".shp", ".shx"]
    assert len(sink.units) == 2
