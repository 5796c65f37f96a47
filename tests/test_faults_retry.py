"""Faults of issue 13 around retries and a lost answer: the real worker, the real @tus/server,
the fault proxy in front of it for what the server will not do on demand."""

from __future__ import annotations

import os

from tests.fixtures.tus import make_file, same_content
from tests.fixtures.worker import wait_for
from tests.test_worker_uploads import add_target, events_of, upload_of, wait_status

MiB = 1 << 20


def test_503_after_the_whole_body_is_no_progress_so_the_retries_end(worker, fault_proxy, tmp_path):
    """Issue 13.1: bytes read from the file are not progress; the server's offset is."""
    add_target(worker, fault_proxy.url)
    worker.settings(retry_limit=3, retry_base_delay=0.2, retry_max_delay=0.5)
    src = make_file(tmp_path / "a.bin", 300_000)
    fault_proxy.respond("PATCH", 503, body="maintenance", times=None)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_status(worker, upload_id, "failed", "done", timeout=30)
    assert row["status"] == "failed", row
    assert row["attempts"] == 4
    assert "gave up after 4 attempts" in row["error_message"]
    patches = fault_proxy.requests("PATCH")
    assert len(patches) == 4, "one PATCH per attempt: 1 + retry_limit"
    assert all(p.status == 503 for p in patches)
    retries = [e["message"] for e in events_of(worker, upload_id) if e["kind"] == "retrying"]
    assert [m.split(" — ")[1].split(" in ")[0] for m in retries] == ["retry 1", "retry 2", "retry 3"]


def test_a_reset_after_bytes_were_stored_still_counts_as_progress(worker, fault_proxy, tmp_path):
    """What the server confirmed (its offset grew) still resets the count."""
    add_target(worker, fault_proxy.url)
    worker.settings(retry_limit=1, retry_base_delay=0.1, retry_max_delay=0.2)
    src = make_file(tmp_path / "b.bin", 3 * MiB)
    # Three resets in a row, each after a MiB more reached the server: with retry_limit 1,
    # only counting confirmed progress lets this finish.
    fault_proxy.reset_after("PATCH", MiB, nth=1)
    fault_proxy.reset_after("PATCH", MiB, nth=2)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_status(worker, upload_id, "failed", "done", timeout=60)
    assert row["status"] == "done", row
    assert same_content(src, fault_proxy.server.stored_path(row["result_url"]))


def test_retry_after_beyond_retry_max_delay_is_capped_and_says_so(worker, fault_proxy, tmp_path):
    """Issue 13.2: Retry-After 7200 with retry_max_delay 1 waits 1 s and says the server asked more."""
    add_target(worker, fault_proxy.url)
    worker.settings(retry_max_delay=1.0)
    src = make_file(tmp_path / "c.bin", 200_000)
    fault_proxy.respond("PATCH", 503, headers={"Retry-After": "7200"}, body="busy", times=1)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_status(worker, upload_id, "done", "failed", timeout=30)
    assert row["status"] == "done", row
    retry = next(e["message"] for e in events_of(worker, upload_id) if e["kind"] == "retrying")
    assert "in 1 s" in retry and "7200" in retry and "retry_max_delay" in retry, retry


def test_file_rewritten_at_same_size_with_mtime_put_back_is_caught(worker, tus_server, tmp_path):
    """Issue 13.8: ctime is part of the fingerprint; no "done" with mixed content."""
    add_target(worker, tus_server.url)
    worker.settings(bandwidth_limit=2 * MiB)
    src = make_file(tmp_path / "d.bin", 12 * MiB, seed=1)
    st = src.stat()
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    wait_for(lambda: upload_of(worker, upload_id)["offset"] > MiB, 30, "some progress")
    with open(src, "r+b") as f:  # new content at the end, same size
        f.seek(10 * MiB)
        f.write(os.urandom(MiB))
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert src.stat().st_mtime_ns == st.st_mtime_ns and src.stat().st_size == st.st_size
    row = wait_status(worker, upload_id, "failed", "done", timeout=60)
    assert row["status"] == "failed", "a changed file must never end done"
    assert row["error_title"] == "File changed during upload"
    assert "change time" in row["error_message"], row["error_message"]


def test_file_replaced_mid_upload_says_replaced(worker, tus_server, tmp_path):
    """Issue 13.8: after os.replace the message says "was replaced", not "was deleted"."""
    add_target(worker, tus_server.url)
    worker.settings(bandwidth_limit=2 * MiB)
    src = make_file(tmp_path / "e.bin", 12 * MiB, seed=2)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    wait_for(lambda: upload_of(worker, upload_id)["offset"] > MiB, 30, "some progress")
    new = make_file(tmp_path / "e.new", 12 * MiB, seed=3)
    os.replace(new, src)
    row = wait_status(worker, upload_id, "failed", "done", timeout=60)
    assert row["status"] == "failed"
    assert "was replaced" in row["error_message"], row["error_message"]


def test_head_404_after_every_byte_was_sent_is_done_unconfirmed_not_a_second_copy(
    worker, fault_proxy, tmp_path
):
    """Issue 13.9: tuspyserver-like HEAD 404 on a finished upload, after the answer to the
    last PATCH was lost (connection reset once the whole body reached the server)."""
    add_target(worker, fault_proxy.url)
    size = 400_000
    src = make_file(tmp_path / "f.bin", size)
    fault_proxy.reset_after("PATCH", size, times=1)  # the body arrives, its answer does not
    fault_proxy.respond("HEAD", 404, body="Upload not found", times=None)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_status(worker, upload_id, "done", "failed", timeout=30)
    assert row["status"] == "done", row
    assert len(fault_proxy.requests("POST")) == 1, "no second copy on the server"
    assert same_content(src, fault_proxy.server.stored_path(row["result_url"]))
    done = [e["message"] for e in events_of(worker, upload_id) if e["kind"] == "done"]
    assert done and "unconfirmed" in done[-1] and "404" in done[-1], done


def test_worker_killed_after_the_last_byte_then_head_404_is_done_unconfirmed(
    worker, fault_proxy, tmp_path
):
    """Issue 13.9 as described: kill -9 while waiting for the last PATCH's answer; on restart
    the server (like tuspyserver) answers HEAD 404 for the finished upload."""
    add_target(worker, fault_proxy.url)
    size = 500_000
    src = make_file(tmp_path / "g.bin", size)
    fault_proxy.hold_answer("PATCH", None)  # the server stores it all; the answer never comes
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    url = wait_for(lambda: upload_of(worker, upload_id)["result_url"], 30, "the server upload")
    stored = fault_proxy.server.stored_path(url)
    wait_for(lambda: stored.exists() and stored.stat().st_size == size, 30, "the server to have it all")
    worker.kill9()
    fault_proxy.clear_rules()
    fault_proxy.respond("HEAD", 404, body="Upload not found", times=None)
    worker.start()
    row = wait_status(worker, upload_id, "done", "failed", timeout=60)
    assert row["status"] == "done" and row["result_url"] == url, row
    assert len(fault_proxy.requests("POST")) == 1, "no second copy on the server"
    assert same_content(src, fault_proxy.server.stored_path(url))
    done = [e["message"] for e in events_of(worker, upload_id) if e["kind"] == "done"]
    assert done and "unconfirmed" in done[-1], done
