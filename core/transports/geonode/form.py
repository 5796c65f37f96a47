"""The upload form GeoNode's upload view expects, per API, for one dataset."""

from __future__ import annotations

import os

from upqueue.core import datasets
from upqueue.core.transports.base import UploadJob
from upqueue.core.transports.geonode.body import FilePart

# archives GeoNode unzips only when they arrive under their own field as well (views.py create)
ARCHIVE_FIELDS = {".zip": "zip_file", ".kmz": "kmz_file"}


def form_for(job: UploadJob, api: str) -> tuple[list[tuple[str, str]], list[FilePart]]:
    """``(fields, files)`` for the POST.

    A shapefile's members go as ``base_file`` (the .shp), ``dbf_file``, ``shx_file``,
    ``prj_file``, ``cpg_file``, ``xml_file``, ``sld_file``, ... (as GeoNode's web client sends
    them, without its duplicate ``shp_file``: it would send the largest file twice). Names are
    sent as ``<the .shp's stem>.<lowercase ext>``: GeoNode matches the stem and extension
    case-sensitively, while people's folders hold ``Roads.SHP`` beside ``roads.dbf``.
    A zip/kmz goes twice, as ``base_file`` and ``zip_file``/``kmz_file``: GeoNode unzips only
    an archive sent under that field, and requires ``base_file``.
    """
    primary = job.primary
    fields: list[tuple[str, str]] = [("store_spatial_files", "true")]
    if api == "5":
        fields.append(("action", "upload"))
    files: list[FilePart] = []
    if datasets.is_shapefile(primary.name):
        stem = datasets.split_suffix(primary.name)[0]
        files.append(FilePart("base_file", f"{stem}.shp", primary))
        seen = {"base_file"}
        # a plain roads.xml wins over ArcGIS's roads.shp.xml for the one metadata field
        members = sorted(job.files[1:], key=lambda f: f.name.lower().endswith(".shp.xml"))
        for member in members:
            field, ext = datasets.form_field(member.name)
            if field in seen:
                continue
            seen.add(field)
            files.append(FilePart(field, f"{stem}.{ext}", member))
        if api == "legacy":
            fields += [("time", "false"), ("charset", _charset(job) or "UTF-8")]
        return fields, files
    files.append(FilePart("base_file", primary.name, primary))
    extra = ARCHIVE_FIELDS.get(os.path.splitext(primary.name)[1].lower())
    if extra:
        files.append(FilePart(extra, primary.name, primary))
    for member in job.files[1:]:  # e.g. a GeoTIFF's .xml / .sld
        field, _ = datasets.form_field(member.name)
        files.append(FilePart(field, member.name, member))
    return fields, files


def form_name(job: UploadJob) -> str:
    """The ``base_file`` name GeoNode records as the execution's ``name``."""
    primary = job.primary.name
    if datasets.is_shapefile(primary):
        return f"{datasets.split_suffix(primary)[0]}.shp"
    return primary


def _charset(job: UploadJob) -> str | None:
    """The legacy form's ``charset`` from the set's .cpg (the importer reads the .cpg itself)."""
    for member in job.files:
        if member.name.lower().endswith(".cpg") and member.fingerprint.size < 256:
            try:
                with open(member.path, encoding="ascii", errors="replace") as f:
                    return f.read().strip() or None
            except OSError:
                return None
    return None
