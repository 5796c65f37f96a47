"""The queue model and its filter: qtmodeltester, change merging, signals, sorting, filtering."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from typing import Any

import pytest
from PySide6.QtCore import Qt
from upqueue.gui.models.queue_columns import Col, Role
from upqueue.gui.models.queue_filter import QueueFilter
from upqueue.gui.models.queue_model import QueueModel
from upqueue.gui.widgets.progress_delegate import progress_text

# The model owns a QTimer (the delayed re-sort): it needs the application object.
pytestmark = pytest.mark.usefixtures("qapp")


def upload(upload_id: int, **fields: Any) -> dict[str, Any]:
    row = {
        "id": upload_id,
        "target_id": 1,
        "target_name": "geo",
        "path": f"/d/f{upload_id}.bin",
        "name": f"f{upload_id}.bin",
        "size": 1000,
        "offset": 0,
        "status": "queued",
        "speed": 0.0,
        "result_url": None,
        "processing_progress": None,
        "processing_message": None,
        "error_title": None,
        "error_message": None,
        "attempts": 0,
        "next_attempt_at": None,
        "created_at": f"2026-01-01T00:00:{upload_id % 60:02d}.000Z",
        "started_at": None,
        "finished_at": None,
        "batch_id": None,
        "watch_id": None,
        "change_seq": upload_id,
    }
    row.update(fields)
    return row


class SignalLog:
    def __init__(self, model: QueueModel) -> None:
        self.data_changed: list[tuple[int, int]] = []
        self.roles: list[list[int]] = []
        self.inserted: list[tuple[int, int]] = []
        self.removed: list[tuple[int, int]] = []
        self.resets = 0
        model.dataChanged.connect(self._changed)
        model.rowsInserted.connect(lambda _p, a, b: self.inserted.append((a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.removed.append((a, b)))
        model.modelReset.connect(self._reset)

    def _changed(self, first: Any, last: Any, roles: Any = ()) -> None:
        self.data_changed.append((first.row(), last.row()))
        self.roles.append([int(r) for r in roles])

    def _reset(self) -> None:
        self.resets += 1


def test_model_passes_qtmodeltester_through_changes(qtmodeltester: Any) -> None:
    model = QueueModel()
    model.reset_uploads([upload(i) for i in range(1, 21)])
    qtmodeltester.check(model)
    model.apply_changes(
        [upload(3, status="uploading", offset=500, speed=100.0), upload(21)], removed=[5, 6]
    )
    qtmodeltester.check(model)
    proxy = QueueFilter()
    proxy.setSourceModel(model)
    proxy.set_group("queued")
    qtmodeltester.check(proxy)


def test_progress_changes_emit_one_data_changed_per_contiguous_range_and_never_reset() -> None:
    model = QueueModel()
    model.reset_uploads([upload(i) for i in range(1, 101)])
    log = SignalLog(model)
    changed = [
        upload(i, status="uploading", offset=10 * i, speed=50.0) for i in (3, 4, 5, 9, 50, 51)
    ]
    model.apply_changes(changed)
    assert log.data_changed == [(2, 4), (8, 8), (49, 50)]
    assert log.resets == 0 and not log.inserted and not log.removed
    # The status changed (queued -> uploading): every role, so the filter looks again.
    assert log.roles == [[], [], []]
    log.data_changed.clear()
    log.roles.clear()
    model.apply_changes(
        [upload(i, status="uploading", offset=20 * i, speed=60.0) for i in (3, 4, 9)]
    )
    assert log.data_changed == [(2, 3), (8, 8)]
    # Progress alone: the roles say so, and the filter key is not among them.
    assert log.roles[0] and int(Role.FILTER_KEY) not in log.roles[0]
    assert int(Qt.ItemDataRole.DisplayRole) in log.roles[0] and int(Role.PERCENT) in log.roles[0]
    assert model.index(2, Col.PROGRESS).data(Role.OFFSET) == 60


def test_unchanged_rows_emit_nothing() -> None:
    model = QueueModel()
    model.reset_uploads([upload(1), upload(2)])
    log = SignalLog(model)
    model.apply_changes([upload(1, change_seq=99)])  # only the counter moved
    assert log.data_changed == []


def test_new_rows_are_inserted_and_removed_rows_removed_in_ranges() -> None:
    model = QueueModel()
    model.reset_uploads([upload(i) for i in range(1, 11)])
    log = SignalLog(model)
    transitions = model.apply_changes([upload(11), upload(12)], removed=[2, 3, 7])
    assert log.inserted == [(10, 11)]
    assert log.removed == [(6, 6), (1, 2)]  # back to front
    ids = [model.index(r, 0).data(Role.UPLOAD_ID) for r in range(model.rowCount())]
    assert ids == [1, 4, 5, 6, 8, 9, 10, 11, 12]
    assert model.row_of(8) == 4
    assert (11, None, "queued") in transitions
    # After removals the id -> row index is right: a change lands on the right row.
    model.apply_changes([upload(9, status="paused")])
    assert model.index(model.row_of(9), Col.STATUS).data() == "Paused"


def test_status_transitions_are_reported() -> None:
    model = QueueModel()
    model.reset_uploads([upload(1, status="uploading")])
    transitions = model.apply_changes(
        [
            upload(
                1,
                status="failed",
                error_title="Server refused the file",
                error_message="413 Request Entity Too Large",
            )
        ]
    )
    assert transitions == [(1, "uploading", "failed")]


def test_display_formats_numbers_for_people() -> None:
    model = QueueModel(clock=lambda: 1000.0)
    model.reset_uploads(
        [
            upload(
                1, status="uploading", size=3_000_000_000, offset=1_200_000_000, speed=10_000_000.0
            ),
            upload(
                2,
                status="failed",
                error_title="Server refused the file",
                error_message="413 Too Large",
            ),
            upload(3, status="retrying", next_attempt_at=1030.0, error_title="Server error"),
        ]
    )
    assert model.index(0, Col.SIZE).data() == "3.0 GB"
    assert model.index(0, Col.SPEED).data() == "10.0 MB/s"
    assert model.index(0, Col.ETA).data() == "3 min left"
    assert model.index(0, Col.PROGRESS).data(Role.PERCENT) == 40.0
    assert model.index(1, Col.STATUS).data() == "Failed: Server refused the file"
    tooltip = model.index(1, Col.STATUS).data(Qt.ItemDataRole.ToolTipRole)
    assert "413 Too Large" in tooltip
    assert model.index(2, Col.STATUS).data() == "Retrying in 30 s"
    assert model.index(1, Col.SPEED).data() == ""  # a failed upload has no speed
    assert (
        progress_text(40.0, 1_200_000_000, 3_000_000_000, "uploading") == "40% · 1.2 GB of 3.0 GB"
    )


def test_processing_shows_the_servers_progress_and_message() -> None:
    model = QueueModel()
    model.reset_uploads([upload(1, status="processing", offset=1000, processing_progress=None)])
    assert model.index(0, Col.STATUS).data() == "Processing"
    model.apply_changes(
        [
            upload(
                1,
                status="processing",
                offset=1000,
                processing_progress=40.0,
                processing_message="Importing roads",
            )
        ],
        removed=[],
    )
    assert model.index(0, Col.STATUS).data() == "Processing 40 %: Importing roads"


def test_sort_by_column_keeps_selection_rows_by_id() -> None:
    model = QueueModel()
    model.reset_uploads([upload(1, size=30), upload(2, size=10), upload(3, size=20)])
    model.sort(Col.SIZE, Qt.SortOrder.AscendingOrder)
    assert [model.index(r, 0).data(Role.UPLOAD_ID) for r in range(3)] == [2, 3, 1]
    model.sort(Col.SIZE, Qt.SortOrder.DescendingOrder)
    assert [model.index(r, 0).data(Role.UPLOAD_ID) for r in range(3)] == [1, 3, 2]
    assert model.row_of(2) == 2
    model.apply_changes([upload(2, status="paused")])
    assert model.index(2, Col.STATUS).data() == "Paused"


def test_resort_after_a_change_to_the_sorted_column(qtbot: Any) -> None:
    model = QueueModel()
    model.reset_uploads([upload(1, size=10), upload(2, size=20)])
    model.sort(Col.SIZE, Qt.SortOrder.AscendingOrder)
    model.apply_changes([upload(1, size=30)])
    qtbot.waitUntil(lambda: model.index(0, 0).data(Role.UPLOAD_ID) == 2, timeout=5000)


def test_filter_by_group_search_and_batch() -> None:
    model = QueueModel()
    model.reset_uploads(
        [
            upload(1, name="survey.shp", status="uploading"),
            upload(2, name="Survey.dbf", status="queued", batch_id=7),
            upload(3, name="scan.tif", status="failed"),
            upload(4, name="notes.txt", status="cancelled", batch_id=7),
            upload(5, name="done.bin", status="done"),
            upload(6, name="held.bin", status="paused"),
        ]
    )
    proxy = QueueFilter()
    proxy.setSourceModel(model)

    def shown() -> list[int]:
        return [proxy.index(r, 0).data(Role.UPLOAD_ID) for r in range(proxy.rowCount())]

    assert shown() == [1, 2, 3, 4, 5, 6]
    assert proxy.pattern() == ""  # no filter: the proxy never calls back into Python
    proxy.set_group("active")
    assert shown() == [1]
    proxy.set_group("failed")
    assert shown() == [3, 4]
    proxy.set_group("paused")
    assert shown() == [6]
    proxy.set_group("all")
    proxy.set_search("survey")
    assert shown() == [1, 2]
    proxy.set_search("s.(")  # regex characters are taken literally
    assert shown() == []
    proxy.set_search("")
    proxy.set_batch(7)
    assert shown() == [2, 4]
    proxy.set_group("queued")
    assert shown() == [2]
    # A status change moves a row in or out of the filtered view.
    model.apply_changes([upload(4, name="notes.txt", status="queued", batch_id=7)])
    assert shown() == [2, 4]


def test_unfinished_bytes_follow_changes() -> None:
    model = QueueModel()
    model.reset_uploads(
        [upload(1, size=1000, offset=100, status="uploading"), upload(2, size=500, status="done")]
    )
    assert model.unfinished_bytes() == (100, 1000)
    model.apply_changes([upload(1, size=1000, offset=600, status="uploading"), upload(3, size=200)])
    assert model.unfinished_bytes() == (600, 1200)
    model.apply_changes([upload(1, size=1000, offset=1000, status="done")])
    assert model.unfinished_bytes() == (0, 200)
    model.apply_changes([], removed=[3])
    assert model.unfinished_bytes() == (0, 0)
