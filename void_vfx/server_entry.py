"""The one seam between the core and the server package: the server's ``void_vfx.server`` entry
point.

Data flows one way and the server builds on the core, so no core module imports the server. The
few core commands that need one (``serve``, ``remove --local``, the demo, ``doctor``) ask for the
module the server registers (``void_vfx_server.api``) here, by its entry point.
"""

from __future__ import annotations

from types import ModuleType

from void_vfx.errors import ServerError

GROUP = "void_vfx.server"


def server_api() -> ModuleType:
    """The server package's API module; a clear error when the server is not installed."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=GROUP):
        if ep.name == "api":
            try:
                return ep.load()
            except ImportError as ex:
                raise ServerError(
                    f"the void-vfx server package does not load ({ex}); reinstall it: "
                    "python3 -m pip install -e '.[server]'"
                ) from None
    raise ServerError(
        "the void-vfx server package is not installed here (no 'void_vfx.server' entry point); "
        "install it with: python3 -m pip install -e '.[server]', or use --server HOST:PORT"
    )


def server_installed() -> bool:
    try:
        server_api()
    except ServerError:
        return False
    return True
