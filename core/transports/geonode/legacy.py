"""GeoNode <= 4.0: the upload wizard behind ``api/v2/uploads/upload``, then ``upload/final``.

The documented steps (GeoNode's ``admin/async`` docs): send the files, ``GET
upload/final?id={import_id}`` to start the import, poll ``GET api/v2/uploads/{id}`` until its
``state`` is PROCESSED with ``progress`` 100. Remote state: ``import_id``, then ``upload_id``
(the Upload row's pk, found by ``filter{import_id}``) and ``phase`` "triggered" once final ran.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urljoin

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.transports.base import (
    Processed,
    ProcessingHooks,
    RemoteState,
    SendHooks,
    Sent,
    UploadJob,
)
from upqueue.core.transports.geonode.advice import ADD_PRJ, processing_failure, upload_refusal
from upqueue.core.transports.geonode.body import MultipartBody
from upqueue.core.transports.geonode.client import GeoNodeClient, api_json, refusal

ACTION = "following GeoNode's import"
LEGACY_WORDS = {  # geonode/base/enumerations.py upload states
    "READY": "GeoNode has the files",
    "PENDING": "GeoNode has the files",
    "WAITING": "Waiting for GeoNode to start the import",
    "INCOMPLETE": "GeoNode waits for input",
    "RUNNING": "GeoNode is importing the data",
    "COMPLETE": "GeoNode is finishing the import",
}


def _state(**ids: Any) -> RemoteState:
    return {"protocol": "geonode", "api": "legacy", **ids}


def post(
    client: GeoNodeClient,
    job: UploadJob,
    body: MultipartBody,
    hooks: SendHooks,
    method: str = "POST",
) -> Sent:
    resp = client.request(
        method,
        "api/v2/uploads/upload/",
        data=body,
        action="sending the dataset",
        headers={"Content-Type": body.content_type},
    )
    if resp.status_code not in (200, 201):
        hooks.on_remote_state(None)
        raise upload_refusal(resp, job, None)
    answer = api_json(resp, "sending the dataset")
    if answer.get("success") is False or answer.get("status") == "error":
        hooks.on_remote_state(None)
        raise processing_failure(
            job, str(answer.get("error_msg") or answer.get("errors") or ""), []
        )
    required = answer.get("required_input") or {}
    if isinstance(required, dict) and "srs" in required:
        hooks.on_remote_state(None)
        raise TransferError(
            "GeoNode needs the projection",
            f"GeoNode could not find the projection of {job.name}; its upload wizard asks for "
            f"one (it stopped at {answer.get('redirect_to') or 'the srs step'}): {ADD_PRJ}.",
            kind=ErrorKind.PERMANENT,
        )
    import_id = answer.get("id")
    if import_id is None:
        hooks.on_remote_state(None)
        raise TransferError(
            "Not a GeoNode answer",
            f"GeoNode's upload wizard answered without an import id: {answer!r}.",
            kind=ErrorKind.PERMANENT,
            status=resp.status_code,
        )
    state = _state(phase="posted", import_id=import_id)
    hooks.on_remote_state(state)
    return Sent(
        remote_state=state,
        processing=True,
        message=f"Uploaded; GeoNode's import {import_id} comes next",
    )


def _final(client: GeoNodeClient, import_id: Any) -> dict[str, Any]:
    resp = client.request(
        "GET", "upload/final", params={"id": str(import_id)}, action="starting GeoNode's import"
    )
    if resp.status_code != 200:
        raise refusal(resp, "starting GeoNode's import")
    return api_json(resp, "starting GeoNode's import")


def follow(
    client: GeoNodeClient,
    job: UploadJob,
    state: RemoteState,
    hooks: ProcessingHooks,
    poll_seconds: float,
    stall_seconds: float,
) -> Processed:
    import_id = state["import_id"]
    if state.get("phase") == "posted":
        answer = _final(client, import_id)
        if answer.get("status") == "error" or answer.get("success") is False:
            raise processing_failure(job, str(answer.get("error_msg") or ""), [])
        state = {**state, "phase": "triggered"}
        hooks.on_remote_state(state)
    if not state.get("upload_id"):
        listing = client.get_json(
            "api/v2/uploads", action=ACTION, params={"filter{import_id}": str(import_id)}
        )
        rows = [r for r in listing.get("uploads") or [] if isinstance(r, dict)]
        if not rows:
            raise TransferError(
                "GeoNode lost the import",
                f"GeoNode lists no upload with import id {import_id}. Check the "
                "site's datasets before sending it again.",
                kind=ErrorKind.PERMANENT,
            )
        state = {**state, "upload_id": rows[0]["id"]}
        hooks.on_remote_state(state)
    last: tuple[Any, float] = (None, time.monotonic())
    while True:
        hooks.check_stop()
        resp = client.request("GET", f"api/v2/uploads/{state['upload_id']}", action=ACTION)
        if resp.status_code != 200:
            raise refusal(resp, ACTION)
        upload = api_json(resp, ACTION).get("upload") or {}
        phase = str(upload.get("state") or "")
        progress = upload.get("progress")
        if phase == "PROCESSED" and progress == 100:
            detail = upload.get("detail_url") or _final(client, import_id).get("url")
            link = urljoin(client.site, str(detail)) if detail else None
            return Processed(link, f"GeoNode published {job.name}" + (f": {link}" if link else ""))
        if phase == "INVALID":
            answer = _final(client, import_id)
            raise processing_failure(job, str(answer.get("error_msg") or "state INVALID"), [])
        hooks.on_processing(
            float(progress) if isinstance(progress, (int, float)) else None,
            LEGACY_WORDS.get(phase, f"GeoNode: {phase.lower() or 'waiting'}"),
        )
        if (phase, progress) != last[0]:
            last = ((phase, progress), time.monotonic())
        elif time.monotonic() - last[1] > stall_seconds:
            raise TransferError(
                "GeoNode's import is not moving",
                f"GeoNode's upload {state['upload_id']} has been {phase} for "
                f"{stall_seconds / 60:g} min. upqueue keeps checking.",
                kind=ErrorKind.TRANSIENT,
            )
        hooks.wait(poll_seconds)
