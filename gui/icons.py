"""The window's icons: SVGs from resources/, tinted to follow the system's light or dark palette."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from upqueue.core.paths import resource_path

# The stroke colour the monochrome SVGs are drawn with; replaced by the palette's text colour.
_PLACEHOLDER = "#000000"
_SIZES = (16, 20, 24, 32, 48)


def app_icon() -> QIcon:
    """The application icon (window, tray, about box)."""
    return _render(
        resource_path("upqueue.svg").read_text(encoding="utf-8"), (16, 24, 32, 48, 64, 128, 256)
    )


def icon(name: str) -> QIcon:
    """A toolbar/menu icon from resources/icons/<name>.svg in the current palette's text colour.

    Status icons (``status-*``) keep their own colours: they mean something (red = failed).
    """
    palette = QGuiApplication.palette()
    normal = palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.WindowText).name()
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText).name()
    return _icon(name, normal, disabled)


def status_icon(status: str) -> QIcon:
    """The coloured badge for an upload status ("uploading", "failed", ...)."""
    return _icon(f"status-{status}", "", "")


def clear_cache() -> None:
    """Forget rendered icons, e.g. after the palette switched between light and dark."""
    _icon.cache_clear()


@lru_cache(maxsize=256)
def _icon(name: str, color: str, disabled_color: str) -> QIcon:
    path = resource_path("icons", f"{name}.svg")
    if not path.exists():
        return QIcon()
    svg = path.read_text(encoding="utf-8")
    if not color:
        return _render(svg, _SIZES)
    result = _render(svg.replace(_PLACEHOLDER, color), _SIZES)
    # Qt's own greyed-out variant is hard to read on dark palettes; draw a proper one.
    faded = _render(svg.replace(_PLACEHOLDER, disabled_color), _SIZES)
    for size in _SIZES:
        result.addPixmap(faded.pixmap(size, size), QIcon.Mode.Disabled)
    return result


def _render(svg: str, sizes: tuple[int, ...]) -> QIcon:
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    result = QIcon()
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        result.addPixmap(QPixmap.fromImage(image))
    return result


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the palette is a dark one (light text on a dark window)."""
    palette = palette or QGuiApplication.palette()
    window: QColor = palette.color(QPalette.ColorRole.Window)
    return window.lightness() < 128
