"""DaVinci Resolve: Workspace > Scripts > VOID Remove Object.

Only finds void-vfx and hands over; the logic is in void_vfx/hosts/resolve_*.py. From a terminal:
python "VOID Remove Object.py" --clip NAME --matte roto.####.exr (Resolve Studio, external
scripting set to Local).
"""

import os
import sys

VOID_VFX_PATH = ""  # `void-vfx install resolve` writes the repository folder here


def _find_void_vfx():
    here = os.path.dirname(os.path.abspath(globals().get("__file__", "") or "."))
    for folder in (
        VOID_VFX_PATH,
        os.environ.get("VOID_VFX_PATH", ""),
        os.path.dirname(os.path.dirname(here)),
    ):
        if folder and os.path.isdir(os.path.join(folder, "void_vfx")):
            if folder not in sys.path:
                sys.path.insert(0, folder)
            return
    print(
        "VOID Remove Object: void_vfx not found; run 'void-vfx install resolve' again "
        "or set VOID_VFX_PATH"
    )


_find_void_vfx()
if len(sys.argv) > 1:
    from void_vfx.hosts.resolve_cli import main

    raise SystemExit(main(sys.argv[1:], globals()))
try:
    from void_vfx.hosts.resolve_ui import launch

    launch(globals())
except Exception as exc:  # shown in Resolve's console instead of a traceback
    print(f"VOID Remove Object: {exc}")
