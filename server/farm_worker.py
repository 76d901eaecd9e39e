"""``void-vfx worker ...``: the farm's task commands. No server: each task works on the job
folder, with the same stages as the server's render (:mod:`void_vfx.farm.stages`).

    void-vfx worker prepare JOB.json --job-dir DIR   check every frame and matte, plan windows
    void-vfx worker run-window DIR WINDOW            run one window and commit it (once)
    void-vfx worker assemble DIR [--otio]            final EXRs into the next version folder
    void-vfx worker engine-start / engine-stop       keep the engine loaded for a session

Progress goes to stdout in Open Job Description's protocol (``openjd_progress: N``,
``openjd_status: ...``, ``openjd_fail: ...``, ``openjd_env: ...``); other farms log it.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

from void_vfx.errors import Cancelled, VoidVfxError
from void_vfx.farm.pathmap import load_rules
from void_vfx.farm.stages import assemble_job, committed, load_spec, prepare_job, run_window

from .farm_engine_host import ENV, add_engine_arguments, load_worker_engine, start, stop


def status(text: str) -> None:
    for line in str(text).splitlines() or [""]:
        print(f"openjd_status: {line}", flush=True)


def progress(percent: float) -> None:
    print(f"openjd_progress: {max(0.0, min(100.0, percent)):.1f}", flush=True)


def _rules_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--path-mapping-rules",
        default="",
        metavar="FILE",
        help="pathmapping-1.0 rules for the paths inside the spec",
    )


def add_worker_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="stage", metavar="STAGE", required=True)
    s = sub.add_parser("prepare", help="check the shot and write the window plan")
    s.add_argument("spec", metavar="JOB.json")
    s.add_argument("--job-dir", required=True, help="the job folder every task reaches")
    s.add_argument("--expect-windows", type=int, default=None, help="fail unless N windows")
    _rules_argument(s)
    s = sub.add_parser("run-window", help="run one window and commit it (no-op when committed)")
    s.add_argument("job_dir", metavar="DIR")
    s.add_argument("window", type=int, metavar="WINDOW")
    add_engine_arguments(s)
    _rules_argument(s)
    s = sub.add_parser("assemble", help="write the final EXRs into the next version folder")
    s.add_argument("job_dir", metavar="DIR")
    s.add_argument(
        "--output-dir", default="", help="folder of the version folders (default: the spec's)"
    )
    s.add_argument("--otio", action="store_true", help="also write an OTIO clip of the output")
    _rules_argument(s)
    s = sub.add_parser("engine-start", help="load the engine once for this worker session")
    add_engine_arguments(s)
    sub.add_parser("engine-stop", help="stop the session's engine")


class _Cancel:
    """SIGTERM (the farm cancelling the task) raises Cancelled in the main thread."""

    def __enter__(self):
        self.old = None
        if threading.current_thread() is threading.main_thread():

            def handler(signum, frame):
                raise Cancelled("the farm cancelled the task; nothing was committed")

            self.old = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)


def _prepare(args) -> int:

    status(f"checking {args.spec}")
    info = prepare_job(
        args.spec,
        args.job_dir,
        load_rules(args.path_mapping_rules),
        expect_windows=args.expect_windows,
        say=status,
    )
    status(
        f"frames {info['first']}-{info['last']}: {info['windows']} window(s) planned in "
        f"{args.job_dir}"
    )
    progress(100)
    return 0


def _run_window(args) -> int:

    if committed(args.job_dir, args.window):
        status(f"window {args.window} is already committed; nothing to do")
        progress(100)
        return 0
    host = os.environ.get(ENV)
    with _Cancel():
        if host and os.path.isdir(host):
            from .farm_engine_host import request

            def relay(msg: dict) -> None:
                if "progress" in msg:
                    progress(msg["progress"])
                if "status" in msg:
                    status(msg["status"])

            result = request(
                host,
                {
                    "op": "run",
                    "job_dir": os.path.abspath(args.job_dir),
                    "window": args.window,
                    "rules": os.path.abspath(args.path_mapping_rules)
                    if args.path_mapping_rules
                    else "",
                },
                relay,
            )
        else:
            rules = load_rules(args.path_mapping_rules)
            engine = load_worker_engine(args, load_spec(args.job_dir, rules))

            def step(i: int, total: int, message: str = "") -> None:
                progress(100.0 * i / max(total, 1))

            result = run_window(
                args.job_dir,
                args.window,
                lambda wi: engine.run(wi, step, lambda: False),
                rules,
                say=status,
            )
    status(f"window {args.window}: {result['state']}")
    progress(100)
    return 0


def _assemble(args) -> int:

    with _Cancel():
        result = assemble_job(
            args.job_dir,
            load_rules(args.path_mapping_rules),
            out_dir=args.output_dir,
            otio=args.otio,
            say=status,
            progress=progress,
        )
    status(f"{result['state']}: {result.get('frames', 0)} frame(s) in {result['folder']}")
    if result.get("otio"):
        status(f"OTIO clip {result['otio']}")
    progress(100)
    return 0


def _engine_start(args) -> int:

    status(f"loading the {args.engine or 'job'} engine once for this session")
    argv = [
        "--engine",
        args.engine or "void",
        "--weights",
        args.weights,
        "--checkpoints",
        args.checkpoints,
        "--raft",
        args.raft,
        "--memory-mode",
        args.memory_mode,
        "--idle-timeout",
        str(args.idle_timeout),
    ]
    folder = start(argv, say=status)
    print(f"openjd_env: {ENV}={folder}", flush=True)
    return 0


def _engine_stop(args) -> int:

    folder = os.environ.get(ENV)
    if folder:
        stop(folder, say=status)
        print(f"openjd_unset_env: {ENV}", flush=True)
    return 0


_STAGES = {
    "prepare": _prepare,
    "run-window": _run_window,
    "assemble": _assemble,
    "engine-start": _engine_start,
    "engine-stop": _engine_stop,
}


def run_worker(args: argparse.Namespace) -> int:
    try:
        return _STAGES[args.stage](args)
    except Cancelled as exc:
        print(f"openjd_fail: {exc}", flush=True)
        return 1
    except VoidVfxError as exc:
        print(f"openjd_fail: {exc}", flush=True)
        raise
