"""Plain HTTP: the file ``PUT`` to ``URL/<file name>`` (WebDAV servers, nginx's dav module,
object stores with pre-authorised URLs), or one multipart ``POST`` to the URL with the file in
a named field (upload forms, uploadserver).

Not resumable: an interrupted or failed send restarts from byte 0 (the error and the history
say "restarts from the beginning"). Remote state::

    {"protocol": "http", "attempt": N}                   while a send is under way
    {"protocol": "http", "answer": {"status", "body"}}   once the server took the file

The server's answer (status and trimmed body) is kept for the details pane.

Target options: ``method`` ("put", the default, or "post"), ``field_name`` ("file") for POST.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urljoin

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
    UploadJob,
)
from upqueue.core.transports.bodies import sent_slice
from upqueue.core.transports.form import OptionField, TargetForm
from upqueue.core.transports.formdata import FormBody
from upqueue.core.transports.http import http_auth
from upqueue.core.transports.session import HttpSession

PROTOCOL = "http"
RESTARTS = "Plain HTTP cannot resume: the next attempt restarts from the beginning."
TEST_FILE = ".upqueue-connection-test"


class PlainHttpTransport(Transport):
    """A URL that takes a whole file per request."""

    name = PROTOCOL
    title = "Plain HTTP (PUT or multipart POST, not resumable)"
    reserved_headers = frozenset({"content-type", "content-range"})
    form = TargetForm(
        url_placeholder="https://example.org/uploads/",
        url_tooltip="PUT: each file goes to URL/<file name>. POST: the form's URL.",
        chunk_size=False,
        options=(
            OptionField(
                "method",
                "Method:",
                choices=("put", "post"),
                tooltip="PUT the file to URL/<file name>, or POST it as a form.",
            ),
            OptionField(
                "field_name",
                "Form field:",
                "file",
                tooltip="For POST: the name of the form's file field.",
            ),
        ),
    )

    @classmethod
    def check_target(cls, fields: Mapping[str, Any]) -> None:
        method = str(dict(fields.get("options") or {}).get("method") or "put").lower()
        if method not in ("put", "post"):
            raise UpqueueError(
                "Unknown method",
                f"{method!r}: plain HTTP targets PUT or POST "
                "a file; set the method option to put or post.",
            )

    def __init__(
        self, target: Mapping[str, Any], secret: str | None, settings: Mapping[str, Any]
    ) -> None:
        headers, basic = http_auth(target, secret)
        options = dict(target.get("options") or {})
        self.url = str(target["url"])
        self.method = str(options.get("method") or "put").upper()
        if self.method not in ("PUT", "POST"):
            raise UpqueueError(
                "Unknown method",
                f"{self.method!r}: plain HTTP targets PUT or "
                "POST a file; set the method option to put or post.",
            )
        self.field_name = str(options.get("field_name") or "file")
        self.session = HttpSession(settings, headers=headers, auth=basic)

    def probe(self) -> Capabilities:
        return Capabilities(
            resumable=False,
            described_itself=False,
            notes=(
                ("Plain HTTP cannot resume: an interrupted upload restarts from the beginning."),
            ),
            details={"method": self.method, "url": self.url},
        )

    def target_url(self, name: str) -> str:
        """Where a PUT of ``name`` goes: the URL as a folder, the name appended."""
        base = self.url if self.url.endswith("/") else self.url + "/"
        return urljoin(base, quote(name))

    def send(
        self,
        job: UploadJob,
        remote_state: RemoteState | None,
        hooks: SendHooks,
        capabilities: Capabilities | None = None,
    ) -> Sent:
        job.single_file("A plain HTTP target")
        state = remote_state if remote_state and remote_state.get("protocol") == PROTOCOL else {}
        attempt = int(state.get("attempt") or 0) + 1
        if attempt > 1:
            hooks.on_event(
                "restarted",
                "The previous attempt did not finish; plain HTTP cannot "
                "resume, so the upload restarts from the beginning.",
            )
        hooks.on_remote_state({"protocol": PROTOCOL, "attempt": attempt})
        hooks.on_progress(0)
        file = job.primary
        body = sent_slice(file, hooks)
        try:
            if self.method == "PUT":
                where = self.target_url(file.name)
                resp = self._request(
                    "PUT", where, body, {"Content-Type": "application/octet-stream"}
                )
            else:
                where = self.url
                form = FormBody({}, self.field_name, file.name, body)
                resp = self._request("POST", where, form, {"Content-Type": form.content_type})
        finally:
            body.close()
        answer = {
            "status": resp.status_code,
            "body": trim_server_text(resp.text or "", resp.headers.get("Content-Type", "")),
        }
        final = {"protocol": PROTOCOL, "answer": answer}
        location = resp.headers.get("Location")
        result = urljoin(where, location) if location else (where if self.method == "PUT" else None)
        hooks.on_remote_state(final, result_url=result)
        hooks.on_confirmed(file.fingerprint.size)
        said = f": {answer['body']}" if answer["body"] else ""
        return Sent(
            remote_state=final,
            result_url=result,
            message=f"Uploaded; the server answered {resp.status_code}{said}",
        )

    def _request(
        self, method: str, url: str, body: FileSlice | FormBody, headers: dict[str, str]
    ) -> requests.Response:
        action = "sending the file"
        try:
            resp = self.session.request(method, url, action=action, body=body, headers=headers)
        except TransferError as exc:
            raise _restarts(exc) from exc
        if not 200 <= resp.status_code < 300:
            raise _restarts(error_for_response(resp, action))
        return resp

    def test_connection(self) -> ConnectionReport:
        """PUT: write and delete an empty test file (the URL takes files and the credentials
        work). POST: the URL answers (a POST would leave a file behind)."""
        try:
            if self.method == "PUT":
                where = self.target_url(TEST_FILE)
                resp = self.session.request("PUT", where, action="writing a test file", body=b"")
                if not 200 <= resp.status_code < 300:
                    raise error_for_response(resp, "writing a test file")
                note = ""
                gone = self.session.request("DELETE", where, action="deleting the test file")
                if not 200 <= gone.status_code < 300 and gone.status_code != 404:
                    note = (
                        f" The empty test file {where} could not be deleted ({gone.status_code})."
                    )
                return ConnectionReport(
                    ok=True,
                    title="Connection works",
                    message=f"{self.url} takes files by PUT.{note}",
                )
            resp = self.session.request("GET", self.url, action="checking the URL")
            if resp.status_code in (401, 403) or resp.status_code >= 500:
                raise error_for_response(resp, "checking the URL")
            return ConnectionReport(
                ok=True,
                title="The URL answers",
                message=f"{self.url} answers ({resp.status_code}); files go "
                f"up as the form field '{self.field_name}'.",
            )
        except UpqueueError as exc:
            return ConnectionReport.failed(exc)

    def close(self) -> None:
        self.session.close()


def _restarts(error: TransferError) -> TransferError:
    """The error, saying that a retry starts again from byte 0 (when there will be one)."""
    if error.kind in (ErrorKind.PERMANENT, ErrorKind.FILE_CHANGED):
        return error
    return TransferError(
        error.title,
        f"{error.message} {RESTARTS}",
        kind=error.kind,
        status=error.status,
        retry_after=error.retry_after,
        server_text=error.server_text,
    )
