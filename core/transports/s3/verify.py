"""The end-of-upload checks: what the server says it holds against what the file gives."""

from __future__ import annotations

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.transports.s3.client import Part
from upqueue.core.transports.s3.parts import composite_crc32


def verify_etag(key: str, server: str, local: str) -> None:
    if not server or server.lower() == local.lower():
        return
    raise TransferError(
        "Upload verification failed",
        f"The server's ETag of {key} is {server}, but the file's content gives {local}: "
        "the object on the server is not this file. Upload it again.",
        kind=ErrorKind.PERMANENT,
        server_text=f"ETag {server}",
    )


def verify_crc(key: str, etag: str, server: str, parts: list[Part]) -> None:
    """Every part's CRC32 was checked by the server and answered back; the object's
    composite CRC32 (when the server gives it) and ETag part count must agree too."""
    local = composite_crc32(parts)
    if server and server != local:
        raise TransferError(
            "Upload verification failed",
            f"The server's CRC32 of {key} is {server}, but the file's content gives "
            f"{local}: the object on the server is not this file. Upload it again.",
            kind=ErrorKind.PERMANENT,
            server_text=f"ChecksumCRC32 {server}",
        )
    count = f"-{len(parts)}"
    if etag and "-" in etag and not etag.endswith(count):
        raise TransferError(
            "Upload verification failed",
            f"The server's ETag of {key} is {etag}: it holds a different number of parts "
            f"than the {len(parts)} sent. Upload it again.",
            kind=ErrorKind.PERMANENT,
            server_text=f"ETag {etag}",
        )
