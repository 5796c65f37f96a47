"""What an S3 target is made of: the window's form for it, its options' defaults and their
checks (see the transport's docstring for the fields)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upqueue.core.errors import UpqueueError
from upqueue.core.transports.form import OptionField, TargetForm
from upqueue.core.transports.s3.location import DEFAULT_REGION, parse_location

DEFAULT_PART_MIB = 16
DEFAULT_PARALLEL = 4
DEFAULT_THRESHOLD_MIB = 16
CHECKSUMS = ("auto", "md5")

FORM = TargetForm(
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


def int_option(options: Mapping[str, Any], name: str, default: int, low: int) -> int:
    try:
        return max(low, int(options.get(name) or default))
    except (TypeError, ValueError):
        return default


def check_fields(fields: Mapping[str, Any]) -> None:
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
            raise UpqueueError("Invalid option", f"{name} must be a whole number, not {value!r}.")
    checksum = dict(fields.get("options") or {}).get("checksum")
    if checksum not in (None, "") and str(checksum).strip().lower() not in CHECKSUMS:
        raise UpqueueError(
            "Invalid option",
            f"checksum must be one of {', '.join(CHECKSUMS)}, not {checksum!r}.",
        )
