"""The Open Job Description bundle of a small synthetic shot (64x48, 30 frames, three windows of
13 frames): checked and summarised by openjd-cli, run with ``openjd run`` through the real worker
commands, and compared bit for bit with the server path for the same spec and seed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from farm_helpers import command_from, demo_spec, frames_of, run_cli, run_openjd, worker_env

yaml = pytest.importorskip("yaml")

#: 30 frames in windows of 13 overlapping by at least 4: 1001-1013, 1009-1021, 1018-1030.
WINDOWS = [0, 1, 2]


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    """The shot, its spec, a bundle written by ``void-vfx farm openjd`` and one ``openjd run``."""
    root = tmp_path_factory.mktemp("farm")
    shot, spec = demo_spec(root / "shot", frames=30)
    (root / "job.json").write_text(spec.to_json())
    bundle, job_dir = root / "bundle", root / "jobdir"
    made = run_cli(
        ["farm", "openjd", str(root / "job.json"), "-o", str(bundle), "--job-dir", str(job_dir)]
    )
    assert made.returncode == 0, made.stdout
    run = run_openjd(command_from(made.stdout))
    return {
        "root": root,
        "shot": shot,
        "spec": spec,
        "bundle": bundle,
        "job_dir": job_dir,
        "made": made.stdout,
        "run": run,
    }


def _load(path: Path):
    return yaml.safe_load(path.read_text())


def test_bundle_follows_the_2023_09_template_and_deadline_layout(farm) -> None:
    bundle = farm["bundle"]
    assert sorted(os.listdir(bundle)) == sorted(
        ["template.yaml", "parameter_values.yaml", "asset_references.yaml", "job.json"]
    )
    t = _load(bundle / "template.yaml")
    assert t["specificationVersion"] == "jobtemplate-2023-09"
    assert "extensions" not in t  # no TASK_CHUNKING: windows are tasks one for one
    steps = {s["name"]: s for s in t["steps"]}
    assert [s["name"] for s in t["steps"]] == ["Prepare", "Infer", "Assemble"]
    assert steps["Infer"]["dependencies"] == [{"dependsOn": "Prepare"}]
    assert steps["Assemble"]["dependencies"] == [{"dependsOn": "Infer"}]
    (param,) = steps["Infer"]["parameterSpace"]["taskParameterDefinitions"]
    assert param == {"name": "Window", "type": "INT", "range": WINDOWS}
    assert "hostRequirements" not in steps["Infer"]  # the preview engine needs no GPU
    params = {p["name"]: p for p in t["parameterDefinitions"]}
    assert {n: params[n]["dataFlow"] for n in ("JobSpec", "JobDir", "OutputDir")} == {
        "JobSpec": "IN",
        "JobDir": "INOUT",
        "OutputDir": "OUT",
    }
    # a PATH default must be relative (openjd summary/run refuse absolute ones)
    assert params["JobSpec"]["default"] == "job.json" and "default" not in params["JobDir"]
    run = steps["Infer"]["script"]["actions"]["onRun"]["args"]
    assert run[:4] == ["worker", "run-window", "{{Param.JobDir}}", "{{Task.Param.Window}}"]
    assert run[-2:] == ["--path-mapping-rules", "{{Session.PathMappingRulesFile}}"]
    values = {
        v["name"]: v["value"] for v in _load(bundle / "parameter_values.yaml")["parameterValues"]
    }
    assert values == {
        "JobDir": str(farm["job_dir"]),
        "OutputDir": str(farm["root"] / "shot" / "out"),
    }
    refs = _load(bundle / "asset_references.yaml")["assetReferences"]
    assert len(refs["inputs"]["filenames"]) == 3 * 30  # plate, primary, affected
    assert refs["outputs"]["directories"] == [str(farm["root"] / "shot" / "out")]
    assert json.loads((bundle / "job.json").read_text()) == farm["spec"].to_dict() | {
        "frame_range": [1001, 1030]
    }


def test_openjd_check_and_summary_accept_the_bundle(farm) -> None:
    template = str(farm["bundle"] / "template.yaml")
    check = run_openjd(["check", template])
    assert check.returncode == 0, check.stdout
    args = ["summary", template, "-p", f"JobDir={farm['job_dir']}", "-p", "OutputDir=/tmp/x"]
    summary = run_openjd(args)
    assert summary.returncode == 0, summary.stdout
    assert "Total tasks: 5" in summary.stdout  # 1 prepare + 3 windows + 1 assemble
    assert "'Infer' (3 total Tasks)" in summary.stdout


def test_openjd_run_gives_the_server_paths_frames(farm) -> None:
    from void_vfx.client.local import run_local_job

    run = farm["run"]
    assert run.returncode == 0, run.stdout[-4000:]
    assert "openjd_progress: 100.0" in run.stdout
    version = farm["root"] / "shot" / "out" / "demo_plate_void_v001"
    farm_paths = sorted(version.glob("demo_plate_void_v001.*.exr"))
    assert [p.name[-9:-4] for p in farm_paths[:2]] == [".1001", ".1002"] and len(farm_paths) == 30
    server = run_local_job(
        _with_out(farm["spec"], farm["root"] / "server"),
        engine="preview",
        data_dir=farm["root"] / "data",
    )
    a, b = frames_of(farm_paths), frames_of(server)
    assert a.shape == (30, 48, 64, 3)
    assert (a == b).all()  # bit for bit
    assert not (a == frames_of(sorted(Path(farm["shot"].folder).glob("demo_plate.*.exr")))).all()


def test_a_retried_infer_task_is_a_no_op(farm, tmp_path) -> None:
    assert farm["run"].returncode == 0
    # The job has ended: the INOUT job folder keeps no window cache (Deadline would sync it back).
    assert sorted(os.listdir(farm["job_dir"])) == ["assembled.json", "job.json"]
    log = tmp_path / "engine.log"
    env = worker_env(VOID_VFX_TEST_ENGINE_LOG=str(log))

    def retry(job_dir):
        return [
            "run",
            str(farm["bundle"] / "template.yaml"),
            "--step",
            "Infer",
            "-tp",
            "Window=1",
            "-p",
            f"JobDir={job_dir}",
            "-p",
            "OutputDir=/tmp/unused",
            "-p",
            "Engine=farm_counting_engine:CountingPreview",
        ]

    again = run_openjd(retry(farm["job_dir"]), env)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "window 1 is already committed; nothing to do" in again.stdout
    assert not log.exists()  # the engine was never even loaded
    # Control: in a prepared job folder the same task runs the engine once and commits; run
    # again, it is a no-op with the same bits.
    fresh = tmp_path / "fresh"
    prep = run_openjd(
        [
            "run",
            str(farm["bundle"] / "template.yaml"),
            "--step",
            "Prepare",
            "-p",
            f"JobDir={fresh}",
            "-p",
            "OutputDir=/tmp/unused",
        ],
        env,
    )
    assert prep.returncode == 0, prep.stdout[-3000:]
    first = run_openjd(retry(fresh), env)
    assert first.returncode == 0, first.stdout[-3000:]
    npy = fresh / "windows" / "w001.npy"
    before = (npy.stat().st_ino, npy.stat().st_mtime_ns, npy.read_bytes())
    second = run_openjd(retry(fresh), env)
    assert "window 1 is already committed; nothing to do" in second.stdout
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["load", "run"]
    assert (npy.stat().st_ino, npy.stat().st_mtime_ns, npy.read_bytes()) == before


def test_default_job_folder_is_beside_the_output_folder_and_long_names_pass_openjd_check(
    farm, tmp_path
) -> None:
    import dataclasses

    from void_vfx.errors import SpecError
    from void_vfx.farm.openjd import check_template
    from void_vfx.farm.submit import submit_job

    long = dataclasses.replace(
        farm["spec"],
        output=dataclasses.replace(
            farm["spec"].output, dir=str(tmp_path / "out"), name="sh" + "0123456789" * 14
        ),
    )
    answer = submit_job(long, "openjd", out_dir=str(tmp_path / "bundles"))
    job_dir = Path(answer["job_dir"])
    # Beside OUT (never inside it: OUT is synced back as output), in .void-vfx-farm/
    assert job_dir.parent == tmp_path / ".void-vfx-farm"
    name = _load(Path(answer["bundle"]) / "template.yaml")["name"]
    assert len(name) == 128 and name.startswith("sh0123456789")
    check = run_openjd(["check", str(Path(answer["bundle"]) / "template.yaml")])
    assert check.returncode == 0, check.stdout
    assert "(template checked (openjd check))" in answer["message"]
    # The guard itself: a 129-character name fails as openjd check fails it.
    bad = _load(Path(answer["bundle"]) / "template.yaml") | {"name": "x" * 129}
    with pytest.raises(SpecError, match="fails openjd check"):
        check_template(bad)


def test_a_retried_assemble_does_not_take_a_new_version(farm) -> None:
    assert farm["run"].returncode == 0
    again = run_cli(["worker", "assemble", str(farm["job_dir"])])
    assert again.returncode == 0, again.stdout
    assert "already assembled" in again.stdout
    assert sorted(os.listdir(farm["root"] / "shot" / "out")) == ["demo_plate_void_v001"]


def _with_out(spec, folder: Path):
    import dataclasses

    return dataclasses.replace(spec, output=dataclasses.replace(spec.output, dir=str(folder)))
