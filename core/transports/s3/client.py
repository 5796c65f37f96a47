"""The S3 calls upqueue makes, signed (core.transports.s3.signer) and sent through requests,
with S3's XML errors turned into messages a person can act on.

The addresses they go to (path style and AWS's virtual-hosted) are read by
core.transports.s3.location.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.filereader import FileSlice
from upqueue.core.status_errors import trim_server_text
from upqueue.core.transports.s3.errors import iso_time, s3_error, xml_text
from upqueue.core.transports.s3.location import S3Location
from upqueue.core.transports.s3.signer import EMPTY_SHA256, canonical_query, sign
from upqueue.core.transports.session import HttpSession


@dataclass(frozen=True)
class Part:
    number: int
    etag: str  # without quotes
    size: int
    crc32: str = ""  # base64 CRC32 of the part (uploads created with CRC32 checksums)


@dataclass(frozen=True)
class PartAnswer:
    etag: str
    crc32: str  # the x-amz-checksum-crc32 the server computed and answered with ("": none)


@dataclass(frozen=True)
class Completed:
    etag: str
    crc32: str  # the composite ChecksumCRC32 ("BASE64-N") of the object ("": none given)


@dataclass(frozen=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated: datetime | None


def md5_b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def crc32_b64(value: int) -> str:
    """S3's form of a CRC32: its 4 big-endian bytes in base64."""
    return base64.b64encode(value.to_bytes(4, "big")).decode("ascii")


class S3Client:
    """Signed S3 requests for one location. Thread-safe (the session is per thread).

    Attributes:
        clock_offset: added to the local clock when signing (tests simulate a skewed clock).
    """

    def __init__(
        self, location: S3Location, access_key: str, secret: str, session: HttpSession
    ) -> None:
        self.location = location
        self.access_key = access_key
        self.secret = secret
        self.session = session
        self.clock_offset = timedelta(0)

    # -- objects -----------------------------------------------------------------------------

    def head_bucket(self) -> requests.Response:
        return self._call("HEAD", "", action="checking the bucket", ok=range(100, 600))

    def head_object(self, key: str) -> requests.Response | None:
        resp = self._call("HEAD", key, action="checking the object", ok=range(100, 600))
        return resp if resp.status_code == 200 else None

    def put_object(
        self, key: str, body: FileSlice | bytes, md5: bytes, metadata: dict[str, str]
    ) -> str:
        headers = {
            "Content-MD5": md5_b64(md5),
            "Content-Type": "application/octet-stream",
            **{f"x-amz-meta-{k}": v for k, v in metadata.items()},
        }
        resp = self._call("PUT", key, headers=headers, body=body, action="sending the file")
        return _etag(resp)

    def delete_object(self, key: str) -> None:
        self._call("DELETE", key, action="deleting the object", ok=(200, 204, 404))

    # -- multipart ---------------------------------------------------------------------------

    def create_multipart(self, key: str, metadata: dict[str, str]) -> str:
        return self.start_multipart(key, metadata)[0]

    def start_multipart(
        self, key: str, metadata: dict[str, str], *, crc32: bool = False
    ) -> tuple[str, bool]:
        """CreateMultipartUpload; with ``crc32``, asks for CRC32 part checksums.

        Returns:
            the upload id, and whether the server confirmed CRC32 checksums (it answers with
            ``x-amz-checksum-algorithm: CRC32``; a server that ignores the header does not).
        """
        headers = {
            "Content-Type": "application/octet-stream",
            **{f"x-amz-meta-{k}": v for k, v in metadata.items()},
        }
        if crc32:
            headers["x-amz-checksum-algorithm"] = "CRC32"
        resp = self._call(
            "POST",
            key,
            query={"uploads": ""},
            headers=headers,
            action="starting a multipart upload",
        )
        upload_id = xml_text(_xml(resp), "UploadId")
        if not upload_id:
            raise _protocol_error(resp, "no UploadId in the answer")
        confirmed = resp.headers.get("x-amz-checksum-algorithm", "").upper() == "CRC32"
        return upload_id, crc32 and confirmed

    def upload_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        body: FileSlice | bytes,
        md5: bytes | None,
        *,
        crc32: int | None = None,
    ) -> PartAnswer:
        """UploadPart with Content-MD5 (``md5``) or x-amz-checksum-crc32 (``crc32``), which the
        server checks against what it received (BadDigest when they differ)."""
        headers = {}
        if md5 is not None:
            headers["Content-MD5"] = md5_b64(md5)
        if crc32 is not None:
            headers["x-amz-checksum-crc32"] = crc32_b64(crc32)
        resp = self._call(
            "PUT",
            key,
            query={"partNumber": str(number), "uploadId": upload_id},
            headers=headers,
            body=body,
            action=f"sending part {number}",
            gone_code="NoSuchUpload",
        )
        return PartAnswer(_etag(resp), resp.headers.get("x-amz-checksum-crc32", ""))

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        parts: list[Part] = []
        marker = ""
        while True:
            query = {"uploadId": upload_id, "max-parts": "1000"}
            if marker:
                query["part-number-marker"] = marker
            resp = self._call(
                "GET",
                key,
                query=query,
                action="asking which parts the server has",
                gone_code="NoSuchUpload",
            )
            root = _xml(resp)
            for p in root.findall("{*}Part"):
                parts.append(
                    Part(
                        int(xml_text(p, "PartNumber") or 0),
                        (xml_text(p, "ETag") or "").strip('"'),
                        int(xml_text(p, "Size") or 0),
                    )
                )
            marker = xml_text(root, "NextPartNumberMarker") or ""
            if (xml_text(root, "IsTruncated") or "false").lower() != "true" or not marker:
                return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> Completed:
        xml = "".join(
            f'<Part><PartNumber>{p.number}</PartNumber><ETag>"{p.etag}"</ETag>'
            + (f"<ChecksumCRC32>{p.crc32}</ChecksumCRC32>" if p.crc32 else "")
            + "</Part>"
            for p in parts
        )
        data = f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>".encode()
        resp = self._call(
            "POST",
            key,
            query={"uploadId": upload_id},
            data=data,
            action="completing the multipart upload",
            gone_code="NoSuchUpload",
        )
        # S3 may answer 200 and put the error in the body (the completion failed after all).
        root = _xml(resp)
        if root.tag.rsplit("}", 1)[-1] == "Error":
            raise self._error(resp, "completing the multipart upload", "NoSuchUpload", root)
        return Completed(
            (xml_text(root, "ETag") or "").strip('"'), xml_text(root, "ChecksumCRC32") or ""
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._call(
            "DELETE",
            key,
            query={"uploadId": upload_id},
            ok=(200, 204, 404),
            action="aborting the multipart upload",
        )

    def list_multipart_uploads(self, prefix: str) -> list[PendingUpload]:
        found: list[PendingUpload] = []
        key_marker = id_marker = ""
        while True:
            query = {"uploads": "", "prefix": prefix}
            if key_marker:
                query["key-marker"] = key_marker
                query["upload-id-marker"] = id_marker
            try:
                resp = self._call(
                    "GET",
                    "",
                    query=query,
                    action="listing unfinished uploads",
                    gone_code="NoSuchUpload",
                )
            except TransferError as exc:
                if exc.kind == ErrorKind.GONE:  # rclone's answer for "there are none"
                    return found
                raise
            root = _xml(resp)
            for u in root.findall("{*}Upload"):
                found.append(
                    PendingUpload(
                        xml_text(u, "Key") or "",
                        xml_text(u, "UploadId") or "",
                        iso_time(xml_text(u, "Initiated")),
                    )
                )
            key_marker = xml_text(root, "NextKeyMarker") or ""
            id_marker = xml_text(root, "NextUploadIdMarker") or ""
            if (xml_text(root, "IsTruncated") or "false").lower() != "true" or not key_marker:
                return found

    # -- plumbing ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        key: str,
        *,
        action: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: FileSlice | bytes | None = None,
        data: bytes | None = None,
        ok: Any = (200, 204),
        gone_code: str = "",
    ) -> requests.Response:
        loc = self.location
        query = query or {}
        path = loc.path_for(key)
        all_headers = dict(headers or {})
        payload_hash = "UNSIGNED-PAYLOAD" if body is not None else EMPTY_SHA256
        if data is not None:
            all_headers["Content-MD5"] = md5_b64(hashlib.md5(data).digest())
            payload_hash = hashlib.sha256(data).hexdigest()
        all_headers.update(
            sign(
                method,
                loc.host,
                path,
                query,
                all_headers,
                access_key=self.access_key,
                secret=self.secret,
                region=loc.region,
                payload_sha256=payload_hash,
                now=datetime.now(UTC) + self.clock_offset,
            )
        )
        url = f"{loc.scheme}://{loc.host}{path}"
        if query:
            url += "?" + canonical_query(query)
        resp = self.session.request(
            method, url, action=action, headers=all_headers, body=body if body is not None else data
        )
        if resp.status_code not in ok:
            raise self._error(resp, action, gone_code)
        return resp

    def _error(
        self,
        resp: requests.Response,
        action: str,
        gone_code: str = "",
        root: ET.Element | None = None,
    ) -> TransferError:
        if root is None:
            try:
                root = ET.fromstring(resp.content) if resp.content else None
            except ET.ParseError:
                root = None
        code = (xml_text(root, "Code") if root is not None else None) or ""
        said = (xml_text(root, "Message") if root is not None else None) or ""
        return s3_error(
            resp, code, said, action, self.location, self.access_key, self.clock_offset, gone_code
        )


def _etag(resp: requests.Response) -> str:
    return (resp.headers.get("ETag") or "").strip('"')


def _xml(resp: requests.Response) -> ET.Element:
    try:
        return ET.fromstring(resp.content)
    except ET.ParseError:
        raise _protocol_error(resp, "the answer is not XML") from None


def _protocol_error(resp: requests.Response, detail: str) -> TransferError:
    return TransferError(
        "Unexpected server response",
        f"The server's answer to {resp.request.method} ({resp.status_code}) is not what S3 "
        f"answers: {detail}. Check that the target URL points at an S3 endpoint and bucket.",
        kind=ErrorKind.PERMANENT,
        status=resp.status_code,
        server_text=trim_server_text(resp.text or ""),
    )
