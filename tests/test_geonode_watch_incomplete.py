"""A watched folder's shapefile set whose .shx or .dbf never comes is refused, naming the file,
as the batch's failure; when the file does come, the set goes. The real worker process, real
watchdog on a real folder, the GeoNode double."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from upqueue.worker.incomplete_sets import IncompleteSets
from upqueue.worker.incomplete_sets import wait_for as incomplete_wait

from tests.fixtures.worker import WorkerProcess, wait_for
from tests.geonode_double.data import write_shapefile
from tests.test_geonode_worker import add_target


def test_a_set_missing_its_shx_is_refused_then_goes_once_the_shx_comes(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.1", step_seconds=0.05)
    add_target(worker, double)
    assert worker.api is not None
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settle = 0.3
    watch = worker.api.add_watch(path=str(inbox), target="maps", settle_seconds=settle)
    wait_for(lambda: worker.api.watch(watch["id"])["state"] == "watching", 15, "the watch")
    staging = tmp_path / "staging"
    write_shapefile(staging, "rivers")
    write_shapefile(staging, "roads")
    shx = staging / "roads.shx"
    kept = shx.read_bytes()
    shx.unlink()  # roads comes without its .shx
    for path in sorted(staging.iterdir()):
        path.rename(inbox / path.name)

    def ended_batch() -> dict[str, Any] | None:
        batches = worker.api.batches(watch_id=watch["id"])["batches"]
        return next((b for b in batches if b["state"] != "open" and b["failed"]), None)

    batch = wait_for(ended_batch, 10 * incomplete_wait(settle), "the incomplete set refused")
    detail = worker.api.batch(batch["id"])
    [reject] = detail["rejected"]
    assert reject["path"] == str(inbox / "roads.shp")
    assert reject["title"] == "Shapefile set incomplete"
    assert "roads.shp cannot go without roads.shx" in reject["message"]
    ending = [e for e in detail["events"] if e["title"] == "Batch finished with failures"]
    assert ending and "roads.shp: Shapefile set incomplete" in ending[0]["message"]
    assert [e.name for e in double.executions()] == ["rivers.shp"], "nothing of roads was sent"

    (inbox / "roads.shx").write_bytes(kept)  # the missing file comes after all

    def published() -> list[dict[str, Any]]:
        return [
            u
            for u in worker.api.uploads()["uploads"]
            if u["name"].startswith("roads.shp") and u["status"] == "done"
        ]

    [roads] = wait_for(published, 60, "roads published once its .shx came")
    assert roads["name"] == "roads.shp + 4 files"  # .shx .dbf .prj .cpg
    assert sorted(e.name for e in double.executions()) == ["rivers.shp", "roads.shp"]


def test_the_tracker_waits_for_a_member_being_written_and_names_a_lone_sidecar(
    tmp_path: Path,
) -> None:
    sets = IncompleteSets(wait_seconds=10)
    shp, dbf = str(tmp_path / "a.shp"), str(tmp_path / "a.dbf")
    lone = str(tmp_path / "b.dbf")
    sets.held([shp, dbf, lone], now=0)
    assert sets.next_due() == 10
    assert sets.overdue([shp, dbf, lone], now=9) == []  # not yet
    # a.shx exists but is still being written: the set is complete, only waiting
    writing = str(tmp_path / "a.shx")
    [only] = sets.overdue([shp, dbf, writing, lone], now=11)
    assert only.primary == lone and only.error.title == "Part of a shapefile"
    assert "b.shp is not in" in only.error.message
    [a, _lone] = sets.overdue([shp, dbf, lone], now=11)
    assert (a.primary, a.members) == (shp, (shp, dbf)) and "without a.shx" in a.error.message
    # a sidecar changed after its .shp was sent (the .shp is on disk, not pending): no refusal
    (tmp_path / "b.shp").write_bytes(b"x")
    assert [o.primary for o in sets.overdue([shp, dbf, lone], now=11)] == [shp]
