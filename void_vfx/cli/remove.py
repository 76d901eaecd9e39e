"""``void-vfx remove | jobs | cancel | doctor``: a server's client on the command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from void_vfx.errors import AuthError, ServerError, SpecError, VoidVfxError
from void_vfx.protocol.wire import DEFAULT_PORT


def _server_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, DEFAULT_PORT
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected HOST:PORT, e.g. gpu01:{DEFAULT_PORT}"
        ) from None


def _frame_range(text: str) -> tuple[int, int]:
    """argparse type for --range: the plan command's parser, its error as a usage error."""
    from void_vfx.cli.plan import parse_range

    try:
        return parse_range(text)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _engine_param(text: str) -> tuple[str, bool | int | float | str]:
    """``NAME=VALUE`` with VALUE read as true/false, a whole number, a number, or text; the
    spec checks the name and range against the engine's own table."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=VALUE, e.g. static_camera=true")
    value: bool | int | float | str = raw
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
    return name.strip(), value


def _add_connection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        type=_server_address,
        default=("127.0.0.1", DEFAULT_PORT),
        metavar="HOST:PORT",
        help=f"server address (default 127.0.0.1:{DEFAULT_PORT})",
    )
    p.add_argument("--token-file", default=None, help="token file (default: user config folder)")
    p.add_argument("--tls-ca", default=None, help="CA of the server's certificate (TLS)")
    p.add_argument("--tls-cert", default=None, help="client certificate (TLS)")
    p.add_argument("--tls-key", default=None, help="client key (TLS)")


def _connect(args: argparse.Namespace):
    from void_vfx.client import connect, find_token

    tls = None
    if args.tls_ca or args.tls_cert:
        tls = {"ca": args.tls_ca, "cert": args.tls_cert, "key": args.tls_key}
    host, port = args.server
    return connect(host, port, token=find_token(args.token_file), tls=tls)


# -- remove --------------------------------------------------------------------------------------
def add_remove_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("plate", metavar="PLATE", nargs="?", help="plate frames, e.g. shot.####.exr")
    p.add_argument(
        "--spec",
        metavar="JOB.json",
        help="a complete job spec (JSON); options given as well override it",
    )
    p.add_argument("--primary", metavar="MATTE", help="matte of the object to remove")
    p.add_argument("--primary-channel", default="a", help="channel of the primary matte (a)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--affected", metavar="MATTE", help="matte of what the object affects")
    group.add_argument("--quadmask", metavar="QM", help="a ready quadmask (0/63/127/255)")
    p.add_argument("--affected-channel", default="a", help="channel of the affected matte (a)")
    p.add_argument("--quadmask-channel", default="r", help="channel of the quadmask (r)")
    p.add_argument("--range", type=_frame_range, metavar="A-B", help="frames to process")
    p.add_argument("--fps", default=None, help="frame rate, e.g. 24 or 23.976 (default 24)")
    p.add_argument(
        "--colourspace",
        default=None,
        help="OCIO colour space of the plate (auto: from its header, see README)",
    )
    p.add_argument(
        "--ocio-config",
        default=None,
        metavar="CONFIG",
        help="the OCIO config --colourspace is named in: a config.ocio path, "
        "ocio://NAME or nuke-default (default: $OCIO, else the ACES studio config)",
    )
    p.add_argument(
        "--highlight",
        choices=("shoulder", "clip"),
        default=None,
        help="how scene-linear values above 1 pass the model (shoulder)",
    )
    p.add_argument("--prompt", default=None, help="the scene after the removal")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="OUT",
        help="output folder (default: the current folder); a new version every run",
    )
    p.add_argument("--local", action="store_true", help="run an in-process server for this job")
    p.add_argument("--engine", default="auto", choices=("auto", "preview", "void"))
    p.add_argument("--passes", type=int, choices=(1, 2), default=None)
    p.add_argument(
        "--pass1-result",
        metavar="SEQ",
        help="a saved Pass 1 output of this plate: run Pass 2 alone on it",
    )
    p.add_argument("--steps", type=int, default=None, help="Pass 1 denoising steps (30)")
    p.add_argument("--pass2-steps", type=int, default=None, help="Pass 2 denoising steps (50)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--dilate", type=int, default=None, help="grow the primary matte (pixels)")
    p.add_argument(
        "--soft-edge",
        type=int,
        default=None,
        metavar="PX",
        help="the primary matte's soft edge within PX pixels of its solid part is "
        "removed too (4; 0: the threshold alone)",
    )
    p.add_argument(
        "--mask-resize",
        action="store_const",
        const=True,
        default=None,
        help="resize mattes or a quadmask of another size to the plate's",
    )
    p.add_argument(
        "--roi",
        choices=("crop", "full"),
        default=None,
        help="crop around the mask (default) or the whole frame",
    )
    p.add_argument("--margin", type=float, default=None, help="crop margin, fraction (0.15)")
    p.add_argument("--feather", type=int, default=None, help="paste-back feather, pixels (8)")
    p.add_argument(
        "--min-window",
        type=int,
        default=None,
        help="shortest model window, 8j+5 (85; 13 or 21 are faster)",
    )
    p.add_argument(
        "--compression",
        default=None,
        help="EXR compression of the output: plate (the plate's own, default), "
        "zip, zip:1, piz, dwaa:45, ...",
    )
    p.add_argument("--pixel-type", choices=("half", "float"), default=None)
    p.add_argument(
        "--output-mode",
        choices=("full", "patch"),
        default=None,
        help="full frames (default) or patch: only the changed region as each "
        "EXR's data window, to comp over the plate",
    )
    p.add_argument("--priority", type=int, default=None, help="higher runs first")
    p.add_argument(
        "--review",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the job, a contact sheet (plate, mask, result, difference) and "
        "a labelled before/after movie beside the version folder (default: on)",
    )
    p.add_argument(
        "--no-detail",
        dest="finish_detail",
        action="store_const",
        const=False,
        default=None,
        help="leave the fill as soft as the engine made it (no detail from other frames)",
    )
    p.add_argument(
        "--no-grain",
        dest="finish_grain",
        action="store_const",
        const=False,
        default=None,
        help="leave the fill clean (no grain matched to the plate)",
    )
    p.add_argument(
        "--param",
        dest="params",
        action="append",
        type=_engine_param,
        default=None,
        metavar="NAME=VALUE",
        help="an engine option, e.g. --param static_camera=true (repeatable; "
        "the README's job spec section lists each engine's options)",
    )
    p.add_argument(
        "--files",
        default="auto",
        choices=("auto", "path", "stream"),
        help="path: the server reads the files; stream: upload them (auto: probe)",
    )
    _add_connection(p)


#: (argument, spec object path, field) for the options that map one to one onto the spec.
_SPEC_OPTIONS = (
    ("range", "", "frame_range"),
    ("fps", "", "fps"),
    ("colourspace", "", "colourspace"),
    ("ocio_config", "", "ocio_config"),
    ("highlight", "", "highlight"),
    ("prompt", "", "prompt"),
    ("priority", "", "priority"),
    ("passes", "sampling", "passes"),
    ("steps", "sampling", "pass1_steps"),
    ("pass2_steps", "sampling", "pass2_steps"),
    ("seed", "sampling", "seed"),
    ("dilate", "mask", "dilate"),
    ("soft_edge", "mask", "soft_edge"),
    ("mask_resize", "mask", "resize"),
    ("roi", "roi", "mode"),
    ("margin", "roi", "margin"),
    ("feather", "roi", "feather"),
    ("min_window", "window", "min_length"),
    ("compression", "output", "compression"),
    ("pixel_type", "output", "pixel_type"),
    ("output_mode", "output", "mode"),
    ("finish_detail", "finish", "detail"),
    ("finish_grain", "finish", "grain"),
)


def build_remove_spec(args: argparse.Namespace, engine: str):
    """The job spec from ``--spec`` (if given) with every option given on the line applied."""
    from void_vfx.job.naming import split_output_pattern
    from void_vfx.job.spec import JobSpec, MatteSource

    if args.spec:
        try:
            with open(args.spec, encoding="utf-8") as fh:
                spec = JobSpec.from_json(fh.read())
        except OSError as exc:
            raise SpecError("--spec", f"cannot read {args.spec}: {exc.strerror}") from exc
    else:
        if not args.plate:
            raise SpecError("plate", "give the plate frames (PLATE) or a job spec (--spec)")
        if not args.primary and not args.quadmask:
            raise SpecError(
                "primary", "give --primary MATTE (and optionally --affected) or --quadmask"
            )
        spec = JobSpec(plate=args.plate)
    if args.plate:
        spec.plate = args.plate
    if args.primary:
        spec.primary = MatteSource(args.primary, args.primary_channel)
    if args.affected:
        spec.affected = MatteSource(args.affected, args.affected_channel)
    if args.quadmask:
        spec.quadmask = MatteSource(args.quadmask, args.quadmask_channel)
        spec.primary = spec.affected = None
    if args.pass1_result:
        spec.pass1_result = MatteSource(args.pass1_result, "rgb")
        spec.sampling.passes = 2
    for arg, group, field in _SPEC_OPTIONS:
        value = getattr(args, arg, None)
        if value is not None:
            setattr(getattr(spec, group) if group else spec, field, value)
    if args.output is not None:
        pattern = split_output_pattern(args.output)
        if pattern:
            folder, spec.output.name = pattern
            spec.output.dir = os.path.abspath(folder)
            _say(
                f"-o {args.output} names files: they go to a new version folder in {folder}, "
                f"{spec.output.name}_void_v###/{spec.output.name}_void_v###.####.exr "
                "(outputs are versioned and never overwritten)"
            )
        else:
            spec.output.dir = os.path.abspath(args.output) if args.output else ""
    for name, value in args.params or ():
        spec.params[name] = value
    spec.engine = engine
    return spec.validate()


def _say(text: str) -> None:
    print(f"void-vfx remove: {text}", file=sys.stderr)


def _preflight(spec) -> None:
    """Checks and notes before submitting (see :mod:`void_vfx.cli.preflight`)."""
    from void_vfx.cli.preflight import (
        check_mask_channels,
        colour_note,
        drop_noop_settings,
        setting_warnings,
    )

    check_mask_channels(spec)
    note = colour_note(spec)
    if note:
        _say(note)
    for text in setting_warnings(spec):
        _say(f"warning: {text}")
    drop_noop_settings(spec)


def _drop_new_empty(folder: str, existed: bool) -> None:
    """The output folder this run created (the client probes it) goes again when the job wrote
    nothing into it: a failed job leaves no empty folder."""
    if existed:
        return
    try:
        os.rmdir(folder)
    except OSError:
        pass  # not empty, or never made


def run_remove(args: argparse.Namespace) -> int:
    from void_vfx.client.progress import make_reporter
    from void_vfx.job.naming import output_dir, plate_stem

    if args.local:
        from void_vfx.cli.gpu_probe import choose_engine
        from void_vfx.client.local import run_local_job

        engine, why = choose_engine(args.engine)
        _say(f"local server, engine {engine} ({why})")
        spec = build_remove_spec(args, engine)
        _preflight(spec)
        base = output_dir(spec)
        existed = os.path.isdir(base)
        try:
            report = make_reporter(plate_stem(spec.plate))  # bar or log lines, and events
            paths = run_local_job(spec, engine=engine, progress=report, files_mode=args.files)
        except (VoidVfxError, KeyboardInterrupt):
            _drop_new_empty(base, existed)
            raise
    else:
        try:
            connection = _connect(args)
        except AuthError:
            raise
        except ServerError as ex:  # no server answered: this command can run without one
            raise ServerError(f"{ex}; or run the job here without a server: add --local") from None
        with connection as client:
            info = client.info()
            engine = args.engine if args.engine != "auto" else info.get("engine", "preview")
            if engine not in ("preview", "void"):
                engine = "preview"
            spec = build_remove_spec(args, engine)
            _preflight(spec)
            base = output_dir(spec)
            existed = os.path.isdir(base)
            try:
                paths = _remote_job(client, spec, args.files)
            except (VoidVfxError, KeyboardInterrupt):
                _drop_new_empty(base, existed)
                raise
    folder = Path(paths[0]).parent if paths else None
    print(f"{len(paths)} files written to {folder}")
    if args.review and paths:
        _review(spec, paths)
    return 0


def _review(spec, paths: list[str]) -> None:
    """The job's review beside its version folder; a review that cannot be made is a warning,
    never a failed job (the frames are written)."""
    from void_vfx.review import review_job

    try:
        files = review_job(spec, paths, say=_say)
    except (VoidVfxError, OSError) as ex:
        _say(f"warning: no review was made ({ex}); the frames are complete")
        return
    for path in files:
        print(f"review: {path}")


def _remote_job(client, spec, files_mode: str) -> list[str]:
    from void_vfx.client.progress import after_interrupt, make_reporter
    from void_vfx.job.naming import output_dir

    job = client.submit(spec, files_mode=files_mode)
    _say(f"job {job} on {client.host}:{client.port} (Ctrl-C cancels it)")
    try:
        status = client.follow(job, callback=make_reporter(job))
    except KeyboardInterrupt:
        # follow asked the server to cancel; say what is left once the job has stopped.
        print(f"void-vfx: {after_interrupt(client, job)}", file=sys.stderr)
        raise
    if status["state"] != "done":
        raise ServerError(f"job {job} {status['state']}: {status['message']}")
    try:
        return client.download_results(job)
    except KeyboardInterrupt:
        # download_results removed the half-downloaded version folder: a part is no version.
        print(
            f"void-vfx: download of job {job} interrupted: no new version was left in "
            f"{output_dir(spec)}; the results stay on the server until it expires the job",
            file=sys.stderr,
        )
        raise


def add_jobs_arguments(p: argparse.ArgumentParser) -> None:
    _add_connection(p)


def job_row(job: dict, now: float) -> tuple[str, ...]:
    """One job of ``void-vfx jobs``: id, state, priority, mode, done, elapsed, created, the host
    that submitted it, and the whole message and progress (never cut: a terminal wraps, a pipe
    keeps it)."""
    import time

    from void_vfx.client.progress import duration_text, progress_fraction, progress_text

    fraction = progress_fraction(job)
    started, finished = job.get("started"), job.get("finished")
    elapsed = duration_text((finished or now) - started) if started else "-"
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(job["created"]))
    detail = "; ".join(t for t in (job.get("message") or "", progress_text(job)) if t)
    return (
        job["id"],
        job["state"],
        str(job["priority"]),
        job["mode"],
        "-" if fraction is None else f"{int(100 * fraction)}%",
        elapsed,
        created,
        str(job.get("host") or "?"),  # the address that submitted it (older servers: ?)
        detail,
    )


def run_jobs(args: argparse.Namespace) -> int:
    import time

    with _connect(args) as client:
        jobs = client.jobs()
    if not jobs:
        print("no jobs")
        return 0
    rows = [("ID", "STATE", "PRI", "MODE", "DONE", "ELAPSED", "CREATED", "FROM", "MESSAGE")]
    now = time.time()
    rows += [job_row(j, now) for j in jobs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    return 0


def add_cancel_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="ID", help="job id (see void-vfx jobs)")
    _add_connection(p)


def run_cancel(args: argparse.Namespace) -> int:
    from void_vfx.client import cancel_message

    with _connect(args) as client:
        state = client.cancel(args.job)
    print(cancel_message(args.job, state))
    if state == "running":
        print("  'void-vfx jobs' shows when it has stopped")
    return 0


# -- doctor --------------------------------------------------------------------------------------
def add_doctor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None, help="folder of the base model weights to check")
    _add_connection(p)


def _check_gpu() -> tuple[bool, str]:
    from void_vfx.cli.gpu_probe import probe_gpu

    return probe_gpu()


def _check_weights(base: str | None) -> tuple[bool, str]:
    from void_vfx.server_entry import server_api

    try:
        return server_api().check_weights(base)
    except ServerError as ex:
        return False, str(ex)


def _check_ocio() -> tuple[bool, str]:
    try:
        import PyOpenColorIO as ocio
    except ImportError:
        return False, "PyOpenColorIO is missing: pip install opencolorio"
    env = os.environ.get("OCIO")
    try:
        if env:
            cfg = ocio.Config.CreateFromFile(env)
            return True, f"$OCIO {env} ({len(list(cfg.getColorSpaceNames()))} colour spaces)"
        ocio.Config.CreateFromFile("ocio://studio-config-latest")
    except Exception as ex:  # noqa: BLE001 - any OCIO failure is reported with its text
        return False, f"OCIO config {env or 'built-in'} does not load: {ex}; fix or unset $OCIO"
    return True, f"OCIO {ocio.__version__}; $OCIO unset, the built-in studio config is used"


def _check_server(args: argparse.Namespace) -> tuple[bool, str]:
    try:
        with _connect(args) as client:
            info = client.info()
    except VoidVfxError as ex:
        return False, str(ex)
    host, port = args.server
    return True, (
        f"{host}:{port} server {info.get('version')} API {info.get('api_version')}, "
        f"engine {info.get('engine')} {info.get('engine_info')}"
    )


def run_doctor(args: argparse.Namespace) -> int:
    checks = [
        ("GPU", _check_gpu()),
        ("weights", _check_weights(args.weights)),
        ("OCIO", _check_ocio()),
        ("server", _check_server(args)),
    ]
    for name, (ok, text) in checks:
        print(f"{'ok ' if ok else 'FIX'}  {name:8} {text}")
    if not checks[1][1][0] or not checks[0][1][0]:
        print("     -> without GPU and weights, jobs use the preview engine (CPU fill, no model)")
    # Any FIX line is something to fix: scripts and CI see it in the exit status.
    return 0 if all(ok for _, (ok, _text) in checks) else 1
