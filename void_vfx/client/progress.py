"""The progress display of ``Client.follow``, from the job's status: the render's counts
(frames read, windows run, frames written, rate, estimate) as a status line fitted to a terminal,
or as whole plain lines in a log. The panel and ``void-vfx jobs`` use the same parts.

Stdlib only (host Pythons have no tqdm).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

from void_vfx.model_facts import FINISHED_STATES

#: A log gets a progress line at least this often while a job's counts move (seconds).
LOG_EVERY_S = 10.0


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 4 min``: an estimate as a person reads it."""
    s = int(round(max(seconds, 0.0)))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def progress_parts(status: dict) -> list[str]:
    """A job's progress as short parts, most important first: frames written, rate, estimate,
    windows run, frames read (from the render's counts, ``status["progress"]``), then the
    engine's step; only windows and steps where a server sends no counts."""
    p = status.get("progress") or {}
    parts = []
    if p.get("frames"):
        unchanged = int(p.get("frames_unchanged") or 0)
        written = int(p.get("frames_written") or 0)
        parts.append(
            f"{written + unchanged}/{p['frames']} frames written"
            + (f" ({unchanged} unchanged, no file)" if unchanged else "")
        )
        if p.get("rate_fps"):
            parts.append(f"{float(p['rate_fps']):.2f} frames/s")
        if p.get("eta_s") is not None and status.get("state") == "running":
            parts.append(f"about {duration_text(float(p['eta_s']))} left")
        parts.append(f"{p.get('windows_done', 0)}/{p.get('windows', 0)} windows run")
        if p.get("frames_to_read"):
            parts.append(f"{p.get('frames_read', 0)}/{p['frames_to_read']} frames read")
    elif status.get("windows"):
        parts.append(f"window {status.get('window', 0)}/{status['windows']}")
    if status.get("steps") and status.get("state") == "running":
        parts.append(f"step {status.get('step', 0)}/{status['steps']}")
    return parts


def progress_fraction(status: dict) -> float | None:
    """How much of the job is done, 0-1, or None before anything is known."""
    if status.get("state") == "done":
        return 1.0
    p = status.get("progress") or {}
    if p.get("total"):
        return min(float(p.get("done") or 0) / float(p["total"]), 1.0)
    if p.get("frames"):
        done = int(p.get("frames_written") or 0) + int(p.get("frames_unchanged") or 0)
        return min(done / int(p["frames"]), 1.0)
    if status.get("windows"):
        return min(int(status.get("window") or 0) / int(status["windows"]), 1.0)
    return None


def _event_part(status: dict) -> str:
    """What the job is doing now: its message (the counts come in their own field). Not a
    failed or cancelled job's: the caller raises with that message, said once there."""
    if status.get("state") in ("failed", "cancelled"):
        return ""
    return str(status.get("message") or "")


def progress_text(status: dict) -> str:
    """The whole progress in one line: every part, nothing cut (logs, the panel, ``jobs``)."""
    return ", ".join(progress_parts(status))


#: Parts of a status line that stay when a terminal is narrow: frames written, rate, estimate.
KEEP_PARTS = 3


def fit_line(prefix: str, fraction: float | None, parts: list[str], width: int) -> str:
    """A terminal status line no wider than ``width``: the prefix, a bar and a percentage, then
    as many parts as fit, in order. Where the first :data:`KEEP_PARTS` do not fit, the bar goes
    first, then the prefix, so frames written, rate and estimate stay visible."""
    pct = "" if fraction is None else f"{int(100 * fraction):3d}%"
    cells = int(round(20 * (fraction or 0.0)))
    bar = "" if fraction is None else f"[{'#' * cells}{'.' * (20 - cells)}] "
    line = ""
    for head in (f"{prefix} {bar}{pct}", f"{prefix} {pct}", pct):
        line, shown = head.strip(), 0
        for part in parts:
            wider = f"{line} | {part}" if line else part
            if len(wider) > width:
                break
            line, shown = wider, shown + 1
        if shown >= min(KEEP_PARTS, len(parts)):
            return line
    return line[:width]


def _line_printer(job_id: str, stream, every_s: float = LOG_EVERY_S):
    """For logs (stderr not a terminal): a whole plain line when the state or the windows run
    change, and otherwise at most every ``every_s`` seconds while the counts move; never a
    carriage return, never cut."""
    last: dict[str, Any] = {"key": None, "text": None, "t": 0.0}

    def update(status: dict | None) -> None:
        if status is None or not (status.get("windows") or status.get("progress")):
            return
        p = status.get("progress") or {}
        key = (status["state"], p.get("windows_done", status.get("window")), status["windows"])
        text = progress_text(status)
        now = time.monotonic()
        moved = text != last["text"] and now - last["t"] >= every_s
        if key == last["key"] and not moved:
            return
        last.update(key=key, text=text, t=now)
        event = _event_part(status)
        print(
            f"{job_id}: {status['state']}: {text}" + (f" ({event})" if event else ""),
            file=stream,
            flush=True,
        )

    return update


def make_bar(job_id: str, stream=None) -> Callable[[dict | None], None]:
    """On a terminal, one status line redrawn in place and fitted to its width (frames written,
    rate and estimate first); in a log file or a pipe, whole plain lines (:func:`_line_printer`)."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        return _line_printer(job_id, stream)
    state: dict[str, Any] = {"shown": False}

    def update(status: dict | None) -> None:
        if status is None:
            if state["shown"]:
                print(file=stream, flush=True)  # end the status line
                state["shown"] = False
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        parts = progress_parts(status)
        if _event_part(status) and status.get("state") == "running":
            parts.append(_event_part(status))
        line = fit_line(f"{job_id} {status['state']}", progress_fraction(status), parts, width)
        print(f"\r{line:<{width}}", end="", file=stream, flush=True)
        state["shown"] = True

    return update


def event_line(event: dict) -> str | None:
    """The line an event is worth to a user following a job, or None. The final failed or
    cancelled state is left out: the caller raises with that message, said once there."""
    kind, message = event.get("kind"), str(event.get("message") or "")
    if kind == "state":
        state = str(event.get("state") or "")
        if state in ("failed", "cancelled"):
            return None
        return f"  state: {state}" + (f": {message}" if message else "")
    if kind in ("warning", "summary"):
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
