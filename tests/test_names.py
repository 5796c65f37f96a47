"""File names that are not UTF-8 (issue 13.4): real files with bytes ff fe in their names, in a
real watched folder and through the command line, to the real @tus/server."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import requests

from tests.fixtures.tus import make_file
from tests.fixtures.worker import wait_for
from tests.test_cli import cli
from tests.test_watcher import armed, finished_batches, watch_uploads, watched  # noqa: F401
from tests.test_worker_uploads import add_target, wait_status

BAD_NAME = b"\xff\xfe survey.bin"
READABLE = "\ufffd\ufffd survey.bin"


def server_filename(url: str) -> str:
    head = requests.head(url, headers={"Tus-Resumable": "1.0.0"}, timeout=5)
    pairs = dict(p.split(" ", 1) for p in head.headers["Upload-Metadata"].split(","))
    return base64.b64decode(pairs["filename"]).decode("utf-8")


def write_bad(folder: Path, content: bytes) -> str:
    path = os.path.join(os.fsencode(folder), BAD_NAME)
    with open(path, "wb") as handle:
        handle.write(content)
    return os.fsdecode(path)  # the str Python uses for it: ff fe as surrogate escapes


def test_watched_folder_sends_a_non_utf8_name_and_the_good_file_beside_it(
    worker, tus_server, watched: Path  # noqa: F811
) -> None:
    api = worker.api
    add_target(worker, tus_server.url)
    content = os.urandom(5000)
    write_bad(watched, content)
    good = make_file(watched / "good.bin", 6000)
    watch = armed(api, api.add_watch(path=str(watched), target="srv", settle_seconds=0.3))
    batch = wait_for(lambda: finished_batches(api, watch["id"]), 30, "the batch to finish")[0]
    uploads = watch_uploads(api, watch["id"])
    assert sorted(u["name"] for u in uploads) == sorted(["good.bin", READABLE])
    assert all(u["status"] == "done" for u in uploads), uploads
    assert batch["total"] == batch["done"] == 2 and batch["failed"] == 0, batch
    by_name = {u["name"]: u for u in uploads}
    assert tus_server.stored_bytes(by_name[READABLE]["result_url"]) == content
    assert tus_server.stored_bytes(by_name["good.bin"]["result_url"]) == good.read_bytes()
    assert server_filename(by_name[READABLE]["result_url"]) == READABLE  # readable on the server
    state = api.watch(watch["id"])
    assert state["state"] == "watching", state
    # After a restart the start scan knows the file was sent: nothing goes twice.
    worker.stop()
    api = worker.start()
    make_file(watched / "sentinel.bin", 100)
    wait_for(lambda: len(finished_batches(api, watch["id"])) == 2, 30, "the sentinel's batch")
    names = sorted(u["name"] for u in watch_uploads(api, watch["id"]))
    assert names == sorted(["good.bin", READABLE, "sentinel.bin"])


def test_cli_add_uploads_a_non_utf8_name(worker, tus_server, tmp_path: Path) -> None:
    add_target(worker, tus_server.url)
    content = os.urandom(3000)
    path = write_bad(tmp_path, content)
    added = cli("add", path, "--target", "srv")
    assert added.returncode == 0, (added.stdout, added.stderr)
    upload_id = int(added.stdout.strip())
    row = wait_status(worker, upload_id, "done", "failed")
    assert row["status"] == "done", row
    assert row["name"] == READABLE
    assert tus_server.stored_bytes(row["result_url"]) == content
    shown = cli("show", str(upload_id), "--json")
    assert shown.returncode == 0, shown.stderr
    json.loads(shown.stdout)
    listed = cli("ls")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
