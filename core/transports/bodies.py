"""A queued file as a request body, or as bytes to hash: the one place that builds the FileSlice
a transport sends (stopping, throttling and reporting through the upload's hooks) or digests."""

from __future__ import annotations

from collections.abc import Callable

from upqueue.core.filereader import FileSlice
from upqueue.core.transports.base import SendHooks, UploadFile
from upqueue.core.transports.session import BLOCK_SIZE

HASH_BLOCK = 1 << 20  # a digest pass reads in MiB blocks: nothing waits on a socket there


def sent_slice(
    file: UploadFile,
    hooks: SendHooks,
    *,
    start: int = 0,
    length: int | None = None,
    progress: Callable[[int], None] | None = None,
    check_stop: Callable[[], None] | None = None,
    block_size: int = BLOCK_SIZE,
) -> FileSlice:
    """``length`` bytes of ``file`` from ``start`` (all of the rest by default) as a body.

    Every block passes the upload's stop check and bandwidth limit (in pieces the limit asks
    for) and is reported as the upload's offset, ``start`` + bytes of the slice; ``progress``
    reports otherwise (a part of several, a file of a dataset), ``check_stop`` stops otherwise
    (parallel parts that end together).
    """
    return FileSlice(
        file.path,
        start,
        file.fingerprint.size - start if length is None else length,
        expected=file.fingerprint,
        check_stop=check_stop or hooks.check_stop,
        throttle=hooks.throttle,
        on_progress=progress if progress is not None else lambda n: hooks.on_progress(start + n),
        block_size=block_size,
        # Test doubles of the hooks may not have it; no hint is "no limit".
        block_hint=getattr(hooks, "block_hint", None),
    )


def hashed_slice(
    file: UploadFile,
    check_stop: Callable[[], None],
    *,
    start: int = 0,
    length: int | None = None,
) -> FileSlice:
    """``length`` bytes of ``file`` from ``start`` (all of it by default), to be digested:
    checked against the file as queued, stoppable, not throttled (nothing is sent)."""
    return FileSlice(
        file.path,
        start,
        file.fingerprint.size - start if length is None else length,
        expected=file.fingerprint,
        check_stop=check_stop,
        block_size=HASH_BLOCK,
    )


__all__ = ["HASH_BLOCK", "hashed_slice", "sent_slice"]
