"""A transport that exists only in the tests: a protocol with datasets and a processing stage
(the shape GeoNode will have), against tests/fixtures/processing_server.py.

Importing this module registers it (``UPQUEUE_TRANSPORTS=tests.transports.processing`` makes the
real worker process do so). Not resumable: an interrupted send starts over. Remote state:
``{"protocol": "test-processing", "token": ..., "job": id or None}``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests
from upqueue.core.connection_errors import classify_exception
from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.filereader import FileSlice, check_unchanged
from upqueue.core.response_errors import error_for_response
from upqueue.core.transports import registry
from upqueue.core.transports.base import (
    Capabilities,
    ConnectionReport,
    Processed,
    ProcessingHooks,
    RemoteState,
    SendHooks,
    Sent,
    Transport,
    UploadJob,
)

NAME = "test-processing"
POLL_SECONDS = 0.1


class ProcessingTransport(Transport):
    name = NAME
    title = "Test protocol with a processing stage"
    takes_datasets = True

    def __init__(
        self, target: Mapping[str, Any], secret: str | None, settings: Mapping[str, Any]
    ) -> None:
        self.base = str(target["url"]).rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False

    def probe(self) -> Capabilities:
        return Capabilities(resumable=False, processing=True, datasets=True)

    def _request(self, method: str, url: str, action: str, **kwargs: Any) -> requests.Response:
        try:
            resp = self.session.request(method, url, timeout=(3, 10), **kwargs)
        except requests.RequestException as e:
            raise classify_exception(e, url, action, stall_timeout=3.0) from e
        if resp.status_code >= 400:
            raise error_for_response(resp, action)
        return resp

    def send(
        self,
        job: UploadJob,
        remote_state: RemoteState | None,
        hooks: SendHooks,
        capabilities: Capabilities | None = None,
    ) -> Sent:
        if remote_state and remote_state.get("job"):
            # Sent before: the server's job is the truth (a 404 would start over).
            self._request("GET", f"{self.base}/jobs/{remote_state['job']}", "checking the job")
            return Sent(remote_state=dict(remote_state), processing=True)
        if remote_state:
            hooks.on_event("restarted", "This protocol cannot resume; sending every file again")
        token = uuid.uuid4().hex
        state: RemoteState = {"protocol": NAME, "token": token, "job": None}
        hooks.on_remote_state(state)
        done = 0
        for member in job.files:
            hooks.check_stop()
            check_unchanged(member.path, member.fingerprint)
            start = done
            body = FileSlice(
                member.path,
                0,
                member.fingerprint.size,
                expected=member.fingerprint,
                on_progress=lambda n, s=start: hooks.on_progress(s + n),
                check_stop=hooks.check_stop,
                throttle=hooks.throttle,
                block_size=64 * 1024,
            )
            with body:
                self._request(
                    "PUT",
                    f"{self.base}/files/{token}/{quote(member.name)}",
                    "sending a file",
                    data=body if len(body) else b"",
                    headers={"Content-Length": str(len(body))},
                )
            done += member.fingerprint.size
            hooks.on_progress(done)
        answer = self._request(
            "POST",
            f"{self.base}/jobs",
            "starting the import",
            data=json.dumps({"token": token, "files": [m.name for m in job.files]}),
        )
        state = {**state, "job": answer.json()["job"]}
        hooks.on_remote_state(state)
        return Sent(remote_state=state, processing=True, message="Uploaded; the server imports it")

    def follow_processing(
        self, job: UploadJob, remote_state: RemoteState, hooks: ProcessingHooks
    ) -> Processed:
        while True:
            hooks.check_stop()
            status = self._request(
                "GET", f"{self.base}/jobs/{remote_state['job']}", "asking how the import goes"
            ).json()
            if status["state"] == "finished":
                hooks.on_processing(100.0, status["message"])
                return Processed(result_url=status["url"], message="The server finished the import")
            if status["state"] == "failed":
                raise TransferError(
                    "Import failed",
                    status["message"] or "The server gave no reason",
                    kind=ErrorKind.PERMANENT,
                )
            hooks.on_processing(status["progress"], status["message"])
            hooks.wait(POLL_SECONDS)

    def test_connection(self) -> ConnectionReport:
        self._request("GET", self.base + "/", "checking the server")
        return ConnectionReport(
            ok=True, title="Connection works", message="The test server answers."
        )

    def close(self) -> None:
        self.session.close()


registry.register(ProcessingTransport)
