"""Turn committed windows back into full-resolution frames of the plate.

Each window's result is resized back, returned to the plate's colour space, crossfaded with
overlapping windows and pasted into the plate under the feathered mask; every other pixel keeps
the plate's own bits. Header, channels and data window of the plate are carried.

``output.mode`` "full" writes whole frames; a frame no window changed is the plate file copied
byte for byte when its compression and pixel type are the output's (else re-encoded), and in a
changed frame of such a plate (single-part scanline, no overscan) only the chunks over the changed
rows are encoded, every other chunk being the plate's own bytes. "patch"
writes only the changed region, as the data window of an EXR whose display window, header and
metadata are the plate's, and no file for a frame that nothing changed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, replace
from fractions import Fraction
from threading import Event

import numpy as np

from void_vfx.atomic import atomic_target
from void_vfx.errors import Cancelled, ImageIOError
from void_vfx.job.naming import OutputName, output_stem
from void_vfx.media import exr_chunks
from void_vfx.media.colour import replace_nonfinite
from void_vfx.media.exr_codecs import COMPRESSIONS
from void_vfx.media.image_io import read_header, read_image
from void_vfx.media.image_write import write_exr
from void_vfx.media.source_files import open_binary
from void_vfx.model_facts import WORK_HEIGHT
from void_vfx.render.finish import enabled, finish_fill
from void_vfx.render.maskcache import CompactMask
from void_vfx.render.roi import alpha_region, blend_into, feathered_region, uncrop
from void_vfx.render.rowcache import plate_rows, whole_frame
from void_vfx.render.shot import Shot, Warn, display_view, onto_data_window
from void_vfx.render.store import WindowRecord, load_window_frames, load_window_record
from void_vfx.render.windows import WindowPlan

#: The job folder's scratch folder for the bands a splice encodes (never the delivery folder).
BANDS_DIR = "bands"


def feathered_alpha(
    mask: CompactMask, feather_px: int
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The paste alpha of :func:`void_vfx.render.roi.paste_alpha` over its own bounding box:
    (region (x0, y0, x1, y1) of alpha > 0, alpha there), or None when nothing is pasted. Works
    on the compact mask alone (:func:`~void_vfx.render.roi.feathered_region`)."""
    got = feathered_region(mask.bounds(), mask.width, mask.height, feather_px, mask.region)
    if got is None or feather_px <= 0:
        return got
    (x0, y0, _, _), alpha = got
    inner = alpha_region(alpha)
    if inner is None:
        return None
    rx0, ry0, rx1, ry1 = inner
    return (x0 + rx0, y0 + ry0, x0 + rx1, y0 + ry1), alpha[ry0:ry1, rx0:rx1]


@dataclass(frozen=True)
class FrameWindows:
    """What every step of one output frame's assembly reads: the shot, the job folder, the
    frame, the windows that cover it with their crossfade weights (``cover``, as
    :meth:`WindowPlan.windows_for_frame` gives them) and their committed records (``metas``)."""

    shot: Shot
    job_dir: str
    frame: int
    cover: list
    metas: list


def _window_rgb(fw: FrameWindows, region, plate_rgb):
    """The crossfaded window results over ``region``, in the plate's colour space.
    ``plate_rgb()`` gives the plate's own RGB there, the contribution of a skipped window."""
    live = [
        (w, weight, meta) for (w, weight), meta in zip(fw.cover, fw.metas, strict=True) if weight
    ]

    def one(w, meta):
        if meta.skipped:
            return plate_rgb()
        result = np.asarray(load_window_frames(fw.job_dir, w.index)[fw.frame - w.first])
        rgb = np.clip(uncrop(result, meta.box, region), 0.0, 1.0)
        return fw.shot.colour.from_working(rgb, ceiling=meta.ceiling)

    if len(live) == 1 and live[0][1] == 1.0:  # one window alone: 0 + 1 * x is x, bit for bit
        return one(live[0][0], live[0][2])
    x0, y0, x1, y1 = region
    acc = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.float32)
    for w, weight, meta in live:
        acc += weight * one(w, meta)
    return acc


def output_path(shot: Shot, out_dir: str, frame: int, stem: str | None = None) -> str:
    """``<out_dir>/<stem>.<frame>.exr``; the stem is the spec's
    (:func:`~void_vfx.job.naming.output_stem`) unless given, the padding the plate's (at least
    4)."""

    return OutputName(0, out_dir, stem or output_stem(shot.spec)).path(
        frame, max(4, shot.plate.padding)
    )


def frame_changes(shot: Shot, metas, frame: int):
    """(region, alpha) a frame's windows change, or None when the frame is the plate's."""
    if all(m.skipped for m in metas):
        return None
    return feathered_alpha(shot.compact_quadmask(frame), shot.spec.roi.feather)


def assemble_frame(
    job_dir: str,
    shot: Shot,
    plan: WindowPlan,
    out_dir: str,
    frame: int,
    metas,
    *,
    stem: str | None = None,
    stop: Event | None = None,
) -> str | None:
    """Write one output frame from its committed windows (``metas``, as ``plan`` covers the
    frame); returns its path, or None for an unchanged frame in patch mode."""

    spec = shot.spec
    mode = getattr(spec.output, "mode", "full")
    fw = FrameWindows(shot, job_dir, frame, plan.windows_for_frame(frame), metas)
    change = frame_changes(shot, metas, frame)
    plate_path = shot.plate.path(frame)
    target = output_path(shot, out_dir, frame, stem)
    header = read_header(plate_path, frame=frame)
    compression = output_compression(spec, header)
    if change is None:
        if mode == "patch":
            return None
        if _copyable(header, spec, shot.fps):
            _check_stop(stop)
            return _copy(plate_path, target)
    elif spec.output.pixel_type == "half":  # the row paths keep the plate's half values
        fast = _splice_frame if mode == "full" else _patch_frame
        done = fast(fw, change, target, compression, stop)
        if done is not None:
            return done
    native = spec.output.pixel_type == "half" and set(header.channel_types) == {"half"}
    img = whole_frame(shot.rows, plate_path, frame) if native else None
    if img is None:
        img = read_image(
            plate_path,
            frame=frame,
            window="data",
            raw=True,
            pixel_format="native" if native else "float",
        )
    shot.note_frame(img, frame, whole=True)
    pixels, origin = img.raw, None
    same = img.header.data_window == img.header.display_window
    if change is not None:
        region, alpha = change
        # The frame was read for this output alone: blend into it rather than into a copy.
        pixels = img.raw if same else display_view(_floats(img)).raw.copy()
        _blend_windows(fw, pixels, region, alpha)
        if mode == "patch":
            x0, y0, x1, y1 = region
            dx, dy = img.header.display_window[:2]
            pixels, origin = pixels[y0:y1, x0:x1], (dx + x0, dy + y0)
        elif not same:
            pixels, origin = onto_data_window(pixels, _floats(img))
    elif not same:
        origin = img.header.data_window[:2]
    _check_stop(stop)
    return write_exr(
        target,
        pixels,
        header=_with_rate(img.header, shot.fps),
        origin=origin,
        compression=compression,
        pixel_type=spec.output.pixel_type,
        channel_names=img.channel_names,
        sources=[plate_path],
    )


#: EXR compressions that change pixel values (PXR24 only on 32-bit float channels).
LOSSY_COMPRESSIONS = ("dwaa", "dwab", "b44", "b44a")


def plate_is_lossy(header) -> bool:
    """True when the plate's own EXR compression would alter pixels written back with it."""
    codec = header.compression.lower().split(":")[0]
    return codec in LOSSY_COMPRESSIONS or (codec == "pxr24" and header.pixel_type == "float")


def output_compression(spec, header) -> str:
    """The compression to write: the spec's; for ``plate`` the plate's own (with its DWA level),
    ZIP where the plate is not an EXR of a compression an EXR output can have; for ``auto`` (the
    default) the plate's own unless it is lossy, then ZIP, so that every pixel outside the fix
    is the plate's, bit for bit."""
    chosen = spec.output.compression
    if chosen not in ("plate", "auto"):
        return chosen
    codec = header.compression.lower()
    if str(header.file_format).lower() != "openexr" or codec not in COMPRESSIONS:
        return "zip"
    if chosen == "auto" and plate_is_lossy(header):
        return "zip"
    level = header.attributes.get("openexr:dwaCompressionLevel")
    if codec.startswith("dwa") and isinstance(level, int | float) and level > 0:
        return f"{codec}:{float(level):g}"
    return codec


def compression_note(spec, header) -> str | None:
    """What the default output compression chose for a lossy plate, and how to choose its own."""
    if spec.output.compression != "auto" or str(header.file_format).lower() != "openexr":
        return None
    if not plate_is_lossy(header):
        return None
    codec = header.compression.upper()
    return (
        f"the plate is {codec}, a lossy compression: the output is written ZIP (lossless) so "
        "that every pixel outside the fix is the plate's own, bit for bit; --compression plate "
        f"writes {codec} instead (smaller files, but each changed band of rows is re-encoded "
        "across the whole width)"
    )


def _blend_windows(fw: FrameWindows, pixels, region, alpha, row0: int = 0):
    """Blend the frame's crossfaded window results into ``pixels`` over ``region`` (display
    coordinates; ``pixels`` starts at display row ``row0``), in place."""
    x0, y0, x1, y1 = region
    local = (x0, y0 - row0, x1, y1 - row0)

    def plate_rgb() -> np.ndarray:  # only a skipped window needs it
        rgb = pixels[local[1] : local[3], x0:x1][..., list(shot.rgb_index)].astype(np.float32)
        return replace_nonfinite(rgb)

    shot = fw.shot
    rgb = _window_rgb(fw, region, plate_rgb)
    if any(enabled(shot.spec)):  # detail from other frames and the plate's grain
        scale = max((m.box.height / WORK_HEIGHT for m in fw.metas if not m.skipped), default=1)
        rgb = finish_fill(shot, fw.frame, rgb, region, alpha, pixels, row0, scale)
    blend_into(pixels, rgb, local, alpha, shot.rgb_index)


def _blended_rows(fw: FrameWindows, change, a: int, b: int, stop):
    """Plate rows ``a:b`` of an all-half scanline plate without overscan (decoded where the
    row cache does not hold them), the frame's windows blended in: an Image, or None for any
    other plate."""
    region, alpha = change
    shot, frame = fw.shot, fw.frame
    img = plate_rows(shot.rows, shot.plate.path(frame), frame, a, b)
    if img is None:
        return None
    shot.note_frame(img, frame, whole=True)
    _blend_windows(fw, img.raw, region, alpha, a)
    _check_stop(stop)
    return img


def _patch_frame(fw: FrameWindows, change, target, compression, stop):
    """Patch mode, half output, over an all-half scanline plate without overscan: only the
    changed region's rows are decoded. Returns the path, or None where that does not apply."""

    x0, y0, x1, y1 = change[0]
    img = _blended_rows(fw, change, y0, y1, stop)
    if img is None:
        return None
    shot = fw.shot
    return write_exr(
        target,
        img.raw[:, x0:x1],
        header=_with_rate(img.header, shot.fps),
        origin=(img.origin[0] + x0, img.origin[1]),
        compression=compression,
        pixel_type="half",
        channel_names=img.channel_names,
        sources=[shot.plate.path(fw.frame)],
    )


def _splice_frame(fw: FrameWindows, change, target, compression, stop):
    """Full mode, half output, over a plate whose file layout the output shares (a single-part
    scanline EXR, data window = display window, all half, the output's compression): only the
    chunks of rows the removal changed are decoded and encoded; every other chunk is the
    plate's bytes (:mod:`void_vfx.media.exr_chunks`). Returns the path, or None where that
    does not apply."""

    shot, frame, job_dir = fw.shot, fw.frame, fw.job_dir
    plate_path = shot.plate.path(frame)
    plate = exr_chunks.read_scanline_file(plate_path)
    if (
        plate is None
        or plate.codec != compression.split(":")[0].lower()
        or plate.data_window != plate.display_window
        or any((c.pixel_type, c.x_sampling, c.y_sampling) != (1, 1, 1) for c in plate.channels)
    ):
        return None
    a, b = plate.chunk_rows(change[0][1], change[0][3])
    img = _blended_rows(fw, change, a, b, stop)
    if img is None:
        return None
    # The band is scratch: it lives in the job folder, so a kill at this moment leaves nothing
    # in the delivery folder (the output itself is written to a temporary name there).
    folder = os.path.join(job_dir, BANDS_DIR)
    os.makedirs(folder, exist_ok=True)
    band_path = os.path.join(folder, f"{frame}.{uuid.uuid4().hex}.exr")
    try:
        write_exr(
            band_path,
            img.raw,
            header=_with_rate(img.header, shot.fps),
            origin=img.origin,
            compression=compression,
            pixel_type="half",
            channel_names=img.channel_names,
            sources=[plate_path],
        )
        band = exr_chunks.read_scanline_file(band_path)
        if band is None:
            raise ImageIOError(f"{band_path}: not a scanline EXR; this is a bug: report it")
        return exr_chunks.splice(plate, band, target)
    finally:
        if os.path.exists(band_path):
            os.remove(band_path)


def _floats(img):
    """``img`` with float32 pixels (the display/data window helpers work in float32)."""
    if img.raw.dtype == np.float32:
        return img

    raw = img.raw.astype(np.float32)
    return replace(img, pixels=raw, raw=raw)


def _check_stop(stop: Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Cancelled("stopped before writing")


def _copyable(header, spec, fps: str) -> bool:
    """True when the plate file is exactly what full mode would write for an unchanged frame:
    an EXR with the output's compression and pixel type that carries the shot's frame rate."""

    rate = header.attributes.get("FramesPerSecond")
    try:
        same_rate = rate is not None and Fraction(int(rate[0]), int(rate[1])) == Fraction(fps)
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        same_rate = False
    return (
        str(header.file_format).lower() == "openexr"
        and header.compression.lower() == output_compression(spec, header).split(":")[0].lower()
        and set(header.channel_types) == {spec.output.pixel_type}
        and same_rate
    )


def _copy(src: str, target: str) -> str:
    """Copy a plate file to ``target`` (temporary name, renamed into place); never onto it."""

    if os.path.realpath(src) == os.path.realpath(target):
        raise ImageIOError(
            f"{target}: refusing to write over a source image; choose another output"
        )

    with atomic_target(target, ".tmp.exr") as tmp, open_binary(src) as fh, open(tmp, "wb") as out:
        shutil.copyfileobj(fh, out, 4 << 20)  # the checked descriptor (see source_files)
    return target


def assemble_frames(
    job_dir: str,
    spec,
    plan: WindowPlan,
    out_dir: str,
    *,
    frames=None,
    shot: Shot | None = None,
    stem: str | None = None,
    on_warning: Warn | None = None,
) -> list[int]:
    """Write the final EXR of every plate frame (of ``frames``) whose windows are all committed.

    Returns the frames written (in patch mode, without the frames nothing changed). Header,
    channels and data window of the plate are carried (the result is pasted where data and
    display windows overlap; overscan keeps the plate's bits); compression and pixel type come
    from the spec.
    """
    shot = shot or Shot.open(spec, on_warning=on_warning)
    wanted = list(frames) if frames is not None else list(range(plan.first, plan.last + 1))
    cache: dict[int, WindowRecord | None] = {}
    written = []
    for f in wanted:
        cover = plan.windows_for_frame(f)
        for w, _ in cover:
            if w.index not in cache:
                cache[w.index] = load_window_record(job_dir, w.index)
        metas = [cache[w.index] for w, _ in cover]
        if any(m is None for m in metas):
            continue
        if assemble_frame(job_dir, shot, plan, out_dir, f, metas, stem=stem) is not None:
            written.append(f)
    return written


def _with_rate(header, fps: str):
    """The plate's header, given the shot's frame rate where the plate carries none."""
    if "FramesPerSecond" in header.attributes:
        return header

    rate = Fraction(fps)
    header.attributes["FramesPerSecond"] = (rate.numerator, rate.denominator)
    header.attribute_types["FramesPerSecond"] = "rational"
    return header
