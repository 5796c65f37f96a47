"""S3 (AWS and S3-compatible stores) behind the transport interface.

Objects go to ``PREFIX/<file name>``; a dataset's members go side by side. Below the multipart
threshold a file is one PUT; above it a multipart upload whose parts (sized so that 10,000
cover the file, at least 5 MiB) go several at a time, each with a checksum the server checks:
CRC32 where the server confirms it takes CRC32 checksums (option ``checksum`` = ``auto``, the
default), Content-MD5 otherwise (or always, with ``checksum`` = ``md5``).

Remote state::

    {"protocol": "s3", "bucket": ..., "key": the object being sent or None,
     "upload_id": its multipart upload id or None (a single PUT), "part_size": bytes,
     "checksum": "crc32" or "md5" (the parts' checksum; absent: "md5"),
     "done": {key: ETag of every member already complete}}

It is reported before the first byte of an object (for a multipart upload: right after
CreateMultipartUpload, before the first part). The parts are never trusted from the state:
every send() asks ListParts, skips the parts the server holds (same size and MD5), and sends the
rest. A multipart upload the server lost (NoSuchUpload; rclone drops the whole upload when one
part is rejected) starts over once within the send, and the history says "started over". The
completed object's ETag (Content-MD5 parts) or composite CRC32 (CRC32 parts) is checked
against the one computed locally.

Target fields: ``url``, ``username`` (the access key id), the secret (keyring), and options
``region``, ``part_size_mib``, ``parallel_parts``, ``multipart_threshold_mib``, ``checksum``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import uuid4

from upqueue.core.errors import UpqueueError
from upqueue.core.transports.base import (
    Capabilities,
    ConnectionReport,
    RemoteState,
    SendHooks,
    Sent,
    Transport,
    UploadJob,
)
from upqueue.core.transports.s3 import ledger
from upqueue.core.transports.s3.client import S3Client
from upqueue.core.transports.s3.errors import s3_error
from upqueue.core.transports.s3.location import parse_location
from upqueue.core.transports.s3.objects import ObjectSender
from upqueue.core.transports.s3.parts import MIB
from upqueue.core.transports.s3.state import PROTOCOL, adopt, state_for
from upqueue.core.transports.s3.target import (
    DEFAULT_PARALLEL,
    DEFAULT_PART_MIB,
    DEFAULT_THRESHOLD_MIB,
    FORM,
    check_fields,
    int_option,
)
from upqueue.core.transports.session import HttpSession

STALE_AFTER_S = 3600.0  # an untracked upload younger than this may be a creation in flight
TEST_OBJECT = ".upqueue-connection-test"


class S3Transport(Transport):
    """An S3 bucket (and prefix) as a target."""

    name = PROTOCOL
    title = "S3 (AWS and S3-compatible, resumable multipart)"
    takes_datasets = True
    reserved_headers = frozenset(
        {
            "authorization",
            "content-md5",
            "content-type",
            "x-amz-date",
            "x-amz-content-sha256",
            "x-amz-checksum-algorithm",
            "x-amz-checksum-crc32",
        }
    )
    form = FORM

    @classmethod
    def check_target(cls, fields: Mapping[str, Any]) -> None:
        """The URL names a bucket, the access key id is there, numeric options are numbers."""
        check_fields(fields)

    def __init__(
        self, target: Mapping[str, Any], secret: str | None, settings: Mapping[str, Any]
    ) -> None:
        options = dict(target.get("options") or {})
        self.location = parse_location(str(target["url"]), options.get("region") or None)
        self.part_size = int_option(options, "part_size_mib", DEFAULT_PART_MIB, 5) * MIB
        self.parallel = int_option(options, "parallel_parts", DEFAULT_PARALLEL, 1)
        self.threshold = (
            int_option(options, "multipart_threshold_mib", DEFAULT_THRESHOLD_MIB, 0) * MIB
        )
        self.checksum = str(options.get("checksum") or "auto").strip().lower()
        headers = {str(k): str(v) for k, v in dict(target.get("headers") or {}).items()}
        self.session = HttpSession(settings, headers=headers)
        self.client = S3Client(
            self.location, str(target.get("username") or ""), secret or "", self.session
        )
        self.objects = ObjectSender(
            self.client,
            self.location,
            part_size=self.part_size,
            parallel=self.parallel,
            threshold=self.threshold,
            checksum=self.checksum,
        )

    # -- interface ---------------------------------------------------------------------------

    def probe(self) -> Capabilities:
        resp = self.client.head_bucket()
        if (
            resp.status_code == 404
            or resp.status_code == 301
            or (resp.status_code == 400 and resp.headers.get("x-amz-bucket-region"))
        ):
            # HEAD has no body: name the likely code from the status.
            code = "NoSuchBucket" if resp.status_code == 404 else "PermanentRedirect"
            raise s3_error(
                resp, code, "", "checking the bucket", self.location, self.client.access_key
            )
        return Capabilities(
            resumable=True,
            checksums=("md5", "crc32") if self.checksum == "auto" else ("md5",),
            datasets=True,
            terminable=True,
            details={
                "endpoint": f"{self.location.scheme}://{self.location.host}",
                "bucket": self.location.bucket,
                "prefix": self.location.prefix,
                "region": self.location.region,
                "part_size": self.part_size,
                "parallel_parts": self.parallel,
                "multipart_threshold": self.threshold,
                "checksum": self.checksum,
            },
        )

    def send(
        self,
        job: UploadJob,
        remote_state: RemoteState | None,
        hooks: SendHooks,
        capabilities: Capabilities | None = None,
    ) -> Sent:
        state = adopt(remote_state, self.location.bucket)
        done: dict[str, str] = dict(state.get("done") or {}) if state else {}
        base = 0
        for file in job.files:
            key = self.location.key_for(file.name)
            if key in done and not self.objects.still_there(key, done[key]):
                hooks.on_event(
                    "restarted",
                    f"{key} is no longer on the server as it was sent; it is sent again.",
                )
                del done[key]
            if key not in done:
                mine = state if state and state.get("key") == key else None
                done[key] = self.objects.send_file(job, file, key, mine, done, hooks, base)
                state = state_for(self.location.bucket, None, None, 0, done, "md5")
                hooks.on_remote_state(state, result_url=self._result_url(job))
            base += file.fingerprint.size
            hooks.on_confirmed(base)
        final = state_for(self.location.bucket, None, None, 0, done, "md5")
        return Sent(
            remote_state=final,
            result_url=self._result_url(job),
            message=(
                f"Uploaded to {self.location.describe()}; the server's checksums match the file"
            ),
        )

    def terminate(self, remote_state: RemoteState) -> None:
        state = adopt(remote_state, self.location.bucket)
        if state and state.get("key") and state.get("upload_id"):
            self.client.abort_multipart(str(state["key"]), str(state["upload_id"]))
            ledger.remove(self.location.host, self.location.bucket, str(state["upload_id"]))

    def clean_up_stale(
        self, live_states: Sequence[RemoteState | None], min_age: float = STALE_AFTER_S
    ) -> list[str]:
        """Abort the multipart uploads upqueue started here and no upload tracks any more.

        Args:
            live_states: the remote states of every upload upqueue still tracks.
            min_age: leave younger uploads alone (a creation whose state is not stored yet).

        Returns:
            one sentence per upload aborted, for the log.
        """
        tracked = {
            str(s.get("upload_id"))
            for s in live_states
            if s and s.get("protocol") == PROTOCOL and s.get("upload_id")
        }
        prefix = self.location.prefix
        mine = {
            upload_id: entry
            for upload_id, entry in ledger.started(self.location.host, self.location.bucket).items()
            if str(entry.get("key", "")).startswith(prefix)
        }
        if not mine:
            return []
        on_server = {u.upload_id: u for u in self.client.list_multipart_uploads(prefix)}
        said: list[str] = []
        now = time.time()
        for upload_id, entry in mine.items():
            if upload_id not in on_server:
                ledger.remove(self.location.host, self.location.bucket, upload_id)
            elif upload_id not in tracked and now - float(entry.get("started", 0)) >= min_age:
                self.client.abort_multipart(on_server[upload_id].key, upload_id)
                ledger.remove(self.location.host, self.location.bucket, upload_id)
                said.append(
                    f"Aborted an unfinished multipart upload of "
                    f"{on_server[upload_id].key} that no upload tracks any more"
                )
        return said

    def test_connection(self) -> ConnectionReport:
        """Write and delete a small object under the prefix: the bucket exists, the key and
        secret are right, and writing is allowed."""
        key = self.location.key_for(f"{TEST_OBJECT}-{uuid4().hex[:8]}")
        try:
            self.probe()
            self.client.put_object(key, b"", hashlib.md5(b"").digest(), {})
            note = ""
            try:
                self.client.delete_object(key)
            except UpqueueError:
                note = f" The test object {key} could not be deleted; delete it by hand."
            return ConnectionReport(
                ok=True,
                title="Connection works",
                message=(
                    f"Bucket '{self.location.bucket}' on {self.location.host} exists and "
                    f"accepts writes from access key '{self.client.access_key}'.{note}"
                ),
                details={
                    "bucket": self.location.bucket,
                    "prefix": self.location.prefix,
                    "region": self.location.region,
                },
            )
        except UpqueueError as exc:
            return ConnectionReport.failed(exc)

    def close(self) -> None:
        self.session.close()

    def _result_url(self, job: UploadJob) -> str:
        return self.location.url_for(self.location.key_for(job.primary.name))
