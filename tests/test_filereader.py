"""Tests for core.filereader: exact ranges, bounded memory, hooks, and change detection."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from upqueue.core.errors import TransferError, TransferStopped
from upqueue.core.filereader import FileSlice, check_unchanged, fingerprint
from tests.fixtures.tus import make_file

MiB = 1 << 20


def read_all(s: FileSlice) -> bytes:
    parts = []
    while block := s.read(MiB):
        parts.append(block)
    return b"".join(parts)


def test_slice_reads_exactly_its_range(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 3 * MiB + 17)
    data = f.read_bytes()
    with FileSlice(str(f), MiB - 5, MiB + 9, expected=fingerprint(f), block_size=4096) as s:
        assert len(s) == MiB + 9
        assert read_all(s) == data[MiB - 5 : 2 * MiB + 4]
        assert s.read(10) == b""


def test_empty_slice_reads_nothing(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 10)
    with FileSlice(str(f), 10, 0, expected=fingerprint(f)) as s:
        assert len(s) == 0
        assert s.read() == b""


def test_read_never_returns_more_than_block_size(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 5 * MiB)
    sizes = []
    with FileSlice(str(f), 0, 5 * MiB, block_size=256 * 1024) as s:
        while block := s.read(-1):  # -1 must not mean "the whole file"
            sizes.append(len(block))
    assert max(sizes) == 256 * 1024
    assert sum(sizes) == 5 * MiB


def test_memory_stays_bounded_over_100_mib(tmp_path: Path) -> None:
    f = tmp_path / "big"
    with open(f, "wb") as fh:  # sparse: the content does not matter here, the peak does
        fh.truncate(100 * MiB)
    block = MiB
    tracemalloc.start()
    try:
        total = 0
        with FileSlice(str(f), 0, 100 * MiB, expected=fingerprint(f), block_size=block) as s:
            while chunk := s.read(block):
                total += len(chunk)
                del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 100 * MiB
    # One block at a time, plus bookkeeping: far from the 100 MiB of a whole-file read.
    assert peak < 2 * block + 256 * 1024


def test_hooks_run_in_order_per_block(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 2 * MiB + 10)
    calls: list[tuple[str, int]] = []
    s = FileSlice(
        str(f),
        0,
        2 * MiB + 10,
        check_stop=lambda: calls.append(("stop", 0)),
        throttle=lambda n: calls.append(("throttle", n)),
        on_progress=lambda n: calls.append(("progress", n)),
    )
    with s:
        read_all(s)
    assert calls == [
        ("stop", 0), ("throttle", MiB), ("progress", MiB),
        ("stop", 0), ("throttle", MiB), ("progress", 2 * MiB),
        ("stop", 0), ("throttle", 10), ("progress", 2 * MiB + 10),
    ]  # fmt: skip


def test_check_stop_exception_propagates(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 3 * MiB)
    reads = 0

    def stop() -> None:
        if reads == 2:
            raise TransferStopped("pause")

    with FileSlice(str(f), 0, 3 * MiB, check_stop=stop) as s:
        s.read()
        reads += 1
        s.read()
        reads += 1
        with pytest.raises(TransferStopped) as info:
            s.read()
    assert info.value.reason == "pause"


def test_digest_covers_the_slice_and_keeps_position(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 3 * MiB)
    data = f.read_bytes()
    with FileSlice(str(f), 100, 2 * MiB, block_size=65536) as s:
        first = s.read(1000)
        assert s.digest("sha1") == hashlib.sha1(data[100 : 100 + 2 * MiB]).digest()
        assert s.digest("sha256") == hashlib.sha256(data[100 : 100 + 2 * MiB]).digest()
        assert first + read_all(s) == data[100 : 100 + 2 * MiB]


def test_changed_before_open_is_detected(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", MiB)
    fp = fingerprint(f)
    with open(f, "ab") as fh:
        fh.write(b"more")
    with pytest.raises(TransferError) as info:
        FileSlice(str(f), 0, MiB, expected=fp)
    assert info.value.kind == "file_changed"
    assert info.value.title == "File changed during upload"
    assert str(f) in info.value.message


def test_modified_during_read_is_detected_within_8_mib(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 32 * MiB)
    fp = fingerprint(f)

    def modify_once(n: int) -> None:
        if s.position == MiB:  # right after the first block
            with open(f, "r+b") as fh:
                fh.seek(20 * MiB)
                fh.write(b"changed")
            # Same size: only the mtime shows it. Force it past the fs timestamp granularity.
            os.utime(f, ns=(fp.mtime_ns + 10**9, fp.mtime_ns + 10**9))

    s = FileSlice(str(f), 0, 32 * MiB, expected=fp, throttle=modify_once)
    with s, pytest.raises(TransferError) as info:
        read_all(s)
    assert info.value.kind == "file_changed"
    assert "modified" in info.value.message
    assert s.position <= 9 * MiB  # caught at the 8 MiB re-check, not at the end


def test_truncated_during_read_is_detected(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 4 * MiB)
    fp = fingerprint(f)

    def truncate(n: int) -> None:
        if s.position == MiB:
            os.truncate(f, 2 * MiB)

    s = FileSlice(str(f), 0, 4 * MiB, expected=fp, throttle=truncate)
    with s, pytest.raises(TransferError) as info:
        read_all(s)
    assert info.value.kind == "file_changed"
    assert "shorter" in info.value.message


def test_truncated_without_fingerprint_is_a_short_read(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 2 * MiB)
    s = FileSlice(str(f), 0, 2 * MiB, throttle=lambda n: os.truncate(f, MiB + 1))
    with s, pytest.raises(TransferError) as info:
        read_all(s)
    assert info.value.kind == "file_changed"


def test_deleted_during_read_is_detected(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 3 * MiB)
    fp = fingerprint(f)
    s = FileSlice(str(f), 0, 3 * MiB, expected=fp, throttle=lambda n: f.unlink(missing_ok=True))
    with s, pytest.raises(TransferError) as info:
        read_all(s)  # the open fd still reads; the check at the end of the slice must notice
    assert info.value.kind == "file_changed"
    assert "deleted" in info.value.message


def test_missing_file_is_file_changed(tmp_path: Path) -> None:
    with pytest.raises(TransferError) as info:
        FileSlice(str(tmp_path / "nope"), 0, 1)
    assert info.value.kind == "file_changed"


def test_replaced_file_is_detected(tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", MiB)
    fp = fingerprint(f)
    other = make_file(tmp_path / "g", MiB, seed=1)
    os.replace(other, f)
    with pytest.raises(TransferError) as info:
        check_unchanged(str(f), fp)
    assert info.value.kind == "file_changed"
    assert "replaced" in info.value.message
