"""The progress display of ``Client.follow``: a tqdm bar over windows, or one status line.

Stdlib only; tqdm is used when it can be imported (it is optional in host Pythons).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def make_bar(job_id: str) -> Callable[[dict | None], None] | None:
    """A tqdm bar over windows when tqdm is importable, else a one-line text status."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    state: dict[str, Any] = {"bar": None}

    def update(status: dict | None) -> None:
        if status is None:
            if state["bar"] is not None:
                state["bar"].close()
            return
        text = f"{status['state']} window {status['window']}/{status['windows']} " + (
            f"step {status['step']}/{status['steps']}" if status.get("steps") else ""
        )
        if tqdm is None:
            print(f"\r{job_id}: {text} {status['message'][:60]:60}", end="", file=sys.stderr)
            return
        if state["bar"] is None:
            state["bar"] = tqdm(total=max(status["windows"], 1), desc=job_id, unit="window")
        bar = state["bar"]
        bar.total = max(status["windows"], 1)
        bar.n = status["window"]
        bar.set_postfix_str(text, refresh=True)

    return update


def cancel_message(job_id: str, state: str) -> str:
    """What a cancel did, from the state the server answered."""
    if state == "running":
        return f"job {job_id}: cancel requested; it stops at its next denoising step"
    if state == "cancelled":
        return f"job {job_id}: cancelled"
    return f"job {job_id} had already finished ({state}); nothing to cancel"
