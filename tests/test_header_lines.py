"""Extra headers as people type them, one parser for the window's box and `--header`."""

from __future__ import annotations

from typing import Any

import pytest
from upqueue.core.header_lines import parse_header_lines, split_header


def test_lines_become_headers_and_a_bad_line_is_named() -> None:
    assert parse_header_lines(["X-Team: gis", "", "  Accept :  */* "]) == {
        "X-Team": "gis",
        "Accept": "*/*",
    }
    assert split_header("X-Empty:") == ("X-Empty", "")
    with pytest.raises(ValueError, match="Line 3 is not “Name: value”: 'oops'"):
        parse_header_lines(["A: 1", "", "oops"])
    with pytest.raises(ValueError, match="': x' is not"):
        split_header(": x")


def test_the_targets_dialog_names_the_bad_line(qtbot: Any) -> None:
    from upqueue.gui.targets_dialog import TargetsDialog

    asked: list[Any] = []
    dialog = TargetsDialog(lambda fn, done, error: asked.append(fn))
    qtbot.addWidget(dialog)
    dialog.url.setText("http://127.0.0.1:1/files/")
    dialog.headers.setPlainText("X-Team: gis\nno colon here")
    dialog.test_connection()
    assert "Headers: Line 2 is not “Name: value”: 'no colon here'" in dialog.result_text()
    assert asked == [], "nothing was sent with a header it could not read"
