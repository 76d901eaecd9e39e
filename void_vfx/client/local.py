"""``void-vfx remove --local`` and the demo: one job on a private in-process server.

The server is reached through :func:`void_vfx.server_entry.server_api` (the core never imports it),
so only the CLI and the demo run this; a host Python talks to a running server instead.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from void_vfx.client.progress import after_interrupt
from void_vfx.client.session import Callback, connect
from void_vfx.errors import ServerError
from void_vfx.server_entry import server_api


def run_local_job(
    spec: Any,
    data_dir: str | os.PathLike | None = None,
    engine: str | Any = "preview",
    progress: Callback | None = None,
    files_mode: str = "auto",
    out_dir: str | None = None,
) -> list[str]:
    """Run one job on a private server (127.0.0.1, random port, throw-away token); return the
    result paths. A job that does not finish raises ServerError with the server's message; after a
    Ctrl-C it says whether the job left a complete version, then the interrupt goes on."""
    with tempfile.TemporaryDirectory(prefix="void-vfx-local-") as tmp:
        server = server_api().start_local_server(
            data_dir or Path(tmp) / "data", Path(tmp) / "token", engine
        )
        try:
            with connect("127.0.0.1", server.port, token=server.token) as client:
                client.remember_jobs = False
                job = client.submit(spec, files_mode=files_mode)
                try:
                    status = client.follow(job, callback=progress)
                except KeyboardInterrupt:
                    # follow sent the cancel; the server stays up until the job has stopped
                    # so that the message can say whether a complete version was left.
                    print(f"void-vfx: {after_interrupt(client, job)}", file=sys.stderr)
                    raise
                if status["state"] != "done":
                    raise ServerError(f"local job {job} {status['state']}: {status['message']}")
                return client.download_results(job, out_dir)
        finally:
            server.close()
