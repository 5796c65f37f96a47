"""Paints the queue's Progress column: percent and bytes over a slim bar coloured by status."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)
from upqueue.core import humanize
from upqueue.core.models import Status
from upqueue.gui.models.queue_columns import Role

# Bar colours by status; None keeps the style's highlight colour (uploading looks "normal").
_BAR_COLOURS: dict[str, str | None] = {
    Status.UPLOADING: None,
    Status.PROCESSING: "#8b5cf6",
    Status.RETRYING: "#e39a12",
    Status.DONE: "#23a559",
    Status.FAILED: "#e5484d",
    Status.PAUSED: "#8a94a6",
    Status.QUEUED: "#8a94a6",
    Status.CANCELLED: "#8a94a6",
}


def progress_text(percent: float, offset: int | None, size: int | None, status: str | None) -> str:
    """The bar's label: "42% · 1.2 GB of 3.0 GB", or "100% · 3.0 GB" once done."""
    if status == Status.DONE:
        return f"100% · {humanize.size(size or 0)}"
    return f"{percent:.0f}% · {humanize.size(offset or 0)} of {humanize.size(size or 0)}"


class ProgressDelegate(QStyledItemDelegate):
    """Draws a progress bar from the model's :class:`Role` values (PERCENT, OFFSET, SIZE, STATUS)."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        # The row's selection/hover background first, as for any other cell.
        background = QStyleOptionViewItem(option)
        self.initStyleOption(background, index)
        background.text = ""
        style = background.widget.style() if background.widget else QApplication.style()
        style.drawControl(
            QStyle.ControlElement.CE_ItemViewItem, background, painter, background.widget
        )

        percent = float(index.data(Role.PERCENT) or 0.0)
        status = index.data(Role.STATUS)
        text = progress_text(percent, index.data(Role.OFFSET), index.data(Role.SIZE), status)
        # A label over a slim bar: readable on any palette (no text over the filled part).
        area = option.rect.adjusted(6, 3, -6, -4)
        bar_height = max(4, area.height() // 6)
        bar = QRectF(area.left(), area.bottom() - bar_height, area.width(), bar_height)
        text_rect = QRect(area.left(), area.top(), area.width(), area.height() - bar_height - 1)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        track = QColor(palette.color(QPalette.ColorRole.WindowText))
        track.setAlphaF(0.14 if not selected else 0.3)
        painter.setBrush(track)
        radius = bar_height / 2.0
        painter.drawRoundedRect(bar, radius, radius)
        filled = QRectF(bar)
        filled.setWidth(bar.width() * max(0.0, min(percent, 100.0)) / 100.0)
        if filled.width() > 0.5:
            colour = _BAR_COLOURS.get(status or "")
            painter.setBrush(
                QColor(colour) if colour else palette.color(QPalette.ColorRole.Highlight)
            )
            if selected and not colour:
                painter.setBrush(palette.color(QPalette.ColorRole.HighlightedText))
            painter.drawRoundedRect(filled, radius, radius)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(palette.color(role))
        painter.setFont(option.font)
        elided = option.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided
        )
        painter.restore()

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        base = super().sizeHint(option, index)
        width = option.fontMetrics.horizontalAdvance("100% · 999.9 MB of 999.9 MB") + 16
        return QSize(max(base.width(), width), max(base.height(), option.fontMetrics.height() + 8))
