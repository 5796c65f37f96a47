"""The worker as a process: one per data directory, private files, crash recovery, idle exit."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from tests.fixtures.tus import make_file, same_content
from tests.fixtures.worker import MAIN, wait_all_done, wait_for

MiB = 1 << 20


def test_second_worker_for_the_same_data_directory_refuses_with_a_reason(worker, upqueue_home):
    result = subprocess.run(
        [sys.executable, str(MAIN), "worker"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, UPQUEUE_HOME=str(upqueue_home)),
    )
    assert result.returncode != 0
    assert "already running" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert worker.api.health()["status"] == "ok"  # the first one is unharmed


def test_data_directory_files_are_private_and_sqlite_version_is_reported(
    worker, tus_server, tmp_path, upqueue_home
):
    health = worker.api.health()
    assert health["sqlite_version"].count(".") == 2
    assert isinstance(health["wal_reset_bug"], bool)
    worker.api.add_target(name="srv", url=tus_server.url)
    src = make_file(tmp_path / "x.bin", 100_000)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    wait_for(lambda: worker.api.upload(upload_id)["upload"]["status"] == "done", 30, "done")
    names = {p.name for p in upqueue_home.iterdir()}
    assert {"state.db", "queue.db", "api.token", "worker.json", "upqueue.log"} <= names
    for path in upqueue_home.rglob("*"):
        if path.is_file():
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, f"{path.name} is readable by others: {oct(mode)}"
    log_text = (upqueue_home / "upqueue.log").read_text()
    assert "SQLite" in log_text


def test_kill_9_at_several_moments_every_file_completes_once(make_worker, tus_server, tmp_path):
    worker = make_worker
    api = worker.start()
    api.update_settings(
        retry_base_delay=0.2, retry_max_delay=1.0, bandwidth_limit=12 * MiB, concurrency=3
    )
    api.add_target(name="srv", url=tus_server.url)
    files = [
        make_file(tmp_path / f"f{i}.bin", (i % 4 + 1) * 3 * MiB + i, seed=i) for i in range(12)
    ]
    ids = api.add_uploads([str(f) for f in files], "srv")["ids"]
    total = sum(f.stat().st_size for f in files)

    def sent() -> int:
        return sum(
            u["offset"] if u["status"] != "done" else u["size"]
            for u in worker.api.uploads()["uploads"]
        )

    for fraction in (0.15, 0.4, 0.7):
        wait_for(lambda fraction=fraction: sent() >= fraction * total, 60, f"{fraction:.0%} sent")
        worker.kill9()
        worker.start()
    worker.api.update_settings(bandwidth_limit=0)
    rows = wait_all_done(worker)
    urls = [u["result_url"] for u in rows]
    assert len(set(urls)) == len(ids)
    for src, row in zip(files, sorted(rows, key=lambda r: r["id"])):
        assert same_content(src, tus_server.stored_path(row["result_url"])), src.name


def test_until_idle_exits_when_everything_is_done(make_worker, tus_server, tmp_path, upqueue_home):
    api = make_worker.start()
    api.add_target(name="srv", url=tus_server.url)
    make_worker.stop()
    src = make_file(tmp_path / "idle.bin", 2 * MiB)
    # queue while no worker runs: the next worker (until idle) must pick it up and then exit
    worker = make_worker
    api = worker.start("--until-idle")
    upload_id = api.add_uploads([str(src)], "srv")["ids"][0]
    assert worker.proc.wait(timeout=60) == 0
    from upqueue.core.store import Store

    store = Store(upqueue_home / "state.db")
    try:
        assert (
            store.query_one("SELECT status FROM uploads WHERE id = ?", (upload_id,))["status"]
            == "done"
        )
    finally:
        store.close()


def test_sighup_stops_the_worker_gracefully_instead_of_re_exec_ing_it(worker, upqueue_home):
    # Huey's consumer answers SIGHUP by exec-ing sys.executable with sys.argv (wrong for a frozen
    # build, and it skips our clean-up); the worker makes it a graceful stop instead.
    import signal

    assert worker.proc is not None
    os.kill(worker.pid, signal.SIGHUP)
    assert worker.proc.wait(timeout=30) == 0
    assert not (upqueue_home / "worker.json").exists()  # the clean-up ran
    assert "Consumer will restart" not in worker.output()
