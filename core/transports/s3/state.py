"""The S3 transport's remote state: what it stores between sends, and which stored state it may
take up (the shape is in the transport's docstring)."""

from __future__ import annotations

from upqueue.core.transports.base import RemoteState

PROTOCOL = "s3"


def adopt(state: RemoteState | None, bucket: str) -> RemoteState | None:
    """The stored state, if it is this protocol's and this bucket's (a target's URL may
    have been edited since)."""
    if not state or state.get("protocol") != PROTOCOL:
        return None
    if state.get("bucket") != bucket:
        return None
    return state


def state_for(
    bucket: str,
    key: str | None,
    upload_id: str | None,
    part_size: int,
    done: dict[str, str],
    checksum: str,
) -> RemoteState:
    return {
        "protocol": PROTOCOL,
        "bucket": bucket,
        "key": key,
        "upload_id": upload_id,
        "part_size": part_size,
        "checksum": checksum,
        "done": dict(done),
    }
