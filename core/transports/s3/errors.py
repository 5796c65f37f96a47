"""S3's XML error codes turned into what a person reads and the kind the retry policy goes by."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import requests
from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.response_errors import error_for_response
from upqueue.core.status_errors import error_for_status, parse_retry_after, trim_server_text

if TYPE_CHECKING:
    from upqueue.core.transports.s3.location import S3Location


def s3_error(
    resp: requests.Response,
    code: str,
    said: str,
    action: str,
    loc: S3Location,
    access_key: str,
    clock_offset: timedelta = timedelta(0),
    gone_code: str = "",
) -> TransferError:
    """One S3 error code -> what a person reads, and the kind the retry policy goes by."""
    status = resp.status_code
    text = f"{code}: {said}" if code and said else code or trim_server_text(resp.text or "")

    def err(kind: ErrorKind, title: str, message: str) -> TransferError:
        return TransferError(title, message, kind=kind, status=status, server_text=text)

    if code == "SignatureDoesNotMatch":
        return err(
            ErrorKind.PERMANENT,
            "Wrong secret key",
            f"The server rejected the request's signature while {action}: the secret key "
            f"does not match access key id '{access_key}'. Enter the target's "
            "secret key again.",
        )
    if code in ("InvalidAccessKeyId", "InvalidClientTokenId"):
        return err(
            ErrorKind.PERMANENT,
            "Unknown access key",
            f"The server does not know access key id '{access_key}'. Check the "
            "target's username (the access key id).",
        )
    if code == "NoSuchBucket" or (
        status == 404 and resp.request.method == "HEAD" and action == "checking the bucket"
    ):
        return err(
            ErrorKind.PERMANENT,
            "Bucket not found",
            f"The bucket '{loc.bucket}' does not exist on {loc.host}. Create it, or "
            "correct the bucket in the target's URL.",
        )
    if code in ("AccessDenied", "AllAccessDisabled", "AccountProblem"):
        return err(
            ErrorKind.PERMANENT,
            "Permission denied",
            f"Access key '{access_key}' may not do this on bucket '{loc.bucket}' "
            f"(the server refused {action}: {said or code}). Grant it s3:PutObject, "
            "s3:ListMultipartUploadParts and s3:AbortMultipartUpload on "
            f"{loc.describe()}, or use another key.",
        )
    if code == "RequestTimeTooSkewed":
        return err(
            ErrorKind.PERMANENT,
            "This computer's clock is wrong",
            _skew_message(resp, datetime.now(UTC) + clock_offset),
        )
    if code in ("AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraint"):
        region = resp.headers.get("x-amz-bucket-region") or ""
        hint = f" The bucket is in region '{region}'." if region else ""
        return err(
            ErrorKind.PERMANENT,
            "Wrong region",
            f"The server refused the region '{loc.region}' for bucket '{loc.bucket}' "
            f"({code}).{hint} Set the target's region option.",
        )
    if gone_code and code == gone_code:
        return err(
            ErrorKind.GONE,
            "Multipart upload no longer on the server",
            f"The server no longer has this multipart upload ({code}) while {action}; "
            "it starts over.",
        )
    if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
        return err(
            ErrorKind.CHECKSUM,
            "Data damaged in transit",
            f"The server found that the data it received while {action} does not match "
            f"its checksum ({code}); it is sent again.",
        )
    if code in ("InvalidPart", "InvalidPartOrder"):
        return err(
            ErrorKind.CONFLICT,
            "Parts out of step",
            f"The server does not hold the parts upqueue listed while {action} ({code}); "
            "it asks the server again and resends what is missing.",
        )
    if code in ("EntityTooLarge", "EntityTooSmall", "InvalidArgument", "KeyTooLongError"):
        return err(ErrorKind.PERMANENT, "Server refused the file", f"{text} while {action}.")
    if code in ("SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"):
        return err(ErrorKind.TRANSIENT, "Server busy", f"{text} while {action}.")
    if not code:
        return error_for_response(resp, action)
    return error_for_status(
        status,
        action=action,
        server_text=text,
        reason=resp.reason or "",
        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
    )


def _skew_message(resp: requests.Response, local: datetime) -> str:
    server = None
    try:
        server = parsedate_to_datetime(resp.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        server = None
    root = None
    try:
        root = ET.fromstring(resp.content)
    except ET.ParseError:
        pass
    server = server or iso_time(xml_text(root, "ServerTime") if root is not None else None)
    if server is None:
        return (
            "The server refused the request because this computer's clock differs too much "
            "from its own (more than 15 minutes). Set the clock right (automatic time)."
        )
    minutes = abs((local - server).total_seconds()) / 60
    return (
        f"The server refused the request: this computer's clock is {minutes:.0f} minutes "
        f"off the server's (server time {server:%Y-%m-%d %H:%M:%S} UTC). S3 refuses requests "
        "more than 15 minutes off. Set the clock right (turn on automatic time) and retry."
    )


def xml_text(node: ET.Element | None, tag: str) -> str | None:
    """The text of ``node``'s child ``tag`` (in S3's namespace or none)."""
    if node is None:
        return None
    found = node.find(f"{{*}}{tag}")
    if found is None:
        found = node.find(tag)
    return found.text if found is not None else None


def iso_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
