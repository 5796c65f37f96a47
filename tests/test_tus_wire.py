"""The tus client's own HTTP path (core.transports.wire) against the real @tus/server: TLS with a
CA bundle and without, kept-alive connections that the server closed, a pause in a send, and
what cannot be sent."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from upqueue.core.errors import TransferError
from upqueue.core.filereader import FileSlice, fingerprint
from upqueue.core.transports.tus.client import TusClient

from tests.fixtures.tls import ForwardProxy, TlsForwarder
from tests.fixtures.tus import ProxiedServer, TusServer, make_file

MiB = 1 << 20


def test_https_with_the_servers_ca_bundle_uploads(
    tls_forwarder: TlsForwarder, tus_server: TusServer, tmp_path: Path
) -> None:
    cert = tls_forwarder.cert  # type: ignore[attr-defined]
    client = TusClient(verify=str(cert))
    f = make_file(tmp_path / "f", 3 * MiB + 5)
    created = client.create(tls_forwarder.url, 3 * MiB + 5, {"filename": "f"})
    assert created.url.startswith(f"https://localhost:{tls_forwarder.port}/files/")
    with FileSlice(str(f), 0, 3 * MiB + 5, expected=fingerprint(f)) as body:
        assert client.patch(created.url, 0, body)[0] == 3 * MiB + 5
    assert client.head(created.url).offset == 3 * MiB + 5
    client.close()
    assert tus_server.stored_bytes(created.url) == f.read_bytes()
    assert tls_forwarder.connections == 1  # one kept-alive TLS connection for all three


def test_https_with_an_unknown_certificate_says_so(
    tls_forwarder: TlsForwarder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    client = TusClient()
    with pytest.raises(TransferError) as info:
        client.discover(tls_forwarder.url)
    assert (info.value.kind, info.value.title) == ("permanent", "Server certificate not trusted")
    assert f"localhost:{tls_forwarder.port}" in info.value.message
    assert "REQUESTS_CA_BUNDLE" in info.value.message


def test_the_ca_bundle_from_the_environment_is_trusted(
    tls_forwarder: TlsForwarder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_forwarder.cert))  # type: ignore[attr-defined]
    assert "creation" in TusClient().discover(tls_forwarder.url).extensions


def test_verify_false_accepts_any_certificate(tls_forwarder: TlsForwarder) -> None:
    assert "creation" in TusClient(verify=False).discover(tls_forwarder.url).extensions


def test_a_connection_the_server_closed_is_replaced(tus_server: TusServer) -> None:
    client = TusClient(connect_timeout=5, stall_timeout=5, read_timeout=10)
    first = client.create(tus_server.url, 10, {"filename": "a"})
    assert client.http.wire.connections() == 1
    tus_server.restart()  # every kept-alive connection of the old process is closed
    # The stale connection is noticed before the request is written, and a new one made.
    assert client.head(first.url).length == 10
    assert client.http.wire.connections() == 1
    client.close()
    assert client.http.wire.connections() == 0


def test_a_pause_shorter_than_the_stall_timeout_is_not_a_stall(
    fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    client = TusClient(connect_timeout=0.2, stall_timeout=3, read_timeout=30, block_size=4 * MiB)
    f = make_file(tmp_path / "f", 8 * MiB)
    url = client.create(fault_proxy.url, 8 * MiB, {}).url
    fault_proxy.stall("PATCH", 1.0, after_bytes=MiB)
    with FileSlice(str(f), 0, 8 * MiB, block_size=4 * MiB) as body:
        assert client.patch(url, 0, body)[0] == 8 * MiB
    client.close()
    assert fault_proxy.server.stored_bytes(url) == f.read_bytes()


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("ftp://127.0.0.1/files/", {}),
        ("http:///files/", {}),
        ("http://127.0.0.1:99999/files/", {}),
        ("{server}", {"X-Note": "two\r\nlines"}),
        ("{server}", {"X-Note": "\u2713"}),
    ],
    ids=["scheme", "no-host", "bad-port", "line-break", "not-latin-1"],
)
def test_what_cannot_be_sent_is_an_invalid_address(
    tus_server: TusServer, url: str, headers: dict[str, str]
) -> None:
    client = TusClient(headers=headers)
    with pytest.raises(TransferError) as info:
        client.discover(url.format(server=tus_server.url))
    assert (info.value.kind, info.value.title) == ("permanent", "Invalid server address")


def test_a_server_that_resets_before_answering_is_transient(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        client = TusClient(connect_timeout=5, stall_timeout=5, read_timeout=5)

        def reset_one() -> None:
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.close()

        t = threading.Thread(target=reset_one)
        t.start()
        with pytest.raises(TransferError) as info:
            client.discover(f"http://127.0.0.1:{port}/files/")
        t.join(5)
    assert (info.value.kind, info.value.status) == ("transient", None)
    assert "closed the connection" in info.value.message


def test_an_http_proxy_from_the_environment_carries_http_and_https(
    forward_proxy: ForwardProxy,
    tls_forwarder: TlsForwarder,
    tus_server: TusServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    f = make_file(tmp_path / "f", 100_000)
    plain = TusClient(connect_timeout=5, stall_timeout=5, read_timeout=10)
    url = plain.create(tus_server.url, 100_000, {"filename": "f"}).url
    with FileSlice(str(f), 0, 100_000, expected=fingerprint(f)) as body:
        assert plain.patch(url, 0, body)[0] == 100_000
    plain.close()
    assert tus_server.stored_bytes(url) == f.read_bytes()
    # http:// goes to the proxy with the whole URL on the request line.
    assert forward_proxy.seen[:2] == [
        f"POST {tus_server.url} HTTP/1.1",
        f"PATCH {url} HTTP/1.1",
    ]
    secure = TusClient(verify=str(tls_forwarder.cert))  # type: ignore[attr-defined]
    assert "creation" in secure.discover(tls_forwarder.url).extensions
    secure.close()
    # https:// goes through a tunnel: the proxy sees only where to.
    assert forward_proxy.seen[2:] == [f"CONNECT localhost:{tls_forwarder.port} HTTP/1.1"]
