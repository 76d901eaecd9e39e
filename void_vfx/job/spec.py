"""The job spec: one serialisable, versioned description of a removal.

Data flows one way: a host (Nuke, Resolve, the CLI, a farm) fills a ``JobSpec``, the server runs
it, the results come back. A spec is plain data, JSON on the wire and on disk, with a ``schema``
field so that a newer server can refuse or upgrade an older spec. Standard library only: Nuke's
and Resolve's Pythons import this module from a folder on their path.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from fractions import Fraction
from typing import Any

from void_vfx.errors import SpecError
from void_vfx.framerate import exact_rate
from void_vfx.job.engine_params import check_params
from void_vfx.job.naming import MAX_VERSION, safe_component
from void_vfx.media.colour_names import ColourNameError, check_name, config_kind
from void_vfx.media.exr_codecs import COMPRESSIONS
from void_vfx.media.sequences import MAX_FRAME_NUMBER, MAX_RANGE_FRAMES
from void_vfx.model_facts import (
    DEFAULT_MIN_WINDOW,
    DEFAULT_WINDOW_OVERLAP,
    MAX_FRAMES,
    PASS1_GUIDANCE,
    PASS1_STEPS,
    PASS2_GUIDANCE,
    PASS2_STEPS,
    window_settings_problem,
)

SCHEMA = "void-vfx/job/1"
#: The largest spec a server takes (JSON text, UTF-8 bytes); paths and a prompt fit many times.
MAX_SPEC_BYTES = 256 * 1024
#: The longest prompt: T5 reads 226 tokens (about 1000 characters of English), the rest is cut.
MAX_PROMPT_CHARS = 4000
#: The longest path or pattern in a spec.
MAX_PATH_CHARS = 4096
#: Priorities run from -100 to 100; higher runs first.
PRIORITY_RANGE = (-100, 100)
ENGINES = ("void", "preview")
ROI_MODES = ("crop", "full")
PIXEL_TYPES = ("half", "float")
HIGHLIGHTS = ("shoulder", "clip")
OUTPUT_MODES = ("full", "patch")
#: Fields naming files: a client uploads them in stream mode, the server rewrites their paths.
FILE_FIELDS = ("plate", "primary", "affected", "quadmask", "pass1_result")


@dataclass
class MatteSource:
    """A matte: a frame pattern and the channel holding the matte (``a``, ``r``, ``mask.a``...)."""

    path: str
    channel: str = "a"
    invert: bool = False


@dataclass
class MaskSettings:
    """How mattes become a quadmask."""

    primary_threshold: float = 0.5
    affected_threshold: float = 0.5
    dilate: int = 0
    clear_first_frame: bool = True
    resize: bool = False
    #: Pixels of the primary matte's soft (anti-aliased, blurred) edge beside its solid part
    #: that count as the object, whatever their coverage (above noise); 0 = the threshold alone.
    soft_edge: int = 4


@dataclass
class WindowSettings:
    """Temporal windows, see :func:`void_vfx.render.windows.plan_windows`."""

    min_length: int = DEFAULT_MIN_WINDOW
    max_length: int = MAX_FRAMES
    overlap: int = DEFAULT_WINDOW_OVERLAP


@dataclass
class RoiSettings:
    """Region of interest: ``crop`` around the mask (margin as a fraction of the box) or
    ``full``."""

    mode: str = "crop"
    margin: float = 0.15
    feather: int = 8


@dataclass
class SamplingSettings:
    """Diffusion settings; the defaults are those of the released scripts."""

    passes: int = 1
    pass1_steps: int = PASS1_STEPS
    pass1_guidance: float = PASS1_GUIDANCE
    pass2_steps: int = PASS2_STEPS
    pass2_guidance: float = PASS2_GUIDANCE
    seed: int = 0


@dataclass
class OutputSettings:
    """Where results go. ``dir`` empty means the submitting process's current folder (never the
    plate's: plate folders are often locked); ``version`` 0 means the next free version."""

    dir: str = ""
    name: str = ""
    version: int = 0
    #: EXR compression: "auto" (the plate's own unless it is lossy, DWA or B44, then ZIP: every
    #: pixel outside the fix stays the plate's), "plate" (the plate's own, with its DWA level,
    #: lossy or not; ZIP for a plate that is not an EXR), or one of COMPRESSIONS, optionally
    #: with a level ("zip:1", "dwaa:45").
    compression: str = "auto"
    pixel_type: str = "half"
    #: "full": whole frames (unchanged ones copied from the plate when the format matches);
    #: "patch": each EXR's data window only the region the removal changed (Nuke reads it as a
    #: bounding box over the plate), no file for a frame nothing changed.
    mode: str = "full"


@dataclass
class FinishSettings:
    """What assembly does to the engine's enlarged fill (:mod:`void_vfx.render.finish`):
    ``detail`` brings the plate's fine detail in from frames that see the background, ``grain``
    puts the plate's measured grain back. Both off: the fill exactly as the engine made it."""

    detail: bool = True
    grain: bool = True


@dataclass
class JobSpec:
    """A removal: plate, frames, colour, masks, prompt, sampling, region and output."""

    plate: str
    primary: MatteSource | None = None
    affected: MatteSource | None = None
    quadmask: MatteSource | None = None
    #: A saved Pass 1 result (a void-vfx output sequence of this plate): run Pass 2 alone on it.
    pass1_result: MatteSource | None = None
    frame_range: tuple[int, int] | None = None
    #: Frame rate; empty means the plate's own (its FramesPerSecond header), else 24.
    fps: str = ""
    colourspace: str = ""
    #: The OCIO config ``colourspace`` is named in: "" (the server's: $OCIO, else the ACES
    #: studio config), an ``ocio://`` built-in, ``nuke-default``, or a config.ocio's path
    #: (see void_vfx.media.colour_names).
    ocio_config: str = ""
    highlight: str = "shoulder"
    prompt: str = ""
    engine: str = "void"
    #: The engine's own options (:mod:`void_vfx.job.engine_params`), e.g. the preview's
    #: ``{"static_camera": true, "grow_px": 6}``; an unknown name is refused.
    params: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    mask: MaskSettings = field(default_factory=MaskSettings)
    window: WindowSettings = field(default_factory=WindowSettings)
    roi: RoiSettings = field(default_factory=RoiSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    finish: FinishSettings = field(default_factory=FinishSettings)
    schema: str = SCHEMA

    # -- validation -------------------------------------------------------------------------

    def validate(self) -> JobSpec:
        """Raise ``SpecError`` naming the first field at fault; return self when valid."""
        if self.schema != SCHEMA:
            raise SpecError(
                "schema", f"unsupported spec schema {self.schema!r}; expected {SCHEMA!r}"
            )
        if not isinstance(self.plate, str) or not self.plate.strip():
            raise SpecError("plate", "no plate given: set a frame pattern such as plate.####.exr")
        if self.quadmask is None and self.primary is None:
            raise SpecError("primary", "give a primary-object matte or a quadmask")
        if self.quadmask is not None and (self.primary is not None or self.affected is not None):
            raise SpecError(
                "quadmask", "give either a quadmask or mattes (primary/affected), not both"
            )
        if self.pass1_result is not None and self.sampling.passes != 2:
            raise SpecError(
                "pass1_result",
                "a saved Pass 1 result is only used by Pass 2: set sampling.passes 2",
            )
        for name in ("primary", "affected", "quadmask", "pass1_result"):
            src = getattr(self, name)
            if src is not None and (not isinstance(src.path, str) or not src.path.strip()):
                raise SpecError(f"{name}.path", "empty path")
            if src is not None and not src.channel:
                raise SpecError(f"{name}.channel", "empty channel name")
        if self.frame_range is not None:
            a, b = self.frame_range
            if b < a:
                raise SpecError("frame_range", f"last frame {b} comes before first frame {a}")
            if max(abs(a), abs(b)) > MAX_FRAME_NUMBER:
                raise SpecError(
                    "frame_range", f"frame numbers must be within +-{MAX_FRAME_NUMBER}, got {a}-{b}"
                )
            if b - a + 1 > MAX_RANGE_FRAMES:
                raise SpecError(
                    "frame_range",
                    f"{a}-{b} is {b - a + 1} frames; one job takes at most {MAX_RANGE_FRAMES} "
                    "(split the shot into several jobs)",
                )
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise SpecError(
                "prompt",
                f"{len(self.prompt)} characters; at most {MAX_PROMPT_CHARS} (the model reads about "
                "1000 characters: describe the scene without the object in a sentence or two)",
            )
        lo, hi = PRIORITY_RANGE
        if not lo <= self.priority <= hi:
            raise SpecError("priority", f"{self.priority} must be {lo}..{hi} (higher runs first)")
        for name, value in _path_fields(self):
            if len(value) > MAX_PATH_CHARS:
                raise SpecError(name, f"longer than {MAX_PATH_CHARS} characters")
        try:
            if str(self.fps).strip():
                self.fps_fraction()
        except (ValueError, ZeroDivisionError) as exc:
            raise SpecError("fps", f"{self.fps!r} is not a frame rate ({exc})") from exc
        _check_colour(self)
        _one_of("highlight", self.highlight, HIGHLIGHTS)
        _one_of("engine", self.engine, ENGINES)
        self.params = check_params(self.engine, self.params)
        m = self.mask
        for name in ("primary_threshold", "affected_threshold"):
            value = getattr(m, name)
            if not 0.0 <= value < 1.0:
                raise SpecError(f"mask.{name}", f"{value} must be in [0, 1)")
        if m.dilate < 0:
            raise SpecError("mask.dilate", f"{m.dilate} must be >= 0 pixels")
        if not 0 <= m.soft_edge <= 64:
            raise SpecError("mask.soft_edge", f"{m.soft_edge} must be 0..64 pixels")
        w = self.window
        problem = window_settings_problem(w.min_length, w.max_length, w.overlap)
        if problem is not None:
            raise SpecError(f"window.{problem[0]}", problem[1])
        _one_of("roi.mode", self.roi.mode, ROI_MODES)
        if not 0.0 <= self.roi.margin <= 4.0:
            raise SpecError("roi.margin", f"{self.roi.margin} must be a fraction between 0 and 4")
        if self.roi.feather < 0:
            raise SpecError("roi.feather", f"{self.roi.feather} must be >= 0 pixels")
        s = self.sampling
        if s.passes not in (1, 2):
            raise SpecError("sampling.passes", f"{s.passes} must be 1 or 2")
        for name in ("pass1_steps", "pass2_steps"):
            if not 1 <= getattr(s, name) <= 1000:
                raise SpecError(f"sampling.{name}", f"{getattr(s, name)} must be 1..1000")
        for name in ("pass1_guidance", "pass2_guidance"):
            if not 0.0 <= getattr(s, name) <= 50.0:
                raise SpecError(f"sampling.{name}", f"{getattr(s, name)} must be 0..50")
        if not 0 <= s.seed < 2**63:
            raise SpecError("sampling.seed", f"{s.seed} must be 0..2**63-1")
        o = self.output
        codec, sep, level = o.compression.partition(":")
        _one_of("output.compression", codec, ("auto", "plate", *COMPRESSIONS))
        if codec in ("auto", "plate") and sep:
            raise SpecError(
                "output.compression", f"{codec} takes no level (it is the plate's own codec)"
            )
        if sep and not level.replace(".", "", 1).isdigit():
            raise SpecError("output.compression", f"level {level!r} must be a number (dwaa:45)")
        _one_of("output.pixel_type", o.pixel_type, PIXEL_TYPES)
        _one_of("output.mode", o.mode, OUTPUT_MODES)
        if not 0 <= o.version <= MAX_VERSION:
            raise SpecError(
                "output.version", f"{o.version} must be 0..{MAX_VERSION} (0 = next free version)"
            )
        if o.name:
            safe_component(o.name, "output.name")
        if not isinstance(self.finish, FinishSettings):
            raise SpecError("finish", 'expected an object such as {"detail": true, "grain": true}')
        return self

    def fps_fraction(self) -> Fraction:
        """The frame rate as an exact fraction (23.976 means 24000/1001)."""
        rate = exact_rate(self.fps)
        if rate <= 0:
            raise ValueError("must be positive")
        return rate

    def engine_params(self) -> dict[str, Any]:
        """Plain values an engine needs for each window (``WindowInput.params``).

        ``passes`` is 1, 2, or ``"pass2"`` when Pass 2 runs alone on ``pass1_result``; each pass
        gets its own ``steps`` and ``guidance``; the spec's ``params`` (the engine's own options,
        checked against its table) come beside them.
        """
        s = self.sampling
        passes: int | str = "pass2" if self.pass1_result is not None else s.passes
        return {
            **self.params,
            "passes": passes,
            "pass1": {"steps": s.pass1_steps, "guidance": s.pass1_guidance},
            "pass2": {"steps": s.pass2_steps, "guidance": s.pass2_guidance},
        }

    # -- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.frame_range is not None:
            data["frame_range"] = list(self.frame_range)
        if not data["params"]:  # no engine options: the same JSON (job keys, records) as before
            del data["params"]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        """Build and validate a spec; unknown or mistyped fields are named in the error."""
        if type(data) is not dict:
            raise SpecError("<spec>", f"expected a JSON object, got {type(data).__name__}")
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise SpecError("schema", f"unsupported spec schema {schema!r}; expected {SCHEMA!r}")
        kwargs = _typed_fields(cls, data, "")
        return cls(**kwargs).validate()

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        """Parse and validate JSON text of at most :data:`MAX_SPEC_BYTES`."""
        if type(text) is not str:
            raise SpecError("<spec>", f"expected JSON text, got {type(text).__name__}")
        if len(text) > MAX_SPEC_BYTES or len(text.encode("utf-8", "replace")) > MAX_SPEC_BYTES:
            raise SpecError(
                "<spec>",
                f"{len(text)} characters; a job spec is at most {MAX_SPEC_BYTES} bytes "
                "(a long prompt? it is read up to about 1000 characters)",
            )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError("<spec>", f"not valid JSON: {exc}") from exc
        return cls.from_dict(data)


_NESTED = {
    "primary": MatteSource,
    "affected": MatteSource,
    "quadmask": MatteSource,
    "pass1_result": MatteSource,
    "mask": MaskSettings,
    "window": WindowSettings,
    "roi": RoiSettings,
    "sampling": SamplingSettings,
    "output": OutputSettings,
    "finish": FinishSettings,
}


def _typed_fields(cls: type, data: dict[str, Any], prefix: str) -> dict[str, Any]:
    known = {f.name: f for f in fields(cls)}
    odd = [k for k in data if type(k) is not str]
    if odd:
        raise SpecError(prefix + "<key>", f"field names must be text, got {odd[0]!r}")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise SpecError(
            prefix + unknown[0], f"unknown field; known fields: {', '.join(sorted(known))}"
        )
    for f in known.values():
        if f.name not in data and f.default is MISSING and f.default_factory is MISSING:
            raise SpecError(prefix + f.name, "required field is missing")
    out: dict[str, Any] = {}
    for name, value in data.items():
        path = prefix + name
        sub = _NESTED.get(name) if cls in (JobSpec,) else None
        if sub is not None:
            if value is None:
                out[name] = None
                continue
            if type(value) is not dict:
                raise SpecError(path, f"expected an object, got {type(value).__name__}")
            out[name] = sub(**_typed_fields(sub, value, path + "."))
        elif name == "frame_range":
            out[name] = _frame_range(path, value)
        elif name == "params" and cls is JobSpec:  # checked against the engine's table
            out[name] = value
        else:
            out[name] = _coerce(path, value, known[name].default)
    return out


def _frame_range(path: str, value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if (
        type(value) not in (list, tuple)
        or len(value) != 2
        or any(type(v) is not int for v in value)
    ):
        raise SpecError(path, f"expected [first, last] integers, got {value!r}")
    return (value[0], value[1])


def _coerce(path: str, value: Any, default: Any) -> Any:
    """Check a leaf value against the type of its default: exact built-in types only (a ``str``
    subclass, ``bool`` for an int, NaN or a huge int are refused here, not deep in a job)."""
    kind = type(value)
    if type(default) is bool:
        ok = kind is bool
    elif type(default) is int:
        ok = kind is int and abs(value) < 2**63
    elif type(default) is float:
        ok = kind in (int, float) and math.isfinite(value)
        value = float(value) if ok else value
    elif type(default) is str:
        ok = kind is str or (path == "fps" and kind in (int, float) and math.isfinite(value))
        value = str(value) if ok else value
    else:  # no default: the required fields (plate, a matte's path) are text
        ok = kind is str
    if not ok:
        raise SpecError(path, f"expected {type(default).__name__}, got {value!r}")
    return value


def file_patterns(spec: JobSpec) -> dict[str, str]:
    """The file pattern of each file field that is set (:data:`FILE_FIELDS`): the plate's text,
    a matte's ``path``."""
    out = {}
    for name in FILE_FIELDS:
        value = getattr(spec, name)
        path = value.path if isinstance(value, MatteSource) else value
        if path:
            out[name] = path
    return out


def set_file_pattern(spec: JobSpec, name: str, path: str) -> None:
    """Point file field ``name`` (one of :data:`FILE_FIELDS`) at ``path``."""
    value = getattr(spec, name)
    if isinstance(value, MatteSource):
        value.path = path
    else:
        setattr(spec, name, path)


def _path_fields(spec: JobSpec) -> list[tuple[str, str]]:
    """(field, path) of every path-like text in the spec."""
    out = [
        ("plate", spec.plate),
        ("output.dir", spec.output.dir),
        ("output.name", spec.output.name),
    ]
    for name in ("primary", "affected", "quadmask", "pass1_result"):
        src = getattr(spec, name)
        if src is not None:
            out.append((f"{name}.path", src.path))
    return out


def _check_colour(spec: JobSpec) -> None:
    """The config reference's form, and a name Nuke's default config lacks (OCIO checks the
    rest where it is installed)."""
    try:
        config_kind(spec.ocio_config)
    except ColourNameError as exc:
        raise SpecError("ocio_config", str(exc)) from None
    try:
        check_name(spec.ocio_config, spec.colourspace)
    except ColourNameError as exc:
        raise SpecError("colourspace", str(exc)) from None


def _one_of(path: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(path, f"{value!r} is not one of {', '.join(allowed)}")
