"""GPU figures of the VOID engine in one run of under ten minutes, from a bare checkout.

Random weights at the real architecture size (no download, no ``pip install`` of the project:
the script puts the checkout on the path itself). Each case runs in its own process under a
watchdog (``--case-timeout``) and appends one JSON line to ``OUT/results.jsonl``, so a case that
fails, runs out of memory or hangs costs only itself. Cases:

  env                 GPU, compute capability, torch / diffusers versions, SDPA backend chosen
  pass-MODE-FRAMES    seconds per step of Pass 1 and of Pass 2 (guidance 6, batch of 2), encode
                      and decode seconds, and peak memory per phase against the traced table
                      (MODE: gpu, gpu-fp8, offload-fp8, sequential; FRAMES: 85, 197)
  warp-85             RAFT flow and warped-noise seconds for an 85-frame window
  window-85           a whole window in gpu-fp8 (T5, encode, Pass 1 steps, decode): wall time
                      against diffusion time
  cap24-85            the same under torch.cuda.set_per_process_memory_fraction(24 GiB): the mode
                      the engine chooses and whether it fits
  load                load time of a real-size transformer checkpoint written to local disk
  check-ok, check-fail, check-hang   the watchdog's own checks (no torch)

    python bench/gpu_void_bench.py OUT                  # on an H100 / H200: about 8-9 minutes
    python bench/gpu_void_bench.py OUT --quick          # the table's cases in about 6 minutes
    python bench/gpu_void_bench.py OUT --cases env,pass-gpu-fp8-85 --steps 3
    python bench/gpu_void_bench.py OUT --table          # the table of OUT/results.jsonl
    python bench/gpu_void_bench.py OUT --tiny           # tiny configs on the CPU, in seconds

Every run ends with a table: per case the table's budget against the measured peak, seconds
per step of each pass, encode and decode seconds. ``bench/gpu_device_check.sh`` is the one
prepared command for a lent GPU (``--quick``, then the table).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Most telling first: what the run's time budget does not reach is recorded as "skipped" (run
#: those again with --cases).
DEFAULT_CASES = (
    "env,pass-gpu-fp8-85,pass-gpu-fp8-197,pass-gpu-85,pass-offload-fp8-85,pass-sequential-85,"
    "warp-85,window-85,cap24-85,pass-gpu-197,pass-offload-fp8-197,pass-sequential-197,load"
)
#: ``--quick``: budget against peak and seconds per step for every mode at 85 frames and the
#: default mode at 197, in about 6 minutes on an H100 (each case about 40-90 s, most of it
#: starting Python, torch and CUDA). The rest of the default cases go in a second call.
QUICK_CASES = (
    "env,pass-gpu-fp8-85,pass-gpu-85,pass-offload-fp8-85,pass-sequential-85,pass-gpu-fp8-197"
)
QUICK_BUDGET_S, QUICK_CASE_TIMEOUT_S = 330.0, 120.0
GiB = 1024**3


def _bare_checkout_imports() -> None:
    """``void_vfx`` and ``void_vfx_server`` (the ``server/`` folder) from this checkout."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))  # the tiny configs of the test fixture (--tiny)
    if "void_vfx_server" not in sys.modules:
        try:
            import void_vfx_server  # noqa: F401 - installed: fine
        except ImportError:
            spec = importlib.util.spec_from_file_location(
                "void_vfx_server",
                REPO / "server" / "__init__.py",
                submodule_search_locations=[str(REPO / "server")],
            )
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules["void_vfx_server"] = module
            spec.loader.exec_module(module)  # type: ignore[union-attr]


# -- one case, in its own process ---------------------------------------------------------------
class Setup:
    """Sizes, device and configs: real ones on the GPU, the test fixture's with --tiny."""

    def __init__(self, tiny: bool):
        import torch

        from void_vfx_server.engines.void import real_size

        self.tiny = tiny
        if tiny:
            from void_fixture import TRANSFORMER_CONFIG, VAE_CONFIG

            drop = ("_", "add_noise")
            self.transformer = {
                k: v for k, v in TRANSFORMER_CONFIG.items() if not k.startswith(drop)
            }
            self.transformer["in_channels"] = 48
            self.vae = {k: v for k, v in VAE_CONFIG.items() if not k.startswith("_")}
            self.t5 = {
                **real_size.T5_CONFIG,
                "d_model": 32,
                "d_ff": 64,
                "d_kv": 8,
                "num_heads": 4,
                "num_layers": 2,
            }
            self.device, self.dtype, self.height, self.width = (
                torch.device("cpu"),
                torch.float32,
                32,
                48,
            )
        else:
            self.transformer, self.vae, self.t5 = (
                real_size.TRANSFORMER_CONFIG,
                real_size.VAE_CONFIG,
                real_size.T5_CONFIG,
            )
            self.device, self.dtype, self.height, self.width = (
                torch.device("cuda"),
                torch.bfloat16,
                384,
                672,
            )

    def frames(self, frames: int) -> int:
        return {85: 13, 197: 21}.get(frames, frames) if self.tiny else frames


def _random(module, device, dtype):
    """Give a meta-built module storage on ``device`` in ``dtype`` with N(0, 0.02) values. The
    released configs build no buffers (checked), so nothing is left uninitialised."""
    import torch

    if any(True for _ in module.buffers()):
        raise ValueError(f"{type(module).__name__} has buffers this bench would leave empty")
    module.to(dtype).to_empty(device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.02, generator=gen)
    return module.eval().requires_grad_(False)


def build_models(s: Setup, mode: str, with_t5: bool = False):
    """VoidModels holding random real-size modules, placed as the engine places them in ``mode``."""
    import torch
    from void_fixture import SCHEDULER_CONFIG

    from void_vfx_server.engines.void import real_size
    from void_vfx_server.engines.void.loading import VoidModels, memory_plan

    plan = memory_plan(mode)
    models = VoidModels(None, s.device, s.dtype, plan)  # type: ignore[arg-type]
    transformer = _random(real_size.meta_transformer(s.transformer), s.device, s.dtype)
    if plan.placement != "gpu":  # built on the GPU (fast), kept on the CPU between uses
        transformer.to("cpu")
    models.transformers, models.current_pass = {1: models._place_transformer(transformer)}, 1
    models.vae = _random(real_size.meta_vae(s.vae), s.device, s.dtype)
    if plan.placement != "gpu":
        models.vae.to("cpu")
    if with_t5:
        models.text_encoder = _random(real_size.meta_t5(s.t5), s.device, s.dtype).to("cpu")
    models.scheduler_config = dict(SCHEDULER_CONFIG)
    models.noise_augmentation = True
    gc.collect()
    if s.device.type == "cuda":
        torch.cuda.empty_cache()
    return models


class Phases:
    """Seconds and peak GiB of named phases (peak: max_memory_allocated during the phase)."""

    def __init__(self, device):
        self.device, self.out = device, {}

    def run(self, name: str, fn):
        import torch

        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        value = fn()
        if cuda:
            torch.cuda.synchronize()
        entry = {"s": round(time.perf_counter() - start, 3)}
        if cuda:
            entry["peak_GiB"] = round(torch.cuda.max_memory_allocated() / GiB, 2)
            entry["reserved_GiB"] = round(torch.cuda.max_memory_reserved() / GiB, 2)
        self.out[name] = entry
        return value


def _inputs(s: Setup, frames: int):
    import torch

    g = torch.Generator().manual_seed(0)
    video = torch.rand(frames, s.height, s.width, 3, generator=g)
    quad = torch.full((frames, s.height, s.width), 255, dtype=torch.uint8)
    quad[:, : s.height // 2, : s.width // 3] = 0
    quad[:, s.height // 2 :, s.width // 2 :] = 127
    return video, quad


def _denoise(pipe, s: Setup, cond, pass_index: int, steps: int, phases: Phases, name: str):
    """Time ``steps`` + 1 steps (the first is warm-up) of one pass; returns seconds per step."""
    import torch

    from void_vfx_server.engines.void.pipeline import pass_params

    params = pass_params(pass_index, {"steps": steps + 1})
    batch = 2 if params.guidance > 1 else 1
    dim = pipe.models.transformers[1].config.text_embed_dim
    embeds = torch.randn(batch, 226, dim).to(s.dtype)
    latents = torch.randn(cond[1].shape).to(s.device, s.dtype)
    scheduler = pipe.make_scheduler(params)
    marks = []

    def tick(*_):
        if s.device.type == "cuda":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())

    start = time.perf_counter()
    out = phases.run(name, lambda: pipe.denoise(latents, cond, embeds, scheduler, params, tick))
    gaps = [b - a for a, b in zip([start] + marks[:-1], marks, strict=True)]
    phases.out[name]["s_per_step"] = round(sum(gaps[1:]) / max(1, len(gaps) - 1), 3)
    phases.out[name]["first_step_s"] = round(gaps[0], 3)
    return out


def case_pass(s: Setup, mode: str, frames: int, steps: int) -> dict:
    import torch

    from void_vfx.model_facts import void_gpu_gib
    from void_vfx_server.engines.void.pipeline import VoidPipeline

    phases = Phases(s.device)
    models = phases.run("build", lambda: build_models(s, mode))
    pipe = VoidPipeline(models)
    video, quad = _inputs(s, s.frames(frames))
    g = torch.Generator().manual_seed(1)
    cond = phases.run("encode", lambda: pipe.prepare_conditioning(video, quad, 1, g))
    _denoise(pipe, s, cond, 1, steps, phases, "pass1")
    latents = _denoise(pipe, s, cond, 2, steps, phases, "pass2_guided")
    phases.run("decode", lambda: pipe.decode_latents(latents))
    peaks = [p.get("peak_GiB", 0) for k, p in phases.out.items() if k != "build"]
    return {
        "mode": mode,
        "frames": frames,
        "phases": phases.out,
        "peak_GiB": max(peaks),
        "table_GiB": void_gpu_gib(mode, frames),
    }


def case_env(s: Setup) -> dict:
    import diffusers
    import torch
    import torch.nn.functional as F

    out = {"torch": torch.__version__, "diffusers": diffusers.__version__}
    if s.device.type != "cuda":
        return {**out, "device": "cpu", "sdpa": "math (CPU)"}
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q = torch.randn(2, 48, 1024, 64, device="cuda", dtype=torch.bfloat16)
    chosen = None
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
        try:
            with sdpa_kernel([backend]):
                F.scaled_dot_product_attention(q, q, q)
            chosen = backend.name
            break
        except RuntimeError:
            continue
    free, total = torch.cuda.mem_get_info()
    return {
        **out,
        "gpu": torch.cuda.get_device_name(),
        "capability": torch.cuda.get_device_capability(),
        "total_GiB": round(total / GiB, 2),
        "free_GiB": round(free / GiB, 2),
        "sdpa": chosen,
        "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
    }


def case_warp(s: Setup, frames: int) -> dict:
    import torch

    from void_vfx_server.engines.void.flow import compute_flow, load_raft
    from void_vfx_server.engines.void.warped_noise import warp_noise_along_flows

    phases = Phases(s.device)
    frames = s.frames(frames)
    raft = phases.run("raft_load", lambda: load_raft(None, random_init=True, device=s.device))
    video = torch.rand(frames, 3, s.height, s.width).to(s.device) * 2 - 1
    flows = phases.run("raft", lambda: compute_flow(raft, video))
    shape = ((frames - 1) // 4 + 1, 16, s.height // 8, s.width // 8)
    phases.run(
        "warp",
        lambda: warp_noise_along_flows(flows, shape, torch.Generator().manual_seed(0), s.device),
    )
    return {"frames": frames, "phases": phases.out}


def case_window(s: Setup, frames: int, steps: int, cap_gib: float | None = None) -> dict:
    """A whole window: T5, encode, Pass 1, decode; wall time against the diffusion's."""
    import torch

    from void_vfx_server.engines.void.loading import choose_memory_mode, usable_gpu_bytes
    from void_vfx_server.engines.void.pipeline import VoidPipeline

    out: dict = {"frames": frames}
    mode = "gpu-fp8"
    if cap_gib is not None and s.device.type == "cuda":
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gib * GiB / total))
        usable = min(usable_gpu_bytes(s.device), int(cap_gib * GiB))
        mode = choose_memory_mode(usable, frames).name
        out.update(cap_GiB=cap_gib, chosen_mode=mode)
    wall = time.perf_counter()
    phases = Phases(s.device)
    models = phases.run("build", lambda: build_models(s, mode, with_t5=True))
    pipe = VoidPipeline(models)
    start = time.perf_counter()
    ids = torch.zeros(1, 226, dtype=torch.long)
    device = models.text_device()

    def text():
        models.text_encoder.to(device)
        e = models.text_encoder(input_ids=ids.to(device))[0].to("cpu")
        models.text_encoder.to("cpu")
        return e

    phases.run("text", text)
    video, quad = _inputs(s, s.frames(frames))
    cond = phases.run(
        "encode",
        lambda: pipe.prepare_conditioning(video, quad, 1, torch.Generator().manual_seed(1)),
    )
    latents = _denoise(pipe, s, cond, 1, steps, phases, "pass1")
    phases.run("decode", lambda: pipe.decode_latents(latents))
    end = time.perf_counter()
    out.update(
        mode=mode,
        phases=phases.out,
        wall_s=round(end - start, 2),
        diffusion_s=phases.out["pass1"]["s"],
        build_s=round(start - wall, 2),
    )
    out["diffusion_share"] = round(out["diffusion_s"] / out["wall_s"], 3)
    return out


def case_load(s: Setup) -> dict:
    """Write a random real-size transformer as a VOID checkpoint, then time the engine's load."""
    import torch
    from safetensors.torch import save_file

    from void_vfx_server.engines.void import real_size
    from void_vfx_server.engines.void.loading import void_state_dict

    model = _random(real_size.meta_transformer(s.transformer), s.device, s.dtype)
    with tempfile.TemporaryDirectory(prefix="void-bench-") as tmp:
        path = Path(tmp) / "void_pass1.safetensors"
        t = time.perf_counter()
        save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()}, str(path))
        written = time.perf_counter() - t
        empty = real_size.meta_transformer(s.transformer)
        t = time.perf_counter()
        sd = void_state_dict(path, empty, s.dtype)
        empty.load_state_dict(sd, strict=True, assign=True)
        read = time.perf_counter() - t
        t = time.perf_counter()
        empty.to(s.device)
        if s.device.type == "cuda":
            torch.cuda.synchronize()
        moved = time.perf_counter() - t
    return {
        "GiB": round(path_bytes(model) / GiB, 2),
        "write_s": round(written, 2),
        "read_s": round(read, 2),
        "to_device_s": round(moved, 2),
    }


def path_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def run_case(case: str, tiny: bool, steps: int) -> dict:
    if case.startswith("check-"):  # the watchdog's own checks: no torch needed
        if case == "check-hang":
            time.sleep(3600)
        if case == "check-fail":
            raise RuntimeError("a case that fails")
        return {"checked": case}
    _bare_checkout_imports()
    from void_vfx_server.engines.void._compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    from void_vfx_server.engines.void.gpu import configure_allocator

    if not tiny:
        configure_allocator()  # before CUDA starts, as the engine does
    s = Setup(tiny)
    kind, _, rest = case.partition("-")
    if kind == "env":
        return case_env(s)
    if kind == "pass":
        mode, _, frames = rest.rpartition("-")
        return case_pass(s, mode, int(frames), steps)
    if kind == "warp":
        return case_warp(s, int(rest))
    if kind == "window":
        return case_window(s, int(rest), steps)
    if kind == "cap24":
        return case_window(s, int(rest), steps, cap_gib=24.0)
    if kind == "load":
        return case_load(s)
    raise ValueError(f"unknown case {case!r}")


# -- the driver: one process per case under a watchdog -------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for results.jsonl (appended)")
    parser.add_argument("--tiny", action="store_true", help="tiny configs on the CPU (checks)")
    parser.add_argument("--cases", default=None, help=f"default: {DEFAULT_CASES}")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"the table's cases in about 6 minutes: {QUICK_CASES}",
    )
    parser.add_argument("--table", action="store_true", help="print OUT/results.jsonl's table")
    parser.add_argument("--steps", type=int, default=1, help="timed steps after a warm-up step")
    parser.add_argument("--case-timeout", type=float, default=None, help="seconds per case")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the whole run")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case here
    args = parser.parse_args(argv)
    if args.cases is None:
        args.cases = QUICK_CASES if args.quick else DEFAULT_CASES
    if args.budget is None:
        args.budget = QUICK_BUDGET_S if args.quick else 570.0
    if args.case_timeout is None:
        args.case_timeout = QUICK_CASE_TIMEOUT_S if args.quick else 150.0
    if args.table:
        results = args.out / "results.jsonl"
        if not results.is_file():
            print(f"{results}: no results yet; run: python bench/gpu_void_bench.py {args.out}")
            return 1
        lines = [json.loads(x) for x in results.read_text(encoding="utf-8").splitlines() if x]
        print(table(lines))
        return 0
    if args.case:
        try:
            result = {"status": "ok", **run_case(args.case, args.tiny, args.steps)}
        except Exception as exc:  # noqa: BLE001 - the line records any failure
            result = {"status": "error", "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
        print("RESULT " + json.dumps(result, default=str), flush=True)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    began = time.monotonic()
    ran = []
    for case in [c for c in args.cases.split(",") if c]:
        left = args.budget - (time.monotonic() - began)
        line: dict = {
            "case": case,
            "tiny": args.tiny,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if left < 15:
            line.update(status="skipped", error="out of the run's time budget")
        else:
            line.update(_watch(case, args, min(args.case_timeout, left)))
        with results.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, default=str) + "\n")
        print(json.dumps(line, default=str), flush=True)
        ran.append(line)
    print(table(ran))
    print(f"results appended to {results}")
    return 0


# -- the table ------------------------------------------------------------------------------------
TABLE_HEAD = (
    "| case | status | mode | frames | budget GiB | peak GiB (phase) | reserved GiB | "
    "pass 1 s/step | pass 2 s/step | encode s | decode s | notes |"
)


def _cell(value) -> str:
    return "-" if value is None else str(value)


def table_row(line: dict) -> str:
    """One case's line as a Markdown row: the table's budget against the measured peak (the
    phase that reached it), seconds per step of each pass, encode and decode seconds."""
    phases = line.get("phases") or {}
    timed = {k: v for k, v in phases.items() if k != "build" and "peak_GiB" in v}
    peak = phase = reserved = None
    if timed:
        phase = max(timed, key=lambda k: timed[k]["peak_GiB"])
        peak = timed[phase]["peak_GiB"]
        reserved = max(v.get("reserved_GiB", 0) for v in timed.values())
    notes = []
    if line.get("status") != "ok":
        notes.append(str(line.get("error", ""))[:80])
    if peak is not None and line.get("table_GiB") is not None:
        notes.append("fits" if peak <= line["table_GiB"] else "OVER BUDGET")
    for key in ("gpu", "sdpa", "chosen_mode", "wall_s", "diffusion_share", "GiB", "read_s"):
        if key in line:
            notes.append(f"{key} {line[key]}")
    for key in ("raft", "warp"):
        if key in phases:
            notes.append(f"{key} {phases[key]['s']} s")
    cells = [
        line.get("case"),
        line.get("status"),
        line.get("mode"),
        line.get("frames"),
        line.get("table_GiB"),
        f"{peak} ({phase})" if peak is not None else None,
        reserved,
        (phases.get("pass1") or {}).get("s_per_step"),
        (phases.get("pass2_guided") or {}).get("s_per_step"),
        (phases.get("encode") or {}).get("s"),
        (phases.get("decode") or {}).get("s"),
        "; ".join(n for n in notes if n) or None,
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def table(lines: list[dict]) -> str:
    rule = "|" + "---|" * TABLE_HEAD.count(" | ") + "---|"
    return "\n".join([TABLE_HEAD, rule] + [table_row(x) for x in lines])


def _watch(case: str, args, timeout: float) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        str(args.out),
        "--case",
        case,
        "--steps",
        str(args.steps),
    ] + (["--tiny"] if args.tiny else [])
    t = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "error": f"killed after {timeout:.0f} s"}
    found = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"status": "crashed", "rc": done.returncode, "error": " | ".join(tail)[:600]}
    return {**json.loads(found[-1][7:]), "case_s": round(time.perf_counter() - t, 1)}


if __name__ == "__main__":
    sys.exit(main())
