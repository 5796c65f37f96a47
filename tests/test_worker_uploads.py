"""The upload engine end to end: the real worker process, the real @tus/server, real files.

Faults a real server will not make on demand come from tests/faultproxy.py in front of it.
"""

from __future__ import annotations

import os
import time

import pytest
import requests

from tests.fixtures.tus import make_file, same_content
from tests.fixtures.worker import WorkerProcess, wait_for

MiB = 1 << 20


def add_target(worker: WorkerProcess, url: str, **fields) -> dict:
    return worker.api.add_target(name=fields.pop("name", "srv"), url=url, **fields)


def upload_of(worker: WorkerProcess, upload_id: int) -> dict:
    return worker.api.upload(upload_id)["upload"]


def wait_status(
    worker: WorkerProcess, upload_id: int, *statuses: str, timeout: float = 60.0
) -> dict:
    def reached():
        row = upload_of(worker, upload_id)
        return row if row["status"] in statuses else None

    return wait_for(reached, timeout, f"upload {upload_id} to be {'/'.join(statuses)}")


def events_of(worker: WorkerProcess, upload_id: int) -> list[dict]:
    return worker.api.upload(upload_id)["events"]


def stored_size(server, url: str) -> int:
    path = server.stored_path(url)
    return path.stat().st_size if path.exists() else 0


@pytest.mark.parametrize("size", [0, 1, 3 * MiB + 17])
def test_small_and_empty_files_arrive_byte_identical(worker, tus_server, tmp_path, size):
    add_target(worker, tus_server.url)
    src = make_file(tmp_path / f"file-{size}.bin", size, seed=size)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_status(worker, upload_id, "done", "failed")
    assert row["status"] == "done", row
    assert row["offset"] == size
    assert tus_server.stored_bytes(row["result_url"]) == src.read_bytes()


def test_100_mib_file_with_spaces_and_non_ascii_name(worker, tus_server, tmp_path):
    add_target(worker, tus_server.url)
    src = make_file(tmp_path / "Relevé données été 2026 (final).bin", 100 * MiB, seed=7)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_status(worker, upload_id, "done", "failed", timeout=120)
    assert row["status"] == "done", row
    assert same_content(src, tus_server.stored_path(row["result_url"]))
    # the server kept the name we sent, UTF-8 intact
    head = requests.head(row["result_url"], headers={"Tus-Resumable": "1.0.0"}, timeout=5)
    assert "filename" in head.headers["Upload-Metadata"]
    import base64

    pairs = dict(p.split(" ", 1) for p in head.headers["Upload-Metadata"].split(","))
    assert base64.b64decode(pairs["filename"]).decode() == src.name


def test_pause_mid_patch_takes_effect_within_half_a_second_and_resume_continues(
    worker, tus_server, tmp_path
):
    add_target(worker, tus_server.url)
    worker.settings(bandwidth_limit=4 * MiB)
    src = make_file(tmp_path / "big.bin", 24 * MiB, seed=3)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_for(
        lambda: (r := upload_of(worker, upload_id))["offset"] > 3 * MiB and r["result_url"] and r,
        30,
        "some progress",
    )
    url = row["result_url"]
    worker.api.action(upload_id, "pause")
    paused_at = time.monotonic()
    assert upload_of(worker, upload_id)["status"] == "paused"
    # Within 0.5 s the bytes stop: sample the server's own file after that point.
    wait_for(lambda: time.monotonic() - paused_at >= 0.5, 2, "half a second")
    size_after_half_second = stored_size(tus_server, url)
    wait_for(lambda: time.monotonic() - paused_at >= 1.5, 3, "another second")
    assert stored_size(tus_server, url) == size_after_half_second, (
        "bytes kept arriving after the pause"
    )
    assert size_after_half_second < src.stat().st_size

    worker.settings(bandwidth_limit=0)
    worker.api.action(upload_id, "resume")
    row = wait_status(worker, upload_id, "done", "failed")
    assert row["status"] == "done"
    assert row["result_url"] == url, "resume must continue the same server upload, not start over"
    assert same_content(src, tus_server.stored_path(url))
    kinds = [e["kind"] for e in events_of(worker, upload_id)]
    assert "paused" in kinds and "resumed" in kinds and "restarted" not in kinds


def test_cancel_terminates_the_server_upload(worker, tus_server, tmp_path):
    add_target(worker, tus_server.url)
    worker.settings(bandwidth_limit=2 * MiB)
    src = make_file(tmp_path / "c.bin", 20 * MiB)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_for(
        lambda: (r := upload_of(worker, upload_id))["result_url"] and r["offset"] > MiB and r,
        30,
        "upload started",
    )
    url = row["result_url"]
    worker.api.action(upload_id, "cancel")
    assert upload_of(worker, upload_id)["status"] == "cancelled"

    def server_forgot():
        status = requests.head(url, headers={"Tus-Resumable": "1.0.0"}, timeout=5).status_code
        return status in (404, 410)

    wait_for(server_forgot, 10, "the server to answer 404 for the cancelled upload")
    wait_for(
        lambda: upload_of(worker, upload_id)["result_url"] is None, 10, "the URL to be forgotten"
    )


def test_kill_9_mid_upload_then_restart_loses_nothing(worker, fault_proxy, tmp_path):
    add_target(worker, fault_proxy.url)
    worker.settings(bandwidth_limit=16 * MiB)
    src = make_file(tmp_path / "k.bin", 48 * MiB, seed=9)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    wait_for(lambda: upload_of(worker, upload_id)["offset"] > 12 * MiB, 30, "a quarter uploaded")
    worker.kill9()

    worker.start()
    worker.settings(bandwidth_limit=0)
    row = wait_status(worker, upload_id, "done", "failed")
    assert row["status"] == "done", row
    assert same_content(src, fault_proxy.server.stored_path(row["result_url"]))
    resent = fault_proxy.patch_bytes_forwarded - src.stat().st_size
    assert 0 <= resent <= 8 * MiB, f"re-sent {resent} bytes"
    kinds = [e["kind"] for e in events_of(worker, upload_id)]
    assert "requeued" in kinds


def test_tus_server_restarted_mid_upload(worker, tus_server, tmp_path):
    add_target(worker, tus_server.url)
    worker.settings(bandwidth_limit=8 * MiB)
    src = make_file(tmp_path / "r.bin", 32 * MiB, seed=4)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    wait_for(lambda: upload_of(worker, upload_id)["offset"] > 4 * MiB, 30, "progress")
    tus_server.restart()
    worker.settings(bandwidth_limit=0)
    row = wait_status(worker, upload_id, "done", "failed")
    assert row["status"] == "done", row
    assert same_content(src, tus_server.stored_path(row["result_url"]))


@pytest.mark.parametrize(
    "fault",
    ["reset", "stall", "500", "503", "423", "429", "409"],
)
def test_transient_faults_are_retried_until_done(worker, fault_proxy, tmp_path, fault):
    add_target(worker, fault_proxy.url)
    if fault == "stall":
        worker.settings(stall_timeout=1.0)
    src = make_file(tmp_path / "f.bin", 6 * MiB, seed=5)
    if fault == "reset":
        fault_proxy.reset_after("PATCH", 2 * MiB)
    elif fault == "stall":
        fault_proxy.stall("PATCH", None, after_bytes=MiB)
    elif fault == "429":
        fault_proxy.respond("PATCH", 429, headers={"Retry-After": "1"}, body="slow down")
    else:
        fault_proxy.respond("PATCH", int(fault), body=f"injected {fault}")
    # the engine creates uploads empty, so the first byte always goes in a PATCH
    started = time.monotonic()
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_status(worker, upload_id, "done", "failed")
    assert row["status"] == "done", (row, events_of(worker, upload_id))
    assert same_content(src, fault_proxy.server.stored_path(row["result_url"]))
    kinds = [e["kind"] for e in events_of(worker, upload_id)]
    if fault == "409":
        assert any(r.status == 409 for r in fault_proxy.requests("PATCH"))
    else:
        assert "retrying" in kinds
    if fault == "429":
        assert time.monotonic() - started >= 1.0, "Retry-After was not respected"


def test_401_fails_at_once_with_the_servers_words(worker, fault_proxy, tmp_path):
    add_target(worker, fault_proxy.url)
    fault_proxy.respond("POST", 401, body="token expired", times=None)
    src = make_file(tmp_path / "a.bin", 1000)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_status(worker, upload_id, "done", "failed")
    assert row["status"] == "failed"
    assert "401" in row["error_message"] and "token expired" in row["error_message"]
    assert row["attempts"] <= 1
    assert len(fault_proxy.requests("POST")) == 1, "a 401 must not be retried"


def test_404_on_resume_starts_over_and_says_so(worker, tus_server, tmp_path):
    add_target(worker, tus_server.url)
    worker.settings(bandwidth_limit=2 * MiB)
    src = make_file(tmp_path / "g.bin", 12 * MiB, seed=11)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    row = wait_for(
        lambda: (r := upload_of(worker, upload_id))["result_url"] and r["offset"] > MiB and r,
        30,
        "progress",
    )
    worker.api.action(upload_id, "pause")
    old_url = row["result_url"]
    # the server loses the upload while it is paused (expiry, clean-up, admin)
    assert (
        requests.delete(old_url, headers={"Tus-Resumable": "1.0.0"}, timeout=5).status_code == 204
    )
    worker.settings(bandwidth_limit=0)
    worker.api.action(upload_id, "resume")
    row = wait_status(worker, upload_id, "done", "failed")
    assert row["status"] == "done"
    assert row["result_url"] != old_url
    assert same_content(src, tus_server.stored_path(row["result_url"]))
    restarted = [e for e in events_of(worker, upload_id) if e["kind"] == "restarted"]
    assert restarted and "start" in restarted[0]["message"].lower()


@pytest.mark.parametrize("change", ["modified", "truncated", "deleted"])
def test_file_changed_mid_upload_fails_with_a_clear_reason(worker, tus_server, tmp_path, change):
    add_target(worker, tus_server.url, chunk_size="1M")
    worker.settings(bandwidth_limit=2 * MiB)
    src = make_file(tmp_path / "m.bin", 16 * MiB, seed=2)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    wait_for(lambda: upload_of(worker, upload_id)["offset"] > 2 * MiB, 30, "progress")
    if change == "modified":
        with open(src, "r+b") as f:
            f.seek(10 * MiB)
            f.write(b"changed!")
    elif change == "truncated":
        os.truncate(src, 5 * MiB)
    else:
        src.unlink()
    row = wait_status(worker, upload_id, "done", "failed")
    assert row["status"] == "failed"
    assert row["error_title"] == "File changed during upload"
    assert "m.bin" in row["error_message"]


def test_bandwidth_limit_holds_within_15_percent_over_10_seconds(worker, tus_server, tmp_path):
    add_target(worker, tus_server.url)
    limit = 3 * MiB
    worker.settings(bandwidth_limit=limit)
    files = [make_file(tmp_path / f"bw{i}.bin", 40 * MiB, seed=i) for i in range(2)]
    ids = worker.api.add_uploads([str(f) for f in files], "srv")["ids"]
    rows = wait_for(
        lambda: (
            all((r := upload_of(worker, i))["result_url"] and r["offset"] > 0 for i in ids)
            and [upload_of(worker, i) for i in ids]
        ),
        30,
        "both uploads running",
    )
    urls = [r["result_url"] for r in rows]

    def total() -> int:
        return sum(stored_size(tus_server, u) for u in urls)

    start_bytes, start = total(), time.monotonic()
    wait_for(lambda: time.monotonic() - start >= 10.0, 12, "ten seconds")
    rate = (total() - start_bytes) / (time.monotonic() - start)
    assert 0.85 * limit <= rate <= 1.15 * limit, (
        f"{rate / MiB:.2f} MiB/s for a {limit / MiB:.0f} MiB/s limit"
    )
    for upload_id in ids:
        worker.api.action(upload_id, "cancel")


def test_pause_all_resume_all_and_live_concurrency(worker, tus_server, tmp_path):
    add_target(worker, tus_server.url)
    worker.settings(bandwidth_limit=1 * MiB, concurrency=1)
    files = [make_file(tmp_path / f"p{i}.bin", 2 * MiB, seed=i) for i in range(3)]
    ids = worker.api.add_uploads([str(f) for f in files], "srv")["ids"]
    wait_for(lambda: worker.api.stats()["counts"]["uploading"] == 1, 10, "one upload running")
    assert worker.api.stats()["counts"]["queued"] == 2
    worker.settings(concurrency=3)
    wait_for(lambda: worker.api.stats()["counts"]["uploading"] == 3, 10, "three uploads running")
    assert worker.api.pause_all()["count"] == 3
    assert worker.api.stats()["counts"]["paused"] == 3
    worker.settings(bandwidth_limit=0)
    assert worker.api.resume_all()["count"] == 3
    for upload_id in ids:
        assert wait_status(worker, upload_id, "done", "failed")["status"] == "done"


def test_long_paused_uploads_are_cancelled_when_the_setting_says_so(worker, tus_server, tmp_path):
    add_target(worker, tus_server.url)
    worker.settings(bandwidth_limit=MiB)
    src = make_file(tmp_path / "idle.bin", 8 * MiB)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    wait_status(worker, upload_id, "uploading")
    worker.api.action(upload_id, "pause")
    worker.settings(auto_cancel_paused_after=1)
    row = wait_status(worker, upload_id, "cancelled", timeout=10)
    assert row["status"] == "cancelled"
    assert any("auto-cancel" in (e["message"] or "") for e in events_of(worker, upload_id))


def test_each_bad_add_input_gets_its_message(worker, tus_server, tmp_path):
    from upqueue.core.api_client import ApiError

    add_target(worker, tus_server.url)
    folder = tmp_path / "folder"
    folder.mkdir()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    good = make_file(tmp_path / "ok.bin", 10)
    paths = [str(tmp_path / "missing.bin"), str(folder), str(fifo), str(good)]
    if os.path.exists("/dev/null"):
        paths.append("/dev/null")
    # root reads every file, so "unreadable" comes from a file the kernel itself refuses to open
    unreadable = "/proc/sys/vm/drop_caches"
    can_test_unreadable = os.path.exists(unreadable) and not os.access(unreadable, os.R_OK)
    if can_test_unreadable:
        paths.append(unreadable)
    result = worker.api.add_uploads(paths, "srv")
    assert len(result["ids"]) == 1
    by_path = {r["path"]: r for r in result["rejected"]}
    assert by_path[str(tmp_path / "missing.bin")]["title"] == "File not found"
    assert by_path[str(folder)]["title"] == "Is a folder"
    assert "named pipe" in by_path[str(fifo)]["message"]
    if "/dev/null" in paths:
        assert "device" in by_path["/dev/null"]["message"]
    if can_test_unreadable:
        assert by_path[unreadable]["title"] == "Cannot read file"
    with pytest.raises(ApiError) as info:
        worker.api.add_uploads([str(good)], "no-such-target")
    assert info.value.title == "No such target"
    nothing = worker.api.add_uploads([str(tmp_path / "missing.bin")], "srv")
    assert nothing["added"] == [] and nothing["rejected"][0]["title"] == "File not found"


def test_secrets_are_in_the_keyring_and_nowhere_else(worker, tus_server, tmp_path, upqueue_home):
    secret = "pa55-UNIQUE-7f3a9c"
    worker.api.add_target(
        name="auth", url=tus_server.url, auth_kind="basic", username="ann", secret=secret
    )
    worker.api.add_target(
        name="tok", url=tus_server.url, auth_kind="bearer", secret=secret + "-bearer"
    )
    src = make_file(tmp_path / "s.bin", 1000)
    upload_id = worker.api.add_uploads([str(src)], "auth")["ids"][0]
    wait_status(worker, upload_id, "done")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    export = worker.api.export_csv(today, today)
    assert "s.bin" in export and secret not in export
    assert worker.api.targets()["targets"][0]["has_secret"] is True
    worker.stop()
    import base64

    forms = [
        secret.encode(),
        base64.b64encode(f"ann:{secret}".encode()),
        base64.b64encode(secret.encode()),
    ]
    for path in upqueue_home.rglob("*"):  # state.db (+WAL), queue.db, logs, token files
        if path.is_file():
            data = path.read_bytes()
            assert not any(form in data for form in forms), f"secret found in {path}"
    from upqueue.core.secrets import SecretStore

    assert SecretStore(upqueue_home).get("target:1") == secret, "the secret is not in the keyring"


def test_a_settings_change_does_not_cut_a_running_upload(worker, tus_server, tmp_path):
    # A changed setting makes every target's transport anew for the next upload; the one
    # running keeps its connection until it is done (closing it would fail the attempt).
    add_target(worker, tus_server.url)
    worker.settings(bandwidth_limit=2 * MiB)
    src = make_file(tmp_path / "steady.bin", 6 * MiB)
    upload_id = worker.api.add_uploads([str(src)], "srv")["ids"][0]
    wait_for(lambda: upload_of(worker, upload_id)["offset"] > MiB, 30, "the upload under way")
    worker.settings(bandwidth_limit=3 * MiB)  # new transports for the next uploads
    worker.settings(stall_timeout=45)
    row = wait_status(worker, upload_id, "done", "failed", "retrying")
    assert row["status"] == "done", row
    kinds = [e["kind"] for e in events_of(worker, upload_id)]
    assert "retrying" not in kinds, kinds
    assert row["attempts"] == 0
    assert same_content(src, tus_server.stored_path(row["result_url"]))
