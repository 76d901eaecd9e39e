"""The worker commands in-process on a 9-frame shot (three 5-frame windows, preview engine):
assembly refuses while a window is missing, then writes the version and its OTIO clip."""

from __future__ import annotations

import os

import pytest
from farm_helpers import demo_spec


def _worker(*args: str) -> int:
    from void_vfx.cli.main import main

    return main(["worker", *args])


def test_assemble_waits_for_every_window_then_writes_frames_and_otio(tmp_path, capsys) -> None:
    otio = pytest.importorskip("opentimelineio")
    shot, spec = demo_spec(tmp_path / "shot", frames=9, window=5, overlap=2)
    (tmp_path / "job.json").write_text(spec.to_json())
    job = str(tmp_path / "job")
    assert _worker("prepare", str(tmp_path / "job.json"), "--job-dir", job) == 0
    for w in (0, 2):
        assert _worker("run-window", job, str(w)) == 0
    assert _worker("assemble", job, "--otio") == 1
    err = capsys.readouterr()
    assert "window(s) [1] are not committed" in err.out + err.err
    out_root = tmp_path / "shot" / "out"
    assert not out_root.exists() or os.listdir(out_root) == []  # no empty version left behind
    assert _worker("run-window", job, "1") == 0
    # A band a killed Assemble left in the job folder's scratch (render/assemble.py BANDS_DIR).
    os.makedirs(os.path.join(job, "bands"))
    open(os.path.join(job, "bands", "1001.0123abcd.exr"), "wb").close()
    assert _worker("assemble", job, "--otio") == 0
    # The job has ended: its caches and the stray band are gone, the spec and record stay.
    assert sorted(os.listdir(job)) == ["assembled.json", "job.json"]
    assert _worker("run-window", job, "1") == 0  # a retried window after the end: a no-op
    assert "already committed; nothing to do" in "".join(capsys.readouterr())
    assert sorted(os.listdir(job)) == ["assembled.json", "job.json"]
    folder = out_root / "demo_plate_void_v001"
    exrs = sorted(p.name for p in folder.glob("*.exr"))
    assert exrs == [f"demo_plate_void_v001.{f}.exr" for f in range(1001, 1010)]
    timeline = otio.adapters.read_from_file(str(folder / "demo_plate_void_v001.otio"))
    (clip,) = timeline.find_clips()
    ref = clip.media_reference
    assert ref.target_url_for_image_number(0) == str(folder / exrs[0])
    assert ref.number_of_images_in_sequence() == 9 and ref.start_frame == 1001
    # Another spec in the same job folder is refused.
    other = spec.to_dict() | {"prompt": "something else"}
    import json

    (tmp_path / "other.json").write_text(json.dumps(other))
    assert _worker("prepare", str(tmp_path / "other.json"), "--job-dir", job) == 1
    assert "already holds another job" in "".join(capsys.readouterr())
