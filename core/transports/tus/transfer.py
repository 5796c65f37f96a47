"""One attempt at uploading one file over tus: resume or create, then PATCH until complete.

No retry loop and no database here: the caller persists what ``hooks`` report, catches the
TransferError/TransferStopped this raises, waits as its policy says, and calls ``transfer``
again with the stored upload URL. Every attempt starts with a HEAD, so an interrupted PATCH
(which may have stored an unknown number of bytes) is always resumed from the server's offset.
"""

from __future__ import annotations

from typing import Protocol, TypedDict

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.filereader import FileFingerprint, FileSlice, check_unchanged
from upqueue.core.status_errors import human_size
from upqueue.core.transports.tus.client import ServerCaps, TusClient, choose_checksum

# How many 409s / 460s / zero-progress PATCHes in a row before this attempt gives up.
MAX_CONFLICTS = 3
MAX_CHECKSUM_RESENDS = 3
MAX_STALLED_PATCHES = 3


class TransferHooks(Protocol):
    """What ``transfer`` tells and asks its caller. All run on the transferring thread."""

    def check_stop(self) -> None:
        """Raise TransferStopped when the upload must stop; called before every block."""

    def throttle(self, nbytes: int) -> None:
        """Wait as the bandwidth limit requires before ``nbytes`` are sent."""

    def on_progress(self, offset: int) -> None:
        """Absolute offset in the file handed to the socket (or confirmed by the server)."""

    def on_confirmed(self, offset: int) -> None:
        """The server said it stores ``offset`` bytes (HEAD, creation, a PATCH's answer).

        Unlike ``on_progress``, never bytes merely read from the file: only this is progress
        that counts against the retry limit (a 503 after the whole body is none).
        """

    def on_remote(self, url: str | None, expires: str | None) -> None:
        """Persist the upload URL as soon as it exists (None: forget the stored one)."""

    def on_event(self, kind: str, message: str) -> None:
        """Something a person may want in the upload's history, e.g. ("restarted", ...)."""


class NoHooks:
    """Hooks that do nothing: for one-off uploads and tests."""

    def check_stop(self) -> None:
        pass

    def throttle(self, nbytes: int) -> None:
        pass

    def on_progress(self, offset: int) -> None:
        pass

    def on_confirmed(self, offset: int) -> None:
        pass

    def on_remote(self, url: str | None, expires: str | None) -> None:
        pass

    def on_event(self, kind: str, message: str) -> None:
        pass


def transfer(
    client: TusClient,
    endpoint: str,
    path: str,
    expected: FileFingerprint,
    remote_url: str | None,
    metadata: dict[str, str],
    hooks: TransferHooks,
    *,
    chunk_size: int | None = None,
    caps: ServerCaps | None = None,
    creation_with_upload_limit: int = 4 << 20,
) -> str:
    """Upload ``path`` to the tus creation URL ``endpoint`` (or resume ``remote_url``).

    Args:
        client: the tus client (may be shared with other threads).
        endpoint: the creation URL.
        path: the local file.
        expected: its fingerprint when it was queued; any difference is a file_changed error.
        remote_url: the upload URL stored by an earlier attempt, or None.
        metadata: Upload-Metadata (filename, filetype, ...), sent when creating.
        hooks: see TransferHooks.
        chunk_size: bytes per PATCH; None sends the whole remainder in one PATCH.
        caps: the server's capabilities if already discovered (saves an OPTIONS).
        creation_with_upload_limit: files up to this size are sent inside the creation POST when
            the server offers creation-with-upload (a lost POST loses at most this much).

    Returns:
        The upload URL of the completed upload.

    Raises:
        TransferError: see core.errors.ErrorKind; "conflict" and "checksum" only after their
            in-attempt retries ran out (conflict is then reported as transient).
        TransferStopped: from hooks.check_stop.
    """
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError("chunk_size must be positive or None")
    hooks.check_stop()
    check_unchanged(path, expected)
    size = expected.size
    if caps is None:
        caps = client.discover(endpoint)
    algorithm = choose_checksum(caps)

    url, offset = None, 0
    if remote_url:
        url, offset = _resume(client, remote_url, size, hooks, caps)
    restarted = False
    while True:
        if url is None:
            url, offset = _create(
                client,
                endpoint,
                path,
                expected,
                metadata,
                hooks,
                caps,
                # A POST body carries no checksum here, so keep every byte verifiable.
                use_body=algorithm is None and 0 < size <= creation_with_upload_limit,
                chunk_size=chunk_size,
            )
        try:
            _patch_loop(client, url, offset, path, expected, hooks, chunk_size, algorithm)
            return url
        except TransferError as e:
            # The server dropped the upload under us (expired, cleaned up): start over once
            # per attempt; a second time goes to the caller's retry policy.
            if e.kind != ErrorKind.GONE or restarted:
                raise
            restarted = True
            _forget(hooks, e)
            url, offset = None, 0


def _resume(
    client: TusClient, remote_url: str, size: int, hooks: TransferHooks, caps: ServerCaps
) -> tuple[str | None, int]:
    """HEAD the stored upload: (url, server offset), or (None, 0) when it must be created anew."""
    try:
        head = client.head(remote_url, **_undescribed(caps))
    except TransferError as e:
        if e.kind != ErrorKind.GONE:
            raise
        _forget(hooks, e)
        return None, 0
    if head.length != size or head.offset > size:
        # Never trust an upload that cannot be ours: it would complete with the wrong bytes.
        have = "unknown" if head.length is None else f"{head.length:,}"
        hooks.on_event(
            "restarted",
            f"The upload on the server does not match the file (length {have}, offset "
            f"{head.offset:,}, file {size:,} bytes); starting over",
        )
        hooks.on_remote(None, None)
        return None, 0
    if head.expires is not None:
        hooks.on_remote(remote_url, head.expires)
    hooks.on_progress(head.offset)
    hooks.on_confirmed(head.offset)
    return remote_url, head.offset


class _Expect(TypedDict, total=False):
    expect_tus_answer: bool


def _undescribed(caps: ServerCaps) -> _Expect:
    """For a server that did not describe itself, its answers must show that it speaks tus.
    (Passed only then, so a client double with the older signature keeps working.)"""
    return {} if caps.described else {"expect_tus_answer": True}


def _forget(hooks: TransferHooks, e: TransferError) -> None:
    why = f" ({e.status})" if e.status is not None else ""
    hooks.on_event("restarted", f"The server no longer had the upload{why}; starting over")
    hooks.on_remote(None, None)


def _create(
    client: TusClient,
    endpoint: str,
    path: str,
    expected: FileFingerprint,
    metadata: dict[str, str],
    hooks: TransferHooks,
    caps: ServerCaps,
    *,
    use_body: bool,
    chunk_size: int | None,
) -> tuple[str, int]:
    size = expected.size
    if caps.max_size is not None and size > caps.max_size:
        raise _too_large(path, size, caps.max_size)
    if "creation" not in caps.extensions:
        raise TransferError(
            "Server cannot create uploads",
            f"{endpoint} does not offer the tus creation extension, so upqueue cannot start "
            "an upload there. Check the target's URL.",
            kind=ErrorKind.PERMANENT,
        )
    check_unchanged(path, expected)
    if use_body and "creation-with-upload" in caps.extensions:
        body_len = size if chunk_size is None else min(size, chunk_size)
        with _slice(client, path, 0, body_len, expected, hooks) as body:
            result = client.create(endpoint, size, metadata, body=body, **_undescribed(caps))
    else:
        result = client.create(endpoint, size, metadata, **_undescribed(caps))
    hooks.on_remote(result.url, result.expires)
    hooks.on_progress(result.offset)
    hooks.on_confirmed(result.offset)
    return result.url, result.offset


def _patch_loop(
    client: TusClient,
    url: str,
    offset: int,
    path: str,
    expected: FileFingerprint,
    hooks: TransferHooks,
    chunk_size: int | None,
    algorithm: str | None,
) -> None:
    size = expected.size
    conflicts = checksum_failures = stalled = 0
    expires: str | None = None
    while offset < size:
        hooks.check_stop()
        check_unchanged(path, expected)
        length = size - offset if chunk_size is None else min(chunk_size, size - offset)
        try:
            with _slice(client, path, offset, length, expected, hooks) as body:
                new_offset, new_expires = client.patch(
                    url, offset, body, checksum_algorithm=algorithm
                )
        except TransferError as e:
            if e.kind == ErrorKind.CONFLICT:
                conflicts += 1
                if conflicts > MAX_CONFLICTS:
                    raise TransferError(
                        "Upload out of step",
                        f"The server kept answering 409 Conflict ({conflicts} times in a row) "
                        "to the offset it had just reported.",
                        kind=ErrorKind.TRANSIENT,
                        status=409,
                        server_text=e.server_text,
                    ) from e
                offset = _resync(client, url, size, hooks)
                continue
            if e.kind == ErrorKind.CHECKSUM:
                checksum_failures += 1
                if checksum_failures > MAX_CHECKSUM_RESENDS:
                    raise
                hooks.on_event(
                    "resent", f"The server discarded a damaged chunk at {offset:,}; resending"
                )
                hooks.on_progress(offset)
                continue
            raise
        conflicts = checksum_failures = 0
        stalled = stalled + 1 if new_offset == offset else 0
        if stalled >= MAX_STALLED_PATCHES:
            raise TransferError(
                "Server is not storing data",
                f"The server accepted {stalled} requests in a row without storing any data "
                f"(offset stays at {offset:,}).",
                kind=ErrorKind.TRANSIENT,
            )
        # The server's offset is the truth: it may have stored less than we sent.
        offset = new_offset
        hooks.on_progress(offset)
        hooks.on_confirmed(offset)
        if new_expires is not None and new_expires != expires:
            expires = new_expires
            hooks.on_remote(url, expires)


def _resync(client: TusClient, url: str, size: int, hooks: TransferHooks) -> int:
    head = client.head(url)
    if head.offset > size:
        raise TransferError(
            "Upload out of step",
            f"The server reports {head.offset:,} bytes stored of a {size:,}-byte file.",
            kind=ErrorKind.GONE,
        )
    hooks.on_progress(head.offset)
    hooks.on_confirmed(head.offset)
    return head.offset


def _slice(
    client: TusClient,
    path: str,
    start: int,
    length: int,
    expected: FileFingerprint,
    hooks: TransferHooks,
) -> FileSlice:
    return FileSlice(
        path,
        start,
        length,
        expected=expected,
        on_progress=lambda n: hooks.on_progress(start + n),
        check_stop=hooks.check_stop,
        throttle=hooks.throttle,
        block_size=client.block_size,
        block_hint=getattr(hooks, "block_hint", None),
    )


def _too_large(path: str, size: int, max_size: int) -> TransferError:
    return TransferError(
        "Server refused the file",
        f"413 Request Entity Too Large: {path} is {human_size(size)} \u2014 the server accepts "
        f"at most {human_size(max_size)}",
        kind=ErrorKind.PERMANENT,
        status=413,
    )
