"""The progress display of ``Client.follow``: a tqdm bar over windows, or one status line.

Stdlib only; tqdm is used when it can be imported (it is optional in host Pythons).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from void_vfx.model_facts import FINISHED_STATES


def _line_printer(job_id: str, stream) -> Callable[[dict | None], None]:
    """For logs (stderr not a terminal): one plain line each time the window or state changes,
    never a carriage return."""
    last: dict[str, Any] = {"key": None}

    def update(status: dict | None) -> None:
        if status is None:
            return
        key = (status["state"], status["window"], status["windows"])
        if key == last["key"] or not status["windows"]:
            return
        last["key"] = key
        print(f"{job_id}: {status['state']} window {status['window']}/{status['windows']}: "
              f"{status['message'][:80]}", file=stream, flush=True)  # fmt: skip

    return update


def make_bar(job_id: str, stream=None) -> Callable[[dict | None], None] | None:
    """A tqdm bar over windows on a terminal (a one-line status where tqdm is missing); plain
    lines, one per window, when the output is a log file or a pipe."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        return _line_printer(job_id, stream)
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    state: dict[str, Any] = {"bar": None}

    def update(status: dict | None) -> None:
        if status is None:
            if state["bar"] is not None:
                state["bar"].close()
            elif tqdm is None:
                print(file=stream)  # end the status line
            return
        text = f"{status['state']} window {status['window']}/{status['windows']} " + (
            f"step {status['step']}/{status['steps']}" if status.get("steps") else ""
        )
        if tqdm is None:
            print(f"\r{job_id}: {text} {status['message'][:60]:60}", end="", file=stream)
            return
        if state["bar"] is None:
            state["bar"] = tqdm(
                total=max(status["windows"], 1), desc=job_id, unit="window", file=stream
            )
        bar = state["bar"]
        bar.total = max(status["windows"], 1)
        bar.n = status["window"]
        bar.set_postfix_str(text, refresh=True)

    return update


def event_line(event: dict) -> str | None:
    """The line an event is worth to a user following a job, or None. The final failed or
    cancelled state is left out: the caller raises with that message, said once there."""
    kind, message = event.get("kind"), str(event.get("message", ""))
    if kind == "state" and message.startswith(("failed", "cancelled")):
        return None
    if kind in ("warning", "state", "summary"):
        return f"  {kind}: {message}"
    return None


def make_reporter(job_id: str, stream=None) -> Callable[[dict, tuple], None]:
    """A ``follow`` callback for the command line: the progress display of :func:`make_bar`
    and each warning, state and summary event once, as its own line."""
    stream = stream or sys.stderr
    bar = make_bar(job_id, stream)

    def report(status: dict, events: tuple) -> None:
        for e in events:
            line = event_line(e)
            if line is not None:
                print(("\n" if _mid_line(stream) else "") + line, file=stream, flush=True)
        if bar is not None:
            bar(status)
            if status.get("state") in FINISHED_STATES:
                bar(None)

    return report


def _mid_line(stream) -> bool:
    """True on a terminal, where a bar or status line may be showing: start a fresh line."""
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())


def cancel_message(job_id: str, state: str) -> str:
    """What a cancel did, from the state the server answered."""
    if state == "running":
        return f"job {job_id}: cancel requested; it stops at its next denoising step"
    if state == "cancelled":
        return f"job {job_id}: cancelled"
    return f"job {job_id} had already finished ({state}); nothing to cancel"


def interrupted_outcome(job_id: str, status: dict) -> str:
    """What a Ctrl-C left, from the job's final status: a complete version (and where) or none."""
    state, message = status.get("state"), status.get("message", "")
    if state == "done":
        out = status.get("out_dir") or ""
        if status.get("mode") == "path" and out:
            return (
                f"job {job_id} had finished before the cancel reached it: the complete version "
                f"is in {out}"
            )
        return (
            f"job {job_id} had finished before the cancel reached it; its results stay on the "
            "server and nothing was downloaded here"
        )
    if state == "cancelled":
        return f"job {job_id} cancelled: no new version was written"
    return f"job {job_id} {state}: {message}"


def _drop_empty_version(status: dict) -> None:
    """A cancelled or failed path-mode job's version folder (reserved on this disk when it was
    submitted) goes when it is empty, so that "no new version" holds on disk too."""
    out = status.get("out_dir") or ""
    if status.get("state") in ("cancelled", "failed") and status.get("mode") == "path" and out:
        try:
            os.rmdir(out)  # only ever removes an empty folder
        except OSError:
            pass


def after_interrupt(client: Any, job_id: str, wait_s: float = 60.0, poll_s: float = 0.25) -> str:
    """After Ctrl-C (the cancel is sent): wait for the job to stop, then say what it left.

    A second Ctrl-C stops the wait. ``client`` needs only ``status(job_id)``.
    """
    deadline = time.monotonic() + wait_s
    try:
        while True:
            status = client.status(job_id)
            if status.get("state") in FINISHED_STATES:
                _drop_empty_version(status)
                return interrupted_outcome(job_id, status)
            if time.monotonic() > deadline:
                return (
                    f"job {job_id} is still {status.get('state')} after {wait_s:g} s; "
                    "'void-vfx jobs' shows when it has stopped"
                )
            time.sleep(poll_s)
    except KeyboardInterrupt:
        return f"job {job_id}: stopped waiting for it; 'void-vfx jobs' shows its state"
    except Exception as ex:  # noqa: BLE001 - the interrupt is what the caller must see
        return f"job {job_id}: its state is unknown ({ex}); 'void-vfx jobs' shows it"
