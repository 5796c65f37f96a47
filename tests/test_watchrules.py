"""The pure rules of watched folders: names, event collapsing, settling, dedup, sidecar grouping."""

from __future__ import annotations

import pytest
from upqueue.core.watchrules import (
    AfterUpload,
    Change,
    FileKey,
    FsEvent,
    Settle,
    collapse,
    group_units,
    is_wanted,
    is_wanted_dir,
    observe,
    parse_after,
    settle_wait,
    settled,
    should_send,
    takes_datasets,
)


# -- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "film.mkv.part",
        "x.tmp",
        "setup.exe.crdownload",
        "~$report.docx",
        ".~lock.sheet.ods#",
        ".DS_Store",
        "Thumbs.db",
        ".hidden",
        "sub/.git/config",
        ".cache/a.bin",
    ],
)
def test_default_ignores(name: str) -> None:
    assert not is_wanted(name)


@pytest.mark.parametrize(
    "name", ["scan.tif", "a.part.tif", "report.docx", "sub/deep/data.csv", "tmp.bin"]
)
def test_ordinary_names_are_wanted(name: str) -> None:
    assert is_wanted(name)


def test_include_and_exclude_globs() -> None:
    assert is_wanted("a.tif", include=["*.tif", "*.tiff"])
    assert not is_wanted("a.jpg", include=["*.tif"])
    assert not is_wanted("a.tif", include=["*.tif"], exclude=["a.*"])
    # A glob with a slash is about the path below the folder; one without about any name on the way.
    assert is_wanted("scans/a.tif", include=["scans/*.tif"])
    assert not is_wanted("other/a.tif", include=["scans/*.tif"])
    assert not is_wanted("drafts/a.tif", exclude=["drafts"])
    assert is_wanted_dir("scans") and not is_wanted_dir("drafts", exclude=["drafts"])
    assert not is_wanted_dir(".git")


# -- collapsing -----------------------------------------------------------------------------------
def ev(kind: str, path: str, dest: str = "", is_dir: bool = False) -> FsEvent:
    return FsEvent(kind, path, dest, is_dir)


def test_collapse_write_stream_is_one_update() -> None:
    events = [ev("created", "/w/a"), *[ev("modified", "/w/a")] * 50, ev("closed", "/w/a")]
    assert collapse(events) == {"/w/a": Change.UPDATED}


def test_collapse_created_then_deleted_is_nothing() -> None:
    assert collapse([ev("created", "/w/a"), ev("modified", "/w/a"), ev("deleted", "/w/a")]) == {}


def test_collapse_existing_file_modified_then_deleted_is_deleted() -> None:
    assert collapse([ev("modified", "/w/a"), ev("deleted", "/w/a")]) == {"/w/a": Change.DELETED}


def test_collapse_deleted_then_created_again_is_updated() -> None:
    assert collapse([ev("deleted", "/w/a"), ev("created", "/w/a")]) == {"/w/a": Change.UPDATED}


def test_collapse_temp_then_rename_arrives_complete() -> None:
    # The temp name was filtered out by the handler, so the move has no source inside the watch.
    events = [ev("moved", "", "/w/report.pdf"), ev("closed", "/w/report.pdf")]
    assert collapse(events) == {"/w/report.pdf": Change.ARRIVED}


def test_collapse_rename_within_folder() -> None:
    events = [ev("created", "/w/a"), ev("modified", "/w/a"), ev("moved", "/w/a", "/w/b")]
    assert collapse(events) == {"/w/b": Change.ARRIVED}
    # An old file renamed: the old name is gone, the new one complete.
    assert collapse([ev("moved", "/w/old", "/w/new")]) == {
        "/w/old": Change.DELETED,
        "/w/new": Change.ARRIVED,
    }


def test_collapse_write_after_arrival_needs_settling_again() -> None:
    assert collapse([ev("moved", "", "/w/a"), ev("modified", "/w/a")]) == {"/w/a": Change.UPDATED}


def test_collapse_moved_out_of_the_folder_is_deleted() -> None:
    assert collapse([ev("moved", "/w/a", "")]) == {"/w/a": Change.DELETED}


def test_collapse_folder_removed_drops_its_files() -> None:
    events = [
        ev("created", "/w/d/a"),
        ev("created", "/w/d/b"),
        ev("created", "/w/e"),
        ev("deleted", "/w/d", is_dir=True),
    ]
    assert collapse(events) == {"/w/e": Change.UPDATED, "/w/d": Change.DELETED}


def test_collapse_folder_arrival_is_looked_into() -> None:
    assert collapse([ev("created", "/w/d", is_dir=True)]) == {"/w/d": Change.DIR_ADDED}
    assert collapse([ev("moved", "", "/w/d", is_dir=True)]) == {"/w/d": Change.DIR_ADDED}


def test_collapse_keeps_one_entry_per_path_over_many() -> None:
    events = [
        ev(kind, f"/w/{i}") for i in range(1000) for kind in ("created", "modified", "closed")
    ]
    result = collapse(events)
    assert len(result) == 1000 and set(result.values()) == {Change.UPDATED}


# -- settling ---------------------------------------------------------------------------------------
def test_settle_needs_the_key_to_hold_for_the_whole_time() -> None:
    key = FileKey(10, 100, 7)
    tracking = observe(None, key, now=0.0)
    assert not settled(tracking, 3.0, now=2.9)
    assert settle_wait(tracking, 3.0, now=1.0) == pytest.approx(2.0)
    tracking = observe(tracking, FileKey(20, 200, 7), now=2.9)  # grew: the clock restarts
    assert not settled(tracking, 3.0, now=5.8)
    tracking = observe(
        tracking, FileKey(20, 200, 7), now=5.8
    )  # same as before: clock keeps running
    assert tracking.since == 2.9
    assert settled(tracking, 3.0, now=5.9)


def test_settle_mtime_change_alone_restarts() -> None:
    tracking = observe(None, FileKey(10, 100, 7), now=0.0)
    tracking = observe(tracking, FileKey(10, 101, 7), now=2.0)
    assert not settled(tracking, 3.0, now=4.0)


def test_arrived_file_is_complete_until_written_again() -> None:
    tracking = Settle(FileKey(10, 100, 7), 0.0, complete=True)
    assert settled(tracking, 3.0, now=0.0) and settle_wait(tracking, 3.0, now=0.0) == 0
    tracking = observe(tracking, FileKey(11, 101, 7), now=0.5)
    assert not tracking.complete and not settled(tracking, 3.0, now=1.0)


# -- dedup -----------------------------------------------------------------------------------------------
def test_should_send() -> None:
    key = FileKey(10, 100, 7)
    assert should_send(None, key, reupload_changed=False)
    assert not should_send(key, key, reupload_changed=True)
    changed = FileKey(11, 120, 7)
    assert should_send(key, changed, reupload_changed=True)
    assert not should_send(key, changed, reupload_changed=False)
    assert should_send(
        key, FileKey(10, 100, 8), reupload_changed=True
    )  # another file under that name


# -- sidecar grouping -----------------------------------------------------------------------------
SET = ["/w/roads.shp", "/w/roads.shx", "/w/roads.dbf", "/w/roads.prj"]


def test_grouping_complete_shapefile_is_one_unit() -> None:
    ready = ["/w/readme.txt", *SET, "/w/roads.cpg", "/w/roads.shp.xml"]
    units, waiting = group_units(ready, datasets=True)
    assert waiting == []
    assert [u.primary for u in units] == ["/w/readme.txt", "/w/roads.shp"]
    assert units[1].members == (*SET, "/w/roads.cpg", "/w/roads.shp.xml")


def test_grouping_waits_for_required_members() -> None:
    units, waiting = group_units(SET[:2], datasets=True)  # no .dbf yet
    assert units == [] and sorted(waiting) == sorted(SET[:2])
    # A settled set without its .prj goes (the server's answer says to add one); a .prj still
    # being copied holds it back like any unsettled member.
    units, waiting = group_units(SET[:3], datasets=True)
    assert [u.members for u in units] == [tuple(SET[:3])] and waiting == []
    units, waiting = group_units(SET[:3], present=[SET[3]], datasets=True)
    assert units == [] and sorted(waiting) == sorted(SET[:3])
    # A sidecar alone waits for its .shp.
    units, waiting = group_units(["/w/roads.dbf"], datasets=True)
    assert units == [] and waiting == ["/w/roads.dbf"]


def test_grouping_waits_while_a_member_is_still_settling() -> None:
    units, waiting = group_units(SET, present=["/w/roads.sbn"], datasets=True)
    assert units == [] and sorted(waiting) == sorted(SET)
    units, _ = group_units([*SET, "/w/roads.sbn"], present=["/w/roads.sbn"], datasets=True)
    assert units[0].members == (*SET, "/w/roads.sbn")


def test_grouping_is_case_insensitive_on_suffixes_and_keeps_stems_apart() -> None:
    ready = [
        "/w/A.SHP",
        "/w/A.SHX",
        "/w/A.DBF",
        "/w/A.PRJ",
        "/w/b.shp",
        "/w/b.shx",
        "/w/b.dbf",
        "/w/b.prj",
        "/w/c.shp",
    ]
    units, waiting = group_units(ready, datasets=True)
    assert [u.primary for u in units] == ["/w/A.SHP", "/w/b.shp"]
    assert len(units[0].members) == 4 and waiting == ["/w/c.shp"]


def test_grouping_for_single_file_targets() -> None:
    units, waiting = group_units(SET, datasets=False)
    assert [u.members for u in units] == [(p,) for p in SET] and waiting == []


def test_dataset_capability_by_protocol() -> None:
    assert not takes_datasets({"protocol": "tus"})  # tus takes single files
    assert not takes_datasets({"protocol": "no-such-protocol"})


def test_parse_after() -> None:
    assert parse_after("keep") == (AfterUpload.KEEP, None)
    assert parse_after("DELETE") == (AfterUpload.DELETE, None)
    assert parse_after("move:/data/sent") == (AfterUpload.MOVE, "/data/sent")
    with pytest.raises(ValueError, match="move:FOLDER"):
        parse_after("move:")
    with pytest.raises(ValueError):
        parse_after("archive")
