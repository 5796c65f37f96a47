"""One object of an S3 upload: a single PUT below the multipart threshold, a multipart upload
above it (taken up from ListParts, started over once if the server lost it), and the server's
checksum of the whole object checked against the one computed locally."""

from __future__ import annotations

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.transports.base import RemoteState, SendHooks, UploadFile, UploadJob
from upqueue.core.transports.bodies import hashed_slice, sent_slice
from upqueue.core.transports.s3 import ledger
from upqueue.core.transports.s3.client import Part, S3Client
from upqueue.core.transports.s3.location import S3Location
from upqueue.core.transports.s3.parts import (
    choose_part_size,
    multipart_etag,
    part_count,
    send_parts,
)
from upqueue.core.transports.s3.state import state_for
from upqueue.core.transports.s3.verify import verify_crc, verify_etag


class ObjectSender:
    """Sends files as objects of one bucket, with the target's part size, parallelism,
    multipart threshold and checksum option."""

    def __init__(
        self,
        client: S3Client,
        location: S3Location,
        *,
        part_size: int,
        parallel: int,
        threshold: int,
        checksum: str,
    ) -> None:
        self.client = client
        self.location = location
        self.part_size = part_size
        self.parallel = parallel
        self.threshold = threshold
        self.checksum = checksum

    def send_file(
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

    def still_there(self, key: str, etag: str) -> bool:
        head = self.client.head_object(key)
        return head is not None and head.headers.get("ETag", "").strip('"') == etag

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
        with hashed_slice(file, hooks.check_stop) as whole:
            md5 = whole.digest("md5")
        if state is not None:
            # Sent before a kill, its answer lost? The object's ETag says.
            head = self.client.head_object(key)
            if head is not None and head.headers.get("ETag", "").strip('"') == md5.hex():
                hooks.on_progress(base + file.fingerprint.size)
                return md5.hex()
        else:
            hooks.on_remote_state(
                state_for(self.location.bucket, key, None, 0, done, "md5"), result_url=None
            )
        with sent_slice(file, hooks, progress=lambda n: hooks.on_progress(base + n)) as body:
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
                state_for(self.location.bucket, key, upload_id, part_size, done, checksum),
                result_url=None,
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

    def _metadata(self, job: UploadJob) -> dict[str, str]:
        return {"upqueue-upload": str(job.upload_id)}
