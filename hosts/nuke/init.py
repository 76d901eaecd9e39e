"""void-vfx for Nuke, run at start-up in every mode (GUI, ``-t``, farm renders): it only puts the
void-vfx folder (two levels up) on ``sys.path``. No UI here; menu.py registers the UI."""

import os
import sys


def _void_vfx_root():
    here = globals().get("__file__")
    if here:
        return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(here))))
    for entry in sys.path:  # pluginAddPath(..., addToSysPath=True) put this folder there
        root = os.path.dirname(os.path.dirname(os.path.abspath(entry)))
        if entry.rstrip("/\\").endswith(os.path.join("hosts", "nuke")) and os.path.isfile(
            os.path.join(root, "void_vfx", "__init__.py")
        ):
            return root
    return None


_root = _void_vfx_root()
if _root and _root not in sys.path:
    sys.path.insert(0, _root)
