"""Whether Qt can open a window here, asked before it tries: Qt aborts the whole process when its
platform plugin cannot start (no display, or the system's X11 libraries missing), with no
exception to catch. Standard library only."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import sys

#: The X11 libraries Qt 6's xcb plugin needs beyond a base system, as Debian/Ubuntu packages
#: (Qt's "Qt for X11 Requirements" page lists the libraries).
XCB_PACKAGES = (
    "libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 "
    "libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1"
)


def _xcb_plugin() -> str | None:
    """The binding's xcb platform plugin file, if the binding ships one."""
    for name in ("PySide6", "PySide2"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # blocked or half-imported: Qt's import says why
            spec = None
        for root in (spec.submodule_search_locations or []) if spec else []:
            for sub in ("Qt/plugins/platforms", "plugins/platforms", "Qt/lib/plugins/platforms"):
                path = os.path.join(root, sub, "libqxcb.so")
                if os.path.isfile(path):
                    return path
    return None


def window_problem() -> str | None:
    """Why no window can open here, with what to do; None when Qt should manage (or we cannot
    tell: other systems, another platform plugin chosen by $QT_QPA_PLATFORM)."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("xcb", "wayland")):
        return None  # offscreen, vnc, eglfs...: the user chose
    wayland = bool(os.environ.get("WAYLAND_DISPLAY")) and not platform.startswith("xcb")
    if not os.environ.get("DISPLAY") and not wayland:
        return (
            "no display to open a window on ($DISPLAY is not set): run it in a desktop session "
            "(or over ssh -X); the same jobs are listed by 'void-vfx jobs'"
        )
    if wayland:
        return None
    plugin = _xcb_plugin()
    if plugin is None:
        return None
    try:
        ctypes.CDLL(plugin)
    except OSError as ex:
        missing = re.match(r"([^:]+\.so[.\d]*):", str(ex))
        what = missing.group(1) if missing else str(ex)
        return (
            f"Qt cannot start its X11 plugin here: {what} is missing; install the system "
            f"libraries Qt needs (Debian/Ubuntu: sudo apt-get install {XCB_PACKAGES})"
        )
    return None
