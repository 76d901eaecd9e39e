"""``void-vfx remove --local``: one job on a private in-process server, then it goes away.

Imports the server package, so only the CLI and the demo use it (never a host Python).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .client import Callback, connect
from .errors import ServerError


def run_local_job(
    spec: Any,
    data_dir: str | os.PathLike | None = None,
    engine: str | Any = "preview",
    progress: Callback | None = None,
    files_mode: str = "auto",
    out_dir: str | None = None,
) -> list[str]:
    """Run one job on a private in-process server (127.0.0.1, random port, throw-away token)."""
    import tempfile

    from void_vfx_server.main import InferenceServer

    with tempfile.TemporaryDirectory(prefix="void-vfx-local-") as tmp:
        token_file = Path(tmp) / "token"
        server = InferenceServer(
            "127.0.0.1", 0, data_dir or Path(tmp) / "data", engine, token_file=token_file,
            min_free_bytes=0,
        )  # fmt: skip
        server.start_in_thread()
        try:
            with connect("127.0.0.1", server.port, token=server.token) as client:
                client.remember_jobs = False
                job = client.submit(spec, files_mode=files_mode)
                status = client.follow(job, callback=progress)
                if status["state"] != "done":
                    raise ServerError(f"local job {job} {status['state']}: {status['message']}")
                return client.download_results(job, out_dir)
        finally:
            server.close()
