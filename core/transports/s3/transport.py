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

from upqueue.core.errors import ErrorKind, TransferError, UpqueueError
from upqueue.core.filereader import FileSlice
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
from upqueue.core.transports.form import OptionField, TargetForm
from upqueue.core.transports.s3 import ledger
from upqueue.core.transports.s3.client import (
    DEFAULT_REGION,
    Part,
    S3Client,
    parse_location,
)
from upqueue.core.transports.s3.errors import s3_error
from upqueue.core.transports.s3.parts import (
    MIB,
    choose_part_size,
    multipart_etag,
    part_count,
    send_parts,
)
from upqueue.core.transports.s3.verify import verify_crc, verify_etag
from upqueue.core.transports.session import BLOCK_SIZE, HttpSession

PROTOCOL = "s3"
DEFAULT_PART_MIB = 16
DEFAULT_PARALLEL = 4
DEFAULT_THRESHOLD_MIB = 16
CHECKSUMS = ("auto", "md5")
STALE_AFTER_S = 3600.0  # an untracked upload younger than this may be a creation in flight
TEST_OBJECT = ".upqueue-connection-test"


def _int_option(options: Mapping[str, Any], name: str, default: int, low: int) -> int:
    try:
        return max(low, int(options.get(name) or default))
    except (TypeError, ValueError):
        return default


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
    form = TargetForm(
        url_placeholder="https://s3.example.org/BUCKET/prefix",
        url_tooltip=(
            "Path style http(s)://ENDPOINT/BUCKET[/PREFIX], or AWS's "
            "https://BUCKET.s3.REGION.amazonaws.com/PREFIX. Files go to "
            "PREFIX/<file name>."
        ),
        auth_kinds=("basic",),
        username_label="Access key ID:",
        password_label="Secret key:",
        chunk_size=False,
        options=(
            OptionField(
                "region",
                "Region:",
                DEFAULT_REGION,
                tooltip="The bucket's region (signing needs it).",
            ),
            OptionField(
                "part_size_mib",
                "Part size (MiB):",
                str(DEFAULT_PART_MIB),
                tooltip="Grown as needed so that 10,000 parts cover a file.",
            ),
            OptionField("parallel_parts", "Parallel parts:", str(DEFAULT_PARALLEL)),
            OptionField(
                "multipart_threshold_mib", "Multipart above (MiB):", str(DEFAULT_THRESHOLD_MIB)
            ),
            OptionField(
                "checksum",
                "Part checksum:",
                "auto",
                tooltip=(
                    "auto: CRC32 where the server confirms it checks CRC32 (a fifth of MD5's "
                    "CPU), Content-MD5 elsewhere; md5: always Content-MD5. Either way the "
                    "server checks every part and the whole object is verified at the end."
                ),
            ),
        ),
    )

    @classmethod
    def check_target(cls, fields: Mapping[str, Any]) -> None:
        """The URL names a bucket, the access key id is there, numeric options are numbers."""
        parse_location(str(fields.get("url") or ""))
        if not fields.get("username"):
            raise UpqueueError(
                "Access key missing",
                "An S3 target needs the access key id as "
                "its username (and the secret key as its password).",
            )
        for name in ("part_size_mib", "parallel_parts", "multipart_threshold_mib"):
            value = dict(fields.get("options") or {}).get(name)
            if value not in (None, "") and not str(value).strip().isdigit():
                raise UpqueueError(
                    "Invalid option", f"{name} must be a whole number, not {value!r}."
                )
        checksum = dict(fields.get("options") or {}).get("checksum")
        if checksum not in (None, "") and str(checksum).strip().lower() not in CHECKSUMS:
            raise UpqueueError(
                "Invalid option",
                f"checksum must be one of {', '.join(CHECKSUMS)}, not {checksum!r}.",
            )

    def __init__(
        self, target: Mapping[str, Any], secret: str | None, settings: Mapping[str, Any]
    ) -> None:
        options = dict(target.get("options") or {})
        self.location = parse_location(str(target["url"]), options.get("region") or None)
        self.part_size = _int_option(options, "part_size_mib", DEFAULT_PART_MIB, 5) * MIB
        self.parallel = _int_option(options, "parallel_parts", DEFAULT_PARALLEL, 1)
        self.threshold = (
            _int_option(options, "multipart_threshold_mib", DEFAULT_THRESHOLD_MIB, 0) * MIB
        )
        self.checksum = str(options.get("checksum") or "auto").strip().lower()
        headers = {str(k): str(v) for k, v in dict(target.get("headers") or {}).items()}
        self.session = HttpSession(settings, headers=headers)
        self.client = S3Client(
            self.location, str(target.get("username") or ""), secret or "", self.session
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
        state = self._adopt(remote_state)
        done: dict[str, str] = dict(state.get("done") or {}) if state else {}
        base = 0
        for file in job.files:
            key = self.location.key_for(file.name)
            if key in done and not self._still_there(key, done[key]):
                hooks.on_event(
                    "restarted",
                    f"{key} is no longer on the server as it was sent; it is sent again.",
                )
                del done[key]
            if key not in done:
                mine = state if state and state.get("key") == key else None
                done[key] = self._send_file(job, file, key, mine, done, hooks, base)
                state = self._state(None, None, 0, done, "md5")
                hooks.on_remote_state(state, result_url=self._result_url(job))
            base += file.fingerprint.size
            hooks.on_confirmed(base)
        final = self._state(None, None, 0, done, "md5")
        return Sent(
            remote_state=final,
            result_url=self._result_url(job),
            message=(
                f"Uploaded to {self.location.describe()}; the server's checksums match the file"
            ),
        )

    def terminate(self, remote_state: RemoteState) -> None:
        state = self._adopt(remote_state)
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

    # -- one object --------------------------------------------------------------------------

    def _send_file(
        self,
        job: UploadJob,
        file: UploadFile,
        key: str,
        state: RemoteState | None,
        done: dict[str, str],
        hooks: SendHooks,
        base: int,
    ) -> str:
        size = file.fingerprint.size
        multipart = bool(state.get("upload_id")) if state else size > self.threshold
        if not multipart:
            return self._put(job, file, key, state, done, hooks, base)
        for attempt in (1, 2):
            try:
                return self._multipart(job, file, key, state, done, hooks, base)
            except TransferError as exc:
                if exc.kind != ErrorKind.GONE or attempt == 2:
                    raise
                if state and state.get("upload_id"):
                    ledger.remove(self.location.host, self.location.bucket, str(state["upload_id"]))
                hooks.on_event(
                    "restarted",
                    f"The server lost the multipart upload of {key} "
                    f"({exc.server_text or exc.message}); started over.",
                )
                state = None
        raise AssertionError("unreachable")

    def _put(
        self,
        job: UploadJob,
        file: UploadFile,
        key: str,
        state: RemoteState | None,
        done: dict[str, str],
        hooks: SendHooks,
        base: int,
    ) -> str:
        with FileSlice(
            file.path,
            0,
            file.fingerprint.size,
            expected=file.fingerprint,
            check_stop=hooks.check_stop,
            block_size=MIB,
        ) as whole:
            md5 = whole.digest("md5")
        if state is not None:
            # Sent before a kill, its answer lost? The object's ETag says.
            head = self.client.head_object(key)
            if head is not None and head.headers.get("ETag", "").strip('"') == md5.hex():
                hooks.on_progress(base + file.fingerprint.size)
                return md5.hex()
        else:
            hooks.on_remote_state(self._state(key, None, 0, done, "md5"), result_url=None)
        with FileSlice(
            file.path,
            0,
            file.fingerprint.size,
            expected=file.fingerprint,
            check_stop=hooks.check_stop,
            throttle=hooks.throttle,
            on_progress=lambda n: hooks.on_progress(base + n),
            block_size=BLOCK_SIZE,
            block_hint=getattr(hooks, "block_hint", None),
        ) as body:
            etag = self.client.put_object(key, body, md5, self._metadata(job))
        verify_etag(key, etag, md5.hex())
        return etag

    def _multipart(
        self,
        job: UploadJob,
        file: UploadFile,
        key: str,
        state: RemoteState | None,
        done: dict[str, str],
        hooks: SendHooks,
        base: int,
    ) -> str:
        size = file.fingerprint.size
        upload_id = str(state["upload_id"]) if state and state.get("upload_id") else None
        part_size = int(state.get("part_size") or 0) if state else 0
        checksum = str(state.get("checksum") or "md5") if state else "md5"
        held: dict[int, Part] = {}
        if upload_id:
            held = {p.number: p for p in self.client.list_parts(key, upload_id)}
            if held:
                hooks.on_event(
                    "info",
                    f"The server holds {len(held)} of "
                    f"{part_count(size, part_size)} parts of {key}; "
                    "sending the rest",
                )
        else:
            part_size = choose_part_size(size, self.part_size)
            upload_id, checksum = self._start(key, job)
            ledger.add(self.location.host, self.location.bucket, key, upload_id)
            hooks.on_remote_state(
                self._state(key, upload_id, part_size, done, checksum), result_url=None
            )
        outcome = send_parts(
            self.client,
            key,
            upload_id,
            file,
            part_size,
            held,
            hooks,
            base_offset=base,
            parallel=self.parallel,
            checksum=checksum,
        )
        completed = self.client.complete_multipart(key, upload_id, outcome.parts)
        ledger.remove(self.location.host, self.location.bucket, upload_id)
        if checksum == "crc32":
            verify_crc(key, completed.etag, completed.crc32, outcome.parts)
        else:
            md5s = [m for m in outcome.md5s if m is not None]
            verify_etag(key, completed.etag, multipart_etag(md5s))
        return completed.etag

    def _start(self, key: str, job: UploadJob) -> tuple[str, str]:
        """CreateMultipartUpload, asking for CRC32 checksums with ``auto``: the upload id and
        the parts' checksum. A server that refuses the request for the CRC32 header (400, 501)
        is asked once more without it, and gets Content-MD5."""
        if self.checksum == "auto":
            try:
                upload_id, crc = self.client.start_multipart(key, self._metadata(job), crc32=True)
                return upload_id, "crc32" if crc else "md5"
            except TransferError as exc:
                if exc.status not in (400, 501):
                    raise
        return self.client.start_multipart(key, self._metadata(job))[0], "md5"

    def _still_there(self, key: str, etag: str) -> bool:
        head = self.client.head_object(key)
        return head is not None and head.headers.get("ETag", "").strip('"') == etag

    # -- state -------------------------------------------------------------------------------

    def _adopt(self, state: RemoteState | None) -> RemoteState | None:
        """The stored state, if it is this protocol's and this bucket's (a target's URL may
        have been edited since)."""
        if not state or state.get("protocol") != PROTOCOL:
            return None
        if state.get("bucket") != self.location.bucket:
            return None
        return state

    def _state(
        self,
        key: str | None,
        upload_id: str | None,
        part_size: int,
        done: dict[str, str],
        checksum: str,
    ) -> RemoteState:
        return {
            "protocol": PROTOCOL,
            "bucket": self.location.bucket,
            "key": key,
            "upload_id": upload_id,
            "part_size": part_size,
            "checksum": checksum,
            "done": dict(done),
        }

    def _metadata(self, job: UploadJob) -> dict[str, str]:
        return {"upqueue-upload": str(job.upload_id)}

    def _result_url(self, job: UploadJob) -> str:
        return self.location.url_for(self.location.key_for(job.primary.name))
