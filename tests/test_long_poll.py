"""Long polls on the change counter (issue 12 point 1): the API holds ``GET /api/uploads?since=N
&wait=S`` until the counter passes N, ``add --wait`` and the window's poller use it, and the
CLI learns of an upload's end at once instead of at its next half-second poll.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from upqueue.core import paths
from upqueue.core.api_client import ApiClient, WorkerUnavailable
from upqueue.core.cli_wait import Waiter
from upqueue.core.secrets import SecretStore
from upqueue.core.store import Store
from upqueue.worker.api import PortHolder, create_app, serve
from upqueue.worker.service import Service

from tests.fixtures.tus import make_file
from tests.fixtures.worker import wait_for

MAIN = Path(__file__).resolve().parent.parent / "main.py"


@pytest.fixture
def app_in_process(upqueue_home):
    """(service, ApiClient, uvicorn server, change feed) on a real state.db, no engine."""
    store = Store(upqueue_home / paths.STATE_DB)
    service = Service(store, SecretStore(upqueue_home), upqueue_home)
    holder = PortHolder()
    app = create_app(service, "tok", holder)
    server, thread = serve(app, "127.0.0.1", holder)
    api = ApiClient(f"http://127.0.0.1:{holder.port}", "tok")
    yield service, api, server, app.state.changes
    server.should_exit = True
    thread.join(10)
    service.close()
    store.close()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_a_long_poll_is_held_until_the_counter_moves_then_answers_at_once(app_in_process, tmp_path):
    service, api, _server, changes = app_in_process
    target = service.add_target({"name": "t", "url": "http://127.0.0.1:9/files/"})
    seq = api.uploads()["seq"]

    started = time.monotonic()
    quiet = api.uploads(since=seq, wait=0.6)
    assert time.monotonic() - started >= 0.5, "a poll with nothing new must wait its time out"
    assert quiet["uploads"] == [] and quiet["seq"] == seq

    answers: list[tuple[dict, float]] = []
    poll = threading.Thread(
        target=lambda: answers.append(
            (api.uploads(since=seq, wait=30, stats=True), time.monotonic())
        )
    )
    poll.start()
    wait_for(lambda: changes._waiters, 10, "the long poll to wait at the worker")
    added_at = time.monotonic()
    ids = service.add_uploads([str(make_file(tmp_path / "a.bin", 10))], target["id"]).ids
    poll.join(10)
    answer, answered_at = answers[0]
    assert [u["id"] for u in answer["uploads"]] == ids
    assert answered_at - added_at < 1.0, "the answer must come when the change commits"
    # The counts ride along: one request per poll for the window.
    assert answer["stats"]["counts"]["queued"] == 1 and answer["stats"]["active"] == 1


def test_pages_by_id_and_interrupting_and_stopping_end_a_long_poll(app_in_process, tmp_path):
    service, api, server, changes = app_in_process
    target = service.add_target({"name": "t", "url": "http://127.0.0.1:9/files/"})
    files = [str(make_file(tmp_path / f"f{n}.bin", 10)) for n in range(5)]
    ids = service.add_uploads(files, target["id"]).ids
    first = api.uploads(limit=2)
    assert [u["id"] for u in first["uploads"]] == ids[:2] and first["total"] == 5
    rest = api.uploads(after_id=ids[1])
    assert [u["id"] for u in rest["uploads"]] == ids[2:]

    # The window ends its long poll when it closes (else the pool would wait it out).
    seq = first["seq"]
    errors: list[BaseException] = []

    def held() -> None:
        try:
            api.uploads(since=seq, wait=30)
        except WorkerUnavailable as exc:
            errors.append(exc)

    poll = threading.Thread(target=held)
    poll.start()
    wait_for(lambda: changes._waiters, 10, "the long poll to wait at the worker")
    started = time.monotonic()
    api.interrupt_waits()
    poll.join(5)
    assert not poll.is_alive() and errors and time.monotonic() - started < 2

    # A stopping server answers its long polls rather than waiting out its grace period.
    other = ApiClient(api.base_url, "tok")

    def held_while_stopping() -> None:
        try:
            other.uploads(since=seq, wait=30)
        except WorkerUnavailable:  # answered, or refused once the server has gone: both end it
            pass

    poll = threading.Thread(target=held_while_stopping)
    poll.start()
    wait_for(lambda: changes._waiters, 10, "the second long poll to wait")
    started = time.monotonic()
    server.should_exit = True
    poll.join(10)
    assert not poll.is_alive() and time.monotonic() - started < 2.5


def test_the_waiter_learns_of_an_end_at_once(worker, tmp_path):
    """Five uploads each cancelled at a moment of the test's choosing: the waiter returns
    within 0.2 s of each (it polled every 0.5 s into a pipe before long polls: most of these
    gaps would have been longer)."""
    api = worker.api
    api.add_target(name="dead", url="http://127.0.0.1:9/files/")  # never answers: retries
    gaps = []
    for number in range(5):
        source = make_file(tmp_path / f"w{number}.bin", 1000)
        seq = api.health()["seq"]
        upload_id = api.add_uploads([source], "dead")["ids"][0]
        done = threading.Event()
        waiter = Waiter(api, [upload_id], seq, out=io.StringIO(), err=io.StringIO(), tty=False)
        thread = threading.Thread(target=lambda w=waiter, d=done: (w.run(), d.set()))
        thread.start()
        wait_for(lambda w=waiter, u=upload_id: w.seq is not None and u in w.rows, 10, "the waiter")
        time.sleep(0.05 * number)  # cancel at a different moment of the waiter's cycle each time
        api.action(upload_id, "cancel")
        cancelled_at = time.monotonic()
        assert done.wait(10), "the waiter never returned"
        gaps.append(time.monotonic() - cancelled_at)
        thread.join(5)
    assert max(gaps) < 0.2, gaps


def test_add_wait_exits_right_after_the_upload_ends(worker, tus_server, tmp_path):
    """As a person runs it: the process exits within 0.5 s of the upload's finished time
    (measured: a few tens of ms; bench/throughput.py --whole-process measures it too)."""
    api = worker.api
    api.add_target(name="srv", url=tus_server.url)
    env = dict(os.environ)
    for number in range(2):
        source = make_file(tmp_path / f"p{number}.bin", 4 * 1024 * 1024 + number)
        result = subprocess.run(
            [sys.executable, str(MAIN), "add", str(source), "--target", "srv", "--wait"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        exited = time.time()
        assert result.returncode == 0, result.stderr
        upload = api.upload(int(result.stdout.split()[0]))["upload"]
        assert upload["status"] == "done"
        gap = exited - _epoch(upload["finished_at"])
        assert -0.05 < gap < 0.5, gap
