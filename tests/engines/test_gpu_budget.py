"""The GPU memory table is the trace: every memory mode's peak per phase, traced on the meta
device with the real-size transformer (48 channels), T5-XXL and VAE, fits the table the engine
and the farm read, with the stated allowance, and the table is not padded beyond it."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from void_vfx.model_facts import VOID_GPU_ALLOWANCE, void_gpu_gib  # noqa: E402
from void_vfx_server.engines.void import memory_trace as mt  # noqa: E402

GiB = 1024**3
MODES = ("gpu", "gpu-fp8", "offload", "offload-fp8", "sequential")


@pytest.fixture(scope="module")
def trace() -> mt.BudgetTrace:
    return mt.BudgetTrace()


def test_live_bytes_counts_what_a_hand_count_gives() -> None:
    """1000x1000 float32 = 4,000,000 B, rounded to the allocator's 2 MiB pages: 4 MiB."""
    with mt.LiveBytes(slack=0) as live:
        a = torch.empty(1000, 1000, device="meta")
        b = a * 2  # 2 live
        view = b[:10]  # a view allocates nothing
        del a
        c = b + view.sum()  # 2 live again (and a 512-byte scalar)
        del b, c, view
    assert live.peak == 2 * 4 * 2**20 + 512
    assert live.current == 0


def test_real_sizes_are_the_released_models(trace) -> None:
    """The issue's figures: 5.57B parameters, 10.38 GiB bf16, 5.95 GiB with float8 storage;
    T5 v1.1 XXL's encoder 8.87 GiB (4.76B parameters); the VAE 0.40 GiB."""
    m = trace.models
    assert m.weights("transformer") / GiB == pytest.approx(10.38, abs=0.005)
    assert m.weights("transformer") / 2 == pytest.approx(5.571e9, rel=1e-3)  # bf16: 2 B each
    assert m.weights("transformer_fp8") / GiB == pytest.approx(5.95, abs=0.005)
    assert m.weights("t5") / GiB == pytest.approx(8.87, abs=0.005)
    assert m.weights("vae") / GiB == pytest.approx(0.40, abs=0.005)


@pytest.mark.parametrize("frames", [85, 197])
@pytest.mark.parametrize("mode", MODES)
def test_every_phase_fits_the_table(trace, mode: str, frames: int) -> None:
    fixed, share = VOID_GPU_ALLOWANCE
    table = void_gpu_gib(mode, frames)
    worst = 0.0
    for guidance in (1.0, 6.0):  # Pass 1, and Pass 2 with classifier-free guidance
        for phase, peak in trace.peaks(mode, frames, guidance).items():
            need = peak * (1 + share) + fixed
            assert need <= table, f"{mode} {frames} frames: {phase} needs {need:.2f} GiB"
            worst = max(worst, need)
    # the table is the trace rounded up to 0.1 GiB, not a guess with room to spare
    assert table == math.ceil(worst * 10) / 10


def test_the_peak_is_where_the_issue_traced_it(trace) -> None:
    """Decode beside the resident transformer (gpu 21.3 / 21.5, gpu-fp8 16.9 / 17.1, both
    passes 31.7 / 31.9), the decode alone in offload-fp8 (10.95 / 11.1); the trace is exact to
    32 MiB and counts allocator pages, so it may read up to 0.1 GiB above the issue's figures."""
    expected = {
        ("gpu", 85): 21.3,
        ("gpu", 197): 21.5,
        ("gpu-fp8", 85): 16.9,
        ("gpu-fp8", 197): 17.1,
        ("offload-fp8", 85): 10.95,
        ("offload-fp8", 197): 11.1,
    }
    for (mode, frames), gib in expected.items():
        peaks = trace.peaks(mode, frames, 6.0)
        assert max(peaks, key=peaks.get) == "decode"
        assert gib - 0.05 <= peaks["decode"] <= gib + 0.15
    both = trace.peaks("gpu", 197, 6.0, both_passes=True)["decode"]
    assert 31.85 <= both <= 32.05


def test_sequential_fits_an_8gb_card_and_its_decode_is_tiled(trace) -> None:
    """Untiled, the decode alone needs 10.6 GiB of working memory; the tiled decode keeps the
    mode under 8 GB (7.45 GiB) with the allowance, at 197 frames too."""
    untiled = mt.along_line(lambda f: mt.working_decode(trace.models, f), 85)
    assert untiled / GiB > 10.4
    assert void_gpu_gib("sequential", 197) < 8e9 / GiB - 1.0  # a GiB left to the driver
