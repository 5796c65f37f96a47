"""Sending one file's parts, several at a time, skipping those the server already holds.

Each part is read twice from disk, never held in memory: once for its checksum, once streamed
as the body in 256 KiB blocks. The checksum is one of two:

* ``md5``: the Content-MD5 header the server checks, and the local half of the final multipart
  ETag check (any S3 server);
* ``crc32``: x-amz-checksum-crc32, for an upload the server confirmed takes CRC32 checksums
  (CreateMultipartUpload answered ``x-amz-checksum-algorithm: CRC32``). The server checks it
  and answers with the CRC32 it computed, which must equal ours; the final check is the
  composite CRC32 of the object. CRC32 costs a fifth of MD5's CPU (0.3 against 1.7 s/GiB).

A part the server already holds (a resume) is compared by its ETag, so its MD5 is computed
whatever the checksum. Part threads call only the thread-safe hooks (``check_stop``,
``throttle``); progress is reported from the calling (transferring) thread.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import zlib
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from upqueue.core.errors import ErrorKind, TransferError, TransferStopped, UpqueueError
from upqueue.core.filereader import FileSlice
from upqueue.core.transports.base import SendHooks, UploadFile
from upqueue.core.transports.bodies import hashed_slice, sent_slice
from upqueue.core.transports.s3.client import Part, S3Client, crc32_b64

MIB = 1024 * 1024
MIN_PART = 5 * MIB  # S3's smallest part (but the last)
MAX_PARTS = 10_000
_POLL = 0.2  # seconds between progress reports while parts are in flight


def choose_part_size(size: int, wanted: int) -> int:
    """``wanted`` (at least 5 MiB), grown in whole MiB until 10,000 parts cover ``size``."""
    part = max(MIN_PART, wanted)
    if -(-size // part) > MAX_PARTS:
        part = -(-size // MAX_PARTS)
        part = -(-part // MIB) * MIB
    return part


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def multipart_etag(md5s: list[bytes]) -> str:
    """S3's ETag of a completed multipart upload: md5 of the parts' md5s, dash, part count."""
    return f"{hashlib.md5(b''.join(md5s)).hexdigest()}-{len(md5s)}"


def composite_crc32(parts: list[Part]) -> str:
    """S3's COMPOSITE CRC32 of a multipart object: CRC32 of the parts' CRC32s, dash, count."""
    joined = b"".join(base64.b64decode(p.crc32) for p in parts)
    return f"{crc32_b64(zlib.crc32(joined))}-{len(parts)}"


@dataclass
class PartsOutcome:
    parts: list[Part]  # every part, in order, with the ETag (and CRC32) to complete with
    md5s: list[bytes | None]  # the local MD5 of every part, in order (None: not computed)
    sent: list[int]  # numbers of the parts sent by this call
    skipped: list[int]  # numbers of the parts the server already held


def _digests(piece: FileSlice, *, md5: bool, crc: bool) -> tuple[bytes | None, int | None]:
    """One read pass over ``piece`` for its MD5 and/or CRC32 (both release the GIL)."""
    h = hashlib.md5() if md5 else None
    value = 0
    while block := piece.read():
        if h is not None:
            h.update(block)
        if crc:
            value = zlib.crc32(block, value)
    return (h.digest() if h is not None else None), (value if crc else None)


def _damaged(number: int, detail: str) -> TransferError:
    return TransferError(
        "Part damaged in transit",
        f"Part {number} arrived different from the file: {detail}. It is sent again.",
        kind=ErrorKind.TRANSIENT,
        server_text=detail,
    )


class _Tally:
    """Bytes of the file done or in flight, across part threads."""

    def __init__(self, done: int = 0) -> None:
        self._lock = threading.Lock()
        self._done = done
        self._inflight: dict[int, int] = {}

    def moving(self, number: int, nbytes: int) -> None:
        with self._lock:
            self._inflight[number] = nbytes

    def finished(self, number: int, nbytes: int) -> None:
        with self._lock:
            self._inflight.pop(number, None)
            self._done += nbytes

    def dropped(self, number: int) -> None:
        with self._lock:
            self._inflight.pop(number, None)

    def uncount(self, nbytes: int) -> None:
        with self._lock:
            self._done -= nbytes

    def total(self) -> int:
        with self._lock:
            return self._done + sum(self._inflight.values())

    def done(self) -> int:
        """Bytes of the parts the server confirmed (held, or answered 200)."""
        with self._lock:
            return self._done


def send_parts(
    client: S3Client,
    key: str,
    upload_id: str,
    file: UploadFile,
    part_size: int,
    held: dict[int, Part],
    hooks: SendHooks,
    *,
    base_offset: int,
    parallel: int,
    checksum: str = "md5",
) -> PartsOutcome:
    """Send every part of ``file`` that ``held`` (the server's ListParts) lacks or holds wrong.

    Raises:
        TransferError: the first part that failed (the others are stopped first).
        TransferStopped: from the hooks.
    """
    size = file.fingerprint.size
    count = part_count(size, part_size)
    # The parts the server holds count from the start (the progress bar does not drop back
    # to 0 on a resume); one that turns out not to match is taken off again.
    tally = _Tally(sum(p.size for p in held.values() if 1 <= p.number <= count))
    stop = threading.Event()
    results: dict[int, tuple[Part, bytes | None, bool]] = {}
    use_crc = checksum == "crc32"

    def check_stop() -> None:
        if stop.is_set():
            raise TransferStopped("stopped")
        hooks.check_stop()

    def one_part(number: int) -> tuple[Part, bytes | None, bool]:
        try:
            return send_one(number)
        except BaseException:
            # Stop the other parts at once (and one that this thread would start next, with
            # a single part at a time): the first failure ends the send.
            stop.set()
            raise

    def send_one(number: int) -> tuple[Part, bytes | None, bool]:
        start = (number - 1) * part_size
        length = min(part_size, size - start)
        have = held.get(number)
        with hashed_slice(file, check_stop, start=start, length=length) as piece:
            md5, crc = _digests(piece, md5=not use_crc or have is not None, crc=use_crc)
        crc_text = crc32_b64(crc) if crc is not None else ""
        if (
            have is not None
            and md5 is not None
            and have.size == length
            and have.etag.lower() == md5.hex()
        ):
            return Part(number, have.etag, length, crc_text), md5, False
        if have is not None:
            tally.uncount(have.size)
        try:
            with sent_slice(
                file,
                hooks,
                start=start,
                length=length,
                progress=lambda n: tally.moving(number, n),
                check_stop=check_stop,
            ) as body:
                answer = client.upload_part(
                    key, upload_id, number, body, None if use_crc else md5, crc32=crc
                )
            if use_crc and answer.crc32 != crc_text:
                if answer.crc32:
                    raise _damaged(
                        number, f"the server's CRC32 is {answer.crc32}, the file's {crc_text}"
                    )
                # The server did not say what it computed: its ETag (the part's MD5) must do.
                if md5 is None:
                    with hashed_slice(file, check_stop, start=start, length=length) as p:
                        md5, _ = _digests(p, md5=True, crc=False)
                assert md5 is not None
                if answer.etag and answer.etag.lower() != md5.hex():
                    raise _damaged(
                        number, f"the server's ETag is {answer.etag}, the file's MD5 {md5.hex()}"
                    )
        except BaseException:
            tally.dropped(number)
            raise
        tally.finished(number, length)
        etag = answer.etag or (md5.hex() if md5 is not None else "")
        return Part(number, etag, length, crc_text), md5, True

    pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="s3-part")
    futures: dict[Future[tuple[Part, bytes | None, bool]], int] = {
        pool.submit(one_part, n): n for n in range(1, count + 1)
    }
    hooks.on_progress(base_offset + tally.total())
    hooks.on_confirmed(base_offset + tally.done())
    pending = set(futures)
    failure: BaseException | None = None
    try:
        while pending:
            finished, pending = wait(pending, timeout=_POLL, return_when=FIRST_COMPLETED)
            for fut in finished:
                exc = fut.exception()
                if exc is not None:
                    failure = failure or exc
                else:
                    results[futures[fut]] = fut.result()
            if failure is not None:
                break
            hooks.on_progress(base_offset + tally.total())
            hooks.on_confirmed(base_offset + tally.done())
            hooks.check_stop()
    except (TransferStopped, UpqueueError) as exc:  # a stop or failure from the hooks
        failure = exc
    finally:
        if failure is not None:
            stop.set()
            for fut in pending:
                fut.cancel()
        pool.shutdown(wait=True)
    if isinstance(failure, TransferStopped):
        # A failed part stops the others: the failure itself is what the send ends with.
        errors = [f.exception() for f in futures if not f.cancelled()]
        failure = next(
            (e for e in errors if e is not None and not isinstance(e, TransferStopped)), failure
        )
    if failure is not None:
        # A stop that a part thread saw first surfaces as the engine's own stop reason.
        if isinstance(failure, TransferStopped):
            hooks.check_stop()
        raise failure
    hooks.on_progress(base_offset + size)
    hooks.on_confirmed(base_offset + size)
    ordered = [results[n] for n in range(1, count + 1)]
    return PartsOutcome(
        parts=[p for p, _, _ in ordered],
        md5s=[m for _, m, _ in ordered],
        sent=[p.number for p, _, s in ordered if s],
        skipped=[p.number for p, _, s in ordered if not s],
    )
