"""The tus 1.0 client: one method per protocol request, with errors classified.

Requests go through core.transports.session.HttpSession's wire path (a kept-alive connection
per thread and origin, no requests underneath: a small file costs two requests, issue 12).

Nothing here retries or sleeps: every failure becomes a :class:`TransferError` whose ``kind``
tells the caller what to do (see PROTOCOLS.md §I). The PATCH loop lives in core.transports.tus.transfer.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.filereader import FileSlice
from upqueue.core.response_errors import error_for_response
from upqueue.core.transports.session import HttpSession
from upqueue.core.transports.tus.headers import (
    csv_values,
    decode_metadata,
    encode_metadata,
    parse_int,
    protocol_error,
    require_tus_answer,
    resolve_location,
)
from upqueue.core.transports.wire_answer import Answer

TUS_VERSION = "1.0.0"
_T = TypeVar("_T")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Among what the server lists, in this order: sha1 is the one every server MUST support.
PREFERRED_CHECKSUMS = ("sha1", "sha256", "md5")


# What a server that does not describe itself is assumed to offer: the tus core protocol and the
# creation extension, which every tus server that takes new uploads from clients must have.
ASSUMED_EXTENSIONS = frozenset({"creation"})


@dataclass(frozen=True)
class ServerCaps:
    """What the server said in its OPTIONS answer, or what is assumed when it said nothing.

    ``described`` is False when OPTIONS answered other than 200/204 or without Tus-Version (the
    spec makes OPTIONS optional): then ``options_status`` is that answer's status and the
    extensions are :data:`ASSUMED_EXTENSIONS`; whether the server speaks tus at all is decided
    from its POST / HEAD answers (a Tus-Resumable header).
    """

    versions: list[str]
    extensions: frozenset[str]
    max_size: int | None
    checksum_algorithms: list[str]
    described: bool = True
    options_status: int | None = None


@dataclass(frozen=True)
class CreateResult:
    """A new upload: its absolute URL, the offset after any creation-with-upload body, its expiry."""

    url: str
    offset: int
    expires: str | None


@dataclass(frozen=True)
class HeadResult:
    """The server's view of an upload. ``metadata`` is the decoded Upload-Metadata echo (extra)."""

    offset: int
    length: int | None
    expires: str | None
    metadata: Mapping[str, str | None] = field(default_factory=dict)


def choose_checksum(caps: ServerCaps) -> str | None:
    """The checksum algorithm to use with this server, or None when it has no checksum extension."""
    if "checksum" not in caps.extensions:
        return None
    offered = {a.lower() for a in caps.checksum_algorithms}
    return next((a for a in PREFERRED_CHECKSUMS if a in offered), None)


class TusClient:
    """A tus 1.0 client. Thread-safe: each thread keeps its own connection per origin.

    Timeouts: requests without a body connect within ``connect_timeout``. Requests with a body
    connect within ``stall_timeout`` and end when the socket takes no more of the body for
    ``stall_timeout`` seconds (a transient "stalled" error), however slow the link, since each
    send is bounded rather than each block. ``read_timeout`` bounds waiting for the answer once
    the body is sent. Proxies are read from the environment once per host, and a CA bundle
    named the way requests reads it (REQUESTS_CA_BUNDLE) is honoured.
    """

    def __init__(
        self,
        *,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        connect_timeout: float = 10.0,
        stall_timeout: float = 30.0,
        read_timeout: float = 60.0,
        verify: bool | str = True,
        block_size: int = 1 << 20,
    ) -> None:
        self.http = HttpSession(
            {
                "connect_timeout": connect_timeout,
                "stall_timeout": stall_timeout,
                "read_timeout": read_timeout,
            },
            headers=headers,
            auth=auth,
            block_size=block_size,
            verify=verify,
        )
        self.headers = self.http.headers
        self.auth = auth
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        self.read_timeout = read_timeout
        self.verify = self.http.verify
        self.block_size = block_size
        # Max size per endpoint from discover(), so a 413 can say what the limit is.
        self._max_sizes: dict[str, int] = {}

    # -- protocol requests -------------------------------------------------------------------

    def discover(self, endpoint: str) -> ServerCaps:
        """OPTIONS the creation URL.

        An answer other than 200/204, or one without Tus-Version, means the server did not
        describe itself (OPTIONS is optional in tus 1.0; tuspyserver answers 405): the result
        has ``described=False`` and the assumed core + creation.

        Raises:
            TransferError: permanent "Unsupported tus version" when the server lists versions
                without 1.0.0; transient when there was no answer at all.
        """
        # No Tus-Resumable on OPTIONS (spec: the server MUST ignore it anyway).
        resp = self._send("OPTIONS", endpoint, action="asking the server what it supports")
        versions = csv_values(resp.headers.get("Tus-Version"))
        if resp.status_code not in (200, 204) or not versions:
            return ServerCaps(
                versions=[],
                extensions=ASSUMED_EXTENSIONS,
                max_size=None,
                checksum_algorithms=[],
                described=False,
                options_status=resp.status_code,
            )
        if TUS_VERSION not in versions:
            raise TransferError(
                "Unsupported tus version",
                f"The server speaks tus {', '.join(versions)}; upqueue speaks {TUS_VERSION}.",
                kind=ErrorKind.PERMANENT,
                status=resp.status_code,
            )
        max_size_text = resp.headers.get("Tus-Max-Size")
        max_size = parse_int(resp, "Tus-Max-Size") if max_size_text else None
        if max_size is not None:
            self._max_sizes[endpoint] = max_size
        return ServerCaps(
            versions=versions,
            extensions=frozenset(e.lower() for e in csv_values(resp.headers.get("Tus-Extension"))),
            max_size=max_size,
            checksum_algorithms=[
                a.lower() for a in csv_values(resp.headers.get("Tus-Checksum-Algorithm"))
            ],
        )

    def create(
        self,
        endpoint: str,
        length: int,
        metadata: dict[str, str],
        *,
        body: FileSlice | None = None,
        expect_tus_answer: bool = False,
    ) -> CreateResult:
        """POST a new upload of ``length`` bytes; with ``body``, creation-with-upload.

        ``expect_tus_answer`` (for a server that did not describe itself): an answer without
        Tus-Resumable, other than one about credentials or load, is "Not a tus server".

        Returns:
            The absolute upload URL (a relative Location is resolved against ``endpoint``), the
            offset the server stored (0 without a body, or when it ignored the body), the expiry.
        """
        headers = _creation_headers(length, metadata)
        if body is not None:
            headers["Content-Type"] = OFFSET_CONTENT_TYPE
        action = "creating the upload"
        resp = self._send("POST", endpoint, headers=headers, body=body, action=action)
        return self._created(resp, endpoint, length, body is not None, expect_tus_answer)

    def create_many(
        self,
        endpoint: str,
        uploads: Sequence[tuple[int, dict[str, str]]],
        *,
        expect_tus_answer: bool = False,
    ) -> list[CreateResult | TransferError]:
        """POST several empty uploads of (length, metadata), pipelined on one connection:
        each gets its result, or the error that :meth:`create` would have raised."""
        action = "creating the upload"
        requests = [
            ("POST", endpoint, self._tus_headers(_creation_headers(length, metadata)), None)
            for length, metadata in uploads
        ]
        answers = self.http.send_pipelined(requests, action=action)
        return [
            _read(
                answer,
                partial(
                    self._created,
                    endpoint=endpoint,
                    length=length,
                    with_body=False,
                    expect_tus_answer=expect_tus_answer,
                ),
            )
            for answer, (length, _) in zip(answers, uploads)
        ]

    def _created(
        self, resp: Answer, endpoint: str, length: int, with_body: bool, expect_tus_answer: bool
    ) -> CreateResult:
        action = "creating the upload"
        if expect_tus_answer:
            require_tus_answer(resp, endpoint)
        if resp.status_code not in (200, 201) or not resp.headers.get("Location"):
            raise error_for_response(resp, action, max_size=self._max_sizes.get(endpoint))
        url = resolve_location(endpoint, resp.headers["Location"])
        offset = 0
        if with_body and "Upload-Offset" in resp.headers:
            offset = parse_int(resp, "Upload-Offset")
            if offset > length:
                raise protocol_error(resp, f"Upload-Offset {offset} is beyond the length {length}")
        return CreateResult(url=url, offset=offset, expires=resp.headers.get("Upload-Expires"))

    def head(self, url: str, *, expect_tus_answer: bool = False) -> HeadResult:
        """HEAD an upload to learn its offset (``expect_tus_answer``: as for :meth:`create`).

        Raises:
            TransferError: kind "gone" for 403/404/410 (the spec lets a server use any of them
                for an unknown upload), otherwise as classified by status.
        """
        action = "checking the upload on the server"
        resp = self._send("HEAD", url, headers={"Cache-Control": "no-store"}, action=action)
        if expect_tus_answer:
            require_tus_answer(resp, url)
        if resp.status_code in (403, 404, 410):
            raise error_for_response(resp, action, gone=True)
        if resp.status_code not in (200, 204):
            raise error_for_response(resp, action)
        offset = parse_int(resp, "Upload-Offset")
        length = parse_int(resp, "Upload-Length") if "Upload-Length" in resp.headers else None
        if length is not None and offset > length:
            raise protocol_error(resp, f"Upload-Offset {offset} is beyond Upload-Length {length}")
        try:
            metadata = decode_metadata(resp.headers.get("Upload-Metadata"))
        except ValueError:
            metadata = {}  # an echo we cannot read is not worth failing the upload for
        return HeadResult(
            offset=offset,
            length=length,
            expires=resp.headers.get("Upload-Expires"),
            metadata=metadata,
        )

    def patch(
        self,
        url: str,
        offset: int,
        body: FileSlice,
        *,
        checksum_algorithm: str | None = None,
    ) -> tuple[int, str | None]:
        """PATCH ``body`` at ``offset``; returns (the server's new offset, Upload-Expires).

        Raises:
            TransferError: "gone" (404/410), "conflict" (409), "checksum" (460), transient
                or permanent as classified; permanent for a 2xx without a valid Upload-Offset.
            TransferStopped: from the body's check_stop hook.
        """
        headers = {"Upload-Offset": str(offset), "Content-Type": OFFSET_CONTENT_TYPE}
        if checksum_algorithm:
            digest = base64.b64encode(body.digest(checksum_algorithm)).decode("ascii")
            headers["Upload-Checksum"] = f"{checksum_algorithm} {digest}"
        resp = self._send("PATCH", url, headers=headers, body=body, action="sending data")
        return _patched(resp, offset, len(body))

    def patch_many(
        self,
        patches: Sequence[tuple[str, int, bytes]],
        *,
        checksum_algorithm: str | None = None,
    ) -> list[tuple[int, str | None] | TransferError]:
        """PATCH several (url, offset, data) on one connection, pipelined (all to one origin):
        each gets (new offset, Upload-Expires), or the error :meth:`patch` would have raised."""
        requests: list[tuple[str, str, Mapping[str, str], bytes | None]] = []
        for url, offset, data in patches:
            headers = {"Upload-Offset": str(offset), "Content-Type": OFFSET_CONTENT_TYPE}
            if checksum_algorithm:
                digest = hashlib.new(checksum_algorithm, data).digest()
                headers["Upload-Checksum"] = (
                    f"{checksum_algorithm} {base64.b64encode(digest).decode('ascii')}"
                )
            requests.append(("PATCH", url, self._tus_headers(headers), data))
        answers = self.http.send_pipelined(requests, action="sending data")
        return [
            _read(answer, partial(_patched, offset=offset, length=len(data)))
            for answer, (_, offset, data) in zip(answers, patches)
        ]

    def terminate(self, url: str) -> None:
        """DELETE an upload; an upload that is already gone (404/410) is fine."""
        action = "deleting the upload on the server"
        resp = self._send("DELETE", url, action=action)
        if resp.status_code in (404, 410) or 200 <= resp.status_code < 300:
            return
        raise error_for_response(resp, action)

    def close(self) -> None:
        """Close every thread's connections."""
        self.http.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        action: str,
        headers: dict[str, str] | None = None,
        body: FileSlice | None = None,
    ) -> Answer:
        all_headers = dict(headers or {}) if method == "OPTIONS" else self._tus_headers(headers)
        # Redirects are never followed: a streamed body cannot be replayed, and a redirected
        # POST would lose its meaning; a 3xx is reported instead (core.status_errors).
        return self.http.send(method, url, action=action, headers=all_headers, body=body)

    @staticmethod
    def _tus_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
        return {**(headers or {}), "Tus-Resumable": TUS_VERSION}


def _read(answer: Answer | TransferError, parse: Callable[[Answer], _T]) -> _T | TransferError:
    """A pipelined request's outcome: its answer parsed, or the error it got or means."""
    if isinstance(answer, TransferError):
        return answer
    try:
        return parse(answer)
    except TransferError as error:
        return error


def _creation_headers(length: int, metadata: dict[str, str]) -> dict[str, str]:
    headers = {"Upload-Length": str(length)}
    if metadata:
        # @tus/server answers 400 to an empty Upload-Metadata header: omit it instead.
        headers["Upload-Metadata"] = encode_metadata(metadata)
    return headers


def _patched(resp: Answer, offset: int, length: int) -> tuple[int, str | None]:
    """A PATCH's answer: (the server's new offset, Upload-Expires), or the error it means."""
    action = "sending data"
    if resp.status_code in (404, 410):
        raise error_for_response(resp, action, gone=True)
    if not 200 <= resp.status_code < 300:
        raise error_for_response(resp, action)
    new_offset = parse_int(resp, "Upload-Offset")
    if not offset <= new_offset <= offset + length:
        raise protocol_error(
            resp, f"Upload-Offset {new_offset} after sending {length} bytes at {offset}"
        )
    return new_offset, resp.headers.get("Upload-Expires")


__all__ = [
    "CreateResult",
    "HeadResult",
    "ServerCaps",
    "TusClient",
    "choose_checksum",
    "decode_metadata",
    "encode_metadata",
]
