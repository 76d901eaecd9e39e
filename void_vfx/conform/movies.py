"""Movie sources decoded to an EXR sequence before the job, with their colour space named.

The render reads frame sequences, so a .mov/.mp4/.mxf clip is decoded once (PyAV) into a cache
folder under the conform's media output, never next to the movie. Frames are numbered from 1 (the
movie's first frame is frame 1, as Nuke numbers a Read of a movie) and hold the decoded video
values as they are (display-referred), so the job names their colour space: Rec.709 video is
``Gamma 2.4 Encoded Rec.709`` (BT.1886), sRGB-tagged video ``sRGB Encoded Rec.709 (sRGB)``.
A folder that already holds every frame from the same movie is reused.
"""

from __future__ import annotations

import json
import os

from void_vfx.errors import ImageIOError
from void_vfx.media.sequences import find_sequence

#: Colour-transfer tags (FFmpeg names) -> OCIO colour space of the decoded values.
TRANSFER_SPACES = {
    "bt709": "Gamma 2.4 Encoded Rec.709",
    "bt1886": "Gamma 2.4 Encoded Rec.709",
    "smpte170m": "Gamma 2.4 Encoded Rec.709",
    "bt470bg": "Gamma 2.4 Encoded Rec.709",
    "iec61966-2-1": "sRGB Encoded Rec.709 (sRGB)",
    "gamma22": "Gamma 2.2 Encoded Rec.709",
}
DEFAULT_SPACE = "Gamma 2.4 Encoded Rec.709"


def movie_colourspace(stream) -> tuple[str, str]:
    """(OCIO colour space, why) for a PyAV video stream."""
    ctx = stream.codec_context
    trc = str(getattr(ctx, "color_trc", "") or "").lower()
    name = {1: "bt709", 6: "smpte170m", 13: "iec61966-2-1", 4: "gamma22", 5: "bt470bg"}.get(
        getattr(ctx, "color_trc", None), trc
    )
    if name in TRANSFER_SPACES:
        return TRANSFER_SPACES[name], f"stream transfer {name}"
    return DEFAULT_SPACE, "stream has no transfer tag: assumed Rec.709 video (BT.1886)"


def decode(movie: str, pattern: str, first: int, last: int, colourspace: str = "") -> str:
    """Decode frames ``first``..``last`` (1 = the movie's first frame) to ``pattern``
    (``.../name.####.exr``); returns the colour space the frames are in."""
    import av
    import numpy as np

    from void_vfx.media.image_write import write_exr

    seq = find_sequence(pattern)
    folder = os.path.dirname(pattern)
    stamp_path = os.path.join(folder, ".decoded.json")
    st = os.stat(movie)
    stamp = {"movie": os.path.abspath(movie), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    os.makedirs(folder, exist_ok=True)
    done = set(seq.scan().frames)
    if os.path.isfile(stamp_path):
        with open(stamp_path, encoding="utf-8") as fh:
            old = json.load(fh)
        if {k: old.get(k) for k in stamp} == stamp and all(
            f in done for f in range(first, last + 1)
        ):
            return str(old.get("colourspace") or colourspace or DEFAULT_SPACE)
    os.makedirs(folder, exist_ok=True)
    try:
        container = av.open(movie)
    except Exception as exc:  # noqa: BLE001 - PyAV raises its own error types
        raise ImageIOError(f"{movie}: cannot open the movie: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ImageIOError(f"{movie}: no video stream")
        stream = container.streams.video[0]
        space, _why = movie_colourspace(stream)
        space = colourspace or space
        number = 0
        for frame in container.decode(stream):
            number += 1
            if number < first:
                continue
            if number > last:
                break
            rgb = frame.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0
            write_exr(seq.path(number), rgb, pixel_type="half")
        if number < last:
            raise ImageIOError(
                f"{movie}: has {number} frames, the edit needs frames {first}-{last}; "
                "relink the clip to the full-length movie"
            )
    tmp = stamp_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({**stamp, "colourspace": space}, fh)
    os.replace(tmp, stamp_path)
    return space
