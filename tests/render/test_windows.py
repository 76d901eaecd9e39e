"""Temporal window plans: valid lengths, exact coverage, crossfades, JSON round trip."""

from __future__ import annotations

import pytest

from void_vfx.errors import PlanError
from void_vfx.model_facts import is_valid_length
from void_vfx.render.windows import WindowPlan, plan_windows


def _check_plan(plan: WindowPlan, first: int, last: int) -> None:
    # every window has a valid model length and covers only plate frames
    for w in plan.windows:
        assert is_valid_length(w.length), w
        assert w.length >= w.frame_count
        assert first <= w.first <= w.last <= last
        src = w.source_frames()
        assert len(src) == w.length
        assert src[: w.frame_count] == list(w.frames())
        assert all(w.first <= f <= w.last for f in src)
    # the plan covers exactly the plate's range, weights sum to one on every frame
    covered = set()
    for f in range(first, last + 1):
        hits = plan.windows_for_frame(f)
        assert hits, f"frame {f} not covered"
        assert sum(wt for _, wt in hits) == pytest.approx(1.0)
        assert all(wt >= 0 for _, wt in hits)
        covered.add(f)
    assert covered == set(range(first, last + 1))


@pytest.mark.parametrize(
    "count, windows, length",
    [
        (1, 1, 85),
        (12, 1, 85),
        (85, 1, 85),
        (86, 1, 93),
        (197, 1, 197),
        (198, 2, None),
        (500, 3, None),
    ],
)
def test_plans_for_issue_lengths(count: int, windows: int, length: int | None) -> None:
    plan = plan_windows(1001, 1000 + count, fps="24")
    _check_plan(plan, 1001, 1000 + count)
    assert len(plan.windows) == windows
    if length is not None:
        assert plan.windows[0].length == length
    if windows > 1:
        # long shots: no padding, overlaps of at least the requested 16 frames
        for a, b in zip(plan.windows, plan.windows[1:], strict=False):
            assert a.padding == 0 and b.padding == 0
            assert a.last - b.first + 1 >= 16


def test_mirror_padding_repeats_last_frame_like_reference() -> None:
    w = plan_windows(10, 21).windows[0]  # 12 frames -> 85
    src = w.source_frames()
    assert src[:14] == list(range(10, 22)) + [21, 20]
    assert src[22:26] == [11, 10, 10, 11]  # bounces again at the start


def test_single_frame_still_is_repeated() -> None:
    w = plan_windows(7, 7, min_length=13).windows[0]
    assert w.length == 13 and set(w.source_frames()) == {7}


def test_crossfade_is_linear_across_overlap() -> None:
    plan = plan_windows(0, 299)
    a, b = plan.windows[0], plan.windows[1]
    overlap = range(b.first, a.last + 1)
    weights_b = [dict((w.index, x) for w, x in plan.windows_for_frame(f))[b.index] for f in overlap]
    steps = [y - x for x, y in zip(weights_b, weights_b[1:], strict=False)]
    assert all(s > 0 for s in steps)
    assert max(steps) - min(steps) < 1e-9
    assert plan.windows_for_frame(a.first) == [(a, 1.0)]


def test_negative_frame_numbers() -> None:
    plan = plan_windows(-250, -1)
    _check_plan(plan, -250, -1)


def test_short_window_speed_option() -> None:
    plan = plan_windows(1, 20, min_length=21)
    assert plan.windows[0].length == 21


def test_json_round_trip_and_describe() -> None:
    plan = plan_windows(1001, 1500, fps="24000/1001")
    back = WindowPlan.from_json(plan.to_json())
    assert back.windows == plan.windows
    assert back.fps == "24000/1001"
    for f in (1001, 1170, 1330, 1500):
        got = [(w.index, round(x, 5)) for w, x in back.windows_for_frame(f)]
        want = [(w.index, round(x, 5)) for w, x in plan.windows_for_frame(f)]
        assert got == want
    text = plan.describe()
    assert "3 window(s)" in text and "1001-1500" in text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_length": 20}, "min_length 20"),
        ({"max_length": 200}, "max_length 200"),
        ({"min_length": 93, "max_length": 85}, "larger than"),
        ({"overlap": 120}, "overlap 120"),
    ],
)
def test_bad_settings_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_windows(1, 100, **kwargs)


def test_empty_range_and_bad_json() -> None:
    with pytest.raises(PlanError, match="empty frame range"):
        plan_windows(10, 9)
    with pytest.raises(PlanError, match="not valid JSON"):
        WindowPlan.from_json("{")
    with pytest.raises(PlanError, match="schema"):
        WindowPlan.from_dict({"schema": "other"})
    with pytest.raises(PlanError, match="outside"):
        plan_windows(1, 10).windows_for_frame(11)


def test_plan_command_prints_json_and_table(capsys) -> None:
    from void_vfx.cli.main import main

    assert main(["plan", "--range", "1001-1500", "--fps", "25", "--json"]) == 0
    plan = WindowPlan.from_json(capsys.readouterr().out)
    assert (plan.first, plan.last, plan.fps, len(plan.windows)) == (1001, 1500, "25", 3)
    assert main(["plan", "--range", "1-86"]) == 0
    assert "(86 + 7 mirrored = 93)" in capsys.readouterr().out
    assert main(["plan", "--range", "1-86", "--min-length", "20"]) == 1
    assert "min_length 20" in capsys.readouterr().err


def test_plan_command_scans_a_real_sequence_on_disk(tmp_path, capsys) -> None:
    import numpy as np

    from void_vfx.cli.main import main
    from void_vfx.media.image_write import write_exr

    for f in range(998, 1003):  # crosses the 4-digit boundary: plate.0998 .. plate.1002
        write_exr(str(tmp_path / f"plate.{f:04d}.exr"), np.zeros((4, 4, 3), np.float32))
    for typed in ("plate.####.exr", "plate.%04d.exr", "plate.[0998-1002].exr", "plate.0999.exr"):
        assert main(["plan", str(tmp_path / typed), "--json"]) == 0, typed
        plan = WindowPlan.from_json(capsys.readouterr().out)
        assert (plan.first, plan.last, plan.windows[0].length) == (998, 1002, 85), typed
    assert main(["plan", str(tmp_path / "plate.####.exr 1000-1001")]) == 0
    assert "frames 1000-1001 (2)" in capsys.readouterr().out
    (tmp_path / "plate.1000.exr").unlink()
    assert main(["plan", str(tmp_path / "plate.####.exr")]) == 1
    assert "missing frames 1000" in capsys.readouterr().err
