"""Build the same three-layer job for OpenCue with pyoutline (PyPI ``opencue-pyoutline``, import
name ``outline``), and submit it or write its job XML.

Layers: ``prepare`` (one frame), ``infer`` (one frame per window index, chunk 1, with the GPU
count and memory the memory mode needs, tags and service) and ``assemble`` (one frame); each
depends on the whole previous layer (``depend_all``: ``depend_on`` would be frame by frame).
OpenCue farms share one filesystem, so no path mapping is applied.
"""

from __future__ import annotations

import math
import os
import re
import shlex

from void_vfx.atomic import atomic_target
from void_vfx.errors import SpecError
from void_vfx.farm.job import FarmJob

FRAME_TOKEN = "#IFRAME#"
#: Tags and service of an infer layer that needs a GPU, unless given; a job that needs no GPU
#: (the preview engine) asks for neither, so it runs on any host under Cuebot's default service.
DEFAULT_TAGS = "gpu"
DEFAULT_SERVICE = "void"
#: Cuebot's rule for a tag (``JobSpec.java``: ``^([\w\.-]{3,})$``); pyoutline's own check
#: (``scrub_tags``: alphanumeric only) silently drops others, so tags go to it as a list.
TAG = re.compile(r"^([\w\.-]{3,})$", re.ASCII)


def _cmd(job: FarmJob, args: list[str]) -> str:
    """One shell command line; OpenCue joins list commands with bare spaces, so quote here
    (the frame token stays bare for RQD to replace)."""
    return " ".join(a if a == FRAME_TOKEN else shlex.quote(a) for a in [job.command, *args])


def parse_tags(tags: str) -> list[str]:
    """``gpu | a100`` (also ``,`` or space separated) as a list; SpecError for a tag Cuebot
    refuses (3 or more letters, digits, ``_``, ``.`` or ``-``)."""
    parts = [t.strip() for t in re.split(r"[|,\s]+", tags) if t.strip()]
    bad = [t for t in parts if not TAG.match(t)]
    if bad:
        raise SpecError(
            "--tags",
            f"Cuebot refuses the tag(s) {', '.join(map(repr, bad))}: a tag is 3 or "
            "more letters, digits, '_', '.' or '-' (e.g. --tags 'gpu | gpu_a100')",
        )
    return parts


def build_outline(
    job: FarmJob,
    *,
    show: str = "",
    shot: str = "",
    tags: str | None = None,
    service: str | None = None,
):
    """The pyoutline ``Outline`` of the job (layers prepare -> infer -> assemble)."""
    import outline
    from outline.modules.shell import Shell

    ol = outline.Outline(job.name, shot=shot or job.name, show=show or "testing")
    prepare = Shell(
        "prepare",
        command=_cmd(
            job,
            job.worker_args(
                "prepare",
                job_dir=job.job_dir,
                spec_file=os.path.join(job.job_dir, "submitted.json"),
            ),
        ),
        range="1",
        chunk=1,
    )
    req = job.requirement
    extra: dict = {}
    if req.gpus:
        extra = {"gpus": req.gpus, "gpu_memory": f"{math.ceil(req.gpu_mib / 1024)}g"}
    tags = tags if tags is not None else (DEFAULT_TAGS if req.gpus else "")
    service = service if service is not None else (DEFAULT_SERVICE if req.gpus else "")
    if tags.strip():
        extra["tags"] = parse_tags(tags)
    if service.strip():
        extra["service"] = service.strip()
    infer = Shell(
        "infer",
        command=_cmd(job, job.worker_args("run-window", job_dir=job.job_dir, window=FRAME_TOKEN)),
        range=_range(job.windows),
        chunk=1,
        **extra,
    )
    assemble = Shell(
        "assemble",
        command=_cmd(job, job.worker_args("assemble", job_dir=job.job_dir, out_dir=job.out_dir)),
        range="1",
        chunk=1,
    )
    for layer in (prepare, infer, assemble):
        ol.add_layer(layer)
    infer.depend_all(prepare)
    assemble.depend_all(infer)
    return ol


def _range(windows: list[int]) -> str:
    if windows == list(range(windows[0], windows[-1] + 1)):
        return f"{windows[0]}-{windows[-1]}" if len(windows) > 1 else str(windows[0])
    return ",".join(str(w) for w in windows)


def job_xml(ol) -> str:
    """The OpenCue job spec XML of an outline, with the commands run directly (no pycuerun)."""
    from outline.cuerun import OutlineLauncher

    return OutlineLauncher(ol).serialize(use_pycuerun=False)


def cuebot_configured() -> bool:
    """Whether pycue would find a Cuebot: ``CUEBOT_HOSTS``, or an opencue config file."""
    if os.environ.get("CUEBOT_HOSTS"):
        return True
    config = os.environ.get("OPENCUE_CONFIG_FILE") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"),
        "opencue",
        "opencue.yaml",
    )
    return os.path.isfile(config)


def stage_spec(job: FarmJob) -> str:
    """Copy the spec into the job folder for the prepare layer (OpenCue ships no files)."""

    os.makedirs(job.job_dir, exist_ok=True)
    path = os.path.join(job.job_dir, "submitted.json")
    with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(job.spec.to_json() + "\n")
    return path


def launch(ol) -> list[str]:
    """Submit to the configured Cuebot; return the job names."""
    from outline.cuerun import launch as cue_launch

    jobs = cue_launch(ol, use_pycuerun=False)
    return [j.name() if callable(getattr(j, "name", None)) else str(j) for j in jobs]
