"""The overlapped render: patch and full output, byte copies, resume bits, cancel, progress."""

from __future__ import annotations

import filecmp
import os
import re
import threading
import time

import numpy as np
import pytest

from void_vfx.errors import Cancelled, SpecError
from void_vfx.job.spec import JobSpec, MatteSource
from void_vfx.media.image_io import read_header, read_image
from void_vfx.render.process import process_shot
from void_vfx.render.store import window_paths

W, H = 128, 72
FIRST, LAST = 1001, 1011  # windows 1001-1005, 1004-1008, 1007-1011
OBJECT_LAST = 1005  # the object leaves after this frame: window 2 has nothing to remove


def _write(path, px, compression="zip", fps=(24, 1)):
    import OpenImageIO as oiio

    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], oiio.HALF)
    spec.channelnames = ("R", "G", "B", "A")[: px.shape[2]] if px.shape[2] > 1 else ("Y",)
    spec.attribute("compression", compression)
    if fps:
        spec.attribute("FramesPerSecond", oiio.TypeDesc("rational"), fps)
    spec.attribute("void:shot", "sh020")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec) and out.write_image(px)
    out.close()


def _square(f):
    x = 50 + (f - FIRST)
    return 30, 40, x, x + 10  # y0, y1, x0, x1


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for f in range(FIRST, LAST + 1):
        px = np.stack([xx / W, yy / H, 0 * xx + 0.01 * (f - FIRST), 0 * xx + 1], axis=-1)
        _write(str(root / f"plate.{f}.exr"), px)
        m = np.zeros((H, W, 1), np.float32)
        if f <= OBJECT_LAST:
            y0, y1, x0, x1 = _square(f)
            m[y0:y1, x0:x1] = 1.0
        _write(str(root / f"matte.{f}.exr"), m, fps=None)
    return root


def _spec(root, **output) -> JobSpec:
    spec = JobSpec(
        plate=str(root / "plate.####.exr"),
        primary=MatteSource(str(root / "matte.####.exr"), "Y"),
        colourspace="Linear Rec.709 (sRGB)",
        engine="preview",
    )
    spec.window.min_length = spec.window.max_length = 5
    spec.window.overlap = 2
    spec.roi.feather = 4
    spec.output.compression = "zip"
    spec.output.version = 1
    for k, v in output.items():
        setattr(spec.output, k, v)
    return spec.validate()


def _engine(window_input):
    return np.full_like(window_input.frames, 0.5)


def _bits(path):
    return read_image(path, window="data").raw.view(np.uint32)


def test_output_mode_is_validated():
    spec = JobSpec(plate="p.####.exr", quadmask=MatteSource("q.####.png"))
    assert spec.output.mode == "full"
    spec.output.mode = "bbox"
    with pytest.raises(SpecError, match="output.mode") as info:
        spec.validate()
    assert info.value.field == "output.mode"
    spec.output.mode = "patch"
    assert JobSpec.from_json(spec.validate().to_json()).output.mode == "patch"


def test_full_copies_unchanged_frames_and_patch_writes_the_changed_region(tmp_path, shot):
    full = process_shot(_spec(shot), _engine, str(tmp_path / "j"), str(tmp_path / "full"))
    assert full["frames_written"] == LAST - FIRST + 1 and full["skipped"] == [2]
    out = lambda d, f: os.path.join(tmp_path, d, f"plate_void_v001.{f}.exr")  # noqa: E731
    for f in (OBJECT_LAST + 1, 1008, LAST):  # nothing changed there: the plate file itself
        assert filecmp.cmp(out("full", f), shot / f"plate.{f}.exr", shallow=False)
    assert not filecmp.cmp(out("full", FIRST), shot / f"plate.{FIRST}.exr", shallow=False)

    reports = []
    patch = process_shot(
        _spec(shot, mode="patch"),
        _engine,
        str(tmp_path / "j"),
        str(tmp_path / "patch"),
        lambda done, total, message, *, stats=None: reports.append((message, stats)),
    )
    assert patch["reused"] == [0, 1, 2] and patch["computed"] == []
    written = sorted(os.listdir(tmp_path / "patch"))
    assert written == [f"plate_void_v001.{f}.exr" for f in range(FIRST, OBJECT_LAST + 1)]
    # progress tells files from frames left out: both finish the job, only files count written
    message, last = reports[-1]
    assert last["frames_written"] == OBJECT_LAST + 1 - FIRST == patch["frames_written"]
    assert last["frames_unchanged"] == LAST - OBJECT_LAST and last["done"] == last["total"]
    # the message is the event alone ("frame N written"); its counts are in stats
    assert re.fullmatch(r"frame \d+ (written|unchanged, no file)", message), message
    for f in (FIRST, 1005):
        y0, y1, x0, x1 = _square(f)
        r = 4  # feather 4: dilated by 2, then averaged over radius 2
        header = read_header(out("patch", f))
        assert header.data_window == (x0 - r, y0 - r, x1 - x0 + 2 * r, y1 - y0 + 2 * r)
        assert header.display_window == (0, 0, W, H)
        assert header.attributes["void:shot"] == "sh020"
        patch_px = read_image(out("patch", f), window="data").raw
        full_px = read_image(out("full", f)).raw[y0 - r : y1 + r, x0 - r : x1 + r]
        assert np.array_equal(patch_px.view(np.uint32), full_px.view(np.uint32))


def test_unchanged_frames_are_reencoded_when_the_format_differs(tmp_path, shot):
    process_shot(_spec(shot, compression="piz"), _engine, str(tmp_path / "j"), str(tmp_path / "o"))
    path = os.path.join(tmp_path, "o", f"plate_void_v001.{LAST}.exr")
    assert read_header(path).compression == "piz"
    assert np.array_equal(_bits(path), _bits(str(shot / f"plate.{LAST}.exr")))


def test_feather_radius_is_the_hand_computed_ramp(tmp_path):
    """One object pixel, feather 4: alpha at offset (dx, dy) is (5-|dx|)(5-|dy|)/25 (a 5x5
    dilation averaged over 5x5), so the output is plate + (result - plate) * alpha there and the
    plate's own bits further out. The working space is the plate's (sRGB encoded), so colour is
    the identity below the shoulder's knee."""
    for f in range(1, 6):
        _write(str(tmp_path / f"p.{f:04d}.exr"), np.full((H, W, 3), 0.75, np.float32))
        m = np.zeros((H, W, 1), np.float32)
        m[36, 64] = 1.0
        _write(str(tmp_path / f"m.{f:04d}.exr"), m, fps=None)
    spec = JobSpec(
        plate=str(tmp_path / "p.####.exr"),
        primary=MatteSource(str(tmp_path / "m.####.exr"), "Y"),
        colourspace="sRGB Encoded Rec.709 (sRGB)",
    )
    spec.window.min_length = spec.window.max_length = 5
    spec.window.overlap = 2
    spec.roi.feather = 4
    spec.validate()
    s = process_shot(
        spec, lambda w: np.full_like(w.frames, 0.25), str(tmp_path / "j"), str(tmp_path / "o")
    )
    res = read_image(s["paths"][2]).raw[..., 0]
    expected = np.full((H, W), 0.75, np.float32)
    for dy in range(-4, 5):
        for dx in range(-4, 5):
            a = (5 - abs(dx)) * (5 - abs(dy)) / 25
            expected[36 + dy, 64 + dx] = 0.75 + (0.25 - 0.75) * a
    np.testing.assert_allclose(res, expected, atol=1e-3)  # half precision
    ring = np.ones((H, W), bool)
    ring[32:41, 60:69] = False
    assert (res[ring] == np.float16(0.75)).all()


def test_resumed_job_gives_the_bits_of_an_uninterrupted_one(tmp_path, shot):
    # float output, and windows that differ where they overlap: a crossfade weight off in its
    # 7th digit shows in the bits
    def engine(window_input):
        return window_input.frames * np.float32(0.5)

    whole = process_shot(
        _spec(shot, pixel_type="float"), engine, str(tmp_path / "a"), str(tmp_path / "oa")
    )

    class Crash(Exception):
        pass

    calls = []

    def crashing(window_input):
        calls.append(1)
        if len(calls) == 2:
            raise Crash("the server died here")
        return engine(window_input)

    spec = _spec(shot, pixel_type="float")
    with pytest.raises(Crash):
        process_shot(spec, crashing, str(tmp_path / "b"), str(tmp_path / "ob"))
    resumed = process_shot(spec, engine, str(tmp_path / "b"), str(tmp_path / "ob"))
    assert resumed["reused"] == [0] and resumed["computed"] == [1]
    for a, b in zip(whole["paths"], resumed["paths"], strict=True):
        assert np.array_equal(_bits(a), _bits(b)), b  # overlap frames 1004-1005 included


def test_half_committed_window_is_not_committed(tmp_path, shot):
    job = str(tmp_path / "j")
    first = process_shot(_spec(shot), _engine, job, str(tmp_path / "o1"))
    npy, js = window_paths(job, 1)
    os.remove(npy)  # the record without its frames
    again = process_shot(_spec(shot), _engine, job, str(tmp_path / "o2"))
    assert again["computed"] == [1] and again["reused"] == [0, 2]
    with open(npy, "r+b") as fh:  # frames cut short
        fh.truncate(os.path.getsize(npy) // 2)
    third = process_shot(_spec(shot), _engine, job, str(tmp_path / "o3"))
    assert third["computed"] == [1]
    for a, b in zip(first["paths"], third["paths"], strict=True):
        assert np.array_equal(_bits(a), _bits(b))


def test_frames_are_written_while_the_engine_runs_the_next_window(tmp_path, shot):
    messages = []
    seen = {}

    def engine(window_input):
        n = len(seen)
        deadline = time.monotonic() + 10
        if n == 0:  # the reader prepares window 1 meanwhile
            while not any("window 1: frames 1004-1008 read" in m for m in messages):
                assert time.monotonic() < deadline, messages
                time.sleep(0.01)
        if n == 1:  # the writers write frames only window 0 covers meanwhile
            first = os.path.join(tmp_path, "o", f"plate_void_v001.{FIRST}.exr")
            while not os.path.exists(first):
                assert time.monotonic() < deadline
                time.sleep(0.01)
        seen[n] = True
        return _engine(window_input)

    process_shot(
        _spec(shot),
        engine,
        str(tmp_path / "j"),
        str(tmp_path / "o"),
        lambda *a: messages.append(a[2]),
    )
    assert len(seen) == 2


def test_progress_counts_frames_read_windows_run_and_frames_written(tmp_path, shot):
    reports = []

    def progress(done, total, message, *, stats=None):
        reports.append((done, total, message, stats))

    process_shot(_spec(shot), _engine, str(tmp_path / "j"), str(tmp_path / "o"), progress)
    dones = [r[0] for r in reports]
    assert dones == sorted(dones) and dones[-1] == 3 and {r[1] for r in reports} == {3}
    assert dones[-2] < 3  # the window scale reaches its end only with the last frame written
    last = reports[-1][3]
    assert last["done"] == last["total"] == 3 * 5 + 3 * 5 + 11
    assert last["frames_written"] == last["frames"] == LAST - FIRST + 1
    assert last["windows_done"] == last["windows"] == 3
    assert last["frames_read"] == last["frames_to_read"] == 3 * 5
    # the message is the event alone: the counts travel as fields, never as text to parse
    assert not any("frames written" in r[2] for r in reports)
    assert any(r[3]["eta_s"] is not None for r in reports)
    plain = []  # a three-argument callback gets the counts written into the message

    def three(done, total, message):
        plain.append((done, total, message))

    process_shot(_spec(shot), _engine, str(tmp_path / "j"), str(tmp_path / "o2"), three)
    assert plain and plain[-1][:2] == (3, 3)
    assert "11/11 frames written" in plain[-1][2] and "frames/s" in plain[-1][2]
    assert any("left" in p[2] for p in plain)


def test_cancel_joins_every_thread_and_leaves_no_partial_file(tmp_path, shot):
    cancel = threading.Event()

    def engine(window_input):
        cancel.set()  # cancelled while the first window is in the engine
        return _engine(window_input)

    before = {t.name for t in threading.enumerate()}
    with pytest.raises(Cancelled):
        process_shot(
            _spec(shot),
            engine,
            str(tmp_path / "j"),
            str(tmp_path / "o"),
            should_cancel=cancel.is_set,
        )
    alive = {t.name for t in threading.enumerate()} - before
    assert not [n for n in alive if n.startswith("void-")], alive
    for folder, _, names in os.walk(tmp_path):
        assert not [n for n in names if n.startswith(".")], (folder, names)


def test_cli_output_mode_reaches_the_spec(shot):
    import argparse

    from void_vfx.cli.remove import add_remove_arguments, build_remove_spec

    p = argparse.ArgumentParser()
    add_remove_arguments(p)
    plate, matte = str(shot / "plate.####.exr"), str(shot / "matte.####.exr")
    args = p.parse_args([plate, "--primary", matte, "--output-mode", "patch"])
    assert build_remove_spec(args, "preview").output.mode == "patch"
    args = p.parse_args([plate, "--primary", matte])
    assert build_remove_spec(args, "preview").output.mode == "full"
    with pytest.raises(SystemExit):
        p.parse_args([plate, "--primary", matte, "--output-mode", "bbox"])


def test_half_nonfinite_count_reads_the_exponent_bits():
    from void_vfx.media.image_io import count_nonfinite

    px = np.zeros((40, 50, 3), np.float16)
    px[0, 0, 0] = 65504.0  # the largest finite half: exponent 0x7800, not all ones
    px[1, 1, 1] = -65504.0
    px[2, 2, 2] = np.float16(6e-8)  # a subnormal
    assert count_nonfinite(px) == 0
    px[3, 3, 0], px[4, 4, 1], px[5, 5, 2] = np.nan, np.inf, -np.inf
    assert count_nonfinite(px) == 3  # hand-placed: one NaN, one +Inf, one -Inf
    assert count_nonfinite(px.transpose(1, 0, 2)) == 3  # not contiguous: the sum path agrees
    assert count_nonfinite(px[10:]) == 0


def test_rows_kept_from_preparation_give_the_bits_of_a_whole_read(tmp_path, shot, monkeypatch):
    from void_vfx.render import rowcache

    taken = []
    take = rowcache.RowCache.take

    def counting(self, frame, path):
        hit = take(self, frame, path)
        taken.append(hit is not None)
        return hit

    monkeypatch.setattr(rowcache.RowCache, "take", counting)
    kept = process_shot(_spec(shot), _engine, str(tmp_path / "a"), str(tmp_path / "oa"))
    assert sum(taken) >= 5  # the changed frames were assembled from the kept rows
    monkeypatch.setattr(rowcache, "BUDGET", 0)  # nothing kept: every frame read whole
    taken.clear()
    whole = process_shot(_spec(shot), _engine, str(tmp_path / "b"), str(tmp_path / "ob"))
    assert not any(taken)
    for a, b in zip(kept["paths"], whole["paths"], strict=True):
        assert np.array_equal(_bits(a), _bits(b)), a


def test_a_job_folder_is_refused_to_a_spec_with_other_settings(tmp_path, shot):
    from void_vfx.errors import PlanError

    job = str(tmp_path / "j")
    process_shot(_spec(shot), _engine, job, str(tmp_path / "a"))
    other = _spec(shot)
    other.prompt, other.mask.dilate = "a field", 2
    with pytest.raises(PlanError, match=r"differs in mask, prompt\); start a new job folder"):
        process_shot(other, _engine, job, str(tmp_path / "b"))
    assert not os.path.exists(tmp_path / "b")  # refused before anything was written
    # Where the results go and the queue order are not part of them: the windows are reused.
    again = _spec(shot, compression="piz", mode="patch")
    again.priority = 5
    summary = process_shot(again, _engine, job, str(tmp_path / "c"))
    assert summary["computed"] == [] and summary["reused"] == [0, 1, 2]


def test_two_engine_slots_give_the_bits_of_one_and_keep_a_finished_window(tmp_path, shot):
    """engine_slots=2 runs two windows at once; when one fails, the one still in the other
    engine runs to its end and is committed, and the resumed job has the one-slot bits."""
    running, most, lock = [0], [0], threading.Lock()

    def engine(window_input, fail=False):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            if fail:
                raise RuntimeError("out of memory on the other GPU")
            time.sleep(0.2)
            return window_input.frames * np.float32(0.5)
        finally:
            with lock:
                running[0] -= 1

    spec = _spec(shot, pixel_type="float")
    one = process_shot(spec, engine, str(tmp_path / "a"), str(tmp_path / "oa"))
    calls = []

    def second_fails(window_input):
        calls.append(1)
        return engine(window_input, fail=len(calls) == 2)

    with pytest.raises(RuntimeError, match="other GPU"):
        process_shot(spec, second_fails, str(tmp_path / "b"), str(tmp_path / "ob"), engine_slots=2)
    assert most[0] == 2
    two = process_shot(spec, engine, str(tmp_path / "b"), str(tmp_path / "ob"), engine_slots=2)
    assert two["reused"] == [0] and two["computed"] == [1] and two["skipped"] == [2]
    for a, b in zip(one["paths"], two["paths"], strict=True):
        assert np.array_equal(_bits(a), _bits(b)), b
