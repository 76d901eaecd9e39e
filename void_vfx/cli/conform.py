"""``void-vfx conform EDIT``: removals for every marked shot of an edit, written back as a
conformed timeline (see :mod:`void_vfx.conform`)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from void_vfx.cli.remove import _add_connection, _connect
from void_vfx.errors import VoidVfxError
from void_vfx.job.naming import OUTPUT_SUFFIX


def add_conform_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "timeline",
        metavar="EDIT",
        help="edit file: .otio .otioz .otiod .edl .xml .fcpxml .aaf .ale (.drp)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="OUT",
        help="conformed timeline (default EDIT_void with EDIT's extension, here)",
    )
    p.add_argument("--adapter", default=None, help="OTIO adapter name, overriding the extension")
    p.add_argument("--rate", default=None, help="frame rate of an EDL: 23.976 24 25 29.97df ...")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="rewrite a path prefix, e.g. S:/show=/mnt/show (repeatable)",
    )
    p.add_argument(
        "--search",
        action="append",
        default=[],
        metavar="DIR",
        help="folder to find media by clip name when the edit names none",
    )
    p.add_argument(
        "--shot",
        action="append",
        default=[],
        metavar="NAME",
        help="also process clips of this name (glob; repeatable)",
    )
    p.add_argument("--prompt", default="", help="prompt for shots whose marker gives none")
    p.add_argument(
        "--handles",
        type=int,
        default=0,
        metavar="N",
        help="extra frames each side where the media has them (0)",
    )
    for role in ("matte", "affected", "quadmask"):
        p.add_argument(
            f"--{role}-template",
            action="append",
            default=None,
            metavar="TEMPLATE",
            help=f"where the {role} is, e.g. '{{dir}}/{{stem}}_{role}.####.exr'",
        )
    p.add_argument(
        "--media-out",
        default=None,
        metavar="DIR",
        help="results folder (default OUT's stem + _media beside OUT)",
    )
    p.add_argument(
        "--as-reference",
        action="store_true",
        help="add results as the clips' active alternate media reference",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, submit nothing")
    p.add_argument("--report", default=None, metavar="JSON", help="report file (OUT_report.json)")
    p.add_argument(
        "--realign-source",
        action="store_true",
        help="read clips whose source range misses the media from its first frame",
    )
    p.add_argument(
        "--otio-version",
        default="",
        metavar="X.Y.Z",
        help="write .otio schemas an older OTIO reads (e.g. 0.14.0)",
    )
    p.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "preview", "void"),
        help="engine named in the jobs (auto: the server's)",
    )
    p.add_argument("--local", action="store_true", help="run an in-process server for the jobs")
    p.add_argument(
        "--farm",
        choices=("openjd", "opencue"),
        default=None,
        help="submit the shots to a render farm instead of a server",
    )
    p.add_argument("--min-window", type=int, default=None, help="shortest model window (85)")
    p.add_argument(
        "--mask-resize",
        action="store_true",
        help="resample mattes of another size to each plate's (default: such a shot fails)",
    )
    p.add_argument("--passes", type=int, choices=(1, 2), default=None)
    p.add_argument("--steps", type=int, default=None, help="Pass 1 denoising steps (30)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--files", default="auto", choices=("auto", "path", "stream"))
    p.add_argument(
        "--review",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after each shot, a contact sheet and a labelled before/after movie beside its "
        "version folder (default: on)",
    )
    _add_connection(p)


def _settings(args: argparse.Namespace) -> dict:
    return {
        "window.min_length": args.min_window,
        "sampling.passes": args.passes,
        "sampling.pass1_steps": args.steps,
        "sampling.seed": args.seed,
        "mask.resize": True if args.mask_resize else None,
    }


def _server_engine(args: argparse.Namespace) -> str:
    """The server's engine, so a dry run shows the keys the real run will use; ``void`` when no
    server answers (then the keys of a run on a preview server differ)."""
    try:
        with _connect(args) as client:
            engine = str(client.info().get("engine", "void"))
    except (VoidVfxError, OSError) as exc:
        print(
            f"void-vfx conform: no server reached ({exc}); planning for engine void",
            file=sys.stderr,
        )
        return "void"
    return engine if engine in ("preview", "void") else "void"


def _default_output(timeline: str) -> str:
    stem, ext = os.path.splitext(os.path.basename(timeline.rstrip("/")))
    return os.path.abspath(f"{stem}{OUTPUT_SUFFIX}{ext}")


def run_conform(args: argparse.Namespace) -> int:
    from void_vfx.conform import batch

    options = batch.BatchOptions(
        timeline=args.timeline,
        output=os.path.abspath(args.output) if args.output else _default_output(args.timeline),
        adapter=args.adapter,
        rate=args.rate,
        maps=args.map,
        search=args.search,
        handles=args.handles,
        templates={
            role: tuple(t)
            for role, t in (
                ("primary", args.matte_template),
                ("affected", args.affected_template),
                ("quadmask", args.quadmask_template),
            )
            if t
        },
        media_out=args.media_out,
        as_reference=args.as_reference,
        report=args.report,
        realign=args.realign_source,
        otio_version=args.otio_version,
        settings=_settings(args),
        files_mode=args.files,
        shots=tuple(args.shot),
        prompt=args.prompt,
        review=args.review,
    )
    if not (args.dry_run or args.farm):
        from void_vfx.conform.writer import output_adapter

        output_adapter(options.output)  # an extension no adapter writes: refused before any job
    if args.dry_run or args.farm:
        engine = args.engine if args.engine != "auto" else _server_engine(args)
        return batch.conform(options, engine=engine, dry_run=args.dry_run, farm=args.farm)
    if args.local:
        from void_vfx.cli.gpu_probe import choose_engine
        from void_vfx.client import connect
        from void_vfx.server_entry import server_api

        engine, why = choose_engine(args.engine)
        print(f"void-vfx conform: local server, engine {engine} ({why})", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="void-vfx-conform-") as tmp:
            srv = server_api().start_local_server(
                os.path.join(tmp, "data"), os.path.join(tmp, "token"), engine
            )
            try:
                with connect("127.0.0.1", srv.port, token=srv.token) as client:
                    client.remember_jobs = False
                    return batch.conform(options, client=client, engine_choice=engine)
            finally:
                srv.close()
    with _connect(args) as client:
        return batch.conform(options, client=client, engine_choice=args.engine)
