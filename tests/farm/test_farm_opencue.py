"""The OpenCue job that pyoutline builds: layers, ranges, GPU fields, tags, service and
layer-on-layer dependencies, read back from the job XML (no Cuebot here: ``--xml OUT``)."""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET

import pytest
from farm_helpers import demo_spec, run_cli, worker_env

pytest.importorskip("outline")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("cue")
    shot, spec = demo_spec(root / "shot", frames=30, engine="void")
    (root / "job.json").write_text(spec.to_json())
    return root, spec


def _no_cuebot() -> dict[str, str]:
    env = worker_env()
    env.pop("CUEBOT_HOSTS", None)
    env["XDG_CONFIG_HOME"] = "/nonexistent-config"
    return env


def test_job_xml_layers_ranges_gpu_tags_and_dependencies(job, tmp_path) -> None:
    root, _ = job
    out = tmp_path / "job.xml"
    made = run_cli(
        [
            "farm",
            "opencue",
            str(root / "job.json"),
            "--xml",
            str(out),
            "--job-dir",
            str(tmp_path / "jd"),
            "--memory-mode",
            "gpu-fp8",
            "--tags",
            "gpu|void48",
            "--service",
            "voidgpu",
            "--show",
            "demo",
        ],
        _no_cuebot(),
    )
    assert made.returncode == 0, made.stdout
    spec_xml = ET.parse(out).getroot()
    assert spec_xml.findtext("show") == "demo"
    layers = {la.get("name"): la for la in spec_xml.iter("layer")}
    assert list(layers) == ["prepare", "infer", "assemble"]
    ranges = {n: (la.findtext("range"), la.findtext("chunk")) for n, la in layers.items()}
    assert ranges == {"prepare": ("1", "1"), "infer": ("0-2", "1"), "assemble": ("1", "1")}
    infer = layers["infer"]
    # gpu-fp8 for 13-frame windows: 18.0 GiB (the traced table) = 18432 MiB -> 18g
    assert (infer.findtext("gpus"), infer.findtext("gpu_memory")) == ("1", "18g")
    assert infer.findtext("tags") == "gpu | void48"
    assert infer.findtext("services/service") == "voidgpu"
    assert layers["prepare"].find("gpus") is None and layers["assemble"].find("gpus") is None
    cmd = shlex.split(infer.findtext("cmd"))
    assert cmd[:5] == ["void-vfx", "worker", "run-window", str(tmp_path / "jd"), "#IFRAME#"]
    assert cmd[cmd.index("--memory-mode") + 1] == "gpu-fp8"
    deps = [
        (d.get("type"), d.findtext("deplayer"), d.findtext("onlayer"))
        for d in spec_xml.iter("depend")
    ]
    assert deps == [("LAYER_ON_LAYER", "infer", "prepare"), ("LAYER_ON_LAYER", "assemble", "infer")]
    # the prepare layer reads the spec staged in the job folder
    prep = shlex.split(layers["prepare"].findtext("cmd"))
    assert prep[3] == str(tmp_path / "jd" / "submitted.json")
    assert (tmp_path / "jd" / "submitted.json").is_file()


def test_without_a_cuebot_or_xml_it_says_what_to_do(job) -> None:
    root, _ = job
    made = run_cli(["farm", "opencue", str(root / "job.json")], _no_cuebot())
    assert made.returncode == 1
    assert "no Cuebot is configured" in made.stdout and "--xml OUT" in made.stdout


def test_dry_run_prints_the_memory_estimate_and_writes_nothing(job, tmp_path) -> None:
    root, _ = job
    made = run_cli(
        [
            "farm",
            "openjd",
            str(root / "job.json"),
            "-o",
            str(tmp_path / "b"),
            "--dry-run",
            "--memory-mode",
            "offload-fp8",
        ]
    )
    assert made.returncode == 0, made.stdout
    assert "dry run, nothing written" in made.stdout
    # 11.9 GiB = 12185.6 MiB for 13-frame windows (the traced table); the chosen mode is starred
    assert re.search(r"^ \* offload-fp8 +12186 MiB", made.stdout, re.M)
    assert re.search(r"^   gpu +23143 MiB", made.stdout, re.M)
    assert not (tmp_path / "b").exists()


def test_tags_follow_cuebots_rule_and_a_preview_job_asks_for_no_gpu_host(job, tmp_path, capsys):
    import dataclasses

    from void_vfx.cli.main import main
    from void_vfx.errors import SpecError
    from void_vfx.farm.job import describe_job
    from void_vfx.farm.opencue import build_outline, job_xml, parse_tags

    # cuebot JobSpec.java: a tag matches ^([\w\.-]{3,})$
    assert parse_tags("gpu | gpu_a100, rtx.6000 a-b") == ["gpu", "gpu_a100", "rtx.6000", "a-b"]
    for bad in ("gp", "gpu+", "gpu/a100", "ab"):
        with pytest.raises(SpecError, match="Cuebot refuses"):
            parse_tags(f"gpu | {bad}")
    root, spec = job

    def infer(s, **kw):
        xml = job_xml(build_outline(describe_job(s, job_dir=str(tmp_path / "jd")), **kw))
        layers = {la.get("name"): la for la in ET.fromstring(xml.split("?>", 1)[1]).iter("layer")}
        return layers["infer"]

    # pyoutline alone drops a tag that is not alphanumeric; this one reaches the XML.
    assert infer(spec, tags="gpu | gpu_a100").findtext("tags") == "gpu | gpu_a100"
    void = infer(spec)
    assert (void.findtext("tags"), void.findtext("services/service")) == ("gpu", "void")
    preview = infer(dataclasses.replace(spec, engine="preview"))
    assert preview.find("tags") is None and preview.find("gpus") is None
    assert preview.findtext("services/service") != "void"
    code = main(
        [
            "farm",
            "opencue",
            str(root / "job.json"),
            "--tags",
            "gp",
            "--xml",
            str(tmp_path / "x.xml"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("void-vfx farm: --tags: Cuebot refuses the tag(s) 'gp'")
    assert not (tmp_path / "x.xml").exists()
