"""An engine for the farm tests that records every load and window it runs in the file named by
``VOID_VFX_TEST_ENGINE_LOG``: the preview engine underneath, so its frames are real."""

from __future__ import annotations

import os

from void_vfx_server.engines.preview import PreviewEngine


class CountingPreview(PreviewEngine):
    name = "counting-preview"

    def _log(self, what: str) -> None:
        with open(os.environ["VOID_VFX_TEST_ENGINE_LOG"], "a") as fh:
            fh.write(f"{what} {os.getpid()}\n")

    def load(self) -> None:
        self._log("load")
        super().load()

    def run(self, window, progress, should_cancel):
        self._log("run")
        return super().run(window, progress, should_cancel)
