"""bench/gpu_void_bench.py: its cases run on the CPU with tiny configs, and its driver records a
line per case whatever the case does (passes, fails, hangs)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "gpu_void_bench", REPO / "bench" / "gpu_void_bench.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_driver_records_every_case_under_its_watchdog(bench, tmp_path: Path) -> None:
    out = tmp_path / "results"
    bench.main(
        [
            str(out),
            "--tiny",
            "--cases",
            "check-ok,check-fail,check-hang,check-ok",
            "--case-timeout",
            "4",
        ]
    )
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [(x["case"], x["status"]) for x in lines] == [
        ("check-ok", "ok"),
        ("check-fail", "error"),
        ("check-hang", "timeout"),
        ("check-ok", "ok"),
    ]
    assert lines[1]["error"] == "RuntimeError: a case that fails"
    bench.main([str(out), "--tiny", "--cases", "check-ok", "--budget", "1"])  # appended
    last = json.loads((out / "results.jsonl").read_text().splitlines()[-1])
    assert last["status"] == "skipped"


@pytest.mark.parametrize("mode", ["gpu-fp8", "sequential"])
def test_tiny_pass_case_times_both_passes_and_reads_the_table(bench, mode: str) -> None:
    pytest.importorskip("diffusers")
    from void_vfx.model_facts import void_gpu_gib

    result = bench.run_case(f"pass-{mode}-85", tiny=True, steps=1)
    phases = result["phases"]
    assert set(phases) == {"build", "encode", "pass1", "pass2_guided", "decode"}
    assert phases["pass1"]["s_per_step"] > 0 and phases["pass2_guided"]["s_per_step"] > 0
    assert result["table_GiB"] == void_gpu_gib(mode, 85)
