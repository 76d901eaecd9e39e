"""One call for every caller (``void-vfx farm``, ``void-vfx conform --farm``): a spec becomes a
farm job, written as an OpenJD bundle or submitted to OpenCue, or only described (``dry_run``).

OpenJD: the bundle is written (into ``out_dir``/<job name>) and, where the Deadline Cloud CLI is
installed and a farm is configured, ``deadline bundle submit`` is left to the user: the message
gives the exact command, as it does for ``openjd run``. OpenCue: submitted when a Cuebot is
configured, else the job XML is written into ``out_dir``.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from void_vfx.atomic import atomic_target
from void_vfx.errors import SpecError
from void_vfx.farm import opencue
from void_vfx.farm.job import FarmJob, describe_job, job_name
from void_vfx.farm.memory import estimate_table

FARMS = ("openjd", "opencue")


def _summary(job: FarmJob) -> str:
    req = job.requirement
    need = f"{req.gpus} GPU x {req.gpu_mib} MiB" if req.gpus else "no GPU"
    return (
        f"{job.name}: frames {job.first}-{job.last}, {len(job.windows)} window(s) of up to "
        f"{job.window_frames} frames; engine {job.engine}, memory mode {job.memory_mode} "
        f"({need} per Infer task); job folder {job.job_dir}; outputs in {job.out_dir}\n"
        + estimate_table(job.window_frames, job.memory_mode)
    )


def submit_job(
    spec: Any,
    farm: str,
    *,
    out_dir: str | None = None,
    dry_run: bool = False,
    **options: Any,
) -> dict:
    """Turn ``spec`` into a job for ``farm`` ("openjd" or "opencue").

    ``out_dir``: where the bundle (OpenJD) or the job XML (OpenCue, no Cuebot) goes; default the
    current folder. ``options`` go to :func:`~void_vfx.farm.job.describe_job` (memory_mode,
    engine, weights, job_dir, otio...), ``bundle`` (OpenJD: this exact folder) and, for OpenCue,
    ``xml`` (a file: write the XML there instead of submitting), ``show``, ``shot``, ``tags``,
    ``service``. Returns plain values: at least ``message`` and ``bundle`` (OpenJD), ``job_id``
    (OpenCue submitted) or ``xml``.
    """
    if farm not in FARMS:
        raise SpecError("farm", f"{farm!r} is not one of {', '.join(FARMS)}")
    cue = {k: options.pop(k) for k in ("xml", "show", "shot", "tags", "service") if k in options}
    bundle_dir = options.pop("bundle", None)
    bundle = ""
    if farm == "openjd":
        bundle = _bundle_folder(spec, bundle_dir, out_dir)
    if not options.get("job_dir"):  # the same name in a dry run as in the write after it
        from void_vfx.farm.job import job_dir_for, job_name
        from void_vfx.job.naming import output_dir

        options["job_dir"] = job_dir_for(output_dir(spec), job_name(spec), bundle or None)
    job = describe_job(spec, **options)
    base = {
        "farm": farm,
        "name": job.name,
        "windows": list(job.windows),
        "memory_mode": job.memory_mode,
        "gpu_mib": job.requirement.gpu_mib,
        "job_dir": job.job_dir,
    }
    if farm == "openjd":
        from void_vfx.farm.openjd import check_template, run_command, template, write_bundle

        checked = check_template(template(job))
        run = run_command(job, bundle)
        lines = [
            _summary(job),
            f"bundle: {bundle} (template {checked})",
            f"run it here: {run}",
            f"submit it:   deadline bundle submit {shlex.quote(bundle)}",
        ]
        if dry_run:
            return {
                **base,
                "bundle": bundle,
                "message": "dry run, nothing written\n" + "\n".join(lines),
                "openjd_run": run,
            }
        return {
            **base,
            "bundle": bundle,
            "files": write_bundle(job, bundle),
            "message": "\n".join(lines),
            "openjd_run": run,
        }

    ol_args = {k: cue[k] for k in ("show", "shot") if cue.get(k)}
    ol_args.update({k: cue[k] for k in ("tags", "service") if cue.get(k) is not None})
    ol = opencue.build_outline(job, **ol_args)
    xml_path = cue.get("xml")
    if dry_run:
        return {
            **base,
            "message": "dry run, nothing written or submitted\n" + _summary(job),
            "xml_text": opencue.job_xml(ol),
        }
    if xml_path is None and opencue.cuebot_configured():
        opencue.stage_spec(job)
        names = opencue.launch(ol)
        return {
            **base,
            "job_id": names[0] if names else job.name,
            "message": _summary(job) + f"\nsubmitted to OpenCue: {', '.join(names)}",
        }
    if xml_path is None:
        if out_dir is None:
            raise SpecError(
                "farm",
                "no Cuebot is configured (set CUEBOT_HOSTS or ~/.config/opencue/"
                "opencue.yaml): give --xml OUT to write the job XML instead",
            )
        xml_path = os.path.join(out_dir, f"{job.name}.cue.xml")

    opencue.stage_spec(job)
    text = opencue.job_xml(ol)
    xml_path = os.path.abspath(xml_path)
    with atomic_target(xml_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    return {
        **base,
        "xml": xml_path,
        "message": _summary(job) + f"\njob XML written to {xml_path} (no Cuebot submitted)",
    }


def _bundle_folder(spec: Any, bundle_dir: str | None, out_dir: str | None) -> str:
    """The OpenJD bundle's folder: the one asked for, else ``<out_dir>/<job name>`` or the
    first free ``_N`` after it."""

    if bundle_dir:
        return os.path.abspath(bundle_dir)
    bundle = os.path.abspath(os.path.join(out_dir or os.getcwd(), job_name(spec)))
    if os.path.isdir(bundle) and os.listdir(bundle):
        bundle = _free_name(bundle)
    return bundle


def _free_name(path: str) -> str:
    n = 2
    while os.path.isdir(f"{path}_{n}") and os.listdir(f"{path}_{n}"):
        n += 1
    return f"{path}_{n}"
