"""One conform from start to end: read, find, resolve, plan, run, write, report.

Problems with one clip are collected as :class:`ShotError` and the run goes on; the return value
is the number of failed shots (the command's exit status, at most 100).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from void_vfx.conform.locate import PathMap
from void_vfx.conform.media import Options, resolve
from void_vfx.conform.problems import ShotError
from void_vfx.conform.rates import parse_rate
from void_vfx.conform.reading import read_timeline
from void_vfx.conform.report import build_report, write_report
from void_vfx.conform.shots import find_shots
from void_vfx.errors import SpecError


@dataclass
class BatchOptions:
    timeline: str
    output: str
    adapter: str | None = None
    rate: str | None = None
    maps: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    handles: int = 0
    templates: dict = field(default_factory=dict)
    media_out: str | None = None
    as_reference: bool = False
    report: str | None = None
    realign: bool = False
    otio_version: str = ""
    settings: dict = field(default_factory=dict)
    files_mode: str = "auto"
    shots: tuple[str, ...] = ()
    prompt: str = ""
    #: Each shot's review (contact sheet, before/after movie) beside its results.
    review: bool = False

    @property
    def media_root(self) -> str:
        if self.media_out:
            return os.path.abspath(self.media_out)
        stem = os.path.splitext(self.output)[0]
        return f"{stem}_media"

    @property
    def report_path(self) -> str:
        return self.report or f"{os.path.splitext(self.output)[0]}_report.json"


def resolve_all(options: BatchOptions):
    """(timeline, adapter, shot jobs to plan, ShotErrors, skipped) without running anything."""

    if options.handles < 0:
        raise SpecError("--handles", f"{options.handles} must be 0 or more frames")
    rate = parse_rate(options.rate)[0] if options.rate else None
    timeline, adapter = read_timeline(options.timeline, options.adapter, rate)
    base = os.path.dirname(os.path.abspath(options.timeline))
    paths = PathMap.parse(options.maps, base)
    media = Options(
        paths=paths,
        search=tuple(paths.apply(s) for s in options.search),
        handles=options.handles,
        templates=options.templates or None,
        decode_dir=os.path.join(options.media_root, "decoded"),
        realign=options.realign,
    )
    shots, skipped = find_shots(timeline, tuple(options.shots), options.prompt)
    resolved, failed = [], []
    for shot in shots:
        try:
            resolved.append(resolve(shot, media))
        except ShotError as exc:
            failed.append(exc)
    return timeline, adapter, resolved, failed, skipped


def conform(
    options: BatchOptions,
    *,
    client=None,
    engine: str = "",
    engine_choice: str = "auto",
    dry_run: bool = False,
    farm: str | None = None,
    out=None,
) -> int:
    """Run the conform; returns the number of failed shots (capped at 100)."""
    out = out or sys.stderr
    from void_vfx.conform.plan import check_mattes, describe, plan_jobs
    from void_vfx.conform.runner import run_on_farm, run_on_server
    from void_vfx.conform.writer import conformed, output_adapter, write_timeline

    if not dry_run and not farm:
        output_adapter(options.output)  # an extension no adapter writes: refused before any job
    timeline, adapter, resolved, failed, skipped = resolve_all(options)
    server = ""
    if client is not None:
        info = client.info()
        server = f"{client.host}:{client.port}"
        engine = engine_choice if engine_choice != "auto" else str(info.get("engine", "preview"))
        if engine not in ("preview", "void"):
            engine = "preview"
    jobs = plan_jobs(resolved, engine or "void", options.settings, options.media_root)
    jobs, misfits = check_mattes(jobs)  # a matte that cannot work fails its shot before any job
    failed.extend(misfits)
    if not jobs and not failed:
        print(
            f"{options.timeline}: no shot is marked: add a marker named VOID (its comment is "
            "the prompt) or clip metadata under 'void_vfx' (see the README)",
            file=out,
        )
    if dry_run:
        print(describe(jobs, failed, skipped))
        results = run_on_farm(jobs, farm, options.media_root, dry_run=True, out=out) if farm else []
        report = build_report(
            timeline=options.timeline,
            adapter=adapter,
            jobs=jobs,
            results=results,
            failed=failed,
            skipped=skipped,
            dry_run=True,
            engine=engine or "void",
            server=farm or "",
        )
        if options.report:
            write_report(report, options.report_path)
        return min(report["failed"], 100)
    for e in failed:
        print(f"FAILED {e}", file=out)
    for s in skipped:
        print(f"skipped {s.name} ({s.where}): {s.reason}", file=out)
    written = None
    if farm:
        results = run_on_farm(jobs, farm, options.media_root, out=out)
    else:
        results = run_on_server(
            jobs, client, options.media_root, options.files_mode, out=out, review=options.review
        )
        done = [r for r in results if r.pattern]
        out_tl = conformed(timeline, done, options.as_reference)
        args = {"style": _edl_style(options.timeline)} if adapter == "cmx_3600" else None
        written = write_timeline(out_tl, options.output, options.otio_version, args, done)
        if written.message:
            print(written.message, file=out)
        print(f"conformed timeline: {written.path} ({len(done)} shot(s) added)", file=out)
    report = build_report(
        timeline=options.timeline,
        adapter=adapter,
        jobs=jobs,
        results=results,
        failed=failed,
        skipped=skipped,
        written=written,
        dry_run=False,
        engine=engine,
        server=server or (farm or ""),
    )
    write_report(report, options.report_path)
    print(f"report: {options.report_path}; {report['failed']} shot(s) failed", file=out)
    return min(report["failed"], 100)


def _edl_style(path: str) -> str:
    """Write an EDL back in the dialect it came in (FROM FILE: nucoda, AX reels: premiere)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return "avid"
    if "* FROM FILE:" in text:
        return "nucoda"
    if "* FROM CLIP:" not in text and " AX " in text:
        return "premiere"
    return "avid"
