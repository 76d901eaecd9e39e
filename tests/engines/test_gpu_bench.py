"""bench/gpu_void_bench.py: its cases run on the CPU with tiny configs, and its driver records a
line per case whatever the case does (passes, fails, hangs)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
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


def test_driver_records_every_case_under_its_watchdog(bench, tmp_path: Path, capsys) -> None:
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
    capsys.readouterr()
    assert bench.main([str(out), "--table"]) == 0  # the table of every line so far
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == bench.TABLE_HEAD and len(rows) == 2 + 5
    assert rows[3].startswith("| check-fail | error |") and "a case that fails" in rows[3]
    assert rows[-1].startswith("| check-ok | skipped |")
    assert bench.main([str(tmp_path / "none"), "--table"]) == 1


def test_quick_set_is_the_default_cases_most_telling_first(bench) -> None:
    quick = bench.QUICK_CASES.split(",")
    default = bench.DEFAULT_CASES.split(",")
    assert quick[0] == "env" and set(quick) <= set(default)
    assert {c.rsplit("-", 1)[0] for c in quick if c.startswith("pass-")} == {
        "pass-gpu",
        "pass-gpu-fp8",
        "pass-offload-fp8",
        "pass-sequential",
    }  # every mode the engine chooses, each against its budget
    assert bench.QUICK_BUDGET_S + 60 <= 6.5 * 60  # the watchdog's budget fits a 6-minute call


def test_table_row_reads_budget_against_peak(bench) -> None:
    """A GPU line's row: the highest phase peak (not build's) against the budget."""
    line = {
        "case": "pass-gpu-fp8-85",
        "status": "ok",
        "mode": "gpu-fp8",
        "frames": 85,
        "table_GiB": 18.0,
        "phases": {
            "build": {"s": 3.0, "peak_GiB": 30.0},  # random weights made on the GPU: not a phase
            "encode": {"s": 4.2, "peak_GiB": 9.1, "reserved_GiB": 9.5},
            "pass1": {"s": 2.0, "peak_GiB": 12.3, "reserved_GiB": 13.0, "s_per_step": 0.91},
            "pass2_guided": {"s": 4.0, "peak_GiB": 14.0, "s_per_step": 1.84},
            "decode": {"s": 6.5, "peak_GiB": 16.97, "reserved_GiB": 17.4},
        },
    }
    assert bench.table_row(line) == (
        "| pass-gpu-fp8-85 | ok | gpu-fp8 | 85 | 18.0 | 16.97 (decode) | 17.4 | 0.91 | 1.84 "
        "| 4.2 | 6.5 | fits |"
    )
    line["table_GiB"] = 16.0
    assert "| OVER BUDGET |" in bench.table_row(line)
    timeout = {"case": "load", "status": "timeout", "error": "killed after 120 s"}
    assert bench.table_row(timeout) == (
        "| load | timeout | - | - | - | - | - | - | - | - | - | killed after 120 s |"
    )


def test_device_script_refuses_in_one_line_without_torch(tmp_path: Path) -> None:
    script = REPO / "bench" / "gpu_device_check.sh"
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    done = subprocess.run(
        ["sh", str(script), str(tmp_path)],
        env={**os.environ, "PYTHON": "false"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stdout.strip().splitlines() == [
        "gpu_device_check: false lacks torch, diffusers, transformers or safetensors; "
        "set PYTHON=/path/to/python of an environment that has them"
    ]


@pytest.mark.parametrize("mode", ["gpu-fp8", "sequential"])
def test_tiny_pass_case_times_both_passes_and_reads_the_table(bench, mode: str) -> None:
    pytest.importorskip("diffusers")
    from void_vfx.model_facts import void_gpu_gib

    result = bench.run_case(f"pass-{mode}-85", tiny=True, steps=1)
    phases = result["phases"]
    assert set(phases) == {"build", "encode", "pass1", "pass2_guided", "decode"}
    assert phases["pass1"]["s_per_step"] > 0 and phases["pass2_guided"]["s_per_step"] > 0
    assert result["table_GiB"] == void_gpu_gib(mode, 85)
    cells = bench.table_row({"case": f"pass-{mode}-85", "status": "ok", **result}).split(" | ")
    assert cells[2:5] == [mode, "85", str(void_gpu_gib(mode, 85))]
    assert cells[7:9] == [
        str(phases["pass1"]["s_per_step"]),
        str(phases["pass2_guided"]["s_per_step"]),
    ]
