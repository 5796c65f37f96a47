"""A big body leaves through sendfile(2) on a plain connection (issue 12 point 4: the worker's CPU
per GiB), with the same hooks and checks per block as a read, and bytes the server stores intact."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from upqueue.core.errors import TransferError
from upqueue.core.filereader import FileSlice, fingerprint
from upqueue.core.transports.tus.client import TusClient

from tests.fixtures.tls import TlsForwarder
from tests.fixtures.tus import TusServer, make_file

MiB = 1 << 20


def _counting_sendfile(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the byte count of every os.sendfile call (what socket.sendfile uses)."""
    counts: list[int] = []
    real = os.sendfile

    def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        sent = real(out_fd, in_fd, offset, count)
        counts.append(sent)
        return sent

    monkeypatch.setattr(os, "sendfile", sendfile)
    return counts


def test_a_big_patch_body_goes_by_sendfile_and_arrives_intact(
    tus_server: TusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 5 * MiB + 123
    f = make_file(tmp_path / "big", size)
    client = TusClient()
    created = client.create(tus_server.url, size, {"filename": "big"})
    counts = _counting_sendfile(monkeypatch)
    progress: list[int] = []
    with FileSlice(
        str(f), 0, size, expected=fingerprint(f), on_progress=progress.append, block_size=MiB
    ) as body:
        assert client.patch(created.url, 0, body)[0] == size
    client.close()
    # The first block went with the head (a small file stays one send); the rest by sendfile.
    assert sum(counts) == size - MiB
    assert progress == [MiB, 2 * MiB, 3 * MiB, 4 * MiB, 5 * MiB, size]
    assert tus_server.stored_bytes(created.url) == f.read_bytes()


def test_a_small_body_is_one_send_with_its_head(
    tus_server: TusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = make_file(tmp_path / "small", 4096)
    client = TusClient()
    created = client.create(tus_server.url, 4096, {"filename": "small"})
    counts = _counting_sendfile(monkeypatch)
    with FileSlice(str(f), 0, 4096, expected=fingerprint(f)) as body:
        assert client.patch(created.url, 0, body)[0] == 4096
    client.close()
    assert counts == []
    assert tus_server.stored_bytes(created.url) == f.read_bytes()


def test_tls_bodies_are_read_as_before(
    tls_forwarder: TlsForwarder,
    tus_server: TusServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # sendfile cannot encrypt: over https every block goes through Python's ssl.
    size = 3 * MiB
    f = make_file(tmp_path / "f", size)
    client = TusClient(verify=str(tls_forwarder.cert))  # type: ignore[attr-defined]
    created = client.create(tls_forwarder.url, size, {"filename": "f"})
    counts = _counting_sendfile(monkeypatch)
    with FileSlice(str(f), 0, size, expected=fingerprint(f), block_size=MiB) as body:
        assert client.patch(created.url, 0, body)[0] == size
    client.close()
    assert counts == []
    assert tus_server.stored_bytes(created.url) == f.read_bytes()


def _sink() -> tuple[socket.socket, socket.socket, threading.Thread]:
    """A connected pair whose far end reads and discards everything."""
    near, far = socket.socketpair()

    def drain() -> None:
        while far.recv(1 << 16):
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return near, far, reader


def test_send_rest_runs_the_hooks_of_read_per_block(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 3 * MiB)
    calls: list[tuple[str, int]] = []
    near, far, reader = _sink()
    try:
        with FileSlice(
            str(f),
            0,
            3 * MiB,
            expected=fingerprint(f),
            on_progress=lambda n: calls.append(("progress", n)),
            check_stop=lambda: calls.append(("stop?", 0)),
            throttle=lambda n: calls.append(("throttle", n)),
            block_size=MiB,
        ) as body:
            body.send_rest(near)
            assert body.position == 3 * MiB
    finally:
        near.close()
        reader.join(timeout=5)
        far.close()
    block = [("stop?", 0), ("throttle", MiB)]
    assert calls == [
        *block,
        ("progress", MiB),
        *block,
        ("progress", 2 * MiB),
        *block,
        ("progress", 3 * MiB),
    ]


def test_a_file_truncated_while_sent_is_a_changed_file(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 4 * MiB)
    near, far, reader = _sink()
    try:
        truncated_at: list[int] = []

        def truncate_once(n: int) -> None:
            if not truncated_at:
                truncated_at.append(n)
                os.truncate(f, 2 * MiB + 10)

        with (
            FileSlice(
                str(f),
                0,
                4 * MiB,
                expected=fingerprint(f),
                on_progress=truncate_once,
                block_size=MiB,
            ) as body,
            pytest.raises(TransferError) as info,
        ):
            body.send_rest(near)
        assert info.value.kind == "file_changed"
        assert "became shorter" in info.value.message
    finally:
        near.close()
        reader.join(timeout=5)
        far.close()
