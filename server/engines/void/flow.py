"""Optical flow for Pass 2: torchvision's RAFT-large between consecutive Pass 1 frames.

The flow only steers the warped noise (see :mod:`.warped_noise`), so it follows the reference's
choices exactly: ``raft_large`` with its default pretrained weights (C_T_SKHT_V2), 12 refinement
iterations, frames in [-1, 1], computed at half the video's working resolution with both sizes
floored to multiples of 8. Weights come from a local file or from torch's hub cache; nothing is
downloaded unless :func:`fetch_raft_weights` is called on purpose.
"""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from void_vfx.errors import EngineError, WeightsError

logger = logging.getLogger(__name__)

#: Refinement iterations used by the reference.
FLOW_ITERATIONS = 12
#: RAFT-large needs feature maps of at least 16 (inputs downsampled by 8), so 128 input pixels.
RAFT_MIN_SIZE = 128
#: Frame pairs per RAFT call: bounds memory (about 1.5 GiB per pair at 192 x 336 on a GPU).
DEFAULT_PAIRS_PER_BATCH = 8
_RANDOM_INIT_SEED = 0


def import_torchvision() -> types.ModuleType:
    """Import torchvision, even when its compiled ops do not match the installed torch.

    A torchvision wheel built for another torch fails with "operator torchvision::nms does not
    exist" while registering meta kernels for its compiled ops. RAFT is pure Python and needs
    none of them, so on that one failure the registering module is replaced by an empty one and
    the import retried. Any other failure is raised as it is.
    """
    try:
        import torchvision

        return torchvision
    except RuntimeError as exc:
        text = str(exc)
        if "torchvision::" not in text or "does not exist" not in text:
            raise
    logger.warning(
        "torchvision's compiled ops do not match torch %s; importing it without them "
        "(RAFT does not need them)",
        torch.__version__,
    )
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType(
        "torchvision._meta_registrations"
    )
    import torchvision

    return torchvision


def _raft_api() -> tuple[Any, Any]:
    import_torchvision()
    from torchvision.models.optical_flow import Raft_Large_Weights, raft_large

    return raft_large, Raft_Large_Weights


def default_weights_path() -> Path:
    """Where torch's hub cache keeps the default RAFT-large weights (C_T_SKHT_V2)."""
    _, weights_enum = _raft_api()
    url = weights_enum.C_T_SKHT_V2.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def fetch_raft_weights() -> Path:
    """Download the default RAFT-large weights into torch's hub cache (on request only)."""
    _, weights_enum = _raft_api()
    target = default_weights_path()
    if not target.is_file():
        url = weights_enum.C_T_SKHT_V2.url
        try:
            torch.hub.load_state_dict_from_url(
                url, progress=True, check_hash=True, map_location="cpu"
            )
        except Exception as exc:  # network, disk or hash failure: name the file and the fix
            raise WeightsError(
                f"could not download the RAFT-large weights {url} to {target} "
                f"({type(exc).__name__}: {exc}); retry online, or copy the file there by hand"
            ) from exc
    return target


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(
            f"RAFT weights file {path} does not exist; pass the path of a raft_large state dict "
            "(.pth or .safetensors), or leave it empty to use torchvision's default weights"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which one and why
        raise WeightsError(
            f"RAFT weights file {path} could not be read ({type(exc).__name__}: {exc}); "
            "replace it with a complete raft_large state dict"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"RAFT weights file {path} holds a {type(state).__name__}, not a dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_raft(
    path: str | Path | None = None,
    random_init: bool = False,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Build torchvision's ``raft_large`` in eval mode, without gradients, on ``device``.

    path: a local ``.pth`` / ``.safetensors`` state dict. None: torchvision's default weights
    (C_T_SKHT_V2) from torch's hub cache, never downloaded here. random_init: seeded random
    weights for tests (``path`` is then ignored).
    """
    raft_large, _ = _raft_api()
    if random_init:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_RANDOM_INIT_SEED)
            model = raft_large(weights=None)
    else:
        if path is None:
            source = default_weights_path()
            if not source.is_file():
                raise WeightsError(
                    f"RAFT-large weights (C_T_SKHT_V2) are not in the torch hub cache at {source}; "
                    "run `void-vfx fetch-weights` while online (it calls "
                    "void_vfx_server.engines.void.flow.fetch_raft_weights), or pass a local "
                    "raft_large state dict file"
                )
        else:
            source = Path(path)
        state = _read_state_dict(source)
        model = raft_large(weights=None)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise WeightsError(
                f"RAFT weights file {source} does not fit raft_large: "
                f"{len(missing)} missing keys (e.g. {missing[:3]}), "
                f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})"
            )
    return model.eval().requires_grad_(False).to(device)


def flow_size(height: int, width: int) -> tuple[int, int]:
    """Flow resolution for a video of height x width: half, floored to multiples of 8."""
    return (height // 2) // 8 * 8, (width // 2) // 8 * 8


def _resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize (N, 2, h, w) flow to ``size``, scaling x and y values to match."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], device=flow.device, dtype=flow.dtype)
    return out * scale.view(1, 2, 1, 1)


@torch.no_grad()
def compute_flow(
    raft: nn.Module,
    video: torch.Tensor,
    pairs_per_batch: int = DEFAULT_PAIRS_PER_BATCH,
) -> torch.Tensor:
    """Flow from each frame to the next: video (F, 3, H, W) in [-1, 1] -> (F-1, 2, h, w) float32.

    (h, w) = :func:`flow_size` (H, W); values are in pixels of that resolution, channel 0 the
    horizontal and channel 1 the vertical displacement, so frame i at p matches frame i+1 at
    p + flow. Frames are area-resized to (h, w). When h or w is below RAFT's minimum of 128, the
    pair is upsized for RAFT and the flow resized back (only tiny test videos need that). Runs on
    the device of ``raft``'s parameters, ``pairs_per_batch`` pairs at a time.
    """
    if video.ndim != 4 or video.shape[1] != 3 or video.shape[0] < 2:
        raise EngineError(
            f"compute_flow needs a video shaped (frames >= 2, 3, H, W); got {tuple(video.shape)}"
        )
    height, width = video.shape[-2:]
    size = flow_size(height, width)
    if min(size) < 8:
        raise EngineError(f"video {height}x{width} is too small for optical flow (min 16x16)")
    raft_size = tuple(max(s, RAFT_MIN_SIZE) for s in size)
    device = next(raft.parameters()).device
    flows = []
    for start in range(0, video.shape[0] - 1, max(1, pairs_per_batch)):
        stop = min(start + pairs_per_batch + 1, video.shape[0])
        frames = video[start:stop].to(device=device, dtype=torch.float32)
        frames = F.interpolate(frames, size=size, mode="area")
        if raft_size != size:
            frames = F.interpolate(frames, size=raft_size, mode="bilinear", align_corners=False)
        flow = raft(frames[:-1], frames[1:], num_flow_updates=FLOW_ITERATIONS)[-1]
        flows.append(_resize_flow(flow.float(), size))
    return torch.cat(flows)
