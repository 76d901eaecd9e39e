"""Synthetic media laid out to match the real editorial files in ../shared/data/otio, and a real
preview server for the conform tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SIZE = (48, 64)  # height, width


def tc_word(frames: int, rate: int) -> int:
    """An EXR ``smpte:TimeCode`` word (BCD) for a frame count at a whole rate."""
    ff = frames % rate
    total_s = frames // rate
    ss, mm, hh = total_s % 60, (total_s // 60) % 60, total_s // 3600

    def bcd(v: int) -> int:
        return ((v // 10) << 4) | (v % 10)

    return (bcd(hh) << 24) | (bcd(mm) << 16) | (bcd(ss) << 8) | bcd(ff)


def write_frame(path: str, pixels: np.ndarray, names: list[str], timecode: int | None = None):
    import OpenImageIO as oiio

    h, w = pixels.shape[:2]
    spec = oiio.ImageSpec(w, h, len(names), "half")
    spec.channelnames = tuple(names)
    if timecode is not None:
        spec.attribute("smpte:TimeCode", oiio.TypeDesc("timecode"), (timecode, 0))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(np.ascontiguousarray(pixels, dtype=np.float32))
    out.close()


def write_shot(
    folder: Path,
    prefix: str,
    frames: range,
    padding: int = 4,
    tc_start=None,
    rate: int = 24,
    matte: bool = True,
    sep: str = ".",
) -> str:
    """Plate frames ``<prefix><frame>.exr`` (a grey ramp with a dark square moving right) and,
    with ``matte``, ``<stem>_matte.<frame>.exr`` beside them (alpha 1 on the square)."""
    h, w = SIZE
    ramp = np.linspace(0.1, 0.6, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3))
    stem = prefix.rstrip("._")
    for i, f in enumerate(frames):
        img = ramp.copy()
        x = 8 + i % 40
        img[16:28, x : x + 10] = 0.02
        tc = tc_word(tc_start + i, rate) if tc_start is not None and i == 0 else None
        num = f"{f:0{padding}d}" if padding else str(f)
        write_frame(str(folder / f"{prefix}{num}.exr"), img, ["R", "G", "B"], tc)
        if matte:
            a = np.zeros((h, w, 1), np.float32)
            a[14:30, x - 2 : x + 12] = 1.0
            write_frame(str(folder / f"{stem}_matte{sep}{num}.exr"), a, ["A"])
    return str(folder / f"{prefix}{'#' * max(padding, 1)}.exr")


def add_locator(edl_text: str, event: int, line: str) -> str:
    """The EDL with ``line`` (``* LOC: ...``) added after event ``event``'s FROM CLIP NAME."""
    out, current, done = [], None, False
    for row in edl_text.splitlines():
        out.append(row)
        head = row.split()
        if head and head[0].isdigit() and len(head) > 4:
            current = int(head[0])
        if current == event and row.startswith("* FROM CLIP NAME") and not done:
            out.append(line)
            done = True
    assert done, f"event {event} not found"
    return "\n".join(out) + "\n"


class Server:
    """A real preview server on 127.0.0.1 and a client connected to it."""

    def __init__(self, tmp: Path) -> None:
        from void_vfx.client import connect
        from void_vfx.server_entry import server_api

        self.srv = server_api().start_local_server(tmp / "data", tmp / "token", "preview")
        self.client = connect("127.0.0.1", self.srv.port, token=self.srv.token)
        self.client.remember_jobs = False

    def close(self) -> None:
        self.client.close()
        self.srv.close()


def write_movie(path: Path, frames: int, rate: int = 30, matte_dir: Path | None = None) -> None:
    """A tiny MPEG-4 movie (a dark square moving over a ramp) and, with ``matte_dir``, an EXR
    matte per frame numbered from 1 (``<stem>_matte.####.exr``), as a Nuke Read of it numbers."""
    import av

    h, w = SIZE
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as box:
        stream = box.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = np.tile(np.linspace(40, 160, w, dtype=np.uint8)[None, :, None], (h, 1, 3))
            x = 8 + i % 40
            img[16:28, x : x + 10] = 10
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                box.mux(packet)
            if matte_dir is not None:
                a = np.zeros((h, w, 1), np.float32)
                a[14:30, x - 2 : x + 12] = 1.0
                write_frame(str(matte_dir / f"{path.stem}_matte.{i + 1:04d}.exr"), a, ["A"])
        for packet in stream.encode():
            box.mux(packet)
