"""One render job: the spec, the shot, the window plan and the job folder, and its stages.

Every driver runs a shot through these stages and nothing else: the server's overlapped run
(:mod:`.pipeline`, :func:`~void_vfx.render.process.process_shot`) and the farm's three tasks
(:mod:`void_vfx.farm.stages`), so a farm job and a server job of one spec and seed give the same
frames. The stages: :meth:`RenderJob.open` checks the shot and keeps the plan in the folder;
:meth:`~RenderJob.todo` names the windows not yet committed; :meth:`~RenderJob.prepare` cuts a
window for the engine (or says it is a :class:`Skip`); :meth:`~RenderJob.commit` runs the engine
on it and commits the result; :meth:`~RenderJob.record` reads a commit back as a typed
:class:`~void_vfx.render.store.WindowRecord`; :meth:`~RenderJob.ready` says whether a frame's
windows are all committed; :meth:`~RenderJob.assemble` writes the frame.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from threading import Event
from typing import Any

from void_vfx.atomic import atomic_target
from void_vfx.errors import MaskError, PlanError
from void_vfx.media.image_io import read_header
from void_vfx.render.assemble import assemble_frame, compression_note
from void_vfx.render.engine import WindowInput
from void_vfx.render.prepare import prepare_window, shot_plan
from void_vfx.render.shot import Shot, Warn
from void_vfx.render.store import (
    WindowRecord,
    commit_skipped,
    commit_window,
    load_window_record,
)
from void_vfx.render.windows import Window, WindowPlan

PLAN_FILE = "plan.json"
MADE_BY_FILE = "made_by.json"

#: Spec fields that do not change what a job folder holds (windows, masks): where results go,
#: queue order, the file paths (a farm maps them per worker; the plan check covers frames), and
#: the finish, which assembly alone applies.
_NOT_IN_RESULTS = ("output", "priority", "schema", "finish")


def _quiet(_message: str) -> None:
    pass


@dataclass(frozen=True)
class Prepared:
    """A window cut out for the engine, and the record assembly needs to undo the cut."""

    window: Window
    input: WindowInput
    record: WindowRecord


@dataclass(frozen=True)
class Skip:
    """A window with nothing to remove: the plate passes through there."""

    window: Window
    reason: str


def nothing_removed(records: list[WindowRecord]) -> MaskError:
    """The error for a job whose every window was skipped.

    A job that would only copy the plate is almost always a matte read from the wrong channel or
    an empty roto: say so rather than write a version that changes nothing."""
    reason = records[0].reason if records and records[0].reason else "no object pixels"
    return MaskError(
        f"{reason}. Every window was skipped, so nothing would be removed: check the matte's "
        "channel (an alpha may be empty when the matte is in RGB), its threshold, and the frame "
        "range"
    )


class RenderJob:
    """A shot, its window plan and its job folder (see the module's docstring for the stages).

    ``warn`` hears every warning and each engine note once per job.
    """

    def __init__(self, shot: Shot, plan: WindowPlan, job_dir: str, *, warn: Warn = _quiet):
        self.spec = shot.spec
        self.shot = shot
        self.plan = plan
        self.job_dir = job_dir
        self.warn = warn
        #: Engine notes said so far (each is said once per job).
        self.notes: list[str] = []

    # -- open ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, spec, job_dir: str, *, on_warning: Warn | None = None) -> RenderJob:
        """The shot checked against the disk and the job's window plan (saved in ``job_dir``);
        each frame's quadmask is kept in ``job_dir`` once made. A job folder made by a spec with
        other settings is refused."""
        warn = on_warning or _quiet
        shot = Shot.open(spec, on_warning=warn)
        first = shot.frames[0]
        note = compression_note(spec, read_header(shot.plate.path(first), frame=first))
        if note:
            warn(note)  # a lossy plate written lossless by default: said once per job
        _check_same_spec(job_dir, spec)
        plan = _load_or_save_plan(job_dir, shot)
        shot.masks.attach(job_dir)
        return cls(shot, plan, job_dir, warn=warn)

    def window(self, index: int) -> Window:
        for w in self.plan.windows:
            if w.index == index:
                return w
        raise PlanError(
            f"window {index} is not in the plan (windows 0-{len(self.plan.windows) - 1})"
        )

    # -- records ------------------------------------------------------------------------------
    def record(self, index: int) -> WindowRecord | None:
        """A window's commit record, or None while it is not (completely) committed."""
        return load_window_record(self.job_dir, index)

    def records(self) -> dict[int, WindowRecord | None]:
        return {w.index: self.record(w.index) for w in self.plan.windows}

    def todo(self, records: dict[int, WindowRecord | None] | None = None) -> list[Window]:
        """The windows not yet committed, in order (a rerun resumes with these)."""
        records = self.records() if records is None else records
        return [w for w in self.plan.windows if records[w.index] is None]

    def ready(
        self, frame: int, records: dict[int, WindowRecord | None]
    ) -> list[WindowRecord] | None:
        """The records of the windows covering ``frame`` once all are committed, else None."""
        cover = [records.get(w.index) for w, _ in self.plan.windows_for_frame(frame)]
        return None if any(r is None for r in cover) else cover

    def check_removes(self, records: dict[int, WindowRecord | None]) -> None:
        """Raise :func:`nothing_removed` when every window is committed as skipped."""
        if all(r is not None and r.skipped for r in records.values()):
            raise nothing_removed([records[w.index] for w in self.plan.windows])

    # -- one window ---------------------------------------------------------------------------
    def prepare(
        self, window: Window, *, pool: Executor | None = None, stop: Event | None = None
    ) -> Prepared | Skip:
        """Cut ``window`` out for the engine, or a :class:`Skip` when its mask has no object."""
        window_input, ctx = prepare_window(
            self.spec, self.plan, window, shot=self.shot, pool=pool, stop=stop
        )
        if window_input is None:
            return Skip(window, ctx)
        return Prepared(window, window_input, ctx)

    def commit(
        self,
        item: Prepared | Skip,
        engine_fn: Callable[[Any], Any],
        *,
        before_engine: Callable[[Window], None] | None = None,
    ) -> WindowRecord:
        """Commit a prepared window: a skip is said and recorded; otherwise ``engine_fn`` runs
        on it (``before_engine(window)`` first), its new notes are said and its result stored.
        Returns the record committed."""
        w = item.window
        if isinstance(item, Skip):
            self.warn(item.reason)
            commit_skipped(self.job_dir, w, item.reason)
            return WindowRecord.skip(w, item.reason)
        if before_engine is not None:
            before_engine(w)
        result = engine_fn(item.input)
        for note in getattr(result, "notes", ()):
            if note not in self.notes:
                self.notes.append(note)
                self.warn(note)
        commit_window(self.job_dir, w, result, item.record)
        return item.record

    # -- frames -------------------------------------------------------------------------------
    def assemble(
        self,
        frame: int,
        records: list[WindowRecord],
        out_dir: str,
        *,
        stem: str | None = None,
        stop: Event | None = None,
    ) -> str | None:
        """Write ``frame`` from its windows' ``records`` (:meth:`ready`); returns its path, or
        None for a frame patch mode leaves out. Its mask and rows leave memory."""
        path = assemble_frame(
            self.job_dir, self.shot, self.plan, out_dir, frame, records, stem=stem, stop=stop
        )
        self.shot.masks.drop(frame)
        self.shot.rows.drop(frame)
        return path

    def finish(self) -> None:
        """Say once per job what snapping a delivered quadmask moved."""
        snapped = self.shot.snap_summary()
        if snapped:
            self.warn(snapped)


def _load_or_save_plan(job_dir: str, shot: Shot) -> WindowPlan:
    """The job's plan: the saved one on resume (it must still cover the plate), else a new one.

    Always the plan as read back from ``plan.json``: its crossfade weights are the saved, rounded
    ones, so a resumed job assembles exactly the bits of an uninterrupted one.
    """
    path = os.path.join(job_dir, PLAN_FILE)
    plan = shot_plan(shot)
    if not os.path.isfile(path):
        with atomic_target(path) as tmp, open(tmp, "w") as fh:
            fh.write(plan.to_json())
    with open(path) as fh:
        saved = WindowPlan.from_json(fh.read())
    if (saved.first, saved.last) != (plan.first, plan.last) or saved.windows != plan.windows:
        raise PlanError(
            f"{path}: the saved window plan ({saved.first}-{saved.last}) no longer matches the "
            f"plate ({plan.first}-{plan.last}); start a new job folder"
        )
    return saved


def _what_makes_results(spec) -> dict[str, Any]:
    data = spec.to_dict()
    for name in _NOT_IN_RESULTS:
        data.pop(name, None)
    data.pop("plate", None)
    for name in ("primary", "affected", "quadmask", "pass1_result"):
        if isinstance(data.get(name), dict):
            data[name] = {k: v for k, v in data[name].items() if k != "path"}
    return data


def _check_same_spec(job_dir: str, spec) -> None:
    """Keep in ``job_dir`` what made its windows and masks; a rerun with other settings (a
    prompt, a seed, mask thresholds) would otherwise reuse results that are not its own."""
    path = os.path.join(job_dir, MADE_BY_FILE)
    mine = _what_makes_results(spec)
    if not os.path.isfile(path):
        os.makedirs(job_dir, exist_ok=True)
        with atomic_target(path) as tmp, open(tmp, "w") as fh:
            json.dump(mine, fh, indent=1, sort_keys=True)
        return
    with open(path) as fh:
        saved = json.load(fh)
    changed = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
    if changed:
        raise PlanError(
            f"{job_dir}: this job folder holds the results of another spec (it differs in "
            f"{', '.join(changed)}); start a new job folder, or put those settings back to resume"
        )
