"""The S3 transport against real servers (SeaweedFS checks signatures and Content-MD5; rclone
serve s3 drops an upload when a part fails), with no engine: the transport's own contract."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from upqueue.core.errors import ErrorKind, TransferError, TransferStopped, UpqueueError
from upqueue.core.transports.s3 import ledger
from upqueue.core.transports.s3.location import parse_location
from upqueue.core.transports.s3.parts import MIB, choose_part_size
from upqueue.core.transports.s3.signer import EMPTY_SHA256, sign
from upqueue.core.transports.s3.transport import S3Transport

from tests.faultproxy import FaultProxy
from tests.fixtures.s3 import ACCESS_KEY, READER_KEY, READER_SECRET, SECRET_KEY, S3Bucket
from tests.fixtures.send_hooks import SETTINGS, RecordingHooks, job_for
from tests.fixtures.tus import make_file


def transport(
    url: str, *, key: str = ACCESS_KEY, secret: str = SECRET_KEY, **options: object
) -> S3Transport:
    target = {
        "protocol": "s3",
        "url": url,
        "username": key,
        "auth_kind": "basic",
        "options": {"part_size_mib": 5, "multipart_threshold_mib": 5, **options},
    }
    return S3Transport(target, secret, SETTINGS)


@pytest.fixture
def proxy(s3_bucket: S3Bucket) -> Iterator[FaultProxy]:
    port = int(urlsplit(s3_bucket.server.endpoint).port or 0)
    p = FaultProxy("127.0.0.1", port).start()
    yield p
    p.close()


def part_puts(proxy: FaultProxy) -> list[int]:
    """Part numbers of the UploadPart requests that reached the proxy, in order."""
    numbers = []
    for seen in proxy.requests("PUT"):
        query = parse_qs(urlsplit(seen.path).query)
        if "partNumber" in query:
            numbers.append(int(query["partNumber"][0]))
    return numbers


# -- signing and addresses (no server) -------------------------------------------------------


def test_signature_matches_aws_documented_example() -> None:
    # The "GET Object" example of AWS's SigV4 header-auth documentation.
    headers = sign(
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/test.txt",
        {},
        {"Range": "bytes=0-9"},
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        payload_sha256=EMPTY_SHA256,
        now=datetime(2013, 5, 24, tzinfo=UTC),
    )
    assert headers["Authorization"].endswith(
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_path_style_and_virtual_hosted_addresses() -> None:
    path = parse_location("http://127.0.0.1:8333/data/lab/raw/")
    assert (path.host, path.bucket, path.prefix, path.virtual_host) == (
        "127.0.0.1:8333",
        "data",
        "lab/raw/",
        False,
    )
    assert path.url_for(path.key_for("a b.tif")) == "http://127.0.0.1:8333/data/lab/raw/a%20b.tif"
    aws = parse_location("https://my-lab.s3.eu-west-1.amazonaws.com/scans")
    assert (aws.bucket, aws.prefix, aws.region, aws.virtual_host) == (
        "my-lab",
        "scans/",
        "eu-west-1",
        True,
    )
    assert aws.url_for("scans/x") == "https://my-lab.s3.eu-west-1.amazonaws.com/scans/x"
    assert parse_location("http://h/b", region="eu-central-1").region == "eu-central-1"
    with pytest.raises(TransferError, match="names no bucket"):
        parse_location("http://127.0.0.1:8333/")


def test_part_size_lets_10000_parts_cover_the_file() -> None:
    assert choose_part_size(96 * MIB, 8 * MIB) == 8 * MIB
    assert choose_part_size(1, 1) == 5 * MIB
    for size in (50_000 * MIB, 5 * 1024**4):
        part = choose_part_size(size, 8 * MIB)
        assert part % MIB == 0 and -(-size // part) <= 10_000


# -- uploads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1024])
def test_small_file_is_one_put_with_content_md5(
    tmp_path: Path, s3_bucket: S3Bucket, proxy: FaultProxy, size: int
) -> None:
    src = make_file(tmp_path / f"small-{size}.bin", size)
    t = transport(f"{proxy.base_url}/{s3_bucket.name}/in")
    hooks = RecordingHooks()
    sent = t.send(job_for(src), None, hooks)
    assert s3_bucket.get(f"in/{src.name}") == src.read_bytes()
    puts = proxy.requests("PUT")
    assert len(puts) == 1 and "content-md5" in puts[0].headers
    assert sent.remote_state["done"] == {
        f"in/{src.name}": hashlib.md5(src.read_bytes()).hexdigest()
    }
    assert sent.result_url and sent.result_url.endswith(f"/{s3_bucket.name}/in/{src.name}")


@pytest.mark.parametrize(
    ("checksum", "header", "used"),
    [("auto", "x-amz-checksum-crc32", "crc32"), ("md5", "content-md5", "md5")],
)
def test_96_mib_multipart_identical_etag_checked_state_before_first_part(
    tmp_path: Path, s3_bucket: S3Bucket, proxy: FaultProxy, checksum: str, header: str, used: str
) -> None:
    """SeaweedFS confirms CRC32 checksums: ``auto`` sends x-amz-checksum-crc32 on every part
    (and no Content-MD5); ``md5`` sends Content-MD5 on every part."""
    src = make_file(tmp_path / "big.bin", 96 * MIB)
    t = transport(
        f"{proxy.base_url}/{s3_bucket.name}", part_size_mib=8, parallel_parts=3, checksum=checksum
    )
    hooks = RecordingHooks()
    sent = t.send(job_for(src), None, hooks)
    assert s3_bucket.get(src.name) == src.read_bytes()
    assert sorted(part_puts(proxy)) == list(range(1, 13))
    puts = proxy.requests("PUT")
    assert all(header in s.headers for s in puts), [sorted(s.headers) for s in puts]
    other = "content-md5" if header != "content-md5" else "x-amz-checksum-crc32"
    assert not any(other in s.headers for s in puts)
    first = hooks.states[0]
    assert first and first["upload_id"] and first["part_size"] == 8 * MIB
    assert first["checksum"] == used
    # The upload id was stored before any part went out (the first progress comes after).
    assert hooks.progress[-1] == src.stat().st_size
    assert sent.remote_state["done"][src.name].endswith("-12")
    assert s3_bucket.pending() == []


def test_resume_sends_no_part_the_server_holds(
    tmp_path: Path, s3_bucket: S3Bucket, proxy: FaultProxy
) -> None:
    src = make_file(tmp_path / "resume.bin", 40 * MIB)
    url = f"{proxy.base_url}/{s3_bucket.name}"
    stored = None
    for stop_at in (12 * MIB, 26 * MIB):  # stopped twice mid-upload, a new transport each time
        hooks = RecordingHooks(stop_at=stop_at)
        with pytest.raises(TransferStopped):
            transport(url, parallel_parts=2).send(job_for(src), stored, hooks)
        stored = hooks.state or stored  # a resumed send keeps the stored state
    assert stored and stored["upload_id"]
    held = {p.number for p in s3_bucket.client().list_parts(src.name, stored["upload_id"])}
    assert held, "the server should hold some parts after two interrupted sends"
    before = len(part_puts(proxy))
    hooks = RecordingHooks()
    transport(url, parallel_parts=2).send(job_for(src), stored, hooks)
    resent = part_puts(proxy)[before:]
    assert not held & set(resent), f"parts {sorted(held & set(resent))} were sent again"
    assert sorted(held | set(resent)) == list(range(1, 9))
    assert s3_bucket.get(src.name) == src.read_bytes()
    assert any("holds" in message for _, message in hooks.events)
    assert hooks.progress[0] == len(held) * 5 * MIB, "a resume starts at what the server holds"


def test_cancel_aborts_the_multipart_upload(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    src = make_file(tmp_path / "cancel.bin", 20 * MIB)
    t = transport(s3_bucket.url)
    hooks = RecordingHooks(stop_at=6 * MIB)
    with pytest.raises(TransferStopped):
        t.send(job_for(src), None, hooks)
    assert s3_bucket.pending() == [src.name]
    assert hooks.state
    t.terminate(hooks.state)
    assert s3_bucket.pending() == []


def test_stale_uploads_of_upqueue_aborted_others_left(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    src = make_file(tmp_path / "stale.bin", 12 * MIB)
    t = transport(s3_bucket.url)
    for name in ("tracked", "forgotten"):
        hooks = RecordingHooks(stop_at=1)
        with pytest.raises(TransferStopped):
            t.send(
                job_for(src.rename(tmp_path / name) if src.exists() else tmp_path / name),
                None,
                hooks,
            )
        if name == "tracked":
            tracked_state = hooks.state
        src = tmp_path / name
    foreign = s3_bucket.client().create_multipart("someone-else", {})
    assert sorted(s3_bucket.pending()) == ["forgotten", "someone-else", "tracked"]
    assert t.clean_up_stale([tracked_state]) == []  # too young to be sure
    said = t.clean_up_stale([tracked_state, None], min_age=0)
    assert len(said) == 1 and "forgotten" in said[0]
    assert sorted(s3_bucket.pending()) == ["someone-else", "tracked"]
    assert foreign not in ledger.started(t.location.host, s3_bucket.name)


# -- errors a person must act on ---------------------------------------------------------------


def test_wrong_secret_says_so(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    src = make_file(tmp_path / "a.bin", 10)
    with pytest.raises(TransferError) as info:
        transport(s3_bucket.url, secret="wrong").send(job_for(src), None, RecordingHooks())
    assert info.value.title == "Wrong secret key" and info.value.kind == ErrorKind.PERMANENT
    report = transport(s3_bucket.url, secret="wrong").test_connection()
    assert not report.ok and report.title == "Wrong secret key"


def test_missing_bucket_is_named(tmp_path: Path, seaweedfs: object, s3_bucket: S3Bucket) -> None:
    src = make_file(tmp_path / "a.bin", 10)
    url = f"{s3_bucket.server.endpoint}/no-such-bucket-here"
    with pytest.raises(TransferError) as info:
        transport(url).send(job_for(src), None, RecordingHooks())
    assert info.value.title == "Bucket not found"
    assert "'no-such-bucket-here'" in info.value.message
    report = transport(url).test_connection()
    assert not report.ok and "'no-such-bucket-here'" in report.message


def test_denied_permission_says_which_key(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    src = make_file(tmp_path / "a.bin", 10)
    t = transport(s3_bucket.url, key=READER_KEY, secret=READER_SECRET)
    with pytest.raises(TransferError) as info:
        t.send(job_for(src), None, RecordingHooks())
    assert info.value.title == "Permission denied"
    assert f"'{READER_KEY}'" in info.value.message and s3_bucket.name in info.value.message


def test_clock_skew_says_so(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    src = make_file(tmp_path / "a.bin", 10)
    t = transport(s3_bucket.url)
    t.client.clock_offset = timedelta(hours=2)
    with pytest.raises(TransferError) as info:
        t.send(job_for(src), None, RecordingHooks())
    assert info.value.title == "This computer's clock is wrong"
    assert "120 minutes" in info.value.message


def test_connection_test_writes_and_deletes(s3_bucket: S3Bucket) -> None:
    report = transport(s3_bucket.url + "/pre").test_connection()
    assert report.ok, report.message
    assert "accepts writes" in report.message
    keys = s3_bucket.client()._call("GET", "", query={"list-type": "2"}, action="listing").text
    assert "connection-test" not in keys


# -- faults --------------------------------------------------------------------------------------


def test_connection_reset_mid_part_resumes_without_resending_held_parts(
    tmp_path: Path, s3_bucket: S3Bucket, proxy: FaultProxy
) -> None:
    src = make_file(tmp_path / "reset.bin", 15 * MIB)
    url = f"{proxy.base_url}/{s3_bucket.name}"
    proxy.reset_after("PUT", 2 * MIB, nth=2)
    hooks = RecordingHooks()
    with pytest.raises(TransferError) as info:
        transport(url, parallel_parts=1).send(job_for(src), None, hooks)
    assert info.value.kind == ErrorKind.TRANSIENT
    transport(url, parallel_parts=1).send(job_for(src), hooks.state, hooks)
    assert s3_bucket.get(src.name) == src.read_bytes()
    assert part_puts(proxy) == [1, 2, 2, 3]


@pytest.mark.parametrize("parallel", [1, 3])
def test_server_error_on_a_part_is_transient(
    tmp_path: Path, s3_bucket: S3Bucket, proxy: FaultProxy, parallel: int
) -> None:
    """The part's own error ends the send, not the stop it causes in the parts beside it."""
    src = make_file(tmp_path / "busy.bin", 11 * MIB)
    url = f"{proxy.base_url}/{s3_bucket.name}"
    proxy.respond(
        "PUT",
        503,
        body="<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>",
        nth=1,
    )
    with pytest.raises(TransferError) as info:
        transport(url, parallel_parts=parallel).send(job_for(src), None, hooks := RecordingHooks())
    assert info.value.kind == ErrorKind.TRANSIENT and "SlowDown" in info.value.message
    transport(url).send(job_for(src), hooks.state, hooks)
    assert s3_bucket.get(src.name) == src.read_bytes()


def test_rclone_dropping_the_upload_ends_in_started_over(
    tmp_path: Path, rclone_bucket: S3Bucket
) -> None:
    src = make_file(tmp_path / "quirk.bin", 12 * MIB)
    url = rclone_bucket.url
    hooks = RecordingHooks(stop_on_state=True)  # stopped once the upload id is stored
    with pytest.raises(TransferStopped):
        transport(url).send(job_for(src), None, hooks)
    stored = hooks.state
    assert stored and stored["upload_id"]
    # rclone ignores x-amz-checksum-algorithm (it would not check a CRC32): Content-MD5.
    assert stored["checksum"] == "md5"
    # One part arrives whole, the next damaged in transit (its bytes no longer match its
    # Content-MD5): rclone rejects it and drops the whole multipart upload with it.
    client, upload_id = rclone_bucket.client(), stored["upload_id"]
    first = src.read_bytes()[: 5 * MIB]
    client.upload_part(src.name, upload_id, 1, first, hashlib.md5(first).digest())
    with pytest.raises(TransferError) as info:
        client.upload_part(src.name, upload_id, 2, first, hashlib.md5(b"other").digest())
    assert info.value.kind == ErrorKind.CHECKSUM
    hooks = RecordingHooks()
    sent = transport(url).send(job_for(src), stored, hooks)
    assert rclone_bucket.get(src.name) == src.read_bytes()
    assert any(
        kind == "restarted" and "started over" in message for kind, message in hooks.events
    ), hooks.events
    assert hooks.states[0] and hooks.states[0]["upload_id"] != upload_id
    assert sent.remote_state["done"][src.name].endswith("-3")


def test_a_server_refusing_the_crc32_request_gets_content_md5(
    tmp_path: Path, s3_bucket: S3Bucket, proxy: FaultProxy
) -> None:
    """A store that answers 400 to CreateMultipartUpload with x-amz-checksum-algorithm is asked
    again without it, and its parts carry Content-MD5."""
    src = make_file(tmp_path / "old-store.bin", 11 * MIB)
    proxy.respond(
        "POST",
        400,
        nth=1,
        body="<Error><Code>InvalidArgument</Code><Message>x-amz-checksum-algorithm</Message></Error>",
    )
    hooks = RecordingHooks()
    transport(f"{proxy.base_url}/{s3_bucket.name}").send(job_for(src), None, hooks)
    assert s3_bucket.get(src.name) == src.read_bytes()
    posts = proxy.requests("POST")
    assert "x-amz-checksum-algorithm" in posts[0].headers
    assert "x-amz-checksum-algorithm" not in posts[1].headers
    assert hooks.states[0] and hooks.states[0]["checksum"] == "md5"
    assert all("content-md5" in s.headers for s in proxy.requests("PUT"))


def test_etag_mismatch_fails_with_both_figures(
    tmp_path: Path, s3_bucket: S3Bucket, proxy: FaultProxy
) -> None:
    src = make_file(tmp_path / "verify.bin", 11 * MIB)
    url = f"{proxy.base_url}/{s3_bucket.name}"
    wrong = "0123456789abcdef0123456789abcdef-3"
    proxy.respond(
        "POST",
        200,
        nth=2,
        headers={"Content-Type": "application/xml"},
        body=f"<CompleteMultipartUploadResult><ETag>&quot;{wrong}&quot;</ETag>"
        "</CompleteMultipartUploadResult>",
    )
    with pytest.raises(TransferError) as info:
        transport(url, checksum="md5").send(job_for(src), None, RecordingHooks())
    assert info.value.title == "Upload verification failed"
    local = info.value.message.split("gives ")[1].split(":")[0]
    assert wrong in info.value.message and local.endswith("-3") and local != wrong


def test_composite_crc32_mismatch_fails_with_both_figures(
    tmp_path: Path, s3_bucket: S3Bucket, proxy: FaultProxy
) -> None:
    """CRC32 parts: the object's composite CRC32 in the completion answer is checked."""
    src = make_file(tmp_path / "verify.bin", 11 * MIB)
    url = f"{proxy.base_url}/{s3_bucket.name}"
    wrong = "AAAAAA==-3"
    proxy.respond(
        "POST",
        200,
        nth=2,
        headers={"Content-Type": "application/xml"},
        body="<CompleteMultipartUploadResult><ETag>&quot;0123456789abcdef0123456789abcdef-3"
        f"&quot;</ETag><ChecksumCRC32>{wrong}</ChecksumCRC32></CompleteMultipartUploadResult>",
    )
    with pytest.raises(TransferError) as info:
        transport(url).send(job_for(src), None, RecordingHooks())
    assert info.value.title == "Upload verification failed"
    local = info.value.message.split("gives ")[1].split(":")[0]
    assert wrong in info.value.message and local.endswith("-3") and local != wrong


@pytest.mark.parametrize(
    ("answer", "figure"),
    [
        (
            {"ETag": '"0123456789abcdef0123456789abcdef"', "x-amz-checksum-crc32": "AAAAAA=="},
            "CRC32",
        ),
        ({"ETag": '"0123456789abcdef0123456789abcdef"'}, "ETag"),
    ],
)
def test_a_part_answer_that_does_not_prove_the_crc32_is_damage(
    tmp_path: Path, s3_bucket: S3Bucket, proxy: FaultProxy, answer: dict[str, str], figure: str
) -> None:
    """A part accepted with another CRC32 than ours, or with no CRC32 and an ETag that is not
    the part's MD5, did not arrive as sent: a transient error (the part goes again)."""
    src = make_file(tmp_path / "part.bin", 11 * MIB)
    proxy.respond("PUT", 200, nth=1, headers=answer)
    with pytest.raises(TransferError) as info:
        transport(f"{proxy.base_url}/{s3_bucket.name}", parallel_parts=1).send(
            job_for(src), None, RecordingHooks()
        )
    assert info.value.title == "Part damaged in transit", info.value.message
    assert info.value.kind == ErrorKind.TRANSIENT
    assert f"server's {figure}" in info.value.message
    assert "0123456789abcdef" in info.value.message or "AAAAAA==" in info.value.message


def test_a_datasets_members_go_side_by_side(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    parts = [
        make_file(tmp_path / f"roads.{ext}", size, seed=i)
        for i, (ext, size) in enumerate([("shp", 7 * MIB), ("dbf", 3000), ("shx", 100)])
    ]
    hooks = RecordingHooks()
    sent = transport(s3_bucket.url + "/gis").send(job_for(*parts), None, hooks)
    for src in parts:
        assert s3_bucket.get(f"gis/{src.name}") == src.read_bytes()
    assert sorted(sent.remote_state["done"]) == ["gis/roads.dbf", "gis/roads.shp", "gis/roads.shx"]
    assert hooks.progress[-1] == sum(p.stat().st_size for p in parts)
    # A send from the finished state sends nothing again.
    again = RecordingHooks()
    transport(s3_bucket.url + "/gis").send(job_for(*parts), sent.remote_state, again)
    assert again.states == [] and again.events == []
    # One member deleted on the server since: that one (alone) goes again.
    s3_bucket.client().delete_object("gis/roads.dbf")
    again = RecordingHooks()
    transport(s3_bucket.url + "/gis").send(job_for(*parts), sent.remote_state, again)
    assert s3_bucket.get("gis/roads.dbf") == parts[1].read_bytes()
    assert [m for k, m in again.events if k == "restarted"] == [
        "gis/roads.dbf is no longer on the server as it was sent; it is sent again."
    ]


def test_the_checksum_option_takes_auto_or_md5() -> None:
    fields = {"url": "http://127.0.0.1:9/bucket", "username": ACCESS_KEY}
    for good in ("auto", "md5", "MD5", ""):
        S3Transport.check_target({**fields, "options": {"checksum": good}})
    with pytest.raises(UpqueueError) as info:
        S3Transport.check_target({**fields, "options": {"checksum": "sha1"}})
    assert "auto, md5" in info.value.message and "sha1" in info.value.message
