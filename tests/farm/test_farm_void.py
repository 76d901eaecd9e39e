"""The real VOID engine (tiny random weights) on the farm path: ``openjd run`` of a bundle whose
Infer step keeps the engine loaded in a session host, against the server path, bit for bit.

Slow by nature (the VAE runs at the model's 384x672 working size whatever the plate): two
windows of 5 frames, one step, each way."""

from __future__ import annotations

import pytest
from farm_helpers import command_from, demo_spec, frames_of, run_cli, run_openjd, worker_env

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
yaml = pytest.importorskip("yaml")

pytestmark = pytest.mark.slow


def test_openjd_run_with_a_resident_void_engine_equals_the_server(
    void_weights, void_engine, tmp_path
) -> None:
    from void_vfx.client.local import run_local_job

    shot, spec = demo_spec(tmp_path / "shot", frames=8, engine="void", window=5, overlap=2, steps=1)
    (tmp_path / "job.json").write_text(spec.to_json())
    bundle = tmp_path / "bundle"
    made = run_cli(
        [
            "farm",
            "openjd",
            str(tmp_path / "job.json"),
            "-o",
            str(bundle),
            "--job-dir",
            str(tmp_path / "jobdir"),
            "--weights",
            str(void_weights),
        ]
    )
    assert made.returncode == 0, made.stdout
    infer = yaml.safe_load((bundle / "template.yaml").read_text())["steps"][1]
    assert infer["parameterSpace"]["taskParameterDefinitions"][0]["range"] == [0, 1]
    amounts = {a["name"]: a["min"] for a in infer["hostRequirements"]["amounts"]}
    # memory mode gpu, windows of 5 frames: 22.6 GiB (the traced table) = 23142.4 MiB, rounded up
    assert amounts == {"amount.worker.gpu": 1, "amount.worker.gpu.memory": 23143}
    (env,) = infer["stepEnvironments"]
    assert env["script"]["actions"]["onEnter"]["args"][:2] == ["worker", "engine-start"]

    threads = {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    run = run_openjd(command_from(made.stdout), worker_env(**threads), timeout=900)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "engine host ran 2 window(s) on 1 load(s)" in run.stdout  # loaded once per session
    farm = sorted((tmp_path / "shot" / "out" / "demo_plate_void_v001").glob("*.exr"))

    torch.set_num_threads(2)
    import dataclasses

    server_spec = dataclasses.replace(
        spec, output=dataclasses.replace(spec.output, dir=str(tmp_path / "server"))
    )
    server = run_local_job(server_spec, engine=void_engine, data_dir=tmp_path / "data")
    a, b = frames_of(farm), frames_of(server)
    assert a.shape == (8, 48, 64, 3) and (a == b).all()
