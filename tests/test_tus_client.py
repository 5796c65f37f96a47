"""Tests for core.transports.tus.client.TusClient against the real @tus/server (the fault proxy only for faults)."""

from __future__ import annotations

import base64
import email.utils
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from upqueue.core.errors import TransferError
from upqueue.core.filereader import FileSlice, fingerprint
from upqueue.core.status_errors import parse_retry_after, trim_server_text
from upqueue.core.transports.tus.client import (
    TusClient,
    choose_checksum,
    decode_metadata,
    encode_metadata,
)
from upqueue.core.transports.tus.headers import resolve_location as _resolve_location

from tests.fixtures.tus import ProxiedServer, TusServer, make_file, same_content

MiB = 1 << 20


@pytest.fixture
def client() -> Iterator[TusClient]:
    c = TusClient(connect_timeout=5, stall_timeout=5, read_timeout=10)
    yield c
    c.close()


def upload_whole(client: TusClient, endpoint: str, f: Path, metadata: dict[str, str]) -> str:
    size = f.stat().st_size
    url = client.create(endpoint, size, metadata).url
    if size:
        with FileSlice(str(f), 0, size, expected=fingerprint(f)) as body:
            assert client.patch(url, 0, body) == (size, None)
    return url


# -- discovery ---------------------------------------------------------------------------------


def test_discover_reads_the_real_servers_capabilities(client: TusClient, make_tus_server) -> None:
    server = make_tus_server(max_size=100 * MiB)
    caps = client.discover(server.url)
    assert caps.versions == ["1.0.0"]
    assert {"creation", "creation-with-upload", "termination", "expiration"} <= caps.extensions
    assert "checksum" not in caps.extensions
    assert caps.max_size == 100 * MiB
    assert choose_checksum(caps) is None


@pytest.mark.parametrize("status", [200, 404, 405])
def test_discover_without_a_tus_answer_means_capabilities_unknown(
    client: TusClient, fault_proxy: ProxiedServer, status: int
) -> None:
    # OPTIONS is optional in tus 1.0: an answer without Tus-Version says nothing either way.
    fault_proxy.respond("OPTIONS", status, body="<html>hello</html>")
    caps = client.discover(fault_proxy.url)
    assert (caps.described, caps.options_status) == (False, status)
    assert caps.extensions == {"creation"} and caps.max_size is None
    # ...and the real server behind the proxy takes the upload all the same.
    created = client.create(fault_proxy.url, 3, {"filename": "a"}, expect_tus_answer=True)
    assert client.head(created.url, expect_tus_answer=True).length == 3


def test_a_server_that_neither_describes_itself_nor_answers_tus_is_not_a_tus_server(
    client: TusClient, fault_proxy: ProxiedServer
) -> None:
    fault_proxy.respond("OPTIONS", 200, headers={"Tus-Resumable": ""}, body="<html>hello</html>")
    fault_proxy.respond(
        "POST", 200, headers={"Tus-Resumable": "", "Location": "/elsewhere"}, body="<html>ok</html>"
    )
    assert not client.discover(fault_proxy.url).described
    with pytest.raises(TransferError) as info:
        client.create(fault_proxy.url, 3, {"filename": "a"}, expect_tus_answer=True)
    assert info.value.kind == "permanent"
    assert info.value.title == "Not a tus server"
    assert "no Tus-Resumable" in info.value.message


def test_an_undescribed_server_asking_for_credentials_is_not_called_not_tus(
    client: TusClient, fault_proxy: ProxiedServer
) -> None:
    fault_proxy.respond("POST", 401, headers={"Tus-Resumable": ""}, body="login first")
    with pytest.raises(TransferError) as info:
        client.create(fault_proxy.url, 3, {"filename": "a"}, expect_tus_answer=True)
    assert info.value.status == 401 and info.value.title != "Not a tus server"


def test_discover_sees_checksum_when_advertised(
    client: TusClient, fault_proxy: ProxiedServer
) -> None:
    fault_proxy.checksum = True
    caps = client.discover(fault_proxy.url)
    assert "checksum" in caps.extensions
    assert caps.checksum_algorithms == ["sha1", "sha256"]
    assert choose_checksum(caps) == "sha1"


# -- create / head / patch / terminate ---------------------------------------------------------


def test_metadata_with_spaces_and_non_ascii_is_echoed_on_head(
    client: TusClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 1000)
    meta = {"filename": "Résumé 2024 – draft ✓.pdf", "filetype": "application/pdf"}
    url = upload_whole(client, tus_server.url, f, meta)
    head = client.head(url)
    assert (head.offset, head.length) == (1000, 1000)
    assert dict(head.metadata) == meta
    assert tus_server.stored_bytes(url) == f.read_bytes()


def test_metadata_is_standard_padded_base64() -> None:
    value = "\u00fb\u00ff?"  # UTF-8 c3 bb c3 bf 3f: "w7vDvz8=" has '+'/'/' only in the std alphabet
    encoded = encode_metadata({"name": value, "k": "ab"})
    assert encoded == f"name {base64.b64encode(value.encode()).decode()},k YWI="
    assert decode_metadata(encoded + ",bare") == {"name": value, "k": "ab", "bare": None}
    with pytest.raises(ValueError):
        encode_metadata({"bad key": "x"})


def test_no_metadata_header_when_empty_and_tus_resumable_everywhere_but_options(
    client: TusClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 10)
    client.discover(fault_proxy.url)
    url = upload_whole(client, fault_proxy.url, f, {})
    client.head(url)
    client.terminate(url)
    seen = {s.method: s.headers for s in fault_proxy.log}
    assert set(seen) == {"OPTIONS", "POST", "PATCH", "HEAD", "DELETE"}
    assert "upload-metadata" not in seen["POST"]
    assert "tus-resumable" not in seen["OPTIONS"]
    for method in ("POST", "PATCH", "HEAD", "DELETE"):
        assert seen[method]["tus-resumable"] == "1.0.0"
    assert seen["PATCH"]["content-type"] == "application/offset+octet-stream"
    assert seen["PATCH"]["upload-offset"] == "0"
    assert seen["POST"]["content-length"] == "0"


def test_credentials_and_headers_go_on_every_request(
    fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    c = TusClient(auth=("ann", "s3cret"), headers={"X-Api-Key": "k1"})
    f = make_file(tmp_path / "f", 10)
    url = upload_whole(c, fault_proxy.url, f, {"filename": "f"})
    c.head(url)
    c.terminate(url)
    c.close()
    expected = "Basic " + base64.b64encode(b"ann:s3cret").decode()
    for s in fault_proxy.log:
        assert s.headers.get("authorization") == expected, s.method
        assert s.headers.get("x-api-key") == "k1", s.method


def test_creation_with_upload_stores_the_body(
    client: TusClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 3000)
    with FileSlice(str(f), 0, 2000) as body:
        result = client.create(tus_server.url, 3000, {"filename": "f"}, body=body)
    assert result.offset == 2000
    assert client.head(result.url).offset == 2000
    with FileSlice(str(f), 2000, 1000) as body:
        assert client.patch(result.url, 2000, body)[0] == 3000
    assert tus_server.stored_bytes(result.url) == f.read_bytes()


def test_relative_location_is_resolved_against_the_creation_url(
    client: TusClient, fault_proxy: ProxiedServer
) -> None:
    fault_proxy.respond("POST", 201, headers={"Location": "/files/abc123"})
    result = client.create(fault_proxy.url, 10, {})
    assert result.url == fault_proxy.base_url + "/files/abc123"
    assert result.offset == 0


def test_http_location_for_an_https_endpoint_stays_https() -> None:
    assert (
        _resolve_location("https://up.example/files/", "http://up.example/files/x")
        == "https://up.example/files/x"
    )
    assert (
        _resolve_location("https://up.example:8443/files/", "http://up.example:8443/files/x")
        == "https://up.example:8443/files/x"
    )
    assert (
        _resolve_location("https://up.example:8443/files/", "http://up.example:8080/files/x")
        == "http://up.example:8080/files/x"
    )
    assert _resolve_location("https://a.example/files/", "x") == "https://a.example/files/x"
    assert _resolve_location("https://a.example/f/", "http://b.example/x") == "http://b.example/x"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Upload-Offset": "abc"}, {"Upload-Offset": "-1"}, {"Upload-Offset": "007"}],
    ids=["missing", "letters", "negative", "leading-zeros"],
)
def test_patch_answer_without_a_valid_offset_is_a_protocol_error(
    client: TusClient, fault_proxy: ProxiedServer, tmp_path: Path, headers: dict[str, str]
) -> None:
    f = make_file(tmp_path / "f", 100)
    url = client.create(fault_proxy.url, 100, {}).url
    fault_proxy.respond("PATCH", 204, headers=headers)
    with FileSlice(str(f), 0, 100) as body, pytest.raises(TransferError) as info:
        client.patch(url, 0, body)
    assert info.value.kind == "permanent"
    assert info.value.title == "Unexpected server response"


def test_patch_offset_beyond_what_was_sent_is_a_protocol_error(
    client: TusClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 100)
    url = client.create(fault_proxy.url, 100, {}).url
    fault_proxy.respond("PATCH", 204, headers={"Upload-Offset": "101"})
    with FileSlice(str(f), 0, 100) as body, pytest.raises(TransferError) as info:
        client.patch(url, 0, body)
    assert info.value.kind == "permanent"


def test_terminate_then_head_is_gone(
    client: TusClient, tus_server: TusServer, tmp_path: Path
) -> None:
    url = client.create(tus_server.url, 10, {}).url
    client.terminate(url)
    with pytest.raises(TransferError) as info:
        client.head(url)
    assert info.value.kind == "gone"
    assert info.value.status == 404
    client.terminate(url)  # already gone: fine


def test_server_max_size_413_names_the_limit(client: TusClient, make_tus_server) -> None:
    server = make_tus_server(max_size=100_000_000)  # sizes read in decimal units, as shown
    client.discover(server.url)
    with pytest.raises(TransferError) as info:
        client.create(server.url, 100_000_000 + 1, {})
    e = info.value
    assert (e.kind, e.status, e.title) == ("permanent", 413, "Server refused the file")
    assert e.message == (
        "413 Request Entity Too Large: Maximum size exceeded \u2014 the server accepts at most 100 MB"
    )


def test_body_is_sent_in_block_size_reads(fault_proxy: ProxiedServer, tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 3 * MiB)
    asked: list[int] = []

    class Recording(FileSlice):
        def read(self, n: int = -1) -> bytes:
            asked.append(n)
            return super().read(n)

    c = TusClient(block_size=512 * 1024)
    url = c.create(fault_proxy.url, 3 * MiB, {}).url
    with Recording(str(f), 0, 3 * MiB, block_size=512 * 1024) as body:
        assert c.patch(url, 0, body)[0] == 3 * MiB
    c.close()
    # The body is asked for in blocks of the block size each time.
    assert set(asked) == {512 * 1024}


def test_one_client_shared_by_threads(
    client: TusClient, tus_server: TusServer, tmp_path: Path
) -> None:
    files = [make_file(tmp_path / f"f{i}", 2 * MiB + i, seed=i) for i in range(4)]
    urls: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            urls[i] = upload_whole(client, tus_server.url, files[i], {"filename": f"f{i}"})
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    for i, f in enumerate(files):
        assert same_content(f, tus_server.stored_path(urls[i]))
    assert client.http.wire.connections() == 4  # one kept-alive connection per thread


# -- checksum ----------------------------------------------------------------------------------


def test_checksum_is_sent_and_verified(
    client: TusClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    fault_proxy.checksum = True
    f = make_file(tmp_path / "f", MiB)
    url = client.create(fault_proxy.url, MiB, {}).url
    with FileSlice(str(f), 0, MiB) as body:
        assert client.patch(url, 0, body, checksum_algorithm="sha1")[0] == MiB
    assert fault_proxy.checksums_verified == 1
    assert fault_proxy.server.stored_bytes(url) == f.read_bytes()


def test_wrong_checksum_is_460_checksum_kind(
    client: TusClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    fault_proxy.checksum = True
    f = make_file(tmp_path / "f", 1000)

    class Damaged(FileSlice):
        def digest(self, algorithm: str) -> bytes:
            return bytes(20)

    url = client.create(fault_proxy.url, 1000, {}).url
    with Damaged(str(f), 0, 1000) as body, pytest.raises(TransferError) as info:
        client.patch(url, 0, body, checksum_algorithm="sha1")
    assert (info.value.kind, info.value.status) == ("checksum", 460)
    assert client.head(url).offset == 0  # the chunk was discarded


# -- error classification ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (500, "Something went wrong", "transient"),
        (502, "", "transient"),
        (503, "", "transient"),
        (423, "", "transient"),
        (429, "", "transient"),
        (400, "Request aborted due to lock acquired", "transient"),
        (500, "failed to acquire lock before timeout", "transient"),
        (409, "Upload-Offset conflict", "conflict"),
        (460, "", "checksum"),
        (404, "", "gone"),
        (410, "The file for this url no longer exists", "gone"),
        (400, "Invalid upload-offset", "permanent"),
        (401, "", "permanent"),
        (403, "Content-Type header required", "permanent"),
        (412, "Tus-Resumable Required", "permanent"),
        (413, "upload's size exceeded", "permanent"),
        (415, "", "permanent"),
    ],
)
def test_patch_status_classification(
    client: TusClient,
    fault_proxy: ProxiedServer,
    tmp_path: Path,
    status: int,
    body: str,
    kind: str,
) -> None:
    f = make_file(tmp_path / "f", 100)
    url = client.create(fault_proxy.url, 100, {}).url
    fault_proxy.respond("PATCH", status, body=body)
    with FileSlice(str(f), 0, 100) as slice_, pytest.raises(TransferError) as info:
        client.patch(url, 0, slice_)
    assert (info.value.kind, info.value.status) == (kind, status)
    assert info.value.server_text == body
    if body:
        assert body in info.value.message


@pytest.mark.parametrize("status", [403, 404, 410])
def test_head_not_found_statuses_are_gone(
    client: TusClient, fault_proxy: ProxiedServer, status: int
) -> None:
    fault_proxy.respond("HEAD", status)
    with pytest.raises(TransferError) as info:
        client.head(fault_proxy.url + "0123456789abcdef")
    assert (info.value.kind, info.value.status) == ("gone", status)


def test_401_tells_the_person_what_to_check(client: TusClient, fault_proxy: ProxiedServer) -> None:
    fault_proxy.respond("POST", 401, body="Unauthorized", headers={"WWW-Authenticate": "Basic"})
    with pytest.raises(TransferError) as info:
        client.create(fault_proxy.url, 10, {})
    e = info.value
    assert (e.kind, e.status, e.title) == ("permanent", 401, "Server rejected the credentials")
    assert e.message.startswith(
        "The server rejected the credentials (401). Check the target's username/password or token."
    )
    assert "Unauthorized" in e.message


def test_create_404_says_to_check_the_url(client: TusClient, fault_proxy: ProxiedServer) -> None:
    fault_proxy.respond("POST", 404, body="Not found")
    with pytest.raises(TransferError) as info:
        client.create(fault_proxy.url, 10, {})
    e = info.value
    assert (e.kind, e.status, e.title) == ("permanent", 404, "Upload address not found")
    assert "Check the target's URL" in e.message


def test_redirect_is_reported_not_followed(client: TusClient, fault_proxy: ProxiedServer) -> None:
    fault_proxy.respond("POST", 301, headers={"Location": "https://elsewhere.example/files/"})
    with pytest.raises(TransferError) as info:
        client.create(fault_proxy.url, 10, {})
    assert (info.value.kind, info.value.status) == ("permanent", 301)
    assert "https://elsewhere.example/files/" in info.value.message
    assert [s.method for s in fault_proxy.log] == ["POST"]


def test_429_retry_after_seconds_and_date(client: TusClient, fault_proxy: ProxiedServer) -> None:
    fault_proxy.respond("HEAD", 429, headers={"Retry-After": "7"})
    with pytest.raises(TransferError) as info:
        client.head(fault_proxy.url + "x")
    assert (info.value.kind, info.value.retry_after) == ("transient", 7.0)
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    fault_proxy.respond("HEAD", 429, headers={"Retry-After": when})
    with pytest.raises(TransferError) as info:
        client.head(fault_proxy.url + "x")
    assert info.value.retry_after is not None
    assert 100 < info.value.retry_after <= 121


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_server_text_is_trimmed_for_people() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body></html>"
    assert trim_server_text(page, "text/html") == "502 Bad Gateway"
    assert trim_server_text("Maximum size exceeded\n") == "Maximum size exceeded"
    assert len(trim_server_text("y" * 5000)) == 300


def test_connection_refused_is_transient(client: TusClient, tus_server: TusServer) -> None:
    url = tus_server.url
    tus_server.stop()
    with pytest.raises(TransferError) as info:
        client.discover(url)
    assert info.value.kind == "transient"
    assert info.value.status is None


def test_reset_mid_patch_is_transient(
    client: TusClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 4 * MiB)
    url = client.create(fault_proxy.url, 4 * MiB, {}).url
    fault_proxy.reset_after("PATCH", MiB)
    with FileSlice(str(f), 0, 4 * MiB) as body, pytest.raises(TransferError) as info:
        client.patch(url, 0, body)
    assert info.value.kind == "transient"
    assert fault_proxy.patch_bytes_forwarded == MiB


def test_stalled_send_is_aborted_by_stall_timeout(
    fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    c = TusClient(stall_timeout=0.5, read_timeout=30)
    f = make_file(tmp_path / "f", 32 * MiB)
    url = c.create(fault_proxy.url, 32 * MiB, {}).url
    fault_proxy.stall("PATCH", None, after_bytes=MiB)
    start = time.monotonic()
    with FileSlice(str(f), 0, 32 * MiB) as body, pytest.raises(TransferError) as info:
        c.patch(url, 0, body)
    elapsed = time.monotonic() - start
    c.close()
    assert info.value.kind == "transient"
    assert "stalled" in info.value.message
    # Aborted by the 0.5 s stall timeout, not by the 30 s read timeout.
    assert elapsed < 5


def test_proxy_settings_from_the_environment_are_honoured(
    tus_server: TusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a proxy address where nothing listens
        probe.bind(("127.0.0.1", 0))
        dead_proxy = f"http://127.0.0.1:{probe.getsockname()[1]}"
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", dead_proxy)
    through_proxy = TusClient(connect_timeout=5, stall_timeout=5, read_timeout=10)
    with pytest.raises(TransferError) as failed:
        through_proxy.discover(tus_server.url)
    assert failed.value.kind == "transient"
    through_proxy.close()

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = TusClient(connect_timeout=5, stall_timeout=5, read_timeout=10)
    assert "creation" in direct.discover(tus_server.url).extensions
    direct.close()


def test_a_ca_bundle_named_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/upqueue-test/ca.pem")
    assert TusClient().verify == "/etc/upqueue-test/ca.pem"
    assert TusClient(verify=False).verify is False  # an explicit choice wins
