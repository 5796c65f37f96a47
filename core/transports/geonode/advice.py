"""GeoNode's refusals and failed imports in words a GIS analyst can act on.

GeoNode's own text always comes first, verbatim; what to do follows for the reasons people meet
every week (a missing or unreadable projection, sidecars named differently, the size and
parallel-import limits, content that is not what its extension says).
"""

from __future__ import annotations

import requests
from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.status_errors import human_size
from upqueue.core.transports.base import UploadJob
from upqueue.core.transports.geonode.client import envelope, is_login_redirect, login_error, refusal

PARALLEL_WAIT_SECONDS = 30.0
ADD_PRJ = "add a .prj next to the .shp and retry"


def _has(job: UploadJob, ext: str) -> bool:
    return any(f.name.lower().endswith(ext) for f in job.files)


def _is_shapefile(job: UploadJob) -> bool:
    return job.primary.name.lower().endswith(".shp")


def upload_refusal(
    resp: requests.Response,
    job: UploadJob,
    limit: int | None,
    busy_wait: float = PARALLEL_WAIT_SECONDS,
) -> TransferError:
    """Why GeoNode did not take the upload POST (no execution was created)."""
    if is_login_redirect(resp):
        return login_error(resp, "receiving the dataset")
    message, code = envelope(resp)
    status = resp.status_code

    def err(
        kind: ErrorKind, title: str, text: str, retry_after: float | None = None
    ) -> TransferError:
        return TransferError(
            title,
            text,
            kind=kind,
            status=status,
            server_text=message,
            retry_after=retry_after,
            busy=retry_after is not None,
        )

    if code == "total_upload_size_exceeded" or "Total upload size exceeds" in message:
        return err(
            ErrorKind.PERMANENT,
            "Dataset too big for this GeoNode",
            f"GeoNode said: {message} This dataset is {human_size(job.size)}. Ask the "
            "site's administrator to raise its dataset upload size, or split the data.",
        )
    if code == "upload_parallelism_limit_exceeded" or "parallel uploads exceeds" in message:
        return busy_error(job, f"GeoNode said: {message}", busy_wait, status)
    if status == 400 and "html" in resp.headers.get("Content-Type", ""):
        # Django's own page, not the API's JSON: its upload handler stopped the body at the
        # first file part (over twice the dataset upload size)
        limit_text = f" (its limit is {human_size(limit)})" if limit else ""
        return err(
            ErrorKind.PERMANENT,
            "Dataset too big for this GeoNode",
            f"GeoNode refused the request before reading it "
            f"({message or 'Bad Request (400)'}): the dataset, {human_size(job.size)}, is "
            f"most likely far over the site's upload size{limit_text}.",
        )
    if message in ("No file was submitted.", "The submitted file is empty.") or message.endswith(
        "This field is required."
    ):
        return err(
            ErrorKind.PERMANENT,
            "GeoNode refused the dataset",
            f"GeoNode said: {message}{_missing_member_advice(job)}",
        )
    if message.startswith(
        ("Detected content type", "File content does not match", "Invalid or unsafe")
    ):
        return err(
            ErrorKind.PERMANENT,
            "GeoNode refused a file's content",
            f"GeoNode said: {message} A file of {job.name} is not what its extension "
            "says (damaged, a placeholder, or renamed): replace it and retry.",
        )
    if message.startswith("No handlers found"):
        return err(
            ErrorKind.PERMANENT,
            "GeoNode cannot import this kind of file",
            f"GeoNode said: {message} for {job.name}. It imports shapefiles, zip files "
            "holding one, GeoTIFF, GeoPackage, GeoJSON, KML/KMZ and CSV.",
        )
    return refusal(resp, "sending the dataset")


def busy_error(job: UploadJob, said: str, wait: float, status: int | None = None) -> TransferError:
    """GeoNode's per-user limit of parallel imports is reached: wait for a turn, no failure."""
    return TransferError(
        "GeoNode is busy with earlier imports",
        f"{said} upqueue waits and sends {job.name} when your earlier imports have finished; "
        "nothing failed.",
        kind=ErrorKind.TRANSIENT,
        status=status,
        retry_after=wait,
        busy=True,
    )


def _missing_member_advice(job: UploadJob) -> str:
    if not _is_shapefile(job):
        return ""
    for ext in (".dbf", ".shx"):
        if not _has(job, ext):
            return f" The set has no {ext}: put it next to the .shp and retry."
    if not _has(job, ".prj"):
        return f" The set has no .prj (the projection): {ADD_PRJ}."
    return " One of the set's files is empty: check it and retry."


def processing_failure(job: UploadJob, log: str, errors: list[str]) -> TransferError:
    """GeoNode's import failed: its reason verbatim, then what to do for the known ones."""
    reason = log or (errors[0] if errors else "GeoNode gave no reason")
    lowered = f"{reason} {' '.join(errors)}".lower()
    advice = ""
    if _is_shapefile(job) and not _has(job, ".prj"):
        advice = f" The shapefile has no .prj, so its projection is unknown: {ADD_PRJ}."
    elif "srid" in lowered or "projection" in lowered or "crs" in lowered or "srs" in lowered:
        advice = (
            " GeoServer could not read the dataset's projection: check the .prj (it must "
            f"hold a known coordinate system, e.g. exported by QGIS), or {ADD_PRJ}."
        )
    elif "files with the same name" in lowered or "some files are missing" in lowered:
        advice = (
            " Every file of a shapefile set must have the .shp's name (roads.shp, "
            "roads.shx, roads.dbf, roads.prj): rename them and retry."
        )
    elif "following layers are not imported" in lowered:
        advice = " Some layers were published; fix the others and retry."
    return TransferError(
        "GeoNode could not import the dataset",
        f"GeoNode said: {reason}{advice}",
        kind=ErrorKind.PERMANENT,
        server_text=reason,
    )


def precheck(job: UploadJob, api: str, limit: int | None) -> None:
    """Refuse before sending what GeoNode would refuse after the last byte.

    Raises:
        TransferError(permanent): over the size limit; a shapefile without its .dbf/.shx, or
            (GeoNode 4.1+, whose form requires ``prj_file``) without its .prj.
    """
    if limit is not None and job.size > limit:
        raise TransferError(
            "Dataset too big for this GeoNode",
            f"{job.name} is {human_size(job.size)}; this GeoNode takes at most "
            f"{human_size(limit)} per dataset (its dataset upload size). Ask the site's "
            "administrator to raise it, or split the data.",
            kind=ErrorKind.PERMANENT,
        )
    if not _is_shapefile(job):
        return
    for ext in (".dbf", ".shx"):
        if not _has(job, ext):
            raise TransferError(
                "Shapefile set incomplete",
                f"{job.name} has no {ext} beside it: put it next to the .shp and retry.",
                kind=ErrorKind.PERMANENT,
            )
    if not _has(job, ".prj") and api != "legacy":
        raise TransferError(
            "Shapefile without a projection",
            f"{job.name} has no .prj, and GeoNode {api} takes no shapefile without one (its "
            f'form answers "No file was submitted."): {ADD_PRJ}.',
            kind=ErrorKind.PERMANENT,
        )
