"""Which files make one GIS dataset, as GeoNode takes them (the rules of its upload handlers).

A shapefile is a set: ``roads.shp`` with ``roads.shx`` and ``roads.dbf`` (without them no GIS
program opens it), usually ``roads.prj`` (the projection; GeoNode 4.1+ requires it), and any
of ``.cpg .sbn .sbx .xml .sld .cst .qix`` and ArcGIS's ``roads.shp.xml``. Stems match
case-insensitively (``Roads.SHP`` + ``roads.dbf``), as people's folders have them. Zip files,
GeoTIFF, GeoPackage, GeoJSON, KML/KMZ and CSV are datasets of one file.

Used by the service (adding a ``.shp`` from the CLI, the window, a drop; ``retry`` reading the
members again) and the watcher, for targets whose transport takes datasets; and by the GeoNode
transport for the form field each member goes in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from upqueue.core.errors import UpqueueError

REQUIRED = (".shx", ".dbf")
PROJECTION = ".prj"
OPTIONAL = (".cpg", ".sbn", ".sbx", ".xml", ".shp.xml", ".sld", ".cst", ".qix")
SIDECARS = (*REQUIRED, PROJECTION, *OPTIONAL)
SINGLE_FILE = (
    ".zip",
    ".tif",
    ".tiff",
    ".geotiff",
    ".geotif",
    ".gpkg",
    ".geojson",
    ".json",
    ".kml",
    ".kmz",
    ".csv",
)
TAKEN = "shapefiles (.shp with .shx, .dbf, .prj), zip, GeoTIFF, GeoPackage, GeoJSON, KML/KMZ, CSV"


@dataclass(frozen=True)
class Dataset:
    """One dataset: ``primary`` (the .shp or the single file) and every member, primary first.

    Attributes:
        missing_projection: a shapefile without its ``.prj`` (it may still go: the server says).
    """

    primary: str
    members: tuple[str, ...]
    missing_projection: bool = False

    def describe(self) -> str:
        """What the queue row says: ``roads.shp + 4 files``."""
        name = os.path.basename(self.primary)
        others = len(self.members) - 1
        if others <= 0:
            return name
        return f"{name} + {others} file" + ("s" if others > 1 else "")


def split_suffix(path: str) -> tuple[str, str]:
    """``/d/Roads.SHP.xml`` -> (``/d/Roads``, ``.shp.xml``): the suffix lowercased, stem as is."""
    lowered = path.lower()
    for suffix in (".shp.xml", ".shp", *SIDECARS):
        if lowered.endswith(suffix) and len(path) > len(suffix):
            return path[: -len(suffix)], suffix
    return path, ""


def is_shapefile(path: str) -> bool:
    return split_suffix(path)[1] == ".shp"


def is_sidecar(path: str) -> bool:
    return split_suffix(path)[1] in SIDECARS


def find_members(shp: str) -> Dataset:
    """A ``.shp`` and its sidecars as they are on disk now (stems compared case-insensitively).

    Raises:
        UpqueueError: ``.shx`` or ``.dbf`` is missing (named), before anything is sent.
    """
    folder = os.path.dirname(shp) or "."
    stem = split_suffix(os.path.basename(shp))[0].lower()
    found: dict[str, str] = {}
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise UpqueueError("Cannot read the folder", f"{folder}: {exc.strerror or exc}") from exc
    for name in names:
        other_stem, suffix = split_suffix(name)
        if other_stem.lower() == stem and suffix in SIDECARS and suffix not in found:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                found[suffix] = path
    problem = incomplete(shp, found)
    if problem is not None:
        raise problem
    order = (*REQUIRED, PROJECTION, *OPTIONAL)
    members = (shp, *(found[s] for s in order if s in found))
    return Dataset(shp, members, missing_projection=PROJECTION not in found)


def incomplete(path: str, members: Iterable[str]) -> UpqueueError | None:
    """Why the set of ``path`` (its ``.shp`` or a sidecar) cannot go with ``members`` (paths or
    suffixes), naming what is missing; None when its ``.shp``, ``.shx`` and ``.dbf`` are there."""
    have = {m if m.startswith(".") else split_suffix(m)[1] for m in members}
    have.add(split_suffix(path)[1])
    folder = os.path.dirname(path) or "."
    base = split_suffix(os.path.basename(path))[0]
    if ".shp" not in have:
        return UpqueueError(
            "Part of a shapefile",
            f"{os.path.basename(path)} belongs to a shapefile set, and {base}.shp is not in "
            f"{folder}: put it there (its sidecar files come along with it).",
        )
    missing = [s for s in REQUIRED if s not in have]
    if not missing:
        return None
    names_missing = " and ".join(f"{base}{s}" for s in missing)
    shp = os.path.basename(path) if split_suffix(path)[1] == ".shp" else f"{base}.shp"
    return UpqueueError(
        "Shapefile set incomplete",
        f"{shp} cannot go without {names_missing} (a shapefile is the .shp "
        f"with its .shx and .dbf, and a .prj for the projection): put "
        f"{'them' if len(missing) > 1 else 'it'} next to the .shp in {folder} and add it again.",
    )


def plan(paths: list[str]) -> tuple[list[Dataset], list[tuple[str, UpqueueError]]]:
    """Group the paths someone added into datasets, for a target that takes them.

    A ``.shp`` brings its sidecars from its folder (given or not); sidecars given alongside
    their ``.shp`` are absorbed; a sidecar given without its ``.shp`` is refused with what to do.

    Returns:
        ``(datasets, rejected)``: datasets in the order given; each refused path with why.
    """
    datasets: list[Dataset] = []
    rejected: list[tuple[str, UpqueueError]] = []
    taken: set[str] = set()
    shp_stems = {split_suffix(p)[0].lower() for p in paths if is_shapefile(p)}
    for path in paths:
        if path in taken:
            continue
        if is_shapefile(path):
            try:
                dataset = find_members(path)
            except UpqueueError as exc:
                rejected.append((path, exc))
                continue
            datasets.append(dataset)
            taken.update(dataset.members)
        elif is_sidecar(path):
            if split_suffix(path)[0].lower() in shp_stems:
                continue  # it travels with its .shp
            stem = os.path.basename(split_suffix(path)[0])
            rejected.append(
                (
                    path,
                    UpqueueError(
                        "Part of a shapefile",
                        f"{os.path.basename(path)} belongs to a shapefile set: add {stem}.shp, and its "
                        "sidecar files come along.",
                    ),
                )
            )
        else:
            datasets.append(Dataset(path, (path,)))
            taken.add(path)
    return datasets, rejected


def form_field(path: str) -> tuple[str, str]:
    """The GeoNode form field of a shapefile member and its extension: ``("dbf_file", "dbf")``.

    ArcGIS's ``roads.shp.xml`` goes as the metadata file (``xml_file``).
    """
    suffix = split_suffix(path)[1] or os.path.splitext(path)[1].lower()
    ext = "xml" if suffix == ".shp.xml" else suffix.lstrip(".")
    return f"{ext}_file", ext
