"""Real GIS test data written with ``struct``: a valid point shapefile set, a tiny GeoTIFF, a zip.

The bytes follow the ESRI Shapefile Technical Description (1998) and TIFF 6.0 + GeoTIFF 1.0, so
a content-sniffing server (GeoNode 5.1's libmagic check) and GDAL would take them.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

WGS84_PRJ = (
    'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],'
    'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
)

SHAPEFILE_MAGIC = struct.pack(">i", 9994)
TIFF_MAGICS = (b"II*\x00", b"MM\x00*")


def _shp_header(file_length_words: int, bbox: tuple[float, float, float, float]) -> bytes:
    # File code 9994, five unused ints, length in 16-bit words (big endian); then version 1000,
    # shape type 1 (point) and the bounding box (little endian), Z/M ranges zero.
    return (
        struct.pack(">7i", 9994, 0, 0, 0, 0, 0, file_length_words)
        + struct.pack("<2i", 1000, 1)
        + struct.pack("<4d", *bbox)
        + struct.pack("<4d", 0.0, 0.0, 0.0, 0.0)
    )


def shapefile_bytes(points: list[tuple[float, float]]) -> dict[str, bytes]:
    """The .shp, .shx and .dbf of a point layer with one ``NAME`` text field."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    bbox = (min(xs), min(ys), max(xs), max(ys))
    records = b""
    index = b""
    offset_words = 50  # the 100-byte header
    for number, (x, y) in enumerate(points, start=1):
        content = struct.pack("<i2d", 1, x, y)  # shape type point, X, Y: 20 bytes
        index += struct.pack(">2i", offset_words, len(content) // 2)
        records += struct.pack(">2i", number, len(content) // 2) + content
        offset_words += (8 + len(content)) // 2
    shp = _shp_header(50 + len(records) // 2, bbox) + records
    shx = _shp_header(50 + len(index) // 2, bbox) + index

    field = b"NAME".ljust(11, b"\x00") + b"C" + b"\x00" * 4 + bytes([20, 0]) + b"\x00" * 14
    header_len = 32 + 32 + 1
    record_len = 1 + 20
    dbf = struct.pack("<4BIHH20x", 3, 126, 1, 1, len(points), header_len, record_len)
    dbf += field + b"\r"
    for number in range(1, len(points) + 1):
        dbf += b" " + f"point {number}".ljust(20).encode("ascii")
    dbf += b"\x1a"
    return {"shp": shp, "shx": shx, "dbf": dbf}


def write_shapefile(
    folder: Path,
    stem: str,
    *,
    prj: bool = True,
    extras: tuple[str, ...] = ("cpg",),
    points: int = 3,
    upper_ext: bool = False,
) -> Path:
    """Write ``stem``.shp/.shx/.dbf (+ .prj, + ``extras`` such as cpg/xml/sld); return the .shp."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = shapefile_bytes([(10.0 + i, 50.0 + i / 2) for i in range(points)])
    if prj:
        parts["prj"] = WGS84_PRJ.encode("ascii")
    for ext in extras:
        parts[ext] = {
            "cpg": b"UTF-8",
            "xml": b'<?xml version="1.0"?><metadata><title>'
            + stem.encode()
            + b"</title></metadata>",
            "sld": b'<?xml version="1.0"?><StyledLayerDescriptor version="1.0.0"/>',
        }.get(ext, b"x")
    for ext, data in parts.items():
        (folder / f"{stem}.{ext.upper() if upper_ext else ext}").write_bytes(data)
    return folder / f"{stem}.{'SHP' if upper_ext else 'shp'}"


def geotiff_bytes(width: int = 4, height: int = 4) -> bytes:
    """A little-endian, uncompressed 8-bit grey GeoTIFF in WGS 84 (EPSG:4326)."""
    pixels = bytes((x * 16 + y) % 256 for y in range(height) for x in range(width))
    # tag, type, count, value-or-offset; types: 3 SHORT, 4 LONG, 12 DOUBLE
    geokeys = [1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326]
    scale = [0.01, 0.01, 0.0]
    tiepoint = [0.0, 0.0, 0.0, 10.0, 50.0, 0.0]
    entries_count = 12
    ifd_size = 2 + entries_count * 12 + 4
    extra_offset = 8 + ifd_size
    scale_off = extra_offset
    tie_off = scale_off + 8 * len(scale)
    keys_off = tie_off + 8 * len(tiepoint)
    pixels_off = keys_off + 2 * len(geokeys)
    entries = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, pixels_off),
        (277, 3, 1, 1),
        (278, 3, 1, height),
        (279, 4, 1, len(pixels)),
        (33550, 12, 3, scale_off),
        (33922, 12, 6, tie_off),
        (34735, 3, len(geokeys), keys_off),
    ]
    ifd = struct.pack("<H", entries_count)
    for tag, typ, count, value in entries:
        if typ == 3 and count == 1:
            ifd += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    body = struct.pack("<6d", *tiepoint)
    return (
        b"II*\x00"
        + struct.pack("<I", 8)
        + ifd
        + struct.pack("<3d", *scale)
        + body
        + struct.pack(f"<{len(geokeys)}H", *geokeys)
        + pixels
    )


def write_geotiff(folder: Path, name: str = "elevation.tif") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(geotiff_bytes())
    return path


def write_zipped_shapefile(folder: Path, stem: str, *, prj: bool = True) -> Path:
    """A zip holding one shapefile set (what GeoNode unzips and hands to its shapefile handler)."""
    inner = folder / f".{stem}-parts"
    shp = write_shapefile(inner, stem, prj=prj)
    path = folder / f"{stem}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for member in sorted(inner.iterdir()):
            zf.write(member, member.name)
            member.unlink()
    inner.rmdir()
    assert not shp.exists()
    return path
