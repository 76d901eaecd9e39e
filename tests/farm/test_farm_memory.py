"""The farm's GPU memory figures per memory mode and the path mapping the tasks apply."""

from __future__ import annotations

import json

import pytest
from farm_helpers import demo_spec, run_cli

MiB = 1024**2


def test_figures_are_the_engines_budget() -> None:
    from void_vfx.farm.memory import fitting_gpus, requirement

    # hand-computed from the traced table (tests/engines/test_gpu_budget.py holds it to the trace)
    assert requirement("void", "gpu", 85).gpu_mib == 23143  # 22.6 GiB = 23142.4 MiB
    assert requirement("void", "gpu", 197).gpu_mib == 23348  # 22.8 GiB = 23347.2 MiB
    assert requirement("void", "offload-fp8", 85).gpu_mib == 12186  # 11.9 GiB
    assert requirement("preview", "gpu", 85).gpus == 0
    assert requirement("void", "cpu", 85).gpus == 0
    # 24 GiB x 0.95 = 23347.2 MiB: the 24 GB selections hold gpu at 85 frames, not at 197
    assert fitting_gpus(23143) == ["a10g", "l4", "l40s", "rtx-pro-server-6000"]
    assert fitting_gpus(23348) == ["l40s", "rtx-pro-server-6000"]
    # a T4 has the memory (16 GiB) but not bf16 (compute capability 7.5)
    assert fitting_gpus(12186)[0] == "a10g"


@pytest.mark.parametrize("frames", [85, 197])
def test_the_engine_picks_each_mode_at_exactly_its_figure(frames) -> None:
    """The bundle's MiB for a mode is enough for the engine's automatic choice to take that mode,
    and one MiB less is not: the farm and the engine share one budget."""
    pytest.importorskip("torch")
    from void_vfx.model_facts import void_gpu_mib
    from void_vfx_server.engines.void.loading import choose_memory_mode

    order = ["gpu", "gpu-fp8", "offload-fp8", "sequential"]
    for mode, lower in zip(order, order[1:], strict=False):
        mib = void_gpu_mib(mode, frames)
        assert choose_memory_mode(mib * MiB, frames).name == mode
        assert choose_memory_mode((mib - 1) * MiB, frames).name == lower


def test_rules_map_the_spec_paths_of_a_windows_submitter(tmp_path) -> None:
    """A spec written on Windows (Z:\\shots\\...) is prepared on this machine through the
    session's pathmapping-1.0 rules; without them the error names the unmapped plate."""
    shot, spec = demo_spec(tmp_path / "shot", frames=9, window=5, overlap=2)
    data = spec.to_dict()
    folder = str(tmp_path / "shot")
    for name in ("plate", "primary", "affected"):
        real = data[name] if name == "plate" else data[name]["path"]
        win = "Z:\\Shots\\sh010\\" + real[len(folder) + 1 :]
        if name == "plate":
            data[name] = win
        else:
            data[name]["path"] = win
    (tmp_path / "win.json").write_text(json.dumps(data))
    rules = {
        "version": "pathmapping-1.0",
        "path_mapping_rules": [
            {
                "source_path_format": "WINDOWS",
                "source_path": "z:\\shots\\SH010",
                "destination_path": folder,
            }
        ],
    }
    (tmp_path / "rules.json").write_text(json.dumps(rules))
    bare = run_cli(
        ["worker", "prepare", str(tmp_path / "win.json"), "--job-dir", str(tmp_path / "j1")]
    )
    assert bare.returncode == 1 and "Z:\\Shots\\sh010\\demo_plate" in bare.stdout
    mapped = run_cli(
        [
            "worker",
            "prepare",
            str(tmp_path / "win.json"),
            "--job-dir",
            str(tmp_path / "j2"),
            "--path-mapping-rules",
            str(tmp_path / "rules.json"),
            "--expect-windows",
            "3",
        ]
    )
    assert mapped.returncode == 0, mapped.stdout
    assert "frames 1001-1009: 3 window(s) planned" in mapped.stdout
    plan = json.loads((tmp_path / "j2" / "plan.json").read_text())
    assert [(w["first"], w["last"]) for w in plan["windows"]] == [
        (1001, 1005),
        (1003, 1007),
        (1005, 1009),
    ]
    # the job folder keeps the spec as submitted: each task maps it with its own rules
    assert json.loads((tmp_path / "j2" / "job.json").read_text())["plate"].startswith("Z:\\")
    wrong = run_cli(
        [
            "worker",
            "prepare",
            str(tmp_path / "win.json"),
            "--job-dir",
            str(tmp_path / "j3"),
            "--path-mapping-rules",
            str(tmp_path / "rules.json"),
            "--expect-windows",
            "4",
        ]
    )
    assert wrong.returncode == 1 and "make 3 window(s), the job was written for 4" in wrong.stdout
