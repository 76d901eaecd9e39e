"""``void-vfx farm openjd|opencue JOB.json``: a shot as a Prepare -> Infer -> Assemble farm job.

void-vfx farm openjd JOB.json -o BUNDLE       an Open Job Description bundle (Deadline Cloud)
void-vfx farm opencue JOB.json [--xml OUT]    submit to OpenCue, or write the job XML
... --dry-run                                 say what it would be, memory estimate included
"""

from __future__ import annotations

import argparse


def _common(p: argparse.ArgumentParser) -> None:
    from void_vfx.farm.memory import DEFAULT_MODE, MODES

    p.add_argument("spec", metavar="JOB.json", help="the job spec")
    p.add_argument(
        "--memory-mode",
        default=DEFAULT_MODE,
        choices=MODES,
        help=f"the engine's memory mode, which sizes the GPU asked for (default {DEFAULT_MODE})",
    )
    p.add_argument("--engine", default=None, help="void or preview (default: the spec's)")
    p.add_argument("--weights", default="", help="base model folder on the workers")
    p.add_argument("--checkpoints", default="", help="void_pass1/2.safetensors folder on workers")
    p.add_argument("--raft", default="", help="RAFT-large weights file on the workers")
    p.add_argument(
        "--job-dir",
        default=None,
        help="job folder every worker reaches "
        "(default: .void-vfx-farm/<job> beside the output folder)",
    )
    p.add_argument("--otio", action="store_true", help="Assemble also writes an OTIO clip")
    # dest: ``args.command`` is the subcommand's name, which the error line prints
    p.add_argument(
        "--command",
        dest="worker_command",
        default="void-vfx",
        help="the void-vfx command on the workers",
    )
    p.add_argument("--dry-run", action="store_true", help="print the job and memory estimate")


def add_farm_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="farm", metavar="FARM", required=True)
    o = sub.add_parser("openjd", help="write an Open Job Description bundle (Deadline Cloud)")
    _common(o)
    o.add_argument("-o", "--output", required=True, metavar="BUNDLE", help="new bundle folder")
    c = sub.add_parser("opencue", help="submit to OpenCue (pyoutline), or write the job XML")
    _common(c)
    c.add_argument("--xml", default=None, metavar="OUT", help="write the job XML, do not submit")
    c.add_argument("--show", default="", help="OpenCue show")
    c.add_argument("--shot", default="", help="OpenCue shot (default: the job name)")
    c.add_argument(
        "--tags",
        default=None,
        help="host tags of the infer layer, | separated (default: gpu for a job that "
        "needs a GPU, none for a preview job)",
    )
    c.add_argument(
        "--service",
        default=None,
        help="service of the infer layer (default: void for a job that needs a GPU, "
        "Cuebot's default for a preview job)",
    )


def run_farm(args: argparse.Namespace) -> int:
    from void_vfx.farm.stages import read_spec_text
    from void_vfx.farm.submit import submit_job
    from void_vfx.job.spec import JobSpec

    spec = JobSpec.from_json(read_spec_text(args.spec))
    options = {
        "memory_mode": args.memory_mode,
        "engine": args.engine,
        "weights": args.weights,
        "checkpoints": args.checkpoints,
        "raft": args.raft,
        "job_dir": args.job_dir,
        "otio": args.otio,
        "command": args.worker_command,
        "on_warning": lambda m: print(f"warning: {m}"),
    }
    if args.farm == "openjd":
        options["bundle"] = args.output
    else:
        options.update(
            xml=args.xml, show=args.show, shot=args.shot, tags=args.tags, service=args.service
        )
    result = submit_job(spec, args.farm, dry_run=args.dry_run, **options)
    print(result["message"])
    return 0
