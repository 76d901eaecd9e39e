"""Turn committed windows back into full-resolution frames of the plate.

Each window's result is resized back, returned to the plate's colour space, crossfaded with
overlapping windows and pasted into the plate under the feathered mask; every other pixel keeps
the plate's own bits. Header, channels and data window of the plate are carried.
"""

from __future__ import annotations

import numpy as np

from void_vfx.render.roi import alpha_region, blend_region, paste_alpha, uncrop
from void_vfx.render.shot import Shot, Warn, display_view, onto_data_window
from void_vfx.render.store import box_of, load_window_frames, load_window_meta
from void_vfx.render.windows import WindowPlan


def _composite(shot: Shot, job_dir: str, cover, metas, frame: int, img) -> np.ndarray:
    """The output pixels of one frame: crossfaded window results pasted into the raw plate."""
    raw = img.raw if img.raw is not None else img.pixels
    if all(m["skipped"] for m in metas):
        return raw
    alpha = paste_alpha(shot.quadmask(frame), shot.spec.roi.feather)
    region = alpha_region(alpha)
    if region is None:
        return raw
    x0, y0, x1, y1 = region
    plate_rgb = img.pixels[y0:y1, x0:x1][..., list(shot.rgb_index)]
    acc = np.zeros(plate_rgb.shape, dtype=np.float32)
    for (w, weight), meta in zip(cover, metas, strict=True):
        if weight == 0:
            continue
        if meta["skipped"]:
            acc += weight * plate_rgb
            continue
        result = np.asarray(load_window_frames(job_dir, w.index)[frame - w.first])
        rgb = np.clip(uncrop(result, box_of(meta), region), 0.0, 1.0)
        acc += weight * shot.colour.from_working(rgb, ceiling=meta["ceiling"])
    return blend_region(raw, acc, region, alpha, shot.rgb_index)


def output_path(shot: Shot, out_dir: str, frame: int, stem: str | None = None) -> str:
    """``<out_dir>/<stem>.<frame>.exr``; the stem is the spec's (:func:`~void_vfx.job.naming.output_stem`)
    unless given, the padding the plate's (at least 4)."""
    from void_vfx.job.naming import OutputName, output_stem

    return OutputName(0, out_dir, stem or output_stem(shot.spec)).path(
        frame, max(4, shot.plate.padding)
    )


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

    Returns the frames written. Header, channels and data window of the plate are carried (the
    result is pasted where data and display windows overlap; overscan keeps the plate's bits);
    compression and pixel type come from the spec. Frames of skipped windows are the plate,
    rewritten.
    """
    from void_vfx.media.image_io import read_image
    from void_vfx.media.image_write import write_exr

    shot = shot or Shot.open(spec, on_warning=on_warning)
    wanted = list(frames) if frames is not None else list(range(plan.first, plan.last + 1))
    cache: dict[int, dict | None] = {}
    written = []
    for f in wanted:
        cover = plan.windows_for_frame(f)
        for w, _ in cover:
            if w.index not in cache:
                cache[w.index] = load_window_meta(job_dir, w.index)
        metas = [cache[w.index] for w, _ in cover]
        if any(m is None for m in metas):
            continue
        plate_path = shot.plate.path(f)
        img = read_image(plate_path, frame=f, window="data")
        shot.note_frame(img, f, whole=True)
        pixels = _composite(shot, job_dir, cover, metas, f, display_view(img))
        pixels, origin = onto_data_window(pixels, img)
        write_exr(
            output_path(shot, out_dir, f, stem),
            pixels,
            header=_with_rate(img.header, shot.fps),
            origin=origin,
            compression=spec.output.compression,
            pixel_type=spec.output.pixel_type,
            channel_names=img.channel_names,
            sources=[plate_path],
        )
        written.append(f)
    return written


def _with_rate(header, fps: str):
    """The plate's header, given the shot's frame rate where the plate carries none."""
    if "FramesPerSecond" in header.attributes:
        return header
    from fractions import Fraction

    rate = Fraction(fps)
    header.attributes["FramesPerSecond"] = (rate.numerator, rate.denominator)
    header.attribute_types["FramesPerSecond"] = "rational"
    return header
