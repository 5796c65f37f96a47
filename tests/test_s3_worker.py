"""S3 through the real worker process (SeaweedFS behind the fault proxy, which counts every
UploadPart): kill -9 mid-part twice, cancel, Test Connection, and the housekeeping of stale
multipart uploads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.faultproxy import FaultProxy
from tests.fixtures.s3 import ACCESS_KEY, SECRET_KEY, S3Bucket
from tests.fixtures.tus import make_file
from tests.fixtures.worker import WorkerProcess, wait_for

MiB = 1 << 20


@pytest.fixture
def proxy(s3_bucket: S3Bucket) -> Iterator[FaultProxy]:
    p = FaultProxy("127.0.0.1", int(urlsplit(s3_bucket.server.endpoint).port or 0)).start()
    yield p
    p.close()


def add_s3_target(worker: WorkerProcess, url: str, **options: object) -> None:
    worker.api.add_target(
        name="s3",
        protocol="s3",
        url=url,
        auth_kind="basic",
        username=ACCESS_KEY,
        secret=SECRET_KEY,
        options={"part_size_mib": 5, "multipart_threshold_mib": 5, "parallel_parts": 2, **options},
    )


def part_puts(proxy: FaultProxy) -> list[int]:
    found = []
    for seen in proxy.requests("PUT"):
        query = parse_qs(urlsplit(seen.path).query)
        if "partNumber" in query:
            found.append(int(query["partNumber"][0]))
    return found


def upload_of(worker: WorkerProcess, upload_id: int) -> dict:
    return worker.api.upload(upload_id)["upload"]


def test_kill_9_mid_part_twice_then_restart_sends_no_held_part_again(
    make_worker: WorkerProcess, s3_bucket: S3Bucket, proxy: FaultProxy, tmp_path: Path
) -> None:
    make_worker.start()
    make_worker.settings(retry_base_delay=0.2, retry_max_delay=1.0, bandwidth_limit=4 * MiB)
    add_s3_target(make_worker, f"{proxy.base_url}/{s3_bucket.name}/lab")
    src = make_file(tmp_path / "scan.bin", 40 * MiB, seed=3)
    upload_id = make_worker.api.add_uploads([str(src)], "s3")["ids"][0]
    client = s3_bucket.client()
    for reached in (8 * MiB, 22 * MiB):
        wait_for(
            lambda r=reached: upload_of(make_worker, upload_id)["offset"] > r,
            60,
            f"{reached} bytes sent",
        )
        make_worker.kill9()
        pending = client.list_multipart_uploads("")
        assert [u.key for u in pending] == ["lab/scan.bin"], "one multipart upload, kept"
        held = {p.number for p in client.list_parts("lab/scan.bin", pending[0].upload_id)}
        before = len(part_puts(proxy))
        make_worker.start()
        if reached == 22 * MiB:
            make_worker.settings(bandwidth_limit=0)
        wait_for(lambda b=before: len(part_puts(proxy)) > b, 30, "a part sent after the restart")
        # Parts already in flight when the check ran may still be added to the log: only what
        # started after the restart counts, and none of it may be a part the server held.
        again = held & set(part_puts(proxy)[before:])
        assert not again, f"parts {sorted(again)} the server held were sent again"
    row = wait_for(
        lambda: (r := upload_of(make_worker, upload_id))["status"] in ("done", "failed") and r,
        90,
        "the upload to finish",
    )
    assert row["status"] == "done", row
    assert s3_bucket.get("lab/scan.bin") == src.read_bytes()
    assert client.list_multipart_uploads("") == []
    assert row["result_url"].endswith(f"/{s3_bucket.name}/lab/scan.bin")
    events = make_worker.api.upload(upload_id)["events"]
    assert not any(e["kind"] == "restarted" for e in events)


def test_cancel_aborts_the_multipart_upload_and_test_connection_works(
    worker: WorkerProcess, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    worker.settings(bandwidth_limit=2 * MiB)
    add_s3_target(worker, s3_bucket.url)
    src = make_file(tmp_path / "big.bin", 30 * MiB, seed=4)
    upload_id = worker.api.add_uploads([str(src)], "s3")["ids"][0]
    wait_for(
        lambda: (
            s3_bucket.pending() == ["big.bin"] and upload_of(worker, upload_id)["offset"] > 6 * MiB
        ),
        60,
        "parts on the server",
    )
    worker.api.action(upload_id, "cancel")
    wait_for(lambda: upload_of(worker, upload_id)["status"] == "cancelled", 20, "the cancel")
    wait_for(lambda: s3_bucket.pending() == [], 20, "AbortMultipartUpload")
    report = worker.api.test_target_config(
        name="t",
        protocol="s3",
        url=s3_bucket.url,
        auth_kind="basic",
        username=ACCESS_KEY,
        secret=SECRET_KEY,
    )
    assert report["ok"] is True and "accepts writes" in report["message"], report
    wrong = worker.api.test_target_config(
        name="t",
        protocol="s3",
        url=s3_bucket.url,
        auth_kind="basic",
        username=ACCESS_KEY,
        secret="not-the-secret",
    )
    assert wrong["ok"] is False and wrong["title"] == "Wrong secret key", wrong


def test_housekeeping_aborts_stale_multipart_uploads_of_upqueue_only(
    upqueue_home: Path, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    """In-process engine (the inline rig): its one timer starts the clean-up, which aborts the
    multipart upload upqueue started and no upload tracks, and spares a tracked one and one
    that someone else started."""
    import json

    from upqueue.core.errors import TransferStopped
    from upqueue.core.transports.s3 import ledger
    from upqueue.worker.housekeeping import CLEANUP_FIRST_SECONDS

    from tests.fixtures.send_hooks import RecordingHooks, job_for
    from tests.test_engine_inline import Rig

    rig = Rig(upqueue_home)
    try:
        target = rig.service.add_target(
            {
                "name": "s3",
                "protocol": "s3",
                "url": s3_bucket.url,
                "auth_kind": "basic",
                "username": ACCESS_KEY,
                "secret": SECRET_KEY,
                "options": {"part_size_mib": 5, "multipart_threshold_mib": 5},
            }
        )
        tracked_src = make_file(tmp_path / "tracked.bin", 12 * MiB)
        upload_id = rig.service.add_uploads([str(tracked_src)], "s3").ids[0]
        transport = rig.engine.targets.get(target["id"]).transport
        states = {}
        for name in ("tracked.bin", "forgotten.bin"):
            src = tmp_path / name if name == "tracked.bin" else make_file(tmp_path / name, 12 * MiB)
            hooks = RecordingHooks(stop_on_state=True)
            with pytest.raises(TransferStopped):
                transport.send(job_for(src), None, hooks)
            states[name] = hooks.state
        rig.repository.save_remote_state(upload_id, states["tracked.bin"], None, 0, False)
        s3_bucket.client().create_multipart("someone-else.bin", {})
        # Both of upqueue's uploads began two hours ago (the clean-up spares young ones).
        path = upqueue_home / ledger.LEDGER_FILE
        entries = json.loads(path.read_text())
        for entry in entries.values():
            entry["started"] -= 7200
        path.write_text(json.dumps(entries))
        assert sorted(s3_bucket.pending()) == ["forgotten.bin", "someone-else.bin", "tracked.bin"]

        rig.clock.now += CLEANUP_FIRST_SECONDS
        rig.engine.housekeeper.run_once()
        wait_for(lambda: "forgotten.bin" not in s3_bucket.pending(), 20, "the stale upload aborted")
        assert sorted(s3_bucket.pending()) == ["someone-else.bin", "tracked.bin"]
    finally:
        rig.close()


def test_cli_adds_and_tests_an_s3_target(worker: WorkerProcess, s3_bucket: S3Bucket) -> None:
    from tests.test_cli import cli, ok

    ok(
        "target",
        "add",
        "store",
        "--protocol",
        "s3",
        "--url",
        s3_bucket.url + "/in",
        "--username",
        ACCESS_KEY,
        "--password-stdin",
        "--option",
        "region=us-east-1",
        "--option",
        "parallel_parts=2",
        input=SECRET_KEY + "\n",
    )
    tested = ok("target", "test", "store")
    assert "Connection works" in tested.stdout and "accepts writes" in tested.stdout
    (target,) = worker.api.targets()["targets"]
    assert target["options"] == {"region": "us-east-1", "parallel_parts": "2"}
    assert SECRET_KEY not in str(target)
    no_bucket = cli(
        "target",
        "add",
        "x",
        "--protocol",
        "s3",
        "--url",
        s3_bucket.server.endpoint,
        "--username",
        ACCESS_KEY,
    )
    assert no_bucket.returncode != 0 and "names no bucket" in no_bucket.stderr + no_bucket.stdout
    no_key = cli("target", "add", "y", "--protocol", "s3", "--url", s3_bucket.url)
    assert no_key.returncode != 0 and "access key id" in no_key.stderr + no_key.stdout


@pytest.mark.parametrize("server", ["seaweedfs", "rclone"])
def test_a_part_damaged_in_transit_is_caught_and_the_upload_completes(
    make_worker: WorkerProcess, server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The fault proxy flips one byte of part 2. Content-MD5 makes the server refuse it
    (BadDigest). SeaweedFS keeps the upload: only that part goes again. rclone drops the whole
    upload with the part (NoSuchUpload next): the upload starts over, says so, and finishes."""
    bucket: S3Bucket = request.getfixturevalue(
        "s3_bucket" if server == "seaweedfs" else "rclone_bucket"
    )
    proxy = FaultProxy("127.0.0.1", int(urlsplit(bucket.server.endpoint).port or 0)).start()
    try:
        make_worker.start()
        make_worker.settings(retry_base_delay=0.2, retry_max_delay=1.0)
        add_s3_target(make_worker, f"{proxy.base_url}/{bucket.name}", parallel_parts=1)
        src = make_file(tmp_path / "damaged.bin", 14 * MiB, seed=8)
        proxy.corrupt_at("PUT", 1000, nth=2)
        upload_id = make_worker.api.add_uploads([str(src)], "s3")["ids"][0]
        row = wait_for(
            lambda: (r := upload_of(make_worker, upload_id))["status"] in ("done", "failed") and r,
            90,
            "the upload to finish",
        )
        assert row["status"] == "done", row
        assert bucket.get(src.name) == src.read_bytes()
        events = make_worker.api.upload(upload_id)["events"]
        said = " | ".join(e["message"] or "" for e in events)
        assert "BadDigest" in said or "damaged in transit" in said.lower(), said
        puts = part_puts(proxy)
        if server == "seaweedfs":
            assert puts == [1, 2, 2, 3], puts
            assert not any(e["kind"] == "restarted" for e in events)
        else:
            assert any(
                e["kind"] == "restarted" and "started over" in (e["message"] or "") for e in events
            ), said
            assert bucket.pending() == []
    finally:
        proxy.close()


def test_empty_and_small_files_through_the_worker(
    worker: WorkerProcess, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    add_s3_target(worker, s3_bucket.url + "/small")
    files = [make_file(tmp_path / "empty.bin", 0), make_file(tmp_path / "one-k.bin", 1024)]
    ids = worker.api.add_uploads([str(f) for f in files], "s3")["ids"]
    for upload_id, src in zip(ids, files, strict=True):
        row = wait_for(
            lambda u=upload_id: (r := upload_of(worker, u))["status"] in ("done", "failed") and r,
            30,
            f"upload {upload_id}",
        )
        assert row["status"] == "done", row
        assert s3_bucket.get(f"small/{src.name}") == src.read_bytes()
        assert row["result_url"].endswith(f"/small/{src.name}")
