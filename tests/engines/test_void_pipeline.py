"""The VOID pipeline on tiny weights: multidiffusion, seeds, Pass 1 / Pass 2 through VoidEngine."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from void_vfx.errors import Cancelled, EngineError  # noqa: E402
from void_vfx.render.engine import WindowInput  # noqa: E402
from void_vfx_server.engines.void.engine import VoidEngine  # noqa: E402
from void_vfx_server.engines.void.pipeline import (  # noqa: E402
    multidiffusion_weights,
    multidiffusion_windows,
    pass_params,
)

PROMPT = "A ball rolls off the table."


@pytest.fixture(scope="module")
def engine(void_engine: VoidEngine) -> VoidEngine:
    return void_engine  # the session's (conftest.py): loaded once for every test that runs windows


def _window(frames: int, h: int, w: int, seed: int = 0, **params) -> WindowInput:
    rng = np.random.default_rng(5)
    video = rng.random((frames, h, w, 3), dtype=np.float32)
    quad = np.full((frames, h, w), 255, np.uint8)
    quad[:, h // 4 : h // 2, w // 4 : w // 2] = 0
    quad[:, h // 2 :, w // 2 :] = 127
    return WindowInput(video, quad, PROMPT, seed, dict(params))


def test_multidiffusion_windows_and_weights():
    assert multidiffusion_windows(22) == [(0, 22)]
    assert multidiffusion_windows(4) == [(0, 4)]
    spans = multidiffusion_windows(50)  # 197 frames
    assert spans == [(0, 22), (18, 40), (36, 50)]
    assert multidiffusion_windows(24) == [(0, 22), (18, 24)]  # cut short, not shifted back
    w = multidiffusion_weights(spans)
    ramp = [0.2, 0.4, 0.6, 0.8]
    assert torch.allclose(w[0][-4:], torch.tensor(ramp[::-1])) and torch.all(w[0][:18] == 1)
    assert torch.allclose(w[1][:4], torch.tensor(ramp)) and torch.allclose(
        w[1][-4:], torch.tensor(ramp[::-1])
    )
    assert torch.allclose(w[2][:4], torch.tensor(ramp)) and torch.all(w[2][4:] == 1)
    total = torch.zeros(50)
    for (a, b), wi in zip(spans, w, strict=True):
        total[a:b] += wi
    assert torch.allclose(total, torch.ones(50))
    assert torch.all(multidiffusion_weights([(0, 22)])[0] == 1)


def _setup(engine: VoidEngine, latent_frames: int, seed: int = 0):
    pipe, models = engine.pipeline, engine.models
    models.use_pass(1)
    g = torch.Generator().manual_seed(seed)
    shape = (1, latent_frames, 16, 2, 2)
    latents = torch.randn(shape, generator=g)
    cond = (torch.randn(shape, generator=g), torch.randn(shape, generator=g))
    embeds = torch.randn(1, 226, 32, generator=g)
    return pipe, models, latents, cond, embeds


def test_multidiffusion_blends_windows_stepped_from_the_same_latents(engine: VoidEngine):
    """93 frames = 24 latent frames: windows [0, 22) and [18, 24), each stepped and blended."""
    pipe, models, latents, cond, embeds = _setup(engine, 24)
    params = pass_params(1, {"steps": 1})
    tf = models.transformers[1]
    seen = []
    handle = tf.patch_embed.register_forward_pre_hook(lambda m, a: seen.append(a[1].shape[1]))
    try:
        out = pipe.denoise(latents, cond, embeds, pipe.make_scheduler(params), params)
    finally:
        handle.remove()
    assert seen == [22, 6]  # each window is its own call: rotary positions restart at 0

    scheduler = pipe.make_scheduler(params)
    t = scheduler.timesteps[0]
    parts = []
    for a, b in [(0, 22), (18, 24)]:
        v = pipe.predict(tf, latents[:, a:b], (cond[0][:, a:b], cond[1][:, a:b]), embeds, t, 1.0)
        parts.append(scheduler.step(v, t, latents[:, a:b], return_dict=False)[0])
    want = torch.empty_like(latents)
    want[:, :18] = parts[0][:, :18]
    want[:, 22:] = parts[1][:, 4:]
    ramp = torch.tensor([0.2, 0.4, 0.6, 0.8]).view(1, 4, 1, 1, 1)
    want[:, 18:22] = parts[0][:, 18:] * ramp.flip(1) + parts[1][:, :4] * ramp
    assert torch.allclose(out, want, atol=1e-5)
    assert not torch.allclose(parts[0][:, 18:], parts[1][:, :4], atol=1e-3)  # blending matters


def test_short_window_equals_a_plain_loop(engine: VoidEngine):
    pipe, models, latents, cond, embeds = _setup(engine, 4, seed=1)
    params = pass_params(1, {"steps": 3})
    out = pipe.denoise(latents, cond, embeds, pipe.make_scheduler(params), params)
    scheduler = pipe.make_scheduler(params)
    x = latents
    for t in scheduler.timesteps:
        v = pipe.predict(models.transformers[1], x, cond, embeds, t, 1.0)
        x = scheduler.step(v, t, x, return_dict=False)[0].to(models.dtype)
    assert torch.allclose(out, x, atol=1e-6)


def test_classifier_free_guidance_puts_negative_first(engine: VoidEngine):
    pipe, models, latents, cond, embeds = _setup(engine, 4, seed=2)
    tf, t = models.transformers[1], torch.tensor(500)
    neg = torch.zeros_like(embeds)
    both = torch.cat([neg, embeds])
    guided = pipe.predict(tf, latents, cond, both, t, 6.0)
    uncond = pipe.predict(tf, latents, cond, neg, t, 1.0)
    text = pipe.predict(tf, latents, cond, embeds, t, 1.0)
    assert torch.allclose(guided, uncond + 6.0 * (text - uncond), atol=1e-4)


def test_guided_batch_is_the_negative_prompt_then_the_prompt_as_the_reference(engine: VoidEngine):
    """The reference's classifier-free guidance batch (void-model.md, Sampling): the negative
    prompt's embedding first, the prompt's second, and guidance = uncond + s * (text - uncond).
    Seen inside a real engine run, not a pair the test builds."""
    negative = "blurry, a red ball"
    seen = []

    def grab(module, args, kwargs):
        seen.append((kwargs["hidden_states"], kwargs["encoder_hidden_states"]))

    hooks = [
        tf.register_forward_pre_hook(grab, with_kwargs=True)
        for tf in engine.models.transformers.values()
    ]
    try:
        win = _window(
            5, 32, 64, seed=4, steps=1, pass1={"guidance": 6.0, "negative_prompt": negative}
        )
        engine.run(win, lambda *a: None, lambda: False)
    finally:
        for h in hooks:
            h.remove()
    ((hidden, batch),) = seen  # one step, one guided call
    pipe = engine.pipeline
    want_negative, want_prompt = pipe.encode_prompt(negative), pipe.encode_prompt(PROMPT)
    assert not torch.equal(want_negative, want_prompt)
    assert batch.shape[0] == 2 and hidden.shape[0] == 2
    assert torch.equal(batch[0], want_negative[0].to(batch))
    assert torch.equal(batch[1], want_prompt[0].to(batch))
    assert torch.equal(hidden[0], hidden[1])  # the same latents under both prompts


@pytest.mark.slow
def test_pass1_end_to_end_through_the_engine(engine: VoidEngine):
    calls = []
    win = _window(13, 64, 112, seed=7, steps=3)
    out = engine.run(win, lambda s, n, m: calls.append((s, n)), lambda: False)
    assert out.frames.shape == (13, 64, 112, 3) and out.frames.dtype == np.float32
    assert out.frames.min() >= 0 and out.frames.max() <= 1 and out.pass1 is None
    assert calls == [(1, 3), (2, 3), (3, 3)]
    runs = [
        engine.run(_window(13, 32, 48, seed=s, steps=2), lambda *a: None, lambda: False).frames
        for s in (7, 7, 8)
    ]
    assert np.array_equal(runs[0], runs[1])  # same seed, same output
    assert np.abs(runs[0] - runs[2]).max() > 1e-3
    info = engine.info()
    assert info["loaded"] and info["memory_mode"] == "cpu" and info["weights"]["pass2"]


def test_per_job_overrides_and_errors(engine: VoidEngine):
    calls = []
    win = _window(5, 32, 48, pass1={"steps": 2})
    engine.run(win, lambda s, n, m: calls.append(n), lambda: False)
    assert calls == [2, 2]
    with pytest.raises(EngineError, match="not a valid window length"):
        engine.run(_window(12, 32, 48), lambda *a: None, lambda: False)
    with pytest.raises(EngineError, match="multiple of 16"):
        engine.run(_window(5, 40, 48), lambda *a: None, lambda: False)
    with pytest.raises(EngineError, match="passes"):
        engine.run(_window(5, 32, 48, passes=3), lambda *a: None, lambda: False)
    with pytest.raises(EngineError, match="Pass 1 result"):
        engine.run(_window(5, 32, 48, passes="pass2"), lambda *a: None, lambda: False)


def test_info_without_weights_names_the_problem(tmp_path: Path):
    eng = VoidEngine(weights=tmp_path / "nowhere", device="cpu")
    info = eng.info()
    assert info["weights"] is None and "does not exist" in info["weights_error"]
    assert not info["loaded"] and info["device"] == "cpu"


def test_cancel_raises_cancelled(engine: VoidEngine):
    steps = []
    with pytest.raises(Cancelled):
        engine.run(
            _window(5, 32, 48, steps=5),
            lambda s, n, m: steps.append(s),
            lambda: len(steps) >= 2,
        )
    assert steps == [1, 2]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("void_vfx_server.engines.void.warped_noise") is None,
    reason="warped noise module not present",
)
def test_pass2_alone_on_a_saved_pass1_result_repeats_the_two_pass_job(engine: VoidEngine):
    """Pass 2 from warped noise of the Pass 1 result; run alone on the saved Pass 1 result with
    the same seed it gives exactly what the two-pass job gave."""
    params = {"steps": 2, "raft_random_init": True}
    both = engine.run(
        _window(5, 32, 64, seed=3, passes=2, **params), lambda *a: None, lambda: False
    )
    assert both.frames.shape == (5, 32, 64, 3) and both.pass1 is not None
    assert engine.models.current_pass == 2
    only1 = engine.run(_window(5, 32, 64, seed=3, **params), lambda *a: None, lambda: False)
    assert np.array_equal(only1.frames, both.pass1)
    assert np.abs(both.frames - both.pass1).max() > 1e-3
    win = _window(5, 32, 64, seed=3, passes="pass2", **params)
    win.pass1 = both.pass1
    calls = []
    alone = engine.run(win, lambda s, n, m: calls.append((s, n)), lambda: False)
    assert calls == [(1, 2), (2, 2)]
    assert np.array_equal(alone.frames, both.frames)


class _FixedVelocity:
    """Stands in for ``VoidPipeline.predict``: a deterministic velocity of the window alone."""

    def __call__(self, transformer, latents, cond, embeds, t, guidance):
        return torch.sin(latents.float() * 3.0 + cond[0].float() + t.float() / 1000.0)


def test_multidiffusion_rounds_like_the_reference_in_bf16(engine: VoidEngine):
    """bf16 blend, bit for bit: each stepped window rounded to bf16, times bf16 weights (a bf16
    product), summed in float32, divided by the float32 sum of the weights, rounded to bf16."""
    from void_vfx_server.engines.void.loading import VoidModels, memory_plan
    from void_vfx_server.engines.void.pipeline import VoidPipeline

    models = VoidModels(engine.paths, torch.device("cpu"), torch.bfloat16, memory_plan("cpu"))
    models.transformers, models.current_pass = {1: engine.models.transformers[1]}, 1
    models.scheduler_config = engine.models.scheduler_config
    pipe = VoidPipeline(models)
    pipe.predict = _FixedVelocity()
    g = torch.Generator().manual_seed(9)
    shape = (1, 50, 16, 6, 8)  # 197 frames: windows [0, 22), [18, 40), [36, 50)
    latents = torch.randn(shape, generator=g).to(torch.bfloat16)
    cond = (torch.randn(shape, generator=g).to(torch.bfloat16),) * 2
    params = pass_params(1, {"steps": 1})
    out = pipe.denoise(latents, cond, torch.zeros(1, 226, 32), pipe.make_scheduler(params), params)

    scheduler = pipe.make_scheduler(params)
    t = scheduler.timesteps[0]
    canvas = torch.zeros(shape, dtype=torch.float32)
    total = torch.zeros(1, 50, 1, 1, 1)
    ramp = torch.linspace(0.0, 1.0, 6)[1:-1]
    for a, b in [(0, 22), (18, 40), (36, 50)]:
        x = latents[:, a:b]
        v = _FixedVelocity()(None, x, (cond[0][:, a:b],), None, t, 1.0)
        stepped = scheduler.step(v, t, x, return_dict=False)[0].to(torch.bfloat16)
        w = torch.ones(1, b - a, 1, 1, 1).to(torch.bfloat16)
        if a > 0:
            w[:, :4] = ramp.to(torch.bfloat16).view(1, 4, 1, 1, 1)
        if b < 50:
            w[:, -4:] = ramp.flip(0).to(torch.bfloat16).view(1, 4, 1, 1, 1)
        canvas[:, a:b] += stepped * w
        total[:, a:b] += w
    want = (canvas / total).to(torch.bfloat16)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, want)


def test_rotary_embeddings_positions_from_zero_on_the_patch_grid(engine: VoidEngine):
    """RoPE of a latent window: temporal positions 0..T/2-1, rows 0..h/2-1, columns 0..w/2-1,
    head dims split 1/4 time, 3/8 height, 3/8 width, theta 10000, each frequency repeated twice;
    the same table whichever window of a long clip it serves (positions restart)."""
    pipe, models = engine.pipeline, engine.models
    models.use_pass(1)
    head = models.transformers[1].config.attention_head_dim  # 16 in the tiny config
    cos, sin = pipe.rotary_embeddings(22, 48, 84)  # 85 frames at 384x672 in latents
    t_n, h_n, w_n = 11, 24, 42
    assert cos.shape == (t_n * h_n * w_n, head) and sin.shape == cos.shape

    def axis(dim: int, n: int) -> torch.Tensor:
        freqs = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        return torch.outer(torch.arange(n, dtype=torch.float64), freqs).repeat_interleave(2, 1)

    d_t, d_hw = head // 4, head // 8 * 3
    ang_t, ang_h, ang_w = axis(d_t, t_n), axis(d_hw, h_n), axis(d_hw, w_n)
    for t, h, w in [(0, 0, 0), (3, 5, 7), (10, 23, 41)]:
        angles = torch.cat([ang_t[t], ang_h[h], ang_w[w]])
        row = (t * h_n + h) * w_n + w
        assert torch.allclose(cos[row].double(), angles.cos(), atol=1e-5)
        assert torch.allclose(sin[row].double(), angles.sin(), atol=1e-5)
    short_cos, _ = pipe.rotary_embeddings(14, 48, 84)  # the last window of 197 frames
    assert torch.equal(short_cos, cos[: 7 * h_n * w_n])


def test_eta_noise_comes_from_the_job_seed(engine: VoidEngine):
    """With an eta override DDIM draws variance noise: from the job's generator, so the global
    RNG state does not change the result and the seed does."""
    runs = []
    for seed, global_seed in ((4, 1), (4, 2), (5, 1)):
        torch.manual_seed(global_seed)
        win = _window(5, 32, 48, seed=seed, steps=3, eta=0.5)
        runs.append(engine.run(win, lambda *a: None, lambda: False).frames)
    assert np.isfinite(runs[0]).all()
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    with pytest.raises(EngineError, match="eta"):
        engine.run(_window(5, 32, 48, eta=1.0), lambda *a: None, lambda: False)


def test_prompt_is_encoded_once_without_attention_mask(engine: VoidEngine):
    """226 ids ending in EOS, T5 called without an attention mask, the embedding cached per
    prompt on the CPU (the encoder only visits the GPU while it encodes)."""
    pipe, models = engine.pipeline, engine.models
    calls = []
    t5 = models.text_encoder
    handle = t5.register_forward_pre_hook(
        lambda mod, args, kwargs: calls.append(kwargs), with_kwargs=True
    )
    prompt = "The kitchen is quiet and the cup stands on the counter."
    pipe._prompt_cache.pop(prompt, None)
    try:
        first = pipe.encode_prompt(prompt)
        again = pipe.encode_prompt(prompt)
    finally:
        handle.remove()
    assert len(calls) == 1 and again is first
    assert calls[0].get("attention_mask") is None
    ids = calls[0]["input_ids"]
    assert ids.shape == (1, 226) and 1 in ids[0].tolist() and ids[0, -1].item() == 0
    assert first.shape == (1, 226, 32) and first.device.type == "cpu"
    assert next(t5.parameters()).device.type == "cpu"
    with torch.no_grad():
        masked = t5(input_ids=ids, attention_mask=(ids != 0).long())[0]
    assert not torch.allclose(first, masked.to(first.dtype), atol=1e-4)  # the mask would matter


def _encoded_video(engine: VoidEngine, win: WindowInput) -> torch.Tensor:
    """The video the VAE encoder sees in one Pass 1 run (its second encode, after the mask)."""
    seen = []
    vae = engine.models.vae
    handle = vae.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    try:
        engine.run(win, lambda *a: None, lambda: False)
    finally:
        handle.remove()
    return seen[1][0].permute(1, 0, 2, 3)  # (F, 3, H, W)


def test_noise_augmentation_follows_the_base_config_flag(
    engine: VoidEngine, void_weights: Path, tmp_path: Path
):
    """The reference adds the 0.0563 noise only when the base transformer config says
    add_noise_in_inpaint_model (the released folder does); without the flag, the clean video."""
    import json
    import shutil

    from void_vfx_server.engines.void.conditioning import frames_to_video

    win = _window(5, 32, 48, seed=2, steps=1)
    clean = frames_to_video(torch.from_numpy(win.frames))
    augmented = _encoded_video(engine, win)
    assert (augmented - clean).std().item() == pytest.approx(0.0563, rel=0.1)

    root = tmp_path / "w"
    shutil.copytree(void_weights, root)
    config_path = root / "base" / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["add_noise_in_inpaint_model"] = False
    config_path.write_text(json.dumps(config))
    plain = VoidEngine(weights=root, device="cpu", dtype=torch.float32)
    plain.load()
    assert torch.equal(_encoded_video(plain, win), clean)
    forced = _encoded_video(plain, _window(5, 32, 48, seed=2, steps=1, noise_aug=0.0563))
    assert torch.equal(forced, augmented)  # an explicit job value wins, same seeded draw
