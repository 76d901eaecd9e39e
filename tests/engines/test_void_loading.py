"""Loading the tiny VOID layout with the real loading code, and clear errors for bad files."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from void_vfx.errors import WeightsError  # noqa: E402
from void_vfx_server.engines.void.loading import (  # noqa: E402
    GiB,
    T5SentencePieceTokenizer,
    VoidModels,
    choose_memory_mode,
    memory_plan,
)
from void_vfx_server.engines.void.weights import locate_weights  # noqa: E402


@pytest.fixture
def weights_copy(void_weights: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny layout that a test may damage."""
    dest = tmp_path / "w"
    shutil.copytree(void_weights, dest)
    return dest


def _locate(root: Path, **kw):
    return locate_weights(root / "base", root / "void", **kw)


@pytest.fixture(scope="module")
def models(void_weights: Path) -> VoidModels:
    m = VoidModels(_locate(void_weights), torch.device("cpu"), torch.float32, memory_plan("cpu"))
    m.load()
    return m


def test_loads_tiny_layout_strictly_at_48_channels(models: VoidModels, void_weights: Path):
    from safetensors.torch import load_file

    tf = models.transformers[1]
    assert tf.config.in_channels == 48
    assert tuple(tf.patch_embed.proj.weight.shape) == (32, 48 * 2 * 2 * 2)
    ref = load_file(str(void_weights / "void" / "void_pass1.safetensors"))
    assert torch.equal(tf.patch_embed.proj.weight, ref["patch_embed.proj.weight"].float())
    assert models.vae.config.scaling_factor == 0.7
    assert models.scheduler_config["prediction_type"] == "v_prediction"


def test_switching_pass_keeps_vae_and_text_encoder(models: VoidModels, void_weights: Path):
    from safetensors.torch import load_file

    vae, t5 = models.vae, models.text_encoder
    tf2 = models.use_pass(2)
    ref = load_file(str(void_weights / "void" / "void_pass2.safetensors"))
    assert torch.equal(tf2.proj_out.weight, ref["proj_out.weight"].float())
    assert models.vae is vae and models.text_encoder is t5
    tf1 = models.use_pass(1)
    assert not torch.equal(tf1.proj_out.weight, tf2.proj_out.weight)


@pytest.mark.parametrize(
    "relative",
    [
        "base/vae/diffusion_pytorch_model.safetensors",
        "base/text_encoder/model.safetensors",
        "base/tokenizer/spiece.model",
        "base/scheduler/scheduler_config.json",
        "base/transformer/config.json",
        "void/void_pass1.safetensors",
    ],
)
def test_missing_file_is_named(weights_copy: Path, relative: str):
    (weights_copy / relative).unlink()
    with pytest.raises(WeightsError, match="missing") as info:
        _locate(weights_copy)
    assert str(weights_copy / relative) in str(info.value)


def test_missing_pass2_only_matters_when_needed(weights_copy: Path):
    (weights_copy / "void" / "void_pass2.safetensors").unlink()
    assert _locate(weights_copy).pass2 is None
    with pytest.raises(WeightsError, match="void_pass2.safetensors"):
        _locate(weights_copy, need_pass2=True)


@pytest.mark.parametrize(
    "relative", ["void/void_pass2.safetensors", "base/vae/diffusion_pytorch_model.safetensors"]
)
def test_truncated_safetensors_is_named(weights_copy: Path, relative: str):
    path = weights_copy / relative
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated") as info:
        _locate(weights_copy)
    assert str(path) in str(info.value)
    path.write_bytes(data[:5])
    with pytest.raises(WeightsError, match="malformed"):
        _locate(weights_copy)


def test_wrong_patch_embed_shape_is_reported(weights_copy: Path):
    from safetensors.torch import load_file, save_file

    path = weights_copy / "void" / "void_pass1.safetensors"
    sd = load_file(str(path))
    sd["patch_embed.proj.weight"] = torch.zeros(32, 33 * 8, dtype=torch.bfloat16)
    save_file(sd, str(path))
    with pytest.raises(WeightsError, match=r"patch_embed.proj.weight has shape \[32, 264\]"):
        _locate(weights_copy)


def test_missing_and_unexpected_keys_are_listed(weights_copy: Path):
    from safetensors.torch import load_file, save_file

    path = weights_copy / "void" / "void_pass1.safetensors"
    sd = load_file(str(path))
    del sd["proj_out.bias"]
    sd["extra.weight"] = torch.zeros(2)
    save_file(sd, str(path))
    m = VoidModels(_locate(weights_copy), torch.device("cpu"), torch.float32, memory_plan("cpu"))
    with pytest.raises(WeightsError, match=r"missing keys \['proj_out.bias'\].*\['extra.weight'\]"):
        m.load()


def test_header_length_beyond_file_is_malformed(weights_copy: Path):
    path = weights_copy / "void" / "void_pass1.safetensors"
    path.write_bytes(struct.pack("<Q", 10**6) + b"{}")
    with pytest.raises(WeightsError, match="malformed safetensors"):
        _locate(weights_copy)


def test_found_in_hugging_face_cache(void_weights: Path, tmp_path: Path, monkeypatch):
    cache = tmp_path / "hub"
    base = cache / "models--alibaba-pai--CogVideoX-Fun-V1.5-5b-InP" / "snapshots" / "abc123"
    void = cache / "models--netflix--void-model" / "snapshots" / "def456"
    base.parent.mkdir(parents=True)
    void.parent.mkdir(parents=True)
    base.symlink_to(void_weights / "base", target_is_directory=True)
    void.symlink_to(void_weights / "void", target_is_directory=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    paths = locate_weights()
    assert paths.base == base and paths.pass1 == void / "void_pass1.safetensors"
    assert paths.pass2 == void / "void_pass2.safetensors"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(WeightsError, match="fetch-weights"):
        locate_weights()


PROMPTS = ["A ball rolls off the table.", "", "an empty room, with white walls!", "x " * 400]


def test_tokenizer_pads_truncates_and_ends_with_eos(void_weights: Path):
    tok = T5SentencePieceTokenizer(void_weights / "base" / "tokenizer" / "spiece.model")
    for prompt in PROMPTS:
        ids = tok.ids(prompt)
        assert len(ids) == 226
        n = len(ids) - ids[::-1].index(1)  # position after the last EOS
        assert all(i == 0 for i in ids[n:]) and 1 not in ids[: n - 1]
    assert tok.ids("")[:2] == [1, 0]
    assert 0 not in tok.ids(PROMPTS[-1])


def test_tokenizer_matches_transformers_t5(void_weights: Path):
    """Same ids as transformers' T5Tokenizer (legacy) loaded from the same folder.

    In transformers 5 ``T5Tokenizer`` is the converted (tokenizers) tokenizer, built from
    spiece.model; on these prompts it agrees with sentencepiece used directly."""
    from transformers import T5Tokenizer

    folder = void_weights / "base" / "tokenizer"
    try:
        ref = T5Tokenizer.from_pretrained(str(folder), legacy=True)
    except Exception as exc:  # pragma: no cover - depends on the transformers release
        pytest.skip(f"transformers T5Tokenizer unusable here: {exc}")
    ours = T5SentencePieceTokenizer(folder / "spiece.model")
    for prompt in PROMPTS:
        want = ref(prompt, padding="max_length", max_length=226, truncation=True).input_ids
        assert ours.ids(prompt) == list(want), prompt


def test_float8_storage_keeps_chosen_layers_in_compute_dtype(void_weights: Path):
    m = VoidModels(
        _locate(void_weights), torch.device("cpu"), torch.float32, memory_plan("gpu-fp8")
    )
    m.load()
    tf = m.transformers[1]
    block = tf.transformer_blocks[0]
    assert block.attn1.to_q.weight.dtype == torch.float8_e4m3fn
    assert block.ff.net[0].proj.weight.dtype == torch.float8_e4m3fn
    assert block.norm1.linear.weight.dtype == torch.float32
    assert tf.patch_embed.proj.weight.dtype == torch.float32
    assert tf.proj_out.weight.dtype == torch.float32
    x = torch.randn(1, 2, 48, 4, 4)
    out = tf(x, torch.randn(1, 226, 32), torch.tensor([500]), return_dict=False)[0]
    assert out.shape == (1, 2, 16, 4, 4) and torch.isfinite(out).all()


def test_choose_memory_mode():
    assert choose_memory_mode(None).name == "cpu"
    assert choose_memory_mode(80 * GiB).name == "gpu"
    assert choose_memory_mode(20 * GiB).name == "gpu-fp8"  # the traced table: gpu needs 22.6
    assert choose_memory_mode(12 * GiB).name == "offload-fp8"  # 11.9
    assert choose_memory_mode(8 * GiB).name == "sequential"
    assert choose_memory_mode(80 * GiB, override="offload").name == "offload"
    with pytest.raises(ValueError, match="unknown memory mode"):
        choose_memory_mode(80 * GiB, override="turbo")
    assert json.dumps(memory_plan("gpu-fp8").name) == '"gpu-fp8"'


@pytest.mark.parametrize("mode", ["gpu", "gpu-fp8", "offload", "offload-fp8", "cpu"])
def test_only_sequential_mode_tiles_the_vae(mode: str):
    """Tiled VAE encoding blends tiles, so its conditioning latents are not the reference's:
    every mode that can afford the whole-frame encode keeps it."""
    assert memory_plan(mode).vae_tiling is False
    assert memory_plan("sequential").vae_tiling is True


def _fetch_args(**kw):
    import argparse

    from void_vfx_server.engines.void.weights import add_fetch_weights_arguments

    parser = argparse.ArgumentParser()
    add_fetch_weights_arguments(parser)
    argv = [a for k, v in kw.items() if v for a in ([f"--{k}"] if v is True else [f"--{k}", v])]
    return parser.parse_args(argv)


def test_fetch_weights_also_fetches_raft(void_weights: Path, tmp_path: Path, monkeypatch, capsys):
    """`void-vfx fetch-weights` downloads the RAFT weights of Pass 2 too (network replaced)."""
    from void_vfx_server.engines.void import flow, weights

    fetched = []
    raft_file = tmp_path / "checkpoints" / "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
    monkeypatch.setattr(weights, "fetch_weights", lambda dest: _locate(void_weights))
    monkeypatch.setattr(flow, "fetch_raft_weights", lambda: fetched.append(1) or raft_file)
    assert weights.run_fetch_weights(_fetch_args()) == 0
    assert fetched == [1]
    assert f"raft   {raft_file}" in capsys.readouterr().out
    assert weights.run_fetch_weights(_fetch_args(**{"no-raft": True})) == 0
    assert fetched == [1] and "raft" not in capsys.readouterr().out


def test_fetch_weights_check_reports_raft(void_weights: Path, tmp_path: Path, monkeypatch, capsys):
    from void_vfx_server.engines.void import weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    args = _fetch_args(check=True, dest=str(void_weights))
    assert weights.run_fetch_weights(args) == 0
    out = capsys.readouterr().out
    assert f"base   {void_weights / 'base'}" in out and "raft   missing (" in out
