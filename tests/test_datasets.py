"""Which files make a GIS dataset (core.datasets): real files in a real folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from upqueue.core import datasets
from upqueue.core.errors import UpqueueError

from tests.geonode_double.data import write_geotiff, write_shapefile


def test_a_shp_brings_its_sidecars_case_insensitively(tmp_path: Path) -> None:
    shp = write_shapefile(
        tmp_path, "Roads", extras=("cpg", "sbn", "sbx", "xml", "sld"), upper_ext=True
    )
    (tmp_path / "roads.qix").write_bytes(b"q")  # another case, same stem
    (tmp_path / "roadsides.dbf").write_bytes(b"x")  # a longer stem is another set
    (tmp_path / "notes.txt").write_text("x")
    dataset = datasets.find_members(str(shp))
    names = [Path(m).name for m in dataset.members]
    assert names[0] == "Roads.SHP"
    assert names[1:4] == ["Roads.SHX", "Roads.DBF", "Roads.PRJ"]
    assert set(names[4:]) == {
        "Roads.CPG",
        "Roads.SBN",
        "Roads.SBX",
        "Roads.XML",
        "Roads.SLD",
        "roads.qix",
    }
    assert not dataset.missing_projection
    assert dataset.describe() == "Roads.SHP + 9 files"


def test_the_row_text(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path, "roads")  # shp shx dbf prj cpg
    assert datasets.find_members(str(shp)).describe() == "roads.shp + 4 files"
    tif = write_geotiff(tmp_path)
    assert datasets.Dataset(str(tif), (str(tif),)).describe() == "elevation.tif"


@pytest.mark.parametrize("missing", [".shx", ".dbf"])
def test_a_set_without_shx_or_dbf_is_refused_naming_the_file(tmp_path: Path, missing: str) -> None:
    shp = write_shapefile(tmp_path, "roads")
    (tmp_path / f"roads{missing}").unlink()
    with pytest.raises(UpqueueError) as info:
        datasets.find_members(str(shp))
    assert info.value.title == "Shapefile set incomplete"
    assert f"roads{missing}" in info.value.message


def test_a_set_without_prj_goes_but_is_marked(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path, "wells", prj=False)
    dataset = datasets.find_members(str(shp))
    assert dataset.missing_projection and len(dataset.members) == 4


def test_plan_groups_absorbs_and_refuses(tmp_path: Path) -> None:
    roads = write_shapefile(tmp_path, "roads")
    rivers = write_shapefile(tmp_path / "b", "rivers")
    broken = write_shapefile(tmp_path / "c", "broken")
    (tmp_path / "c" / "broken.shx").unlink()
    tif = write_geotiff(tmp_path)
    lone = tmp_path / "b" / "lakes.dbf"
    lone.write_bytes(b"x")
    given = [str(roads), str(tmp_path / "roads.dbf"), str(tif), str(rivers), str(lone), str(broken)]
    planned, rejected = datasets.plan(given)
    assert [Path(d.primary).name for d in planned] == ["roads.shp", "elevation.tif", "rivers.shp"]
    assert [(Path(p).name, e.title) for p, e in rejected] == [
        ("lakes.dbf", "Part of a shapefile"),
        ("broken.shp", "Shapefile set incomplete"),
    ]
    assert "add lakes.shp" in rejected[0][1].message


def test_form_fields() -> None:
    assert datasets.form_field("/d/Roads.DBF") == ("dbf_file", "dbf")
    assert datasets.form_field("/d/roads.shp.xml") == ("xml_file", "xml")
