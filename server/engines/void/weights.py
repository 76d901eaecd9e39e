"""Find and check the VOID weights before any large load starts.

Two downloads make the model: the base folder (Hugging Face
``alibaba-pai/CogVideoX-Fun-V1.5-5b-InP``, diffusers layout) and the two VOID checkpoints
(``netflix/void-model``: ``void_pass1.safetensors``,
``void_pass2.safetensors``, full 48-input-channel transformer dumps). They come from local paths or
from the Hugging Face cache; nothing is downloaded unless ``fetch_weights`` is called. Every check
reads only small headers, so a missing or truncated file is reported in milliseconds, by name.

The base folder's own transformer weights are not needed (the VOID files are complete dumps), so
they are neither required nor downloaded by ``fetch_weights``.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from void_vfx.errors import WeightsError

BASE_REPO = "alibaba-pai/CogVideoX-Fun-V1.5-5b-InP"
VOID_REPO = "netflix/void-model"

#: What to type when the weights are not found (every "not found" message ends with it).
FIND_WEIGHTS_HINT = (
    "run `void-vfx fetch-weights`, or give the folders: void-vfx serve --weights BASE_DIR "
    "--checkpoints VOID_DIR (a --local run and the demo look in the Hugging Face cache only)"
)
PASS_FILES = {1: "void_pass1.safetensors", 2: "void_pass2.safetensors"}
#: Input channels of the VOID transformer: [noisy 16 | mask latents 16 | video latents 16].
VOID_IN_CHANNELS = 48
_SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


@dataclass(frozen=True)
class WeightPaths:
    """Checked locations. ``pass2`` is None when only Pass 1 weights were found."""

    base: Path
    pass1: Path
    pass2: Path | None

    def transformer_config(self) -> dict[str, Any]:
        return read_json(self.base / "transformer" / "config.json")

    def to_dict(self) -> dict[str, str | None]:
        return {
            "base": str(self.base),
            "pass1": str(self.pass1),
            "pass2": str(self.pass2) if self.pass2 else None,
        }


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved the way huggingface_hub resolves it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def _cached_snapshots(repo: str) -> list[Path]:
    snaps = hub_cache_dir() / ("models--" + repo.replace("/", "--")) / "snapshots"
    if not snaps.is_dir():
        return []
    return sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: -p.stat().st_mtime)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or WeightsError naming the file."""
    if not path.is_file():
        raise WeightsError(
            f"missing file {path}; download the weights again (void-vfx fetch-weights)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"malformed JSON in {path}: {exc}; replace the file") from exc
    if not isinstance(data, dict):
        raise WeightsError(f"malformed JSON in {path}: expected an object")
    return data


def safetensors_header(path: Path) -> dict[str, Any]:
    """Parse and check a safetensors header: readable, and the file long enough for its tensors."""
    if not path.is_file():
        raise WeightsError(
            f"missing file {path}; download the weights again (void-vfx fetch-weights)"
        )
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise ValueError("shorter than the 8-byte header length")
            (n,) = struct.unpack("<Q", raw)
            if n > min(size - 8, 100_000_000):
                raise ValueError(f"header length {n} exceeds the file size {size}")
            header = json.loads(fh.read(n))
    except (OSError, ValueError) as exc:
        raise WeightsError(
            f"malformed safetensors file {path}: {exc}; the file is truncated or corrupt, "
            "download it again"
        ) from exc
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            start, stop = info["data_offsets"]
            count = 1
            for d in info["shape"]:
                count *= int(d)
            nbytes = count * _SAFETENSORS_DTYPE_BYTES[info["dtype"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"malformed safetensors file {path}: bad entry {name!r}") from exc
        if stop - start != nbytes:
            raise WeightsError(f"malformed safetensors file {path}: tensor {name!r} has bad size")
        end = max(end, stop)
    if size < 8 + n + end:
        raise WeightsError(
            f"truncated safetensors file {path}: {size} bytes, its header needs {8 + n + end}; "
            "download it again"
        )
    return header


def _check_weight_files(folder: Path, stem: str) -> None:
    """One ``<stem>.safetensors`` or a sharded ``<stem>.safetensors.index.json`` with its shards."""
    single = folder / f"{stem}.safetensors"
    index = folder / f"{stem}.safetensors.index.json"
    if single.is_file():
        safetensors_header(single)
    elif index.is_file():
        shards = sorted(set(read_json(index).get("weight_map", {}).values()))
        if not shards:
            raise WeightsError(f"malformed index {index}: empty weight_map")
        for shard in shards:
            safetensors_header(folder / shard)
    else:
        raise WeightsError(
            f"missing file {single} (or {index.name}); download the weights again "
            "(void-vfx fetch-weights)"
        )


def check_base(base: Path) -> Path:
    """Check the base folder; return it. Raises WeightsError naming the first problem."""
    base = Path(base).expanduser()
    if not base.is_dir():
        raise WeightsError(f"base model folder {base} does not exist (expected {BASE_REPO})")
    read_json(base / "transformer" / "config.json")
    read_json(base / "vae" / "config.json")
    _check_weight_files(base / "vae", "diffusion_pytorch_model")
    read_json(base / "text_encoder" / "config.json")
    _check_weight_files(base / "text_encoder", "model")
    spiece = base / "tokenizer" / "spiece.model"
    if not spiece.is_file() or spiece.stat().st_size < 16:
        raise WeightsError(f"missing or empty file {spiece}; download the weights again")
    read_json(base / "scheduler" / "scheduler_config.json")
    return base


def check_void_checkpoint(path: Path, transformer_config: dict[str, Any]) -> Path:
    """Check a VOID dump: readable header and a 48-channel patch embedding of the right width."""
    header = safetensors_header(path)
    key = "patch_embed.proj.weight"
    if key not in header:
        raise WeightsError(f"malformed VOID checkpoint {path}: no tensor {key!r}")
    cfg = transformer_config
    inner = int(cfg["num_attention_heads"]) * int(cfg["attention_head_dim"])
    p, pt = int(cfg["patch_size"]), int(cfg.get("patch_size_t") or 1)
    want = [inner, VOID_IN_CHANNELS * p * p * pt]
    if list(header[key]["shape"]) != want:
        raise WeightsError(
            f"malformed VOID checkpoint {path}: {key} has shape {header[key]['shape']}, "
            f"expected {want} (48 input channels); is this a VOID checkpoint for this base model?"
        )
    return path


def locate_weights(
    base: str | Path | None = None,
    checkpoints: str | Path | None = None,
    *,
    need_pass2: bool = False,
) -> WeightPaths:
    """Find and check the weights.

    base: the base folder; default: the newest valid snapshot of ``BASE_REPO`` in the HF cache.
    checkpoints: a folder holding ``void_pass1.safetensors`` (and ``void_pass2.safetensors``), or
        the path of ``void_pass1.safetensors`` itself; default: the HF cache of ``VOID_REPO``.
    need_pass2: raise when ``void_pass2.safetensors`` is absent.
    """
    base_dir = _pick(base, BASE_REPO, check_base, "base model")
    config = read_json(base_dir / "transformer" / "config.json")
    if checkpoints is None:
        snaps = _cached_snapshots(VOID_REPO)
        folders = [s for s in snaps if (s / PASS_FILES[1]).exists()]
        if not folders:
            raise WeightsError(
                f"VOID checkpoints not found: no {PASS_FILES[1]} in the Hugging Face cache "
                f"({hub_cache_dir()}); {FIND_WEIGHTS_HINT}"
            )
        ckpt_dir = folders[0]
    else:
        ckpt = Path(checkpoints).expanduser()
        ckpt_dir = ckpt.parent if ckpt.suffix == ".safetensors" else ckpt
    pass1 = check_void_checkpoint(ckpt_dir / PASS_FILES[1], config)
    pass2_path = ckpt_dir / PASS_FILES[2]
    pass2 = None
    if pass2_path.exists() or need_pass2:
        pass2 = check_void_checkpoint(pass2_path, config)
    return WeightPaths(base=base_dir, pass1=pass1, pass2=pass2)


def _pick(given: str | Path | None, repo: str, check: Any, what: str) -> Path:
    if given is not None:
        return check(Path(given))
    errors = []
    for snap in _cached_snapshots(repo):
        try:
            return check(snap)
        except WeightsError as exc:
            errors.append(str(exc))
    detail = f" ({errors[0]})" if errors else ""
    raise WeightsError(
        f"{what} weights not found in the Hugging Face cache {hub_cache_dir()} for "
        f"{repo}{detail}; {FIND_WEIGHTS_HINT}"
    )


def fetch_weights(dest: str | Path | None = None) -> WeightPaths:
    """Download the base folder (without its unused transformer weights) and the VOID checkpoints.

    Only called on explicit request (``void-vfx fetch-weights``). ``dest``: a folder to download
    into (``dest/base``, ``dest/void``); default: the Hugging Face cache.
    """
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - server extra installs it
        raise WeightsError(
            "huggingface_hub is not installed: pip install 'void-vfx[server]'"
        ) from exc
    root = Path(dest).expanduser() if dest else None
    base = snapshot_download(
        BASE_REPO,
        local_dir=str(root / "base") if root else None,
        ignore_patterns=["transformer/*.safetensors", "transformer/*.index.json", "*.bin", "*.pt"],
    )
    void = snapshot_download(
        VOID_REPO,
        local_dir=str(root / "void") if root else None,
        allow_patterns=list(PASS_FILES.values()) + ["*.md", "*.json"],
    )
    return locate_weights(base, void, need_pass2=True)


def add_fetch_weights_arguments(parser) -> None:
    """``void-vfx fetch-weights [--dest DIR]``."""
    parser.add_argument(
        "--dest",
        default=None,
        help="download into DIR/base and DIR/void instead of the Hugging Face cache",
    )
    parser.add_argument(
        "--check", action="store_true", help="only check what is already there; download nothing"
    )
    parser.add_argument(
        "--no-raft",
        action="store_true",
        help="skip the RAFT-large optical flow weights (torchvision C_T_SKHT_V2, about 20 MB) "
        "that Pass 2 needs; they go to torch's hub cache",
    )


def run_fetch_weights(args) -> int:
    """Download (or with --check only locate) the weights and print where they are.

    Besides the base folder and the VOID checkpoints this fetches the RAFT-large weights of
    Pass 2's optical flow into torch's hub cache (unless --no-raft), so that a farm node set up
    with one command never needs the network later.
    """
    from . import flow  # torchvision is imported only here, not for --help

    want_raft = not getattr(args, "no_raft", False)
    if args.check:
        dest = Path(args.dest).expanduser() if args.dest else None
        paths = locate_weights(dest / "base", dest / "void") if dest else locate_weights()
        raft: str | None = None
        if want_raft:
            target = flow.default_weights_path()
            raft = str(target) if target.is_file() else f"missing ({target})"
    else:
        print(f"downloading {BASE_REPO} (without its unused transformer weights) and {VOID_REPO}")
        paths = fetch_weights(args.dest)
        raft = None
        if want_raft:
            print("downloading the RAFT-large optical flow weights (torchvision C_T_SKHT_V2)")
            raft = str(flow.fetch_raft_weights())
    rows = {**paths.to_dict(), **({"raft": raft} if want_raft else {})}
    for key, value in rows.items():
        print(f"{key:6s} {value}")
    return 0
