"""The engine's GPU behaviour that a CPU can check: out-of-memory falls back to the next mode
the traced budget fits, T5's device is fixed by the mode, free memory counts PyTorch's cached
blocks, GPUs without bf16 are refused."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from void_vfx.errors import EngineError  # noqa: E402
from void_vfx.model_facts import void_gpu_gib  # noqa: E402
from void_vfx.render.engine import WindowInput  # noqa: E402
from void_vfx_server.engines.void import gpu, loading  # noqa: E402
from void_vfx_server.engines.void.engine import VoidEngine  # noqa: E402
from void_vfx_server.engines.void.pipeline import VoidPipeline  # noqa: E402

GiB = 1024**3


def _window(frames: int = 5, h: int = 32, w: int = 48) -> WindowInput:
    rng = np.random.default_rng(5)
    quad = np.full((frames, h, w), 255, np.uint8)
    quad[:, 8:16, 12:24] = 0
    return WindowInput(
        rng.random((frames, h, w, 3), dtype=np.float32), quad, "a ball", 3, {"steps": 1}
    )


def _oom() -> torch.cuda.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 10.50 GiB")


def test_fallback_follows_the_traced_budget() -> None:
    assert gpu.fallback_mode("gpu", 19 * GiB) == "gpu-fp8"  # 18.2 fits
    assert gpu.fallback_mode("gpu", 13 * GiB) == "offload-fp8"  # 12.1 fits, 18.2 does not
    assert gpu.fallback_mode("gpu-fp8", 4 * GiB) == "sequential"  # nothing fits: the last
    assert gpu.fallback_mode("offload", 40 * GiB) == "offload-fp8"
    assert gpu.fallback_mode("sequential", 40 * GiB) is None
    assert gpu.fallback_mode("gpu", None) == "gpu-fp8"  # no GPU to ask: the next one


def test_out_of_memory_at_load_falls_back_and_the_job_runs(void_weights: Path, monkeypatch):
    real_load = loading.VoidModels.load
    calls = []

    def load(self):
        calls.append(self.plan.name)
        if len(calls) == 1:
            raise _oom()
        return real_load(self)

    monkeypatch.setattr(loading.VoidModels, "load", load)
    engine = VoidEngine(void_weights, device="cpu", dtype=torch.float32, memory_mode="gpu-fp8")
    out = engine.run(_window(), lambda *a: None, lambda: False)
    assert calls == ["gpu-fp8", "offload-fp8"]
    assert out.frames.shape == (5, 32, 48, 3)
    info = engine.info()
    assert info["memory_mode"] == "offload-fp8"
    assert (
        "out of GPU memory loading in memory mode gpu-fp8; loaded in offload-fp8"
        in (info["memory_fallback"])
    )


def test_out_of_memory_in_a_window_fails_the_job_and_the_next_one_runs(
    void_weights: Path, monkeypatch
):
    real_call = VoidPipeline.__call__
    raised = []

    def call(self, *args, **kwargs):
        if not raised:
            raised.append(self.models.plan.name)
            raise _oom()
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(VoidPipeline, "__call__", call)
    engine = VoidEngine(void_weights, device="cpu", dtype=torch.float32, memory_mode="gpu-fp8")
    with pytest.raises(EngineError) as err:
        engine.run(_window(), lambda *a: None, lambda: False)
    msg = str(err.value)
    assert "out of GPU memory in memory mode gpu-fp8" in msg
    assert "falls back to offload-fp8 for the next jobs" in msg
    assert engine.models is None  # unloaded: nothing of the failed window is held
    out = engine.run(_window(), lambda *a: None, lambda: False)
    assert out.frames.shape == (5, 32, 48, 3)
    assert engine.models.plan.name == "offload-fp8"


def test_t5_device_is_fixed_by_the_mode_not_by_free_memory(monkeypatch) -> None:
    cuda = torch.device("cuda")
    for free in (1 * GiB, 70 * GiB):  # the old rule moved T5 by free memory: not any more
        monkeypatch.setattr(loading, "free_gpu_bytes", lambda device, f=free: f)
        for mode, where in [
            ("gpu", "cuda"),
            ("gpu-fp8", "cuda"),
            ("offload-fp8", "cuda"),
            ("sequential", "cpu"),
        ]:
            models = loading.VoidModels(None, cuda, torch.bfloat16, loading.memory_plan(mode))
            assert models.text_device().type == where, (mode, free)


def test_free_memory_counts_cached_blocks(monkeypatch) -> None:
    """Keeping Pass 2 beside Pass 1 needs the second copy plus the mode's working memory (the
    decode's); blocks PyTorch caches count as free, so the answer is the same whatever the
    previous job left cached."""
    cuda = torch.device("cuda")
    models = loading.VoidModels(None, cuda, torch.bfloat16, loading.memory_plan("gpu"))
    models.transformers = {1: torch.nn.Linear(1024, 1024, dtype=torch.bfloat16)}
    size = 1024 * 1024 * 2 + 1024 * 2
    need = size + (void_gpu_gib("gpu", 197) * GiB - size - int(0.41 * GiB))
    reserved = {"value": 0}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d: (int(need) - 5 * GiB, 80 * GiB))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d: reserved["value"])
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d: 1 * GiB)
    reserved["value"] = 1 * GiB  # nothing cached
    assert not models._room_for_second()
    reserved["value"] = 6 * GiB  # 5 GiB cached by the last job: usable again
    assert models._room_for_second()


def test_a_gpu_without_bf16_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d: "Tesla T4")
    with pytest.raises(
        EngineError, match=r"Tesla T4\) has compute capability 7.5.*8.0 or newer"
    ) as e:
        gpu.check_gpu(torch.device("cuda"), torch.bfloat16)
    message = str(e.value)  # one line that says what to type
    assert "\n" not in message and "--gpus N" in message and "--memory-mode cpu" in message
    gpu.check_gpu(torch.device("cuda"), torch.float32)  # an explicit float32 engine may run
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d: (8, 9))
    gpu.check_gpu(torch.device("cuda"), torch.bfloat16)  # L4


def test_allocator_gets_expandable_segments_before_cuda_starts(monkeypatch) -> None:
    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)
    gpu.configure_allocator()
    import os

    assert os.environ["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:512")
    gpu.configure_allocator()
    assert os.environ["PYTORCH_CUDA_ALLOC_CONF"] == "max_split_size_mb:512,expandable_segments:True"


def test_offload_moves_from_a_kept_host_copy_and_never_copies_back() -> None:
    """Offloaded modules visit the device from one host copy kept for them; leaving only points
    the weights back at it. (On this CPU the visit's upload is the host copy itself; the CUDA
    upload is the same assignment from pinned memory.)"""
    cpu = torch.device("cpu")
    models = loading.VoidModels(None, cpu, torch.float32, loading.memory_plan("offload"))
    vae = torch.nn.Linear(4, 3)
    models.vae = vae
    before = vae.weight.detach().clone()
    with models.on_device(vae):
        vae.weight.data = vae.weight.data * 0  # a cast hook replacing weights while it runs
    assert torch.equal(vae.weight, before)  # back on the kept copy, values as they were
    host = vae.weight.data_ptr()
    with models.on_device(vae):
        pass
    assert vae.weight.data_ptr() == host  # the same host copy: no copy back, no new buffer
    assert len(models._host) == 1
    models.unload()
    assert models._host == {}


def test_too_little_memory_for_any_mode_is_refused_at_load_in_one_line(
    void_weights: Path, monkeypatch
) -> None:
    """Below sequential's traced budget (5.8 GiB at 197 frames) an auto engine refuses to load,
    rather than run every diffusion step of a window and run out of memory in its decode; a
    mode asked for explicitly is tried."""
    from void_vfx_server.engines.void import engine as engine_mod

    assert gpu.too_little_memory(torch.device("cuda:1"), 6 * GiB) == ""
    assert gpu.too_little_memory(torch.device("cpu"), None) == ""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d: (9, 0))
    monkeypatch.setattr(engine_mod, "configure_allocator", lambda: None)
    monkeypatch.setattr(engine_mod, "current_gpu", lambda d: nullcontext())  # no CUDA here
    monkeypatch.setattr(engine_mod, "usable_gpu_bytes", lambda d: int(4.2 * GiB))
    engine = VoidEngine(void_weights, device="cuda:1")
    with pytest.raises(EngineError) as e:
        engine.load()
    message = str(e.value)
    assert message.startswith("GPU cuda:1 has 4.2 GiB free and VOID needs 5.8 GiB")
    assert "\n" not in message and "--gpus N" in message and "--memory-mode cpu" in message
    assert VoidEngine(void_weights, memory_mode="cpu").device.type == "cpu"


def test_current_gpu_is_the_engines_own_device() -> None:
    """A pool runs an engine on any worker's thread: its GPU is made current for the call."""
    assert isinstance(gpu.current_gpu(torch.device("cpu")), type(nullcontext()))
    assert gpu.current_gpu(torch.device("cuda:1")).idx == 1  # made without touching CUDA


def test_fused_attention_holds_until_the_last_engine_leaves() -> None:
    """SDPA's backend switches are process-wide: on a GPU pool one engine leaving its denoise
    must not restore them under another still inside (its kernel, and bits, would change)."""
    from torch.backends import cuda as sdp

    def flags():
        return sdp.flash_sdp_enabled(), sdp.mem_efficient_sdp_enabled(), sdp.math_sdp_enabled()

    assert flags() == (True, True, True)
    a, b = (
        gpu.attention_backends(torch.device("cuda")),
        gpu.attention_backends(torch.device("cuda")),
    )
    a.__enter__()
    assert flags() == (True, True, False)  # no math path
    b.__enter__()
    a.__exit__(None, None, None)
    assert flags() == (True, True, False)  # b still inside: still pinned
    b.__exit__(None, None, None)
    assert flags() == (True, True, True)  # the last one out restores
    assert isinstance(gpu.attention_backends(torch.device("cpu")), type(nullcontext()))


def test_host_copies_are_pinned_on_cuda_while_ram_allows() -> None:
    """Pinned (page-locked) host copies only on CUDA, and only with twice their size and 8 GiB
    of RAM to spare: 10.4 GiB of weights need more than 28.8 GiB available."""
    size = int(10.4 * GiB)
    assert loading.pin_host_copies(torch.device("cuda:0"), size, 29 * GiB)
    assert not loading.pin_host_copies(torch.device("cuda:0"), size, 28 * GiB)
    assert not loading.pin_host_copies(torch.device("cpu"), size, 1000 * GiB)
