"""Ask a child Python what GPU torch sees: the core package never imports torch itself."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from void_vfx.errors import SpecError

_CODE = (
    "import json, sys, torch\n"
    "info = {'torch': torch.__version__, 'cuda': torch.cuda.is_available()}\n"
    "if info['cuda']:\n"
    "    p = torch.cuda.get_device_properties(0)\n"
    "    info.update(name=p.name, total=p.total_memory)\n"
    "sys.stdout.write(json.dumps(info))\n"
)


def probe_gpu(timeout: float = 120.0) -> tuple[bool, str]:
    """(found, what): a CUDA GPU visible to torch, with its name and memory, or why not."""
    if importlib.util.find_spec("torch") is None:
        from void_vfx.cli.extras import install_line

        return False, f"torch is not installed: {install_line('server')} (on the GPU machine)"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CODE], capture_output=True, text=True, timeout=timeout
        )
        info = json.loads(done.stdout or "{}")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as ex:
        return False, f"could not ask torch about CUDA ({ex})"
    if not info.get("torch"):
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no answer"]
        return False, f"torch failed to load: {tail[0]}"
    if not info.get("cuda"):
        return False, (
            f"torch {info['torch']} sees no CUDA GPU: VOID needs an NVIDIA GPU (install a CUDA "
            "build of torch); the preview engine runs on the CPU meanwhile"
        )
    return True, f"{info['name']}, {info['total'] / 1024**3:.0f} GiB"


def choose_engine(engine: str = "auto") -> tuple[str, str]:
    """(engine name, why): ``auto`` means VOID when weights and a CUDA GPU are both found."""
    if engine in ("preview", "void"):
        return engine, "asked for"
    if engine != "auto":
        raise SpecError("engine", f"{engine!r} is not one of auto, preview, void")
    from void_vfx.server_entry import server_api

    found, what = server_api().void_weights()
    if not found:
        return "preview", f"no VOID weights ({what})"
    ok, why = probe_gpu()
    return ("void", "weights and a CUDA GPU found") if ok else ("preview", why)
