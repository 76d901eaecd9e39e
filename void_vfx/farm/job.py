"""What a farm job is, whatever the farm: a name, the spec, the window indices, where the job
folder and the outputs live, the GPU requirement and the worker command lines.

Both writers (:mod:`.openjd`, :mod:`.opencue`) build on :func:`describe_job`, which opens the
shot on the submitting machine (every frame and matte is checked from the headers, so a broken
plate fails here and not on the farm) and plans its windows exactly as the Prepare task will.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from void_vfx.errors import SpecError
from void_vfx.farm.memory import DEFAULT_MODE, MODES, Requirement, requirement
from void_vfx.job.naming import output_base, output_dir
from void_vfx.job.spec import FILE_FIELDS
from void_vfx.media.sequences import find_sequence

#: The command a worker runs (``void-vfx`` on its PATH unless told otherwise).
DEFAULT_COMMAND = "void-vfx"


@dataclass
class FarmJob:
    """One shot as a Prepare -> Infer -> Assemble job."""

    name: str
    spec: Any
    first: int
    last: int
    windows: list[int]
    window_frames: int
    requirement: Requirement
    job_dir: str
    out_dir: str
    inputs: list[str] = field(default_factory=list)
    engine: str = "void"
    weights: str = ""
    checkpoints: str = ""
    raft: str = ""
    otio: bool = False
    command: str = DEFAULT_COMMAND

    @property
    def memory_mode(self) -> str:
        return self.requirement.mode

    def engine_args(
        self, *, engine: str = "", weights: str = "", checkpoints: str = "", raft: str = ""
    ) -> list[str]:
        """The worker's engine options; the memory mode is literal (the GPU requirement was
        sized for it), the others may be farm tokens such as ``{{Param.Weights}}``."""
        return [
            "--engine",
            engine or self.engine,
            "--weights",
            weights or self.weights,
            "--checkpoints",
            checkpoints or self.checkpoints,
            "--raft",
            raft or self.raft,
            "--memory-mode",
            self.memory_mode,
        ]

    def worker_args(
        self,
        stage: str,
        *,
        job_dir: str,
        spec_file: str = "",
        window: str = "",
        out_dir: str = "",
        rules: str = "",
        engine: list[str] | None = None,
    ) -> list[str]:
        """Arguments after the command for one stage (the farm substitutes its own tokens)."""
        mapping = ["--path-mapping-rules", rules] if rules else []
        eng = self.engine_args() if engine is None else engine
        if stage == "prepare":
            return [
                "worker",
                "prepare",
                spec_file,
                "--job-dir",
                job_dir,
                "--expect-windows",
                str(len(self.windows)),
                *mapping,
            ]
        if stage == "run-window":
            return ["worker", "run-window", job_dir, window, *eng, *mapping]
        if stage == "engine-start":
            return ["worker", "engine-start", *eng]
        if stage == "engine-stop":
            return ["worker", "engine-stop"]
        if stage == "assemble":
            extra = ["--otio"] if self.otio else []
            return ["worker", "assemble", job_dir, "--output-dir", out_dir, *extra, *mapping]
        raise ValueError(f"unknown stage {stage!r}")

    @property
    def resident_engine(self) -> bool:
        """Whether a worker keeps the engine loaded across the session's windows: an engine
        with weights to load (VOID); the preview engine loads nothing."""
        return self.engine != "preview"


#: OpenJD's limit on a job template's name (openjd-model ``JobTemplateName``: 1-128 characters).
MAX_NAME = 128


def job_name(spec: Any) -> str:
    """``<output name or plate stem>_void``, letters, digits, ``_`` and ``-`` only, at most
    :data:`MAX_NAME` characters: a longer one keeps its head and a hash of the whole, so two
    long names that share a head stay apart."""

    name = re.sub(r"[^A-Za-z0-9_-]+", "_", output_base(spec)).strip("_") or "void_job"
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9].rstrip('_-')}_{digest}"
    return name


def default_job_dir(out_dir: str, name: str) -> str:
    """``.void-vfx-farm/<name>-<id>`` beside the output folder, never inside it: OpenJD's job
    folder is INOUT, which Deadline syncs both ways, so caches inside OUT would travel back as
    output and stay there."""
    parent = os.path.dirname(os.path.abspath(out_dir).rstrip(os.sep)) or os.sep
    return os.path.join(parent, ".void-vfx-farm", f"{name}-{uuid.uuid4().hex[:8]}")


def job_dir_for(out_dir: str, name: str, bundle: str | None = None) -> str:
    """The job folder a submission gets, the same in a dry run as in the real write that
    follows it: for an OpenJD bundle, one named after the bundle's folder (the bundle is
    written into a free folder, and one bundle run again resumes its own job folder); else the
    first ``<name>-NNN`` not there yet (an OpenCue submission makes it)."""

    parent = os.path.join(
        os.path.dirname(os.path.abspath(out_dir).rstrip(os.sep)) or os.sep, ".void-vfx-farm"
    )
    if bundle:
        key = hashlib.sha256(os.path.abspath(bundle).encode("utf-8")).hexdigest()[:8]
        return os.path.join(parent, f"{name}-{key}")
    n = 1
    while os.path.lexists(os.path.join(parent, f"{name}-{n:03d}")):
        n += 1
    return os.path.join(parent, f"{name}-{n:03d}")


def input_files(spec: Any, frames: list[int]) -> list[str]:
    """Every file the job reads: plate, mattes and a saved Pass 1 result, frame by frame."""

    files: list[str] = []
    for name in FILE_FIELDS:
        value = getattr(spec, name)
        if value is None:
            continue
        seq = find_sequence(value if isinstance(value, str) else value.path)
        for f in frames:
            path = seq.path(f)
            if os.path.isfile(path):
                files.append(os.path.abspath(path))
    return files


def describe_job(
    spec: Any,
    *,
    job_dir: str | None = None,
    memory_mode: str = DEFAULT_MODE,
    engine: str | None = None,
    weights: str = "",
    checkpoints: str = "",
    raft: str = "",
    otio: bool = False,
    command: str = DEFAULT_COMMAND,
    on_warning=None,
) -> FarmJob:
    """The farm job of a spec. ``job_dir``: a folder every worker can reach (default: a new
    ``.void-vfx-farm/<name>-<id>`` beside the output folder, which the farm reaches anyway)."""
    from void_vfx.render.prepare import shot_plan
    from void_vfx.render.shot import Shot

    spec.validate()
    if memory_mode not in MODES:
        raise SpecError(
            "memory_mode", f"{memory_mode!r} is not one of {', '.join(MODES)} (--memory-mode)"
        )
    shot = Shot.open(spec, on_warning=on_warning)
    plan = shot_plan(shot)
    name = job_name(spec)
    out = output_dir(spec)
    folder = job_dir or default_job_dir(out, name)
    frames = max(w.length for w in plan.windows)
    eng = engine or spec.engine
    return FarmJob(
        name=name,
        spec=spec,
        first=plan.first,
        last=plan.last,
        windows=[w.index for w in plan.windows],
        window_frames=frames,
        requirement=requirement(eng, memory_mode, frames),
        job_dir=os.path.abspath(folder),
        out_dir=out,
        inputs=input_files(spec, list(shot.frames)),
        engine=eng,
        weights=weights,
        checkpoints=checkpoints,
        raft=raft,
        otio=otio,
        command=command,
    )
