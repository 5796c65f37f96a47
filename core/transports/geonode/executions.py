"""The geonode-importer's execution requests (``api/v2/executionrequest``; GeoNode 4.1-4.4 and
5): an import found after its answer was lost, the user's running imports counted before
sending, an import followed until published. The legacy API has its own (legacy.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.transports.base import Capabilities, Processed, ProcessingHooks, UploadJob
from upqueue.core.transports.geonode.advice import busy_error, processing_failure
from upqueue.core.transports.geonode.client import GeoNodeClient, api_json, refusal
from upqueue.core.transports.geonode.form import form_name
from upqueue.core.transports.geonode.site import CLOCK_SKEW_SECONDS, timestamp

STEPS = {  # the vector/raster pipeline's tasks (handlers/common/vector.py TASKS) -> words
    "start_import": (5.0, "GeoNode is checking the files"),
    "geonode.upload.import_resource": (25.0, "GeoNode is importing the data"),
    "geonode.upload.publish_resource": (50.0, "GeoNode is publishing it on GeoServer"),
    "geonode.upload.create_geonode_resource": (75.0, "GeoNode is creating the dataset"),
}


def _executions(client: GeoNodeClient, action: str, params: dict[str, str]) -> list[Any] | None:
    """A page of the user's execution requests, or None when GeoNode did not answer 200."""
    resp = client.request("GET", "api/v2/executionrequest", action=action, params=params)
    if resp.status_code != 200:
        return None
    return list(api_json(resp, action).get("requests") or [])


def execution_since(client: GeoNodeClient, job: UploadJob, started: float) -> str | None:
    """The id of an execution of this file created since ``started`` (GeoNode lists the user's
    own only), if GeoNode has one."""
    records = _executions(
        client,
        "asking GeoNode about the cut-off upload",
        {"sort[]": "-created", "page_size": "20"},
    )
    if records is None:
        return None
    started -= CLOCK_SKEW_SECONDS
    for record in records:
        if not isinstance(record, dict) or record.get("name") != form_name(job):
            continue
        created = timestamp(record.get("created"))
        if created is not None and created >= started and record.get("exec_id"):
            return str(record["exec_id"])
    return None


def wait_for_turn(
    client: GeoNodeClient, job: UploadJob, caps: Capabilities, busy_wait: float
) -> None:
    """Count the user's running imports as GeoNode does (``total_layers`` of ready/running
    executions) before sending: at the limit, sending would only have GeoNode refuse the
    whole dataset after its last byte."""
    limit = caps.details.get("max_parallel_uploads")
    if not limit:
        return
    rows = _executions(
        client,
        "counting your running imports",
        {"filter{status.in}": "ready,running", "page_size": "100"},
    )
    if rows is None:
        return  # the POST's own answer will say
    active = sum(
        int((r.get("input_params") or {}).get("total_layers") or 0)
        for r in rows
        if isinstance(r, dict) and r.get("status") in ("ready", "running")
    )
    if active >= int(limit):
        raise busy_error(
            job,
            f"{active} of your imports are running on GeoNode, which takes {limit} at a time.",
            busy_wait,
        )


def still_known(client: GeoNodeClient, execution_id: Any) -> bool:
    """Does GeoNode still have the record of execution ``execution_id``?"""
    resp = client.request(
        "GET",
        f"api/v2/executionrequest/{execution_id}",
        action="asking GeoNode about the import",
    )
    if resp.status_code == 404:
        return False
    if resp.status_code != 200:
        raise refusal(resp, "asking GeoNode about the import")
    api_json(resp, "asking GeoNode about the import")
    return True


def follow(
    client: GeoNodeClient,
    job: UploadJob,
    execution_id: str,
    hooks: ProcessingHooks,
    poll_seconds: float,
    stall_seconds: float,
) -> Processed:
    """Poll the execution until it is finished (its dataset's page) or failed (its log)."""
    last_change: tuple[Any, float] = (None, time.monotonic())
    while True:
        hooks.check_stop()
        resp = client.request(
            "GET",
            f"api/v2/executionrequest/{execution_id}",
            action="following GeoNode's import",
        )
        if resp.status_code == 404:
            raise TransferError(
                "GeoNode lost the import",
                f"GeoNode no longer knows execution {execution_id} (its record was deleted). "
                "Check the site's datasets before sending it again.",
                kind=ErrorKind.PERMANENT,
                status=404,
            )
        if resp.status_code != 200:
            raise refusal(resp, "following GeoNode's import")
        record = api_json(resp, "following GeoNode's import").get("request") or {}
        status = str(record.get("status") or "")
        if status == "finished":
            return _finished(client, job, record)
        if status == "failed":
            output = record.get("output_params") or {}
            raise processing_failure(
                job, str(record.get("log") or ""), [str(e) for e in output.get("errors") or []]
            )
        step = str(record.get("step") or "")
        progress, words = STEPS.get(step, (None, f"GeoNode: {step or status}"))
        if status == "ready":
            progress, words = 0.0, "Waiting for GeoNode to start the import"
        hooks.on_processing(progress, words)
        marker = record.get("last_updated") or step
        if marker != last_change[0]:
            last_change = (marker, time.monotonic())
        elif time.monotonic() - last_change[1] > stall_seconds:
            raise TransferError(
                "GeoNode's import is not moving",
                f"GeoNode has shown '{words}' for {stall_seconds / 60:g} min; its "
                "workers may be down. upqueue keeps checking; the site's administrator can "
                "look at its Celery workers.",
                kind=ErrorKind.TRANSIENT,
            )
        hooks.wait(poll_seconds)


def _finished(client: GeoNodeClient, job: UploadJob, record: Mapping[str, Any]) -> Processed:
    resources = (record.get("output_params") or {}).get("resources") or []
    links = [
        urljoin(client.site, str(r["detail_url"]))
        for r in resources
        if isinstance(r, dict) and r.get("detail_url")
    ]
    if not links:
        return Processed(None, f"GeoNode finished importing {job.name}")
    more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
    return Processed(links[0], f"GeoNode published {job.name}: {links[0]}{more}")
