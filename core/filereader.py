"""Streaming reads of one byte range of a local file, with change detection, for request bodies."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

from upqueue.core.errors import ErrorKind, TransferError

if TYPE_CHECKING:
    import socket

# How often (in bytes read) the open file is re-checked against its fingerprint. Checking on
# every block would cost a syscall per MiB for nothing; 8 MiB bounds what we send of a changed file.
RECHECK_BYTES = 8 << 20
# The pieces a big body is sent in (send_rest): small enough that the bytes are still in the
# CPU's cache when a local server copies them out of the socket, as curl's 64 KiB writes are.
SEND_PIECE = 128 << 10


@dataclass(frozen=True)
class FileFingerprint:
    """What identifies one version of a file: if any field differs, the content may differ."""

    size: int
    mtime_ns: int
    inode: int
    # The change time: a rewrite at the same size whose mtime was put back (touch -d, rsync
    # --times, a restore) leaves size, mtime and inode alone but always moves ctime, which no
    # program can set. None: not known (uploads queued before it was recorded), not compared.
    ctime_ns: int | None = None

    def matches(self, st: os.stat_result, *, inode: bool = True) -> bool:
        """Does ``st`` describe this version of the file?"""
        return (
            st.st_size == self.size
            and st.st_mtime_ns == self.mtime_ns
            and (not inode or st.st_ino == self.inode)
            and (self.ctime_ns is None or st.st_ctime_ns == self.ctime_ns)
        )


def fingerprint(path: str | os.PathLike[str]) -> FileFingerprint:
    """Stat ``path`` (following symlinks) and return its fingerprint.

    Raises:
        OSError: the file cannot be stat'ed (e.g. FileNotFoundError).
    """
    st = os.stat(path)
    return FileFingerprint(
        size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino, ctime_ns=st.st_ctime_ns
    )


def file_changed_error(path: str, detail: str, *, gone: bool = False) -> TransferError:
    """The error for a file that no longer matches what the upload was started with; it says
    what Retry will do (send the file as it is now, from the start)."""
    then = (
        "Put it back and retry, or remove the upload."
        if gone
        else "Retry sends the file as it is now, from the start, and deletes the partial upload "
        "on the server where the server allows it."
    )
    return TransferError(
        "File changed during upload",
        f"{path} {detail}. The upload stopped so that old and new content are not mixed. {then}",
        kind=ErrorKind.FILE_CHANGED,
    )


def check_unchanged(path: str, expected: FileFingerprint) -> None:
    """Raise a file_changed TransferError unless ``path`` still matches ``expected``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise file_changed_error(path, "was deleted or moved", gone=True) from None
    except OSError as e:
        raise _read_error(path, e) from e
    if not expected.matches(st):
        raise file_changed_error(path, _describe_change(expected, st))


def _describe_change(expected: FileFingerprint, st: os.stat_result, *, inode: bool = True) -> str:
    if inode and st.st_ino != expected.inode:
        return "was replaced by another file"
    if st.st_size != expected.size:
        return f"changed size (from {expected.size:,} to {st.st_size:,} bytes)"
    if st.st_mtime_ns != expected.mtime_ns:
        return "was modified"
    return (
        "was modified (its size and modification time are as before, but its change time "
        "moved: it was rewritten or its attributes changed)"
    )


def _read_error(path: str, e: OSError) -> TransferError:
    # Permission problems need a person; anything else (network drive hiccup, EIO) may pass.
    kind = ErrorKind.PERMANENT if isinstance(e, PermissionError) else ErrorKind.TRANSIENT
    return TransferError("Could not read the file", f"{path}: {e.strerror or e}", kind=kind)


class FileSlice:
    """File-like body for requests: len() is the slice length, read(n) streams from disk in bounded memory.

    ``read`` never returns more than ``block_size`` bytes, whatever ``n`` is (``-1`` included), so
    a consumer that reads in a loop holds at most one block; urllib3 reads until ``b""``.

    The hooks run on the thread that sends the request:
      * ``check_stop()`` before every block; its exception (TransferStopped) aborts the request.
      * ``throttle(nbytes)`` with each block's size before the block is returned (may sleep).
      * ``on_progress(n)`` with the bytes read so far from this slice, after the throttle.
      * ``block_hint()`` before every block: a smaller block size while a bandwidth limit holds
        (None: ``block_size``).

    Raises (from ``__init__``, ``read`` and ``digest``):
        TransferError(kind="file_changed"): the file was deleted, replaced, resized or modified
            (compared with ``expected`` at open, every 8 MiB and at the end of the slice), or a
            read came back short (truncated).
    """

    def __init__(
        self,
        path: str,
        start: int,
        length: int,
        *,
        expected: FileFingerprint | None = None,
        on_progress: Callable[[int], None] | None = None,
        check_stop: Callable[[], None] | None = None,
        throttle: Callable[[int], None] | None = None,
        block_size: int = 1 << 20,
        block_hint: Callable[[], int | None] | None = None,
    ) -> None:
        if start < 0 or length < 0 or block_size <= 0:
            raise ValueError("start and length must be >= 0 and block_size > 0")
        self.path = path
        self.start = start
        self.length = length
        self.block_size = block_size
        self._expected = expected
        self._on_progress = on_progress
        self._check_stop = check_stop
        self._throttle = throttle
        self._block_hint = block_hint
        self._pos = 0  # bytes of this slice returned so far
        self._since_check = 0
        try:
            # Unbuffered: a BufferedReader would keep its own copy of each block.
            self._file: io.FileIO | None = open(path, "rb", buffering=0)  # noqa: SIM115
        except FileNotFoundError:
            raise file_changed_error(path, "was deleted or moved") from None
        except OSError as e:
            raise _read_error(path, e) from e
        try:
            self._verify()
            self._file.seek(start)
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return self.length

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def position(self) -> int:
        """Bytes of the slice returned by ``read`` so far."""
        return self._pos

    def read(self, n: int = -1) -> bytes:
        """Return the next block of the slice (at most ``block_size`` bytes), ``b""`` at its end."""
        remaining = self.length - self._pos
        if remaining <= 0 or n == 0:
            return b""
        want = self._next_block(remaining, n)
        data = self._read_exact(want)
        self._advance(len(data))
        return data

    def send_rest(self, sock: socket.socket) -> None:
        """Send what is left of the slice into ``sock``, block by block, each block copied
        through one reused buffer in pieces of :data:`SEND_PIECE` bytes.

        No block becomes a Python bytes object (allocated, faulted in, freed): most of a big
        file's CPU on the read path. Not sendfile(2) either, although it costs the worker less:
        its bytes reach a local server straight from the page cache, cold, and the server's
        copy out of the socket then cost it 10-20 % more CPU per GiB than curl's small, just
        written pieces do; on a machine the two share, the server's CPU is the limit (issue
        12, bench/README). The checks and hooks of :meth:`read` run for every block, in the
        same order; an early end of the file is a truncation, as for a read.

        Raises:
            OSError: from the socket (a send that timed out, a reset or closed connection).
            What :meth:`read` raises.
        """
        f = self._open_file()
        buffer = memoryview(bytearray(min(SEND_PIECE, max(self.length - self._pos, 1))))
        while self._pos < self.length:
            block = self._next_block(self.length - self._pos, -1)
            left = block
            while left:
                piece = buffer[: min(left, len(buffer))]
                try:
                    got = f.readinto(piece)
                except OSError as e:
                    raise _read_error(self.path, e) from e
                if not got:  # a raw read returns less only at the end of the file
                    raise file_changed_error(self.path, "became shorter (truncated)")
                data = piece[:got]
                while data:
                    data = data[sock.send(data) :]
                left -= got
            self._advance(block)

    def _next_block(self, remaining: int, n: int) -> int:
        """How much the next block takes (after the stop check)."""
        if self._check_stop is not None:
            self._check_stop()
        want = min(remaining, self.block_size)
        if n > 0:
            want = min(want, n)
        hint = self._block_hint() if self._block_hint is not None else None
        if hint:
            want = min(want, hint)  # a bandwidth limit wants small, even pieces
        return want

    def _advance(self, count: int) -> None:
        """``count`` more bytes of the slice went out: re-check the file, throttle, report."""
        self._pos += count
        self._since_check += count
        if self._since_check >= RECHECK_BYTES or self._pos == self.length:
            self._verify()
        if self._throttle is not None:
            self._throttle(count)
        if self._on_progress is not None:
            self._on_progress(self._pos)

    def digest(self, algorithm: str) -> bytes:
        """Digest of the whole slice (one extra read pass); the read position is left unchanged.

        Args:
            algorithm: a tus checksum name that hashlib knows ("sha1", "sha256", "md5", ...).
        """
        f = self._open_file()
        h = hashlib.new(algorithm)
        saved = f.tell()
        try:
            f.seek(self.start)
            left = self.length
            while left > 0:
                if self._check_stop is not None:
                    self._check_stop()
                block = self._read_exact(min(left, self.block_size))
                h.update(block)
                left -= len(block)
        finally:
            f.seek(saved)
        self._verify()
        return h.digest()

    def close(self) -> None:
        """Close the file; safe to call more than once."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open_file(self) -> io.FileIO:
        if self._file is None:
            raise ValueError("I/O operation on a closed FileSlice")
        return self._file

    def _read_exact(self, want: int) -> bytes:
        f = self._open_file()
        try:
            data = f.read(want)
            # A raw read may legally return less than asked (network file systems do); only
            # an empty read means end of file.
            while data is not None and 0 < len(data) < want:
                more = f.read(want - len(data))
                if not more:
                    break
                data += more
        except OSError as e:
            raise _read_error(self.path, e) from e
        if data is None or len(data) < want:
            raise file_changed_error(self.path, "became shorter (truncated)")
        return data

    def _verify(self) -> None:
        """Compare the open file (and the path) with the expected fingerprint."""
        self._since_check = 0
        f = self._open_file()
        try:
            st = os.fstat(f.fileno())
        except OSError as e:
            raise _read_error(self.path, e) from e
        # Unlinked while open: the fd still reads the old bytes, but the upload is pointless.
        # A new file at the path means it was replaced (os.replace, an editor's safe save).
        if st.st_nlink == 0:
            replaced = os.path.lexists(self.path)
            raise file_changed_error(
                self.path, "was replaced by another file" if replaced else "was deleted"
            )
        if self._expected is None:
            if self.start + self.length > st.st_size:
                raise file_changed_error(self.path, "became shorter (truncated)")
            return
        # fstat sees in-place writes; the path check sees a rename/replace of the file.
        if not self._expected.matches(st, inode=False):
            raise file_changed_error(self.path, _describe_change(self._expected, st, inode=False))
        check_unchanged(self.path, self._expected)
