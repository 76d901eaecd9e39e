"""The shot-side reads and the job folder's window store, for :mod:`void_vfx.render.process`.

``Shot`` resolves a spec once: the plate's frames and size, its colour transform, and how each
frame's quadmask is made (built from mattes or snapped from a delivered quadmask, first frame
cleared), with every size checked from the headers before any work starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from void_vfx.errors import ColourError, ImageIOError, MaskError, SequenceError
from void_vfx.framerate import fps_text
from void_vfx.media.colour import ColourTransform
from void_vfx.media.colour_rules import config_for, resolve_spec_colour
from void_vfx.media.image_io import _open, _place_in_display, read_header, read_image
from void_vfx.media.resample import resize
from void_vfx.media.sequences import compact_ranges, find_sequence
from void_vfx.render.maskcache import CompactMask, MaskCache
from void_vfx.render.quadmask import build_quadmask, clear_first_frame_affected, snap_quadmask
from void_vfx.render.rowcache import RowCache, plate_rows

#: Pixels a snapped quadmask value may differ from the file's by before it counts as moved.
SNAP_TOLERANCE = 8.0

Warn = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


def header_fps(header) -> str:
    """The plate's FramesPerSecond attribute as ``num/den`` (or ``24`` when it has none)."""
    value = header.attributes.get("FramesPerSecond")
    if isinstance(value, list | tuple) and len(value) == 2 and value[0] > 0 and value[1] > 0:
        return fps_text(Fraction(int(value[0]), int(value[1])))
    return "24"


@dataclass
class Shot:
    """A spec resolved against the disk: plate frames, size, colour and mask sources."""

    spec: Any
    plate: Any  # sequences.Sequence
    frames: list[int]
    width: int
    height: int
    colour: Any  # colour.ColourTransform
    rgb_index: tuple[int, int, int]
    on_warning: Warn = _quiet
    _mask_seqs: dict[str, Any] = field(default_factory=dict)
    #: NaN/Inf values per plate frame (of the frames assembled so far), for the job's summary.
    nonfinite: dict[int, int] = field(default_factory=dict)
    _nan_told: set[int] = field(default_factory=set)
    #: Frame rate: the spec's, else the plate header's FramesPerSecond, else 24.
    fps: str = "24"
    #: Each frame's quadmask, made once (see :mod:`void_vfx.render.maskcache`).
    masks: MaskCache = field(init=False, repr=False)
    #: Plate rows decoded for a crop, kept for the frame's assembly (:mod:`.rowcache`).
    rows: RowCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.masks = MaskCache(self._make_mask)
        self.rows = RowCache()

    @classmethod
    def open(cls, spec, *, on_warning: Warn | None = None) -> Shot:

        plate = find_sequence(spec.plate)
        frames = plate.frames(tuple(spec.frame_range) if spec.frame_range else None)
        header = read_header(plate.path(frames[0]))
        try:
            # The spec's name in the spec's config, else the plate's own rules (never a role).
            config = config_for(getattr(spec, "ocio_config", "") or "")
            decision = resolve_spec_colour(spec, header, config=config)
            if decision.rule not in ("given", "attribute"):  # a deduction: said, with its rule
                (on_warning or _quiet)(
                    f"{header.path} (frame {frames[0]}): colour space {decision}; if that is "
                    'wrong, give --colourspace NAME ("colourspace" in a --spec file)'
                )
            colour = ColourTransform(decision.name, config, highlight=spec.highlight)
        except ColourError as exc:
            raise ColourError(
                f"{header.path} (frames {frames[0]}-{frames[-1]}): colourspace: {exc}"
            ) from exc
        seqs = {}
        for name in ("primary", "affected", "quadmask"):
            src = getattr(spec, name)
            if src is not None:
                seqs[name] = find_sequence(src.path)
        # Everything a header can tell is checked before the first window reaches the engine.
        others = [(f"{name} mask", seq, spec.mask.resize) for name, seq in seqs.items()]
        if getattr(spec, "pass1_result", None) is not None:
            others.append(("Pass 1 result", find_sequence(spec.pass1_result.path), False))
        _check_sizes(plate, frames, (header.width, header.height), others)
        return cls(
            spec,
            plate,
            frames,
            header.width,
            header.height,
            colour,
            rgb_channels(header.channel_names, header.path),
            on_warning or _quiet,
            seqs,
            fps=str(spec.fps).strip() or header_fps(header),
        )

    def note_frame(self, img, frame: int, *, whole: bool = False) -> None:
        """Check a plate frame just read against the shot's size; report its NaN/Inf values
        (once per frame) and, from a ``whole`` read (every channel, the data window), record
        their count for the summary."""
        if (img.header.width, img.header.height) != (self.width, self.height):
            raise ImageIOError(
                f"{img.path} (frame {frame}): size {img.header.width}x{img.header.height} differs "
                f"from {self.width}x{self.height}; a plate must have one resolution"
            )
        if whole and img.nonfinite:
            self.nonfinite[frame] = int(img.nonfinite)
        if img.nonfinite and frame not in self._nan_told:
            self._nan_told.add(frame)
            self.on_warning(
                f"{img.path} (frame {frame}): {img.nonfinite} NaN/Inf values, replaced for "
                "processing; outside the removed region the output keeps them as they are"
            )

    def mask_sources(self) -> str:
        """The mask patterns of this shot, for messages."""
        return ", ".join(f"{name} {seq.format()}" for name, seq in self._mask_seqs.items())

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def _read_matte(self, name: str, frame: int) -> np.ndarray:

        src = getattr(self.spec, name)
        path = self._mask_seqs[name].path(frame)
        quad = name == "quadmask"
        img = read_image(path, src.channel, frame=frame, pixel_format="native" if quad else "float")
        m = img.pixels[..., 0]
        if m.dtype.kind == "u" and m.shape != (self.height, self.width):
            m = m.astype(np.float32) / np.float32(np.iinfo(m.dtype).max)  # as a float read
        if m.shape != (self.height, self.width):
            if not self.spec.mask.resize:
                raise MaskError(
                    f"{path} (frame {frame}): {name} is {m.shape[1]}x{m.shape[0]} but the plate "
                    f"is {self.width}x{self.height}; render it at the plate's size or add "
                    "--mask-resize "
                    '("mask": {"resize": true} in a --spec file)'
                )
            m = resize(m, (self.height, self.width))
        if getattr(src, "invert", False) and name != "quadmask":
            m = 1.0 - m
        return m

    def quadmask(self, frame: int) -> np.ndarray:
        """The full-resolution quadmask (H, W) uint8 of one plate frame."""
        return self.masks.get(frame).full()

    def compact_quadmask(self, frame: int) -> CompactMask:
        """One frame's quadmask as its non-keep bounding box, made once per job."""
        return self.masks.get(frame)

    def snap_summary(self) -> str | None:
        """One sentence on what snapping a delivered quadmask moved over the frames seen."""
        if "quadmask" not in self._mask_seqs:
            return None
        return self.masks.snap_summary(SNAP_TOLERANCE, self._mask_seqs["quadmask"].format())

    def _make_mask(self, frame: int) -> CompactMask:
        m = self.spec.mask
        moved, max_error = 0, 0.0
        if "quadmask" in self._mask_seqs:
            raw = self._read_matte("quadmask", frame)
            scale = None
            if raw.dtype.kind == "f" and float(np.max(raw, initial=0.0)) > 2.0:
                scale = 1.0  # floats stored as 0-255
            q, rep = snap_quadmask(raw, tolerance=SNAP_TOLERANCE, float_scale=scale)
            moved, max_error = rep.moved, rep.max_error
        else:
            primary = self._read_matte("primary", frame)
            affected = (
                self._read_matte("affected", frame) if "affected" in self._mask_seqs else None
            )
            q = build_quadmask(
                primary,
                affected,
                primary_threshold=m.primary_threshold,
                affected_threshold=m.affected_threshold,
                dilate_px=m.dilate,
                soft_edge_px=getattr(m, "soft_edge", 0),
            )
        if m.clear_first_frame and frame == self.first:
            clear_first_frame_affected(q, inplace=True)
        return CompactMask.of(q, moved, max_error)

    def read_rows(
        self, path: str, frame: int, y0: int, y1: int, x0: int = 0, x1: int | None = None
    ) -> np.ndarray:
        """Display rows ``y0:y1`` (columns ``x0:x1``) of a plate frame's R, G, B, NaN/Inf left
        as they are: only the scanlines a window's crop needs are decoded. An all-half plate's
        rows come as its half values, read-only (they are the row cache's, and the colour
        conversion looks half values up in a table); other plates' as float32, a fresh array.
        Files whose data window is not the display window, or tiled ones, are read whole."""

        # An all-half plate of up to 8 channels: every channel (a scanline block is decompressed
        # whole anyway), so that assembly can reuse these rows; rows a previous window kept are
        # not decoded again. Wider plates read R, G, B alone, below.
        img = plate_rows(self.rows, path, frame, y0, y1, count=False, max_channels=8)
        if img is not None:
            self.rows.put(frame, path, y0, img.raw)
            c0 = self.rgb_index[0]
            picked = (
                slice(c0, c0 + 3) if self.rgb_index == (c0, c0 + 1, c0 + 2) else [*self.rgb_index]
            )
            rows = img.raw[:, x0:x1, picked]
            rows.flags.writeable = False
            return rows
        return self.decode_rows(path, frame, y0, y1, x0, x1)

    def decode_rows(
        self, path: str, frame: int, y0: int, y1: int, x0: int = 0, x1: int | None = None
    ) -> np.ndarray:
        """Display rows ``y0:y1`` (columns ``x0:x1``) of a plate frame's R, G, B as float32,
        decoded from the file (the row cache left alone): only those scanlines where the file
        allows, the whole frame where its data window is not the display window or it is tiled."""

        inp = _open(path, frame)
        try:
            spec = inp.spec()
            same = (spec.x, spec.y, spec.width, spec.height) == (
                spec.full_x,
                spec.full_y,
                spec.full_width,
                spec.full_height,
            )
            if same and spec.tile_width == 0:
                c0, c1 = min(self.rgb_index), max(self.rgb_index) + 1
                data = inp.read_scanlines(0, 0, spec.y + y0, spec.y + y1, 0, c0, c1, "float")
                if data is None or inp.has_error:
                    raise ImageIOError(
                        f"{path} (frame {frame}): cannot read pixels: "
                        f"{inp.geterror() or 'no data'}; the file is truncated or damaged: "
                        "re-render or re-copy it"
                    )
                data = data.reshape(y1 - y0, spec.width, c1 - c0)[:, x0:x1]
                return data[..., [i - c0 for i in self.rgb_index]].astype(np.float32, copy=False)
        finally:
            inp.close()
        img = read_image(path, frame=frame, raw=True)
        return img.raw[y0:y1, x0:x1][..., list(self.rgb_index)]


def _check_sizes(plate, frames, size, others: list[tuple[str, Any, bool]]) -> None:
    """Headers only: every plate frame has the first frame's size; each other sequence (name,
    sequence, may be resized) has a file for every plate frame and, unless it may be resized,
    the plate's size. Errors name the file and the frame."""

    w, h = size
    for f in frames[1:]:
        hd = read_header(plate.path(f), frame=f)
        if (hd.width, hd.height) != size:
            raise ImageIOError(
                f"{hd.path} (frame {f}): size {hd.width}x{hd.height} differs from {w}x{h} at "
                f"frame {frames[0]} ({plate.path(frames[0])}); a plate sequence must have one "
                "resolution: re-render or reformat that frame"
            )
    for name, seq, may_resize in others:
        if seq.is_still:
            needed = [frames[0]]
        else:
            files = seq.scan().files
            missing = [f for f in frames if files.get(f) != seq.path(f)]
            if missing:
                f = missing[0]
                raise SequenceError(
                    f"{seq.path(f)} (frame {f}): the {name} has no file for this plate frame "
                    f"(missing {compact_ranges(missing)} of the plate's {frames[0]}-{frames[-1]}); "
                    "render it over the plate's whole range"
                )
            needed = frames
        if may_resize:
            continue
        for f in needed:
            hd = read_header(seq.path(f), frame=f)
            if (hd.width, hd.height) != size:
                is_mask = "mask" in name
                fix = (
                    'add --mask-resize ("mask": {"resize": true} in a --spec file)'
                    if is_mask
                    else "use a result of this plate"
                )
                raise (MaskError if is_mask else ImageIOError)(
                    f"{hd.path} (frame {f}): the {name} is {hd.width}x{hd.height} but the "
                    f"plate is {w}x{h}; render it at the plate's size or {fix}"
                )


def rgb_channels(names, where: str = "") -> tuple[int, int, int]:
    """Indices of R, G, B among a plate's channel names (case-insensitive; first three else)."""
    lowered = [str(n).lower() for n in names]
    idx = []
    for c in "rgb":
        hits = [i for i, n in enumerate(lowered) if n == c or n.endswith("." + c)]
        idx.append(hits[0] if hits else None)
    if None in idx:
        if len(lowered) < 3:
            raise ImageIOError(
                f"{where}: the plate needs R, G, B channels (has {', '.join(names)})"
            )
        return (0, 1, 2)
    return tuple(idx)  # type: ignore[return-value]


def display_view(img):
    """The display-window view of a data-window read (``img`` itself when they coincide)."""
    h = img.header
    if h.data_window == h.display_window:
        return img

    pixels = _place_in_display(img.pixels, h)
    raw = pixels if img.raw is None or img.raw is img.pixels else _place_in_display(img.raw, h)
    return replace(img, pixels=pixels, raw=raw, origin=h.display_window[:2])


def onto_data_window(out: np.ndarray, img) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Put a display-window result back into the plate's own data window, so overscan (data
    beyond the display window) survives bit for bit. Returns (pixels, origin or None)."""
    h = img.header
    if h.data_window == h.display_window:
        return out, None
    dx, dy, dw, dh = h.data_window
    fx, fy, fw, fh = h.display_window
    base = (img.raw if img.raw is not None else img.pixels).copy()
    x0, y0, x1, y1 = max(dx, fx), max(dy, fy), min(dx + dw, fx + fw), min(dy + dh, fy + fh)
    if x1 > x0 and y1 > y0:
        base[y0 - dy : y1 - dy, x0 - dx : x1 - dx] = out[y0 - fy : y1 - fy, x0 - fx : x1 - fx]
    return base, (dx, dy)
