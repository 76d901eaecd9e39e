"""The panel's before/after view: a job's plate and result side by side, from the PNGs the server
makes (a host's Python cannot read EXR; Qt decodes PNG). Standard library and Qt only."""

from __future__ import annotations

from void_vfx.ui.qt import QtCore, QtGui, QtWidgets

#: Height of a picture in the view, and of a thumbnail in the job list, in pixels.
VIEW_HEIGHT = 180
THUMB_HEIGHT = 32


def pixmap(data: bytes):
    """A QPixmap of PNG bytes, or None where Qt cannot decode them."""
    pix = QtGui.QPixmap()
    return pix if pix.loadFromData(data, "PNG") else None


class BeforeAfterView(QtWidgets.QWidget):
    """Two pictures (plate | result) under one caption; :meth:`show_pair` and :meth:`clear`."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.caption = QtWidgets.QLabel("select a job to see its latest frame", self)
        self.before = QtWidgets.QLabel(self)
        self.after = QtWidgets.QLabel(self)
        pictures = QtWidgets.QHBoxLayout()
        for label in (self.before, self.after):
            label.setMinimumHeight(VIEW_HEIGHT)
            label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            pictures.addWidget(label)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addLayout(pictures)
        #: The pictures shown, full size (as decoded), for a caller that wants them.
        self.pixmaps: tuple = (None, None)

    def show_pair(self, before: bytes, after: bytes, caption: str) -> bool:
        """Show the pair; False (and said in the caption) where a picture cannot be decoded."""
        pair = (pixmap(before), pixmap(after))
        if None in pair:
            self.clear(f"{caption}: the server's picture could not be decoded")
            return False
        self.pixmaps = pair
        for label, pix in zip((self.before, self.after), pair):
            label.setPixmap(
                pix.scaledToHeight(VIEW_HEIGHT, QtCore.Qt.TransformationMode.SmoothTransformation)
            )
        self.caption.setText(caption)
        return True

    def clear(self, caption: str) -> None:
        self.pixmaps = (None, None)
        self.before.clear()
        self.after.clear()
        self.caption.setText(caption)
