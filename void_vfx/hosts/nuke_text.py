"""What the VOID Remove node's status line and progress knob say, from a job's status dict or an
error. One line each, never a traceback. Standard library only."""

from __future__ import annotations

from void_vfx.errors import AuthError, ServerError, VoidVfxError


def progress_percent(status: dict) -> float:
    """0-100 over the job: finished windows plus the current window's denoising steps."""
    if status.get("state") == "done":
        return 100.0
    windows = int(status.get("windows") or 0)
    if windows <= 0:
        return 0.0
    steps = int(status.get("steps") or 0)
    part = int(status.get("step") or 0) / steps if steps > 0 else 0.0
    done = min(int(status.get("window") or 0) + part, windows)
    return round(100.0 * done / windows, 1)


def status_line(job_id: str, status: dict) -> str:
    """``running: window 1/3, step 12/30, 40 s left - <server message>``."""
    state = status.get("state", "?")
    if state == "done":
        return f"done (job {job_id})"
    if state in ("failed", "cancelled"):
        return f"{state}: {status.get('message') or 'no message'} (job {job_id})"
    parts = [state]
    if status.get("windows"):
        parts.append(f"window {int(status.get('window') or 0) + 1}/{status['windows']}")
    if status.get("steps"):
        parts.append(f"step {status.get('step')}/{status['steps']}")
    eta = status.get("eta_s")
    if eta:
        parts.append(f"{int(round(eta))} s left")
    text = f"{state}: {', '.join(parts[1:])}" if len(parts) > 1 else state
    message = status.get("message") or ""
    return f"{text} - {message}" if message else text


def error_line(error: BaseException, server: str = "") -> str:
    """A failure as one line saying what to do."""
    if isinstance(error, AuthError):  # the message says whether the server refused it
        return f"server {server}: {error}"
    if isinstance(error, ServerError) and "cannot reach" in str(error):
        return (
            f"server {server} is not reachable: start it with 'void-vfx serve' or fix the "
            "server knob"
        )
    if isinstance(error, VoidVfxError):
        return f"error: {error}"
    return f"internal error: {type(error).__name__}: {error} (details in the script editor)"


def done_line(version: str, frames: int, folder: str) -> str:
    return f"done: {version}, {frames} frames in {folder}"
