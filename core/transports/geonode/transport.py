"""GeoNode behind the transport interface: datasets up in one multipart POST, then the server's
import followed to the end.

APIs (found by :meth:`GeoNodeTransport.probe`, or the target option ``version``):

- ``"5"`` (5.0, 5.1) and ``"4.4"`` (4.1-4.4, the geonode-importer package): ``POST
  api/v2/uploads/upload`` -> 201 ``{"execution_id"}``; ``GET api/v2/executionrequest/{id}``
  until ``finished`` (the dataset's page from ``output_params.resources[].detail_url``) or
  ``failed`` (``log``).
- ``"legacy"`` (<= 4.0): the upload wizard (core.transports.geonode.legacy).

Remote state: ``{"protocol": "geonode", "api": "5" | "4.4" | "legacy", "phase": "posting" |
"posted" | "triggered", "execution_id": ... | "import_id": ..., "upload_id": ...}``. "posting"
is stored before the first byte: a send() that finds it knows that an earlier POST was cut off
and that the server may hold a partial import (the POST cannot be resumed).

Target fields: ``url`` = the site root; auth Basic (user + password), Bearer (an OAuth2 access
token) or, with the option ``apikey: true``, the secret sent as GeoNode's ``?apikey=``. Options:
``version`` ("auto", "5", "4.4", "legacy"), ``poll_seconds`` (3, as GeoNode's own page),
``stall_minutes`` (60: an import whose record has not changed for that long is reported).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from upqueue.core.errors import ErrorKind, TransferError, UpqueueError
from upqueue.core.status_errors import human_size
from upqueue.core.transports.base import (
    Capabilities,
    ConnectionReport,
    NotSupported,
    Processed,
    ProcessingHooks,
    RemoteState,
    SendHooks,
    Sent,
    TargetOption,
    Transport,
    UploadJob,
)
from upqueue.core.transports.geonode import legacy
from upqueue.core.transports.geonode.advice import (
    busy_error,
    precheck,
    processing_failure,
    upload_refusal,
)
from upqueue.core.transports.geonode.body import MultipartBody
from upqueue.core.transports.geonode.client import GeoNodeClient, api_json, refusal
from upqueue.core.transports.geonode.form import form_for, form_name
from upqueue.core.transports.geonode.site import (
    CLOCK_SKEW_SECONDS,
    auth_for,
    detect_api,
    read_limits,
    timestamp,
)

PROTOCOL = "geonode"
APIS = ("5", "4.4", "legacy")
STEPS = {  # the vector/raster pipeline's tasks (handlers/common/vector.py TASKS) -> words
    "start_import": (5.0, "GeoNode is checking the files"),
    "geonode.upload.import_resource": (25.0, "GeoNode is importing the data"),
    "geonode.upload.publish_resource": (50.0, "GeoNode is publishing it on GeoServer"),
    "geonode.upload.create_geonode_resource": (75.0, "GeoNode is creating the dataset"),
}
PARTIAL_IMPORT_NOTE = (
    "An earlier upload of this dataset was cut off before GeoNode answered; it is sent again "
    "from the start (GeoNode cannot resume one). GeoNode may hold a second, partial import of it: "
    "if the site's upload list shows a failed or duplicate one, delete it there."
)


def _state(api: str, phase: str, **ids: Any) -> RemoteState:
    return {"protocol": PROTOCOL, "api": api, "phase": phase, **ids}


class GeoNodeTransport(Transport):
    """A GeoNode site as a target (see the module docstring for its fields and options)."""

    name = PROTOCOL
    title = "GeoNode (datasets, followed until published)"
    takes_datasets = True
    pausable_processing = True  # pause stops following; resume follows the same import
    reserved_headers = frozenset({"content-type", "content-length", "authorization"})
    url_hint = "https://maps.example.org/ (the GeoNode site's root)"
    target_options = (
        TargetOption(
            "version",
            "GeoNode version",
            choices=(
                ("auto", "Find out (probe)"),
                ("5", "5.x (5.0, 5.1)"),
                ("4.4", "4.1 – 4.4 (geonode-importer)"),
                ("legacy", "4.0 or older (upload wizard)"),
            ),
            help="Which upload API the site speaks; the probe finds it out.",
        ),
        TargetOption(
            "apikey",
            "Token is an API key",
            boolean=True,
            help="Send the token as GeoNode's ?apikey= (sites with "
            "ENABLE_APIKEY_LOGIN) instead of an OAuth2 Bearer header.",
        ),
    )

    def __init__(
        self, target: Mapping[str, Any], secret: str | None, settings: Mapping[str, Any]
    ) -> None:
        options = dict(target.get("options") or {})
        headers, basic, apikey = auth_for(target, secret, options)
        self.client = GeoNodeClient(
            str(target["url"]),
            headers=headers,
            basic=basic,
            apikey=apikey,
            connect_timeout=float(settings["connect_timeout"]),
            stall_timeout=float(settings["stall_timeout"]),
            read_timeout=float(settings["read_timeout"]),
        )
        version = str(options.get("version") or "auto").lower()
        version = {"5.0": "5", "5.1": "5", "5.x": "5", "4": "4.4", "4.x": "4.4"}.get(
            version, version
        )
        if version not in (*APIS, "auto"):
            raise UpqueueError(
                "Unknown GeoNode version",
                f"version {version!r}: use auto, 5, 4.4 or legacy (<= 4.0).",
            )
        self.version_option = None if version == "auto" else version
        self.poll_seconds = float(options.get("poll_seconds") or 3.0)
        self.stall_seconds = float(options.get("stall_minutes") or 60.0) * 60.0
        self.busy_wait = float(options.get("busy_wait_seconds") or 30.0)
        self.legacy_method = "PUT" if str(options.get("legacy_method")).upper() == "PUT" else "POST"
        self._caps: Capabilities | None = None

    # -- probe ---------------------------------------------------------------------------------

    def probe(self) -> Capabilities:
        api = self.version_option or detect_api(self.client)
        limit = parallel = None
        if api != "legacy":
            limit, parallel = read_limits(self.client)
        notes = [] if self.version_option else [f"GeoNode API found by probing: {api}"]
        caps = Capabilities(
            resumable=False,
            max_size=limit,
            processing=True,
            datasets=True,
            terminable=False,
            described_itself=True,
            notes=tuple(notes),
            details={
                "api": api,
                "site": self.client.site,
                "dataset_upload_size": limit,
                "max_parallel_uploads": parallel,
                "version_from": "option" if self.version_option else "probe",
            },
        )
        self._caps = caps
        return caps

    def _api(self, remote_state: RemoteState | None, capabilities: Capabilities | None) -> str:
        if remote_state and remote_state.get("api") in APIS:
            return str(remote_state["api"])
        caps = capabilities or self._caps or self.probe()
        return str(caps.details.get("api") or "5")

    # -- send ----------------------------------------------------------------------------------

    def send(
        self,
        job: UploadJob,
        remote_state: RemoteState | None,
        hooks: SendHooks,
        capabilities: Capabilities | None = None,
    ) -> Sent:
        state = remote_state if remote_state and remote_state.get("protocol") == PROTOCOL else None
        api = self._api(state, capabilities)
        if state and (state.get("execution_id") or state.get("import_id")):
            if self._still_known(state):
                return Sent(
                    remote_state=state,
                    processing=True,
                    message="Uploaded earlier; following GeoNode's import",
                )
            hooks.on_event(
                "restarted",
                "GeoNode no longer knows the earlier import of this dataset; sending it again.",
            )
        elif state and state.get("phase") == "posting":
            adopted = self._answer_lost(job, state, api)
            if adopted is not None:
                hooks.on_event(
                    "resumed",
                    "The answer to the earlier upload was lost, but GeoNode "
                    f"had the whole dataset: following its import "
                    f"{adopted['execution_id']}",
                )
                hooks.on_remote_state(adopted)
                return Sent(
                    remote_state=adopted,
                    processing=True,
                    message="Uploaded earlier; following GeoNode's import",
                )
            hooks.on_event("restarted", PARTIAL_IMPORT_NOTE)
        caps = capabilities or self._caps
        limit = caps.max_size if caps is not None else None
        precheck(job, api, limit)
        if caps is not None and api != "legacy":
            self._wait_for_turn(job, caps)
        fields, files = form_for(job, api)
        body = MultipartBody(fields, files, hooks, progress_total=job.size)
        # stored before the first byte: after a kill, the next send() knows a POST was cut off
        hooks.on_remote_state(_state(api, "posting", started=time.time()))
        try:
            if api == "legacy":
                return legacy.post(self.client, job, body, hooks, self.legacy_method)
            resp = self.client.request(
                "POST",
                "api/v2/uploads/upload",
                data=body,
                action="sending the dataset",
                headers={"Content-Type": body.content_type},
            )
        finally:
            body.close()
        if resp.status_code != 201:
            hooks.on_remote_state(None)  # an answer that is not 201: no execution was created
            raise upload_refusal(resp, job, limit, self.busy_wait)
        answer = api_json(resp, "sending the dataset")
        execution_id = str(answer.get("execution_id") or "")
        if not execution_id:
            hooks.on_remote_state(None)
            raise TransferError(
                "Not a GeoNode answer",
                f"GeoNode answered 201 without an execution id: {answer!r}.",
                kind=ErrorKind.PERMANENT,
                status=201,
            )
        state = _state(api, "posted", execution_id=execution_id)
        hooks.on_remote_state(state)
        return Sent(
            remote_state=state,
            processing=True,
            message=f"Uploaded; GeoNode is importing it (execution {execution_id})",
        )

    def _answer_lost(self, job: UploadJob, state: RemoteState, api: str) -> RemoteState | None:
        """After a POST cut off at its very end, GeoNode may have created the import and only
        its answer was lost: an execution of this file, created since the POST began (GeoNode
        lists the user's own only), is that import; posting again would import it twice."""
        if api == "legacy" or not state.get("started"):
            return None
        resp = self.client.request(
            "GET",
            "api/v2/executionrequest",
            action="asking GeoNode about the cut-off upload",
            params={"sort[]": "-created", "page_size": "20"},
        )
        if resp.status_code != 200:
            return None
        started = float(state["started"]) - CLOCK_SKEW_SECONDS
        for record in (
            api_json(resp, "asking GeoNode about the cut-off upload").get("requests") or []
        ):
            if not isinstance(record, dict) or record.get("name") != form_name(job):
                continue
            created = timestamp(record.get("created"))
            if created is not None and created >= started and record.get("exec_id"):
                return _state(api, "posted", execution_id=str(record["exec_id"]))
        return None

    def _wait_for_turn(self, job: UploadJob, caps: Capabilities) -> None:
        """Count the user's running imports as GeoNode does (``total_layers`` of ready/running
        executions) before sending: at the limit, sending would only have GeoNode refuse the
        whole dataset after its last byte."""
        limit = caps.details.get("max_parallel_uploads")
        if not limit:
            return
        resp = self.client.request(
            "GET",
            "api/v2/executionrequest",
            action="counting your running imports",
            params={"filter{status.in}": "ready,running", "page_size": "100"},
        )
        if resp.status_code != 200:
            return  # the POST's own answer will say
        rows = api_json(resp, "counting your running imports").get("requests") or []
        active = sum(
            int((r.get("input_params") or {}).get("total_layers") or 0)
            for r in rows
            if isinstance(r, dict) and r.get("status") in ("ready", "running")
        )
        if active >= int(limit):
            raise busy_error(
                job,
                f"{active} of your imports are running on GeoNode, which takes {limit} at a time.",
                self.busy_wait,
            )

    def _still_known(self, state: RemoteState) -> bool:
        if state.get("api") == "legacy":
            return True  # the legacy API has no cheap lookup by import id; follow() will see
        resp = self.client.request(
            "GET",
            f"api/v2/executionrequest/{state['execution_id']}",
            action="asking GeoNode about the import",
        )
        if resp.status_code == 404:
            return False
        if resp.status_code != 200:
            raise refusal(resp, "asking GeoNode about the import")
        api_json(resp, "asking GeoNode about the import")
        return True

    # -- processing ------------------------------------------------------------------------------

    def follow_processing(
        self, job: UploadJob, remote_state: RemoteState, hooks: ProcessingHooks
    ) -> Processed:
        if remote_state.get("api") == "legacy":
            return legacy.follow(
                self.client, job, remote_state, hooks, self.poll_seconds, self.stall_seconds
            )
        execution_id = str(remote_state["execution_id"])
        last_change: tuple[Any, float] = (None, time.monotonic())
        while True:
            hooks.check_stop()
            resp = self.client.request(
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
                return self._finished(job, record)
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
            elif time.monotonic() - last_change[1] > self.stall_seconds:
                raise TransferError(
                    "GeoNode's import is not moving",
                    f"GeoNode has shown '{words}' for {self.stall_seconds / 60:g} min; its "
                    "workers may be down. upqueue keeps checking; the site's administrator can "
                    "look at its Celery workers.",
                    kind=ErrorKind.TRANSIENT,
                )
            hooks.wait(self.poll_seconds)

    def _finished(self, job: UploadJob, record: Mapping[str, Any]) -> Processed:
        resources = (record.get("output_params") or {}).get("resources") or []
        links = [
            urljoin(self.client.site, str(r["detail_url"]))
            for r in resources
            if isinstance(r, dict) and r.get("detail_url")
        ]
        if not links:
            return Processed(None, f"GeoNode finished importing {job.name}")
        more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
        return Processed(links[0], f"GeoNode published {job.name}: {links[0]}{more}")

    def terminate(self, remote_state: RemoteState) -> None:
        if not (remote_state.get("execution_id") or remote_state.get("import_id")):
            return  # nothing reached GeoNode (or a cut-off POST it discarded)
        raise NotSupported(
            PROTOCOL,
            "stop an import GeoNode has started (it goes on; delete "
            "the dataset on the site if it should not be there)",
        )

    # -- Test Connection -----------------------------------------------------------------------

    def test_connection(self) -> ConnectionReport:
        """Probe (version, limits), then prove the login and the right to add datasets: an
        empty upload form, which GeoNode refuses as "No file was submitted." and creates
        nothing from (a user without the right gets 403 first)."""
        try:
            caps = self.probe()
            api = str(caps.details["api"])
            if api == "legacy":
                self.client.get_json(
                    "api/v2/uploads", action="checking the login", params={"page_size": "1"}
                )
            else:
                self.client.get_json(
                    "api/v2/executionrequest",
                    action="checking the login",
                    params={"page_size": "1"},
                )
                self._check_can_add()
        except UpqueueError as exc:
            return ConnectionReport.failed(exc)
        limit = caps.max_size
        parallel = caps.details.get("max_parallel_uploads")
        facts = [
            (
                f"GeoNode {'<= 4.0 (legacy upload API)' if api == 'legacy' else api + '.x'}"
                f" at {self.client.site}"
            ),
            "the login works",
        ]
        if api != "legacy":
            facts.append("the account may add datasets")
        if limit:
            facts.append(f"datasets up to {human_size(limit)}")
        if parallel:
            facts.append(f"{parallel} imports at a time per user")
        return ConnectionReport(
            ok=True,
            title="Connection works",
            message="; ".join(facts) + ".",
            details=dict(caps.details),
        )

    def _check_can_add(self) -> None:
        body = b'--x\r\nContent-Disposition: form-data; name="action"\r\n\r\nupload\r\n--x--\r\n'
        resp = self.client.request(
            "POST",
            "api/v2/uploads/upload",
            data=body,
            action="checking the right to add datasets",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        if resp.status_code == 400:
            return  # "No file was submitted.": signed in, allowed, nothing created
        raise refusal(resp, "checking the right to add datasets")

    def close(self) -> None:
        self.client.close()
