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

from upqueue.core.errors import ErrorKind, TransferError, UpqueueError
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
from upqueue.core.transports.geonode import executions, legacy
from upqueue.core.transports.geonode.advice import precheck, upload_refusal
from upqueue.core.transports.geonode.body import MultipartBody
from upqueue.core.transports.geonode.client import GeoNodeClient, api_json
from upqueue.core.transports.geonode.connection import check_access, connection_report
from upqueue.core.transports.geonode.form import form_for
from upqueue.core.transports.geonode.site import auth_for, detect_api, read_limits

PROTOCOL = "geonode"
APIS = ("5", "4.4", "legacy")
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
            executions.wait_for_turn(self.client, job, caps, self.busy_wait)
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
        its answer was lost: an execution of this file, created since the POST began, is that
        import; posting again would import it twice."""
        if api == "legacy" or not state.get("started"):
            return None
        execution_id = executions.execution_since(self.client, job, float(state["started"]))
        return None if execution_id is None else _state(api, "posted", execution_id=execution_id)

    def _still_known(self, state: RemoteState) -> bool:
        if state.get("api") == "legacy":
            return True  # the legacy API has no cheap lookup by import id; follow() will see
        return executions.still_known(self.client, state["execution_id"])

    # -- processing ------------------------------------------------------------------------------

    def follow_processing(
        self, job: UploadJob, remote_state: RemoteState, hooks: ProcessingHooks
    ) -> Processed:
        if remote_state.get("api") == "legacy":
            return legacy.follow(
                self.client, job, remote_state, hooks, self.poll_seconds, self.stall_seconds
            )
        return executions.follow(
            self.client,
            job,
            str(remote_state["execution_id"]),
            hooks,
            self.poll_seconds,
            self.stall_seconds,
        )

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
        """Probe (version, limits), then prove the login and the right to add datasets
        (connection.py)."""
        try:
            caps = self.probe()
            check_access(self.client, str(caps.details["api"]))
        except UpqueueError as exc:
            return ConnectionReport.failed(exc)
        return connection_report(self.client.site, caps)

    def close(self) -> None:
        self.client.close()
