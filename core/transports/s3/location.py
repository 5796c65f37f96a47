"""Where an S3 target's objects go: the target URL split into endpoint, bucket, prefix and
region, and the request paths and URLs built from them.

Addresses: path style ``http(s)://ENDPOINT/BUCKET[/PREFIX]`` (SeaweedFS, MinIO, rclone, Ceph,
...) and AWS's virtual-hosted ``https://BUCKET.s3[.-]REGION.amazonaws.com[/PREFIX]``.

Apart from the client (core.transports.s3.client) because reading an address needs no
connection: the target's checks and its form read URLs too, and the client only uses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.transports.s3.signer import uri_encode

DEFAULT_REGION = "us-east-1"
_AWS_VIRTUAL_HOST = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])\.s3(?:[.-](?P<region>[a-z0-9-]+))?"
    r"\.amazonaws\.com$"
)


@dataclass(frozen=True)
class S3Location:
    """Where a target's objects go."""

    scheme: str
    host: str  # host[:port] as sent in the Host header
    bucket: str
    prefix: str  # "" or ending in "/"
    region: str
    virtual_host: bool

    def key_for(self, name: str) -> str:
        return self.prefix + name

    def path_for(self, key: str = "") -> str:
        """The encoded request path of ``key`` ("" = the bucket)."""
        if self.virtual_host:
            return "/" + uri_encode(key, keep_slash=True)
        bucket = "/" + uri_encode(self.bucket, keep_slash=False)
        return f"{bucket}/{uri_encode(key, keep_slash=True)}" if key else bucket

    def url_for(self, key: str = "") -> str:
        return f"{self.scheme}://{self.host}{self.path_for(key)}"

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_location(url: str, region: str | None = None) -> S3Location:
    """Split a target URL into endpoint, bucket and prefix.

    Raises:
        TransferError: permanent, when the URL names no bucket.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad_url(url, "it must start with http:// or https:// and name a server")
    host = parts.netloc.rsplit("@", 1)[-1]
    for default in (":80", ":443"):
        if host.endswith(default) and parts.scheme == {":80": "http", ":443": "https"}[default]:
            host = host[: -len(default)]
    segments = [unquote(s) for s in parts.path.split("/") if s]
    match = _AWS_VIRTUAL_HOST.match(parts.hostname)
    if match:
        prefix_parts = segments
        bucket = match.group("bucket")
        found_region = match.group("region") or DEFAULT_REGION
        virtual = True
    else:
        if not segments:
            raise _bad_url(url, "it names no bucket (expected http(s)://ENDPOINT/BUCKET[/PREFIX])")
        bucket, prefix_parts = segments[0], segments[1:]
        found_region = DEFAULT_REGION
        virtual = False
    prefix = "/".join(prefix_parts) + "/" if prefix_parts else ""
    return S3Location(parts.scheme, host, bucket, prefix, region or found_region, virtual)


def _bad_url(url: str, why: str) -> TransferError:
    return TransferError(
        "Invalid S3 address", f"{url} cannot be used: {why}.", kind=ErrorKind.PERMANENT
    )
