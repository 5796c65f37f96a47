"""A full disk under the data directory (issue 13.3): a small tmpfs as UPQUEUE_HOME, mounted in a
private mount namespace (``unshare -m``) so nothing outside the test sees it. The test reaches
the worker's files through ``/proc/<pid>/root``; uploads go to the real @tus/server."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from upqueue.core.api_client import ApiClient, ApiError
from tests.fixtures.tus import make_file, same_content
from tests.fixtures.worker import FAST_SETTINGS, MAIN, wait_for

MiB = 1 << 20
SIZE = "16m"
_INTEGRITY = (
    "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check')"
    ".fetchone()[0])"
)
_FILL = (
    "import sys\n"
    "with open(sys.argv[1], 'wb', buffering=0) as f:\n"
    "    try:\n"
    "        while True:\n"
    "            f.write(b'x' * 65536); f.flush()\n"
    "    except OSError:\n"
    "        pass\n"
)


def _cannot_mount() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True, text=True, check=False,
    )
    if probe.returncode != 0:
        return f"this machine cannot mount a tmpfs in a private namespace: {probe.stderr.strip()}"
    return None


pytestmark = pytest.mark.skipif(bool(_cannot_mount()), reason=_cannot_mount() or "")


class NamespacedWorker:
    """The worker in its own mount namespace, its data directory a tmpfs of ``SIZE``."""

    def __init__(self, home: Path, log_path: Path, result_path: Path) -> None:
        self.home, self.log_path, self.result_path = home, log_path, result_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def view(self) -> Path:
        """The data directory as this test sees it."""
        assert self.proc is not None
        return Path(f"/proc/{self.proc.pid}/root{self.home}")

    def launch(self, *, fill_first: bool = False) -> subprocess.Popen[bytes]:
        fill = '"$PY" -c "$FILL" "$UPQUEUE_HOME/filler"; ' if fill_first else ""
        script = (
            f'mount -t tmpfs -o size={SIZE},mode=0700 tmpfs "$UPQUEUE_HOME" || exit 97; {fill}'
            '"$PY" "$MAIN" worker; rc=$?; '
            '"$PY" -c "$CHECK" "$UPQUEUE_HOME/state.db" > "$RESULT" 2>&1; exit $rc'
        )
        env = dict(os.environ, UPQUEUE_HOME=str(self.home), PY=sys.executable, MAIN=str(MAIN),
                   CHECK=_INTEGRITY, FILL=_FILL, RESULT=str(self.result_path))
        self.home.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        return self.proc

    def start(self) -> ApiClient:
        self.launch()

        def answering() -> ApiClient | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                client = ApiClient.from_files(self.view)
                return client if client is not None and client.health() else None
            except Exception:  # noqa: BLE001 - not answering yet, whatever the reason
                return None

        api = wait_for(answering, 30, "the namespaced worker's API")
        api.update_settings(**FAST_SETTINGS)
        return api

    def stop(self) -> str:
        """Stop the worker; return the integrity check of state.db, run once it stopped."""
        assert self.proc is not None
        if self.proc.poll() is None:
            try:
                ApiClient.from_files(self.view).shutdown()  # type: ignore[union-attr]
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - stop it either way
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.result_path.read_text().strip() if self.result_path.exists() else ""


@pytest.fixture
def ns_worker(tmp_path: Path):
    handle = NamespacedWorker(tmp_path / "home", tmp_path / "worker.log", tmp_path / "integrity.txt")
    yield handle
    if handle.proc is not None and handle.proc.poll() is None:
        handle.proc.kill()
        handle.proc.wait(timeout=10)


def fill(path: Path) -> None:
    """Write until the disk is full, as a runaway program would."""
    # Unbuffered: a buffered file would try to write what the full disk refused again when it
    # closes, and raise ENOSPC outside the loop.
    with open(path, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"x" * (1 << 16))
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


def test_full_disk_makes_uploads_wait_says_so_everywhere_and_they_resume(ns_worker, tus_server, tmp_path):
    api = ns_worker.start()
    api.update_settings(bandwidth_limit=2 * MiB)
    api.add_target(name="srv", url=tus_server.url)
    src = make_file(tmp_path / "big.bin", 10 * MiB)  # outside the tmpfs: only the data dir fills
    upload_id = api.add_uploads([str(src)], "srv")["ids"][0]
    wait_for(lambda: api.upload(upload_id)["upload"]["offset"] > MiB, 30, "some progress")

    filler = ns_worker.view / "filler"
    fill(filler)
    row = wait_for(
        lambda: (r := api.upload(upload_id)["upload"])["error_title"] == "Disk full" and r, 10,
        "the upload to wait for disk space",
    )
    said = f"The disk holding upqueue's data ({ns_worker.home}) is full: free some space"
    assert row["status"] == "retrying" and "Waiting for disk space" in row["error_message"], row
    assert said in row["error_message"]
    assert api.health()["disk_full"] is True
    # The API says it (a clear 507 with a title), and the command line too.
    with pytest.raises(ApiError) as refused:
        api.add_uploads([str(src)], "srv")
    assert refused.value.status == 507 and refused.value.title == "Disk full"
    assert said in refused.value.message
    cli = subprocess.run(
        [sys.executable, str(MAIN), "add", str(src), "--target", "srv"], capture_output=True,
        text=True, timeout=60, env=dict(os.environ, UPQUEUE_HOME=str(ns_worker.view)), check=False,
    )
    assert cli.returncode == 1 and f"Disk full: {said}" in cli.stderr, cli.stderr
    assert "Internal error" not in cli.stderr
    assert api.upload(upload_id)["upload"]["status"] == "retrying"

    filler.unlink()
    freed = time.monotonic()
    wait_for(lambda: api.upload(upload_id)["upload"]["status"] in ("uploading", "done"), 10,
             "the upload to resume by itself")
    assert time.monotonic() - freed < 10
    api.update_settings(bandwidth_limit=0)
    row = wait_for(lambda: (r := api.upload(upload_id)["upload"])["status"] in ("done", "failed") and r,
                   60, "the upload to finish")
    assert row["status"] == "done", row
    assert same_content(src, tus_server.stored_path(row["result_url"]))
    assert api.health()["disk_full"] is False
    assert ns_worker.stop() == "ok"


def test_worker_started_on_a_full_disk_says_so(ns_worker):
    proc = ns_worker.launch(fill_first=True)
    _, err = proc.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert proc.returncode == 1, (proc.returncode, text)
    assert f"Disk full: The disk holding upqueue's data ({ns_worker.home}) is full: free some space" in text
    assert "OperationalError" not in text and "Traceback" not in text, text
