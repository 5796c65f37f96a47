"""The window's left column: the queue's status filters with their counts, and the other views."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QFont, QIcon, QPainter, QPalette
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)
from upqueue.gui.icons import icon, status_icon
from upqueue.gui.models.queue_filter import FILTER_GROUPS, GROUP_STATUSES

# Pages other than the queue: (key, label, icon name).
PAGES = [
    ("watches", "Watched folders", "watch"),
    ("history", "History", "history"),
]
_GROUP_ICONS = {
    "all": ("icon", "all"),
    "active": ("status", "uploading"),
    "queued": ("status", "queued"),
    "paused": ("status", "paused"),
    "failed": ("status", "failed"),
    "done": ("status", "done"),
}
_KIND = Qt.ItemDataRole.UserRole + 1
_KEY = Qt.ItemDataRole.UserRole + 2
_COUNT = Qt.ItemDataRole.UserRole + 3


class _CountDelegate(QStyledItemDelegate):
    """Draws an entry as usual, with its count right-aligned in a quieter colour."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        super().paint(painter, option, index)
        count = index.data(_COUNT)
        if not count:
            return
        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = (
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        )
        painter.setPen(option.palette.color(role))
        rect = option.rect.adjusted(0, 0, -10, 0)
        painter.drawText(
            rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{count:,}"
        )
        painter.restore()


class Sidebar(QListWidget):
    """A list of "Queue" filters (All, Active, …) and pages (Watched folders, History).

    Signals:
        group_selected(str): a status filter was chosen ("all", "active", ...).
        page_selected(str): another page was chosen ("watches", "history").
    """

    group_selected = Signal(str)
    page_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setIconSize(QSize(16, 16))
        self.setFrameShape(QListWidget.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setItemDelegate(_CountDelegate(self))
        self._items: dict[tuple[str, str], QListWidgetItem] = {}
        self._heading("Queue")
        for key, label, _statuses in FILTER_GROUPS:
            kind, name = _GROUP_ICONS[key]
            item_icon = icon(name) if kind == "icon" else status_icon(name)
            self._entry("group", key, label, item_icon)
        self._heading("Library")
        for key, label, icon_name in PAGES:
            self._entry("page", key, label, icon(icon_name))
        self.setCurrentItem(self._items[("group", "all")])
        self.currentItemChanged.connect(self._changed)
        self.setMinimumWidth(170)

    def sizeHint(self) -> QSize:
        return QSize(190, 300)

    def refresh_icons(self) -> None:
        """Draw the tinted icons again (after the palette changed)."""
        for key, _label, _statuses in FILTER_GROUPS:
            kind, name = _GROUP_ICONS[key]
            item_icon = icon(name) if kind == "icon" else status_icon(name)
            self._items[("group", key)].setIcon(item_icon)
        for key, _label, icon_name in PAGES:
            self._items[("page", key)].setIcon(icon(icon_name))

    def select_group(self, key: str) -> None:
        self.setCurrentItem(self._items[("group", key)])

    def select_page(self, key: str) -> None:
        self.setCurrentItem(self._items[("page", key)])

    def current(self) -> tuple[str, str]:
        item = self.currentItem()
        return (item.data(_KIND), item.data(_KEY)) if item else ("group", "all")

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """Show per-group counts from ``GET /api/stats``'s ``counts`` (status -> n)."""
        for key, _label, _statuses in FILTER_GROUPS:
            statuses = GROUP_STATUSES[key]
            if statuses is None:
                n = sum(int(v) for v in counts.values())
            else:
                n = sum(int(counts.get(status, 0)) for status in statuses)
            item = self._items[("group", key)]
            if item.data(_COUNT) != n:
                item.setData(_COUNT, n)

    def group_count(self, key: str) -> int:
        """The count shown next to a status group."""
        return int(self._items[("group", key)].data(_COUNT) or 0)

    def _heading(self, text: str) -> None:
        item = QListWidgetItem(text.upper())
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        font = QFont(self.font())
        font.setBold(True)
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        item.setFont(font)
        item.setSizeHint(QSize(0, 28))
        self.addItem(item)

    def _entry(self, kind: str, key: str, label: str, item_icon: QIcon) -> None:
        item = QListWidgetItem(item_icon, label)
        item.setData(_KIND, kind)
        item.setData(_KEY, key)
        item.setSizeHint(QSize(0, 26))
        self._items[(kind, key)] = item
        self.addItem(item)

    def _changed(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if current is None:
            return
        if current.data(_KIND) == "group":
            self.group_selected.emit(current.data(_KEY))
        else:
            self.page_selected.emit(current.data(_KEY))
