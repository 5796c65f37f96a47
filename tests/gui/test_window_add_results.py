"""What the window says after files are dropped: what was queued, and each file left out with
its reason, whether the folder walker (core/walk.py) or the worker left it out."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gui import FakeApi, drop

pytestmark = pytest.mark.qt_log_ignore("^This plugin does not support")


def test_a_dropped_folder_says_which_files_were_left_out_and_why(
    qtbot: Any, fake_api: FakeApi, make_window: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "survey"
    folder.mkdir()
    (folder / "good.tif").write_bytes(b"tif")
    (tmp_path / "elsewhere.bin").write_bytes(b"x")
    (folder / "link-out.bin").symlink_to(tmp_path / "elsewhere.bin")
    (folder / "broken.bin").symlink_to(tmp_path / "nowhere")
    window = make_window(fake_api)
    drop(window.view.viewport(), [folder])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=5000)
    title, message = window.last_error
    assert title == "2 files were not added"
    lines = sorted(message.splitlines())
    assert lines[0].startswith("broken.bin: ") and "not there" in lines[0]
    assert lines[1].startswith("link-out.bin: ") and "outside the folder" in lines[1]
    added = next(args for name, args in fake_api.calls if name == "add_uploads")
    assert added[0] == [str(folder / "good.tif")]


def test_a_folder_with_nothing_to_send_says_nothing_was_added_and_why(
    qtbot: Any, fake_api: FakeApi, make_window: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "links"
    folder.mkdir()
    (folder / "broken.bin").symlink_to(tmp_path / "nowhere")
    window = make_window(fake_api)
    drop(window.view.viewport(), [folder])
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=5000)
    title, message = window.last_error
    assert title == "Nothing was added" and message.startswith("broken.bin: ")
    assert not any(name == "add_uploads" for name, _ in fake_api.calls)
    assert window.model.rowCount() == 0
