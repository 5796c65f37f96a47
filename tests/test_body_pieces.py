"""A big body leaves in small pieces through one reused buffer (issue 12 point 4: the worker's CPU
per GiB, and the server's), with the same hooks and checks per block as a read, and bytes the
server stores intact, on plain and TLS connections."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from upqueue.core.errors import TransferError
from upqueue.core.filereader import SEND_PIECE, FileSlice, fingerprint
from upqueue.core.transports.tus.client import TusClient

from tests.fixtures.tls import TlsForwarder
from tests.fixtures.tus import TusServer, make_file

MiB = 1 << 20


class _Patched:
    """One PATCH of a whole file, as this test's thread sent it: the byte count of every socket
    send (plain or TLS) and every os.sendfile call, and the progress reported."""

    def __init__(
        self, client: TusClient, endpoint: str, f: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        size = f.stat().st_size
        self.url = client.create(endpoint, size, {"filename": f.name}).url
        self.sends: list[int] = []
        self.sendfiles: list[int] = []
        self.progress: list[int] = []
        self._recording_on = True
        mine = threading.get_ident()  # not the TLS forwarder's threads
        for cls in (socket.socket, ssl.SSLSocket):
            monkeypatch.setattr(cls, "send", self._recording(cls.send, mine))
        real_sendfile = os.sendfile

        def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
            sent = real_sendfile(out_fd, in_fd, offset, count)
            if self._recording_on:
                self.sendfiles.append(sent)
            return sent

        monkeypatch.setattr(os, "sendfile", sendfile)
        with FileSlice(
            str(f), 0, size, expected=fingerprint(f), on_progress=self.progress.append,
            block_size=MiB,
        ) as body:  # fmt: skip
            assert client.patch(self.url, 0, body)[0] == size
        self._recording_on = False
        client.close()

    def _recording(self, real_send: Callable[..., int], mine: int) -> Callable[..., int]:
        def send(sock: socket.socket, data: bytes | memoryview, flags: int = 0) -> int:
            sent = real_send(sock, data, flags)
            if self._recording_on and threading.get_ident() == mine:
                self.sends.append(sent)
            return sent

        return send

    def assert_first_block_with_head_then_pieces(self, size: int) -> None:
        # The first block went with the head (a small file stays one send); the rest in pieces a
        # local server copies out of the socket while they are still in the CPU's cache.
        head_and_first, *rest = self.sends
        assert head_and_first > MiB
        assert sum(rest) == size - MiB
        assert max(rest) <= SEND_PIECE
        assert self.sendfiles == []


def test_a_big_patch_body_goes_in_small_pieces_and_arrives_intact(
    tus_server: TusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 5 * MiB + 123
    f = make_file(tmp_path / "big", size)
    patched = _Patched(TusClient(), tus_server.url, f, monkeypatch)
    patched.assert_first_block_with_head_then_pieces(size)
    assert patched.progress == [MiB, 2 * MiB, 3 * MiB, 4 * MiB, 5 * MiB, size]
    assert tus_server.stored_bytes(patched.url) == f.read_bytes()


def test_a_small_body_is_one_send_with_its_head(
    tus_server: TusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = make_file(tmp_path / "small", 4096)
    patched = _Patched(TusClient(), tus_server.url, f, monkeypatch)
    assert len(patched.sends) == 1 and patched.sends[0] > 4096
    assert tus_server.stored_bytes(patched.url) == f.read_bytes()


def test_tls_bodies_go_the_same_way_and_arrive_intact(
    tls_forwarder: TlsForwarder,
    tus_server: TusServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    size = 3 * MiB + 7
    f = make_file(tmp_path / "f", size)
    client = TusClient(verify=str(tls_forwarder.cert))  # type: ignore[attr-defined]
    patched = _Patched(client, tls_forwarder.url, f, monkeypatch)
    patched.assert_first_block_with_head_then_pieces(size)
    assert patched.progress == [MiB, 2 * MiB, 3 * MiB, size]
    assert tus_server.stored_bytes(patched.url) == f.read_bytes()


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
