"""Tests for core.transports.tus.transfer.transfer against the real @tus/server (the fault proxy only for faults)."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from upqueue.core.errors import TransferError, TransferStopped
from upqueue.core.filereader import FileSlice, fingerprint
from upqueue.core.transports.tus.transfer import transfer
from upqueue.core.transports.tus.client import CreateResult, HeadResult, TusClient
from tests.fixtures.tus import ProxiedServer, TusServer, make_file, same_content

MiB = 1 << 20


class SpyClient(TusClient):
    """A real TusClient that records which protocol calls it made."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.calls: list[tuple[str, object]] = []

    def create(self, endpoint, length, metadata, *, body=None) -> CreateResult:  # type: ignore[no-untyped-def]
        self.calls.append(("create", None if body is None else len(body)))
        return super().create(endpoint, length, metadata, body=body)

    def head(self, url: str) -> HeadResult:
        result = super().head(url)
        self.calls.append(("head", result.offset))
        return result

    def patch(self, url, offset, body, *, checksum_algorithm=None):  # type: ignore[no-untyped-def]
        self.calls.append(("patch", (offset, len(body))))
        return super().patch(url, offset, body, checksum_algorithm=checksum_algorithm)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class Hooks:
    """Records everything transfer() reports; stop/throttle behaviour is injectable."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []
        self.progress: list[int] = []
        self.remote: str | None = None
        self.stop: Callable[[], None] = lambda: None
        self.on_block: Callable[[int], None] = lambda n: None

    def check_stop(self) -> None:
        self.stop()

    def throttle(self, nbytes: int) -> None:
        self.on_block(nbytes)

    def on_progress(self, offset: int) -> None:
        self.progress.append(offset)

    def on_confirmed(self, offset: int) -> None:
        self.log.append(("confirmed", offset))

    def on_remote(self, url: str | None, expires: str | None) -> None:
        self.remote = url
        self.log.append(("remote", url))

    def on_event(self, kind: str, message: str) -> None:
        self.log.append((kind, message))

    def events(self, kind: str) -> list[str]:
        return [str(m) for k, m in self.log if k == kind]


@pytest.fixture
def client() -> Iterator[SpyClient]:
    c = SpyClient(connect_timeout=5, stall_timeout=5, read_timeout=15)
    yield c
    c.close()


def run(
    client: TusClient,
    endpoint: str,
    f: Path,
    hooks: Hooks,
    remote: str | None = None,
    **kw: object,
) -> str:
    meta = {"filename": f.name, "filetype": "application/octet-stream"}
    return transfer(client, endpoint, str(f), fingerprint(f), remote, meta, hooks, **kw)  # type: ignore[arg-type]


# -- uploads that work -------------------------------------------------------------------------


def test_zero_byte_file_needs_no_patch(
    client: SpyClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "empty", 0)
    hooks = Hooks()
    url = run(client, tus_server.url, f, hooks)
    assert client.names() == ["create"]
    assert hooks.remote == url
    assert tus_server.stored_bytes(url) == b""
    head = client.head(url)
    assert (head.offset, head.length) == (0, 0)


@pytest.mark.parametrize("size", [1, 1000, 4 * MiB])
def test_small_files_go_in_the_creation_post(
    client: SpyClient, tus_server: TusServer, tmp_path: Path, size: int
) -> None:
    f = make_file(tmp_path / "f", size)
    url = run(client, tus_server.url, f, Hooks())
    assert client.calls == [("create", size)]
    assert same_content(f, tus_server.stored_path(url))


def test_few_mib_file_is_created_then_patched_in_one_request(
    client: SpyClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 5 * MiB + 3)
    hooks = Hooks()
    url = run(client, tus_server.url, f, hooks)
    assert client.calls == [("create", None), ("patch", (0, 5 * MiB + 3))]
    assert same_content(f, tus_server.stored_path(url))
    # The URL is persisted before any byte is sent.
    assert hooks.log[0] == ("remote", url)
    assert hooks.progress[-1] == 5 * MiB + 3
    assert hooks.progress == sorted(hooks.progress)


def test_chunked_patches(client: SpyClient, tus_server: TusServer, tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 5 * MiB + 3)
    url = run(client, tus_server.url, f, Hooks(), chunk_size=2 * MiB, creation_with_upload_limit=0)
    assert client.calls == [
        ("create", None),
        ("patch", (0, 2 * MiB)),
        ("patch", (2 * MiB, 2 * MiB)),
        ("patch", (4 * MiB, MiB + 3)),
    ]
    assert same_content(f, tus_server.stored_path(url))


def test_100_mib_upload_is_identical_in_bounded_memory(
    client: SpyClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "big", 100 * MiB)
    tracemalloc.start()
    try:
        url = run(client, tus_server.url, f, Hooks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert client.names() == ["create", "patch"]
    assert same_content(f, tus_server.stored_path(url))
    assert peak < 8 * MiB  # a block or two, never the file


def test_non_ascii_filename_is_echoed(
    client: SpyClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "Ünïcode file ✓ (1).bin", 10)
    url = run(client, tus_server.url, f, Hooks())
    assert client.head(url).metadata["filename"] == "Ünïcode file ✓ (1).bin"


def test_completed_upload_is_not_sent_again(
    client: SpyClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 6 * MiB)
    url = run(client, tus_server.url, f, Hooks())
    client.calls.clear()
    assert run(client, tus_server.url, f, Hooks(), remote=url) == url
    assert client.calls == [("head", 6 * MiB)]


def test_max_size_is_checked_before_sending(
    client: SpyClient, make_tus_server: Callable[..., TusServer], tmp_path: Path
) -> None:
    server = make_tus_server(max_size=1000)
    f = make_file(tmp_path / "f", 2000)
    with pytest.raises(TransferError) as info:
        run(client, server.url, f, Hooks())
    e = info.value
    assert (e.kind, e.status, e.title) == ("permanent", 413, "Server refused the file")
    assert "at most 1 kB" in e.message  # decimal units, as shown everywhere
    assert client.calls == []


# -- resuming ----------------------------------------------------------------------------------


def test_resume_after_interrupted_patch_continues_from_head_offset(
    client: SpyClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    size = 8 * MiB
    f = make_file(tmp_path / "f", size)
    hooks = Hooks()
    fault_proxy.reset_after("PATCH", 3 * MiB)
    with pytest.raises(TransferError) as info:
        run(client, fault_proxy.url, f, hooks)
    assert info.value.kind == "transient"
    assert hooks.remote is not None
    client.calls.clear()
    url = run(client, fault_proxy.url, f, hooks, remote=hooks.remote)
    assert url == hooks.remote
    (_, server_offset), (_, (patch_offset, patch_len)) = client.calls
    assert client.names() == ["head", "patch"]
    assert 0 < server_offset <= 3 * MiB  # the server kept what it had received
    assert patch_offset == server_offset and patch_len == size - server_offset
    assert fault_proxy.requests("PATCH")[-1].headers["upload-offset"] == str(server_offset)
    assert fault_proxy.patch_bytes_forwarded == 3 * MiB + size - server_offset
    assert same_content(f, fault_proxy.server.stored_path(url))


def test_deleted_upload_restarts_with_a_new_url(
    client: SpyClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 6 * MiB)
    old = client.create(tus_server.url, 6 * MiB, {}).url
    client.terminate(old)
    hooks = Hooks()
    url = run(client, tus_server.url, f, hooks, remote=old)
    assert url != old
    assert hooks.events("restarted") == ["The server no longer had the upload (404); starting over"]
    assert hooks.log[:3] == [hooks.log[0], ("remote", None), ("remote", url)]
    assert same_content(f, tus_server.stored_path(url))


def test_expired_upload_410_restarts(
    client: SpyClient, make_tus_server: Callable[..., TusServer], tmp_path: Path
) -> None:
    server = make_tus_server(expiration_ms=1000)
    f = make_file(tmp_path / "f", 5 * MiB)
    old = client.create(server.url, 5 * MiB, {}).url
    deadline = time.monotonic() + 10
    while True:  # bounded poll until the server calls it expired
        try:
            client.head(old)
        except TransferError as e:
            assert e.kind == "gone"
            break
        assert time.monotonic() < deadline, "upload never expired"
        time.sleep(0.05)
    hooks = Hooks()
    url = run(client, server.url, f, hooks, remote=old)
    assert url != old
    assert hooks.events("restarted") == ["The server no longer had the upload (410); starting over"]
    assert same_content(f, server.stored_path(url))


def test_upload_of_another_size_is_not_resumed(
    client: SpyClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", MiB)
    other = client.create(tus_server.url, 3 * MiB, {}).url
    with FileSlice(str(make_file(tmp_path / "g", 2 * MiB)), 0, 2 * MiB) as body:
        client.patch(other, 0, body)  # server offset 2 MiB > local size 1 MiB
    hooks = Hooks()
    url = run(client, tus_server.url, f, hooks, remote=other)
    assert url != other
    assert len(hooks.events("restarted")) == 1
    assert same_content(f, tus_server.stored_path(url))


def test_upload_gone_mid_transfer_restarts_once(
    client: SpyClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 3 * MiB)
    fault_proxy.respond("PATCH", 404, nth=2, body="The file for this url was not found")
    hooks = Hooks()
    url = run(client, fault_proxy.url, f, hooks, chunk_size=MiB, creation_with_upload_limit=0)
    assert client.names() == ["create", "patch", "patch", "create", "patch", "patch", "patch"]
    assert len(hooks.events("restarted")) == 1
    assert hooks.remote == url
    assert same_content(f, fault_proxy.server.stored_path(url))


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (500, {}, None),
        (503, {"Retry-After": "12"}, 12.0),
        (423, {}, None),
        (429, {"Retry-After": "3"}, 3.0),
    ],
)
def test_server_busy_or_failing_is_transient_and_resumable(
    client: SpyClient,
    fault_proxy: ProxiedServer,
    tmp_path: Path,
    status: int,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    f = make_file(tmp_path / "f", 5 * MiB)
    hooks = Hooks()
    fault_proxy.respond("PATCH", status, headers=headers, body="try later")
    with pytest.raises(TransferError) as info:
        run(client, fault_proxy.url, f, hooks)
    assert (info.value.kind, info.value.status, info.value.retry_after) == (
        "transient",
        status,
        retry_after,
    )
    url = run(client, fault_proxy.url, f, hooks, remote=hooks.remote)
    assert same_content(f, fault_proxy.server.stored_path(url))


def test_409_heads_and_continues(
    client: SpyClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 3 * MiB)
    fault_proxy.respond("PATCH", 409, nth=2, body="Upload-Offset conflict")
    url = run(client, fault_proxy.url, f, Hooks(), chunk_size=MiB, creation_with_upload_limit=0)
    assert client.names() == ["create", "patch", "patch", "head", "patch", "patch"]
    assert same_content(f, fault_proxy.server.stored_path(url))


def test_409_four_times_in_a_row_gives_up_as_transient(
    client: SpyClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 5 * MiB)
    fault_proxy.respond("PATCH", 409, times=None)
    with pytest.raises(TransferError) as info:
        run(client, fault_proxy.url, f, Hooks())
    assert (info.value.kind, info.value.status) == ("transient", 409)
    assert client.names().count("head") == 3
    assert client.names().count("patch") == 4


def test_460_resends_only_that_chunk(
    client: SpyClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    fault_proxy.checksum = True
    f = make_file(tmp_path / "f", 3 * MiB)
    fault_proxy.respond("PATCH", 460, nth=2)
    hooks = Hooks()
    url = run(client, fault_proxy.url, f, hooks, chunk_size=MiB)
    # No creation-with-upload body: it would go unverified.
    assert client.calls[0] == ("create", None)
    offsets = [arg[0] for name, arg in client.calls if name == "patch"]  # type: ignore[index]
    assert offsets == [0, MiB, MiB, 2 * MiB]
    assert fault_proxy.checksums_verified == 3
    assert fault_proxy.patch_bytes_forwarded == 3 * MiB  # the rejected chunk never landed
    assert len(hooks.events("resent")) == 1
    assert same_content(f, fault_proxy.server.stored_path(url))


def test_460_over_and_over_is_a_checksum_error(
    client: SpyClient, fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    fault_proxy.checksum = True
    f = make_file(tmp_path / "f", MiB)
    fault_proxy.respond("PATCH", 460, times=None)
    with pytest.raises(TransferError) as info:
        run(client, fault_proxy.url, f, Hooks())
    assert (info.value.kind, info.value.status) == ("checksum", 460)
    assert client.names().count("patch") == 4  # the first try and three resends


def test_401_is_permanent(client: SpyClient, fault_proxy: ProxiedServer, tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 10)
    fault_proxy.respond("POST", 401, body="Unauthorized")
    with pytest.raises(TransferError) as info:
        run(client, fault_proxy.url, f, Hooks())
    assert (info.value.kind, info.value.status) == ("permanent", 401)
    assert "credentials" in info.value.message


def test_stall_is_aborted_and_transient(fault_proxy: ProxiedServer, tmp_path: Path) -> None:
    c = TusClient(stall_timeout=0.5, read_timeout=30)
    f = make_file(tmp_path / "f", 32 * MiB)
    fault_proxy.stall("PATCH", None, after_bytes=MiB)
    start = time.monotonic()
    with pytest.raises(TransferError) as info:
        run(c, fault_proxy.url, f, Hooks())
    c.close()
    assert info.value.kind == "transient"
    assert time.monotonic() - start < 5


# -- stopping and local file changes -----------------------------------------------------------


def test_check_stop_stops_mid_patch_quickly_and_resumes(
    client: SpyClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 64 * MiB)
    hooks = Hooks()
    asked: list[float] = []

    def progress(offset: int) -> None:
        hooks.progress.append(offset)
        if offset >= 10 * MiB and not asked:
            asked.append(time.monotonic())

    def stop() -> None:
        if asked:
            raise TransferStopped("pause")

    hooks.on_progress = progress  # type: ignore[method-assign]
    hooks.stop = stop
    with pytest.raises(TransferStopped) as info:
        run(client, tus_server.url, f, hooks)
    assert info.value.reason == "pause"
    assert time.monotonic() - asked[0] < 0.5
    assert max(hooks.progress) < 20 * MiB  # it stopped mid-PATCH, not at the end

    resumed = Hooks()
    url = run(client, tus_server.url, f, resumed, remote=hooks.remote)
    assert url == hooks.remote
    assert same_content(f, tus_server.stored_path(url))


def _changes_at_2_mib(f: Path, change: Callable[[], None]) -> Hooks:
    hooks = Hooks()
    done: list[bool] = []

    def on_block(n: int) -> None:
        if not done and hooks.progress and hooks.progress[-1] >= 2 * MiB:
            done.append(True)
            change()

    hooks.on_block = on_block
    return hooks


@pytest.mark.parametrize("how", ["modified", "truncated", "deleted"])
def test_file_changed_mid_patch(
    client: SpyClient, tus_server: TusServer, tmp_path: Path, how: str
) -> None:
    f = make_file(tmp_path / "f", 16 * MiB)
    fp = fingerprint(f)

    def change() -> None:
        if how == "modified":
            with open(f, "r+b") as fh:
                fh.write(b"new content")
            os.utime(f, ns=(fp.mtime_ns + 10**9, fp.mtime_ns + 10**9))
        elif how == "truncated":
            os.truncate(f, 3 * MiB)
        else:
            f.unlink()

    hooks = _changes_at_2_mib(f, change)
    with pytest.raises(TransferError) as info:
        transfer(client, tus_server.url, str(f), fp, None, {}, hooks)
    assert info.value.kind == "file_changed"
    assert str(f) in info.value.message
    assert max(hooks.progress) < 16 * MiB  # the upload did not complete


def test_file_changed_between_chunks_stops_before_next_patch(
    client: SpyClient, tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 4 * MiB)
    fp = fingerprint(f)
    hooks = Hooks()
    done: list[bool] = []

    def progress(offset: int) -> None:
        hooks.progress.append(offset)
        if offset == MiB and not done:  # the first chunk has been read in full
            done.append(True)
            with open(f, "ab") as fh:
                fh.write(b"appended")

    hooks.on_progress = progress  # type: ignore[method-assign]
    with pytest.raises(TransferError) as info:
        transfer(
            client, tus_server.url, str(f), fp, None, {}, hooks,
            chunk_size=MiB, creation_with_upload_limit=0,
        )  # fmt: skip
    assert info.value.kind == "file_changed"
    assert client.names() == ["create", "patch"]
    assert "changed size" in info.value.message
