"""What the server package offers the core, through its ``void_vfx.server`` entry point.

The server builds on the core and never the reverse: the core finds this module by the entry point
named in ``pyproject.toml`` (see :mod:`void_vfx.server_entry`) and uses nothing else of the server.
"""

from __future__ import annotations

import os
from typing import Any

#: Commands the server adds to ``void-vfx``: (command, module, one-line help).
COMMANDS: list[tuple[str, str, str]] = [
    ("serve", "void_vfx_server.main", "run the local inference server"),
    ("fetch-weights", "void_vfx_server.engines.void.weights", "download the model weights"),
    ("worker", "void_vfx_server.farm_worker", "run one farm task: prepare, run-window, assemble"),
]


def start_local_server(
    data_dir: str | os.PathLike, token_file: str | os.PathLike, engine: str | Any = "preview"
) -> Any:
    """A private server on 127.0.0.1 and a random port, serving on a thread.

    Its only client is the process that started it (with a throw-away token), so path mode may
    read and write wherever that user can. Returns the server: ``.port``, ``.token`` and
    ``.close()`` are all a caller uses.
    """
    from .main import InferenceServer

    server = InferenceServer(
        "127.0.0.1",
        0,
        data_dir,
        engine,
        token_file=token_file,
        min_free_bytes=0,
        allow_read=["/"],
        allow_write=["/"],
        guard_reads=False,
    )
    server.start_in_thread()
    return server


def void_weights() -> tuple[bool, str]:
    """(found, what): where the VOID weights are, or why they are not usable."""
    try:
        from .engines.void.weights import locate_weights

        paths = locate_weights()
    except ImportError as ex:
        return False, f"the VOID engine is not installed ({ex})"
    except Exception as ex:  # noqa: BLE001 - any weights problem means: no VOID here
        return False, str(ex).splitlines()[0]
    return True, f"base {paths.base}, pass 1 {paths.pass1}, pass 2 {paths.pass2 or 'absent'}"


def check_weights(base: str | None = None) -> tuple[bool, str]:
    """``void-vfx doctor``'s weights line for the base folder ``base`` (None: search)."""
    try:
        from .engines.void.weights import locate_weights

        paths = locate_weights(base)
    except ImportError as ex:
        return False, f"the VOID engine is not installed ({ex})"
    except Exception as ex:  # noqa: BLE001 - reported with its text
        return False, str(ex)
    return True, f"base {paths.base}, pass 1 {paths.pass1}, pass 2 {paths.pass2 or 'absent'}"
