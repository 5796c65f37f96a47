"""Content-Range chunked HTTP, the drf-chunked-upload / django-chunked-upload shape.

The first chunk is a ``PUT`` to the endpoint (multipart form: the chunk as ``file``, the name as
``filename``) with ``Content-Range: bytes 0-E/TOTAL``; the server answers ``{id, url, offset}``.
Later chunks ``PUT`` to ``url``; ``GET url`` tells the offset to resume from; ``POST url`` with
the file's ``md5`` completes it (the server checks the sum and marks the file complete).

Remote state: ``{"protocol": "chunked", "url": the upload's URL, "id": the server's file id}``,
reported as soon as the first chunk's answer names it.

Answers that steer the upload: 400 with ``expected_offset`` (the server holds a different
number of bytes) realigns to the server's offset; 410 (expired) or 404 on the upload's URL
starts over from byte 0, once per send, and the history says so; a checksum the server rejects
fails with the file's md5 and the server's words (drf-chunked-upload does not say which sum it
computed), and the next attempt starts over.

Target options: ``file_field`` ("file"), ``filename_field`` ("filename"), ``checksum_field``
("md5"). Chunk size: the target's (or the setting), 4 MiB when neither says.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import requests
from upqueue.core.errors import ErrorKind, TransferError, UpqueueError
from upqueue.core.filereader import FileSlice
from upqueue.core.response_errors import error_for_response
from upqueue.core.status_errors import trim_server_text
from upqueue.core.transports.base import (
    Capabilities,
    ConnectionReport,
    RemoteState,
    SendHooks,
    Sent,
    Transport,
    UploadFile,
    UploadJob,
)
from upqueue.core.transports.bodies import hashed_slice, sent_slice
from upqueue.core.transports.form import TargetForm
from upqueue.core.transports.formdata import FormBody
from upqueue.core.transports.http import http_auth
from upqueue.core.transports.session import HttpSession

PROTOCOL = "chunked"
DEFAULT_CHUNK = 4 * 1024 * 1024
COMPLETE = 2  # drf-chunked-upload's status of a completed upload
_MAX_REALIGNS = 5  # offset corrections in a row without progress before giving up


class _StartOver(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class ChunkedTransport(Transport):
    """An endpoint taking Content-Range chunks (drf-chunked-upload) as a target."""

    name = PROTOCOL
    title = "Chunked HTTP (Content-Range, drf-chunked-upload)"
    reserved_headers = frozenset({"content-range", "content-type"})
    form = TargetForm(
        url_placeholder="https://example.org/api/chunkedupload/",
        url_tooltip=(
            "The endpoint that takes the first chunk (PUT with Content-Range) and "
            "answers the upload's own URL."
        ),
    )

    def __init__(
        self, target: Mapping[str, Any], secret: str | None, settings: Mapping[str, Any]
    ) -> None:
        headers, basic = http_auth(target, secret)
        options = dict(target.get("options") or {})
        self.endpoint = str(target["url"])
        self.file_field = str(options.get("file_field") or "file")
        self.filename_field = str(options.get("filename_field") or "filename")
        self.checksum_field = str(options.get("checksum_field") or "md5")
        self.session = HttpSession(settings, headers=headers, auth=basic)

    def probe(self) -> Capabilities:
        return Capabilities(
            resumable=True,
            checksums=("md5",),
            described_itself=False,
            notes=(
                (
                    "A chunked-upload endpoint does not describe itself; "
                    "upqueue resumes from the offset its GET answers."
                ),
            ),
            details={"endpoint": self.endpoint},
        )

    def send(
        self,
        job: UploadJob,
        remote_state: RemoteState | None,
        hooks: SendHooks,
        capabilities: Capabilities | None = None,
    ) -> Sent:
        file = job.single_file("A chunked-upload target")
        chunk = job.chunk_size or DEFAULT_CHUNK
        url = _url_of(remote_state)
        if file.fingerprint.size == 0 and url is None:
            return self._whole(file, hooks)
        started_over = False
        while True:
            try:
                return self._send(file, url, chunk, hooks)
            except _StartOver as again:
                if started_over:
                    raise TransferError(
                        "Upload no longer on the server",
                        f"{again.why} twice in a row.",
                        kind=ErrorKind.GONE,
                    ) from None
                started_over, url = True, None
                hooks.on_remote_state(None)
                hooks.on_event("restarted", f"{again.why}; started over from the beginning.")

    # -- the upload ---------------------------------------------------------------------------

    def _send(self, file: UploadFile, url: str | None, chunk: int, hooks: SendHooks) -> Sent:
        size = file.fingerprint.size
        if url is None:
            answer = self._chunk(file, self.endpoint, 0, chunk, hooks, first=True)
            url = urljoin(self.endpoint, str(answer.get("url") or ""))
            if not answer.get("url"):
                raise _protocol_error("the first chunk's answer names no upload url")
            hooks.on_remote_state(_state(url, answer.get("id")), result_url=url)
        else:
            answer = self._status(url)
            if answer.get("status") == COMPLETE:
                hooks.on_progress(size)
                hooks.on_confirmed(size)
                return Sent(
                    remote_state=_state(url, answer.get("id")),
                    result_url=url,
                    message="The server has the whole file and marked it complete",
                )
        offset = _offset(answer, size)
        hooks.on_progress(offset)
        hooks.on_confirmed(offset)
        realigns = 0
        while offset < size:
            try:
                answer = self._chunk(file, url, offset, chunk, hooks)
                realigns = 0
            except _Realign as server:
                realigns += 1
                if realigns > _MAX_REALIGNS:
                    raise server.error from None
                hooks.on_event(
                    "info",
                    f"The server holds {server.offset:,} bytes, not "
                    f"{offset:,}; continuing from its offset.",
                )
                answer = {"offset": server.offset}
            offset = _offset(answer, size)
            hooks.on_progress(offset)
            hooks.on_confirmed(offset)
        self._complete(file, url, hooks)
        return Sent(
            remote_state=_state(url, answer.get("id")),
            result_url=url,
            message="Uploaded; the server checked the md5 and marked the file complete",
        )

    def _chunk(
        self,
        file: UploadFile,
        url: str,
        offset: int,
        chunk: int,
        hooks: SendHooks,
        *,
        first: bool = False,
    ) -> dict[str, Any]:
        size = file.fingerprint.size
        length = min(chunk, size - offset)
        piece = sent_slice(file, hooks, start=offset, length=length)
        fields = {self.filename_field: file.name} if first else {}
        body = FormBody(fields, self.file_field, file.name, piece)
        action = "sending the first chunk" if first else f"sending bytes from {offset:,}"
        try:
            resp = self.session.request(
                "PUT",
                url,
                action=action,
                body=body,
                headers={
                    "Content-Range": f"bytes {offset}-{offset + length - 1}/{size}",
                    "Content-Type": body.content_type,
                },
            )
        finally:
            body.close()
        return self._answer(resp, action, upload=not first)

    def _status(self, url: str) -> dict[str, Any]:
        resp = self.session.request("GET", url, action="asking the server for the offset")
        if resp.status_code == 404:
            raise _StartOver("The server no longer knows this upload (404)")
        return self._answer(resp, "asking the server for the offset", upload=True)

    def _complete(self, file: UploadFile, url: str, hooks: SendHooks) -> None:
        with hashed_slice(file, hooks.check_stop) as whole:
            md5 = whole.digest("md5").hex()
        action = "completing the upload (md5 check)"
        resp = self.session.request("POST", url, action=action, data={self.checksum_field: md5})
        if resp.status_code == 400 and "checksum" in resp.text.lower():
            hooks.on_remote_state(None)  # what the server holds is not the file: start anew
            said = _detail(resp)
            server_sum = _server_sum(resp)
            theirs = (
                f"the server's is {server_sum}"
                if server_sum
                else "the server computed a different one (it does not say which)"
            )
            raise TransferError(
                "Upload verification failed",
                f"The file's md5 is {md5}; {theirs} ({said}). The data was damaged on the way "
                "or on the server; the next attempt sends the whole file again.",
                kind=ErrorKind.CHECKSUM,
                status=400,
                server_text=said,
            )
        self._answer(resp, action, upload=True)

    def _whole(self, file: UploadFile, hooks: SendHooks) -> Sent:
        """An empty file: one POST of the whole (empty) file with its md5 (no byte range can
        describe zero bytes)."""
        piece = FileSlice(file.path, 0, 0, expected=file.fingerprint)
        body = FormBody(
            {self.filename_field: file.name, self.checksum_field: hashlib.md5(b"").hexdigest()},
            self.file_field,
            file.name,
            piece,
        )
        try:
            resp = self.session.request(
                "POST",
                self.endpoint,
                action="sending the empty file",
                body=body,
                headers={"Content-Type": body.content_type},
            )
        finally:
            body.close()
        answer = self._answer(resp, "sending the empty file", upload=False)
        url = urljoin(self.endpoint, str(answer.get("url") or "")) or None
        state = _state(url, answer.get("id")) if url else {"protocol": PROTOCOL}
        return Sent(remote_state=state, result_url=url)

    def _answer(self, resp: requests.Response, action: str, *, upload: bool) -> dict[str, Any]:
        if resp.status_code == 410:
            raise _StartOver(f"The server says the upload expired (410 Gone: {_detail(resp)})")
        if resp.status_code == 400:
            expected = _expected_offset(resp)
            if expected is not None:
                raise _Realign(expected, error_for_response(resp, action))
        if not 200 <= resp.status_code < 300:
            raise error_for_response(resp, action)
        try:
            value = resp.json()
        except (ValueError, json.JSONDecodeError):
            raise _protocol_error(f"the answer to {action} is not JSON") from None
        if not isinstance(value, dict):
            raise _protocol_error(f"the answer to {action} is not a JSON object")
        return value

    # -- the rest of the interface -------------------------------------------------------------

    def test_connection(self) -> ConnectionReport:
        """GET the endpoint: it answers and takes the credentials (without leaving a partial
        upload behind: drf-chunked-upload has no way to delete one)."""
        try:
            resp = self.session.request("GET", self.endpoint, action="checking the endpoint")
        except UpqueueError as exc:
            return ConnectionReport.failed(exc)
        if resp.status_code in (401, 403):
            err = error_for_response(resp, "checking the endpoint")
            return ConnectionReport(ok=False, title=err.title, message=err.message)
        if resp.status_code == 405:
            return ConnectionReport(
                ok=True,
                title="The endpoint answers",
                message=f"{self.endpoint} answers (GET is not allowed "
                "there, so the credentials are checked by the "
                "first upload).",
            )
        if resp.status_code >= 300:
            err = error_for_response(resp, "checking the endpoint")
            return ConnectionReport(ok=False, title=err.title, message=err.message)
        return ConnectionReport(
            ok=True,
            title="Connection works",
            message=f"{self.endpoint} answers and accepts the credentials.",
        )

    def close(self) -> None:
        self.session.close()


class _Realign(Exception):
    def __init__(self, offset: int, error: TransferError) -> None:
        super().__init__(offset)
        self.offset = offset
        self.error = error


def _state(url: str, file_id: Any) -> RemoteState:
    return {"protocol": PROTOCOL, "url": url, "id": str(file_id) if file_id else None}


def _url_of(state: RemoteState | None) -> str | None:
    if not state or state.get("protocol") != PROTOCOL or not state.get("url"):
        return None
    return str(state["url"])


def _offset(answer: Mapping[str, Any], size: int) -> int:
    try:
        offset = int(answer.get("offset"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _protocol_error("the answer has no offset") from None
    if not 0 <= offset <= size:
        raise _protocol_error(
            f"the server's offset {offset:,} is outside the file ({size:,} bytes)"
        )
    return offset


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _detail(resp: requests.Response) -> str:
    value = _json(resp)
    if isinstance(value, dict) and value.get("detail"):
        return str(value["detail"])
    return trim_server_text(resp.text or "", resp.headers.get("Content-Type", ""))


def _expected_offset(resp: requests.Response) -> int | None:
    value = _json(resp)
    if isinstance(value, dict) and "expected_offset" in value:
        try:
            return int(value["expected_offset"])
        except (TypeError, ValueError):
            return None
    return None


def _server_sum(resp: requests.Response) -> str | None:
    value = _json(resp)
    if isinstance(value, dict):
        for key in ("checksum", "md5", "server_md5", "expected"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


def _protocol_error(detail: str) -> TransferError:
    return TransferError(
        "Unexpected server response",
        f"The server does not answer as a chunked-upload endpoint: {detail}. Check the "
        "target's URL (e.g. https://example.org/api/chunkedupload/).",
        kind=ErrorKind.PERMANENT,
    )
