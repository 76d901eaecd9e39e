"""Grain measured outside the mask and made again: amplitude per channel and intensity, spectrum,
channel correlation, and the same bits from the same seed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from void_vfx.render.finish import grain

H, W = 288, 512
BLUR = 0.8  # the test grain's correlation length, pixels


def _amp(level: np.ndarray, c: int) -> np.ndarray:
    """The test grain's standard deviation: rising with intensity, different per channel."""
    return (0.004 + 0.02 * np.sqrt(level)) * (1.0, 0.8, 1.3)[c]


def _shaped(rng, shape) -> np.ndarray:
    """Unit-variance blurred noise, correlated 0.6 across channels."""
    base = rng.standard_normal(shape, dtype=np.float32)
    out = np.empty((*shape, 3), np.float32)
    for c in range(3):
        n = np.sqrt(0.6) * base + np.sqrt(0.4) * rng.standard_normal(shape, dtype=np.float32)
        out[..., c] = cv2.GaussianBlur(n, (0, 0), BLUR)
    return out / out.std(axis=(0, 1))


@pytest.fixture(scope="module")
def plate():
    """A ramp from dark to bright (every intensity band) with the test grain on it."""
    ramp = np.linspace(0.02, 0.8, W, dtype=np.float32)[None, :].repeat(H, 0)
    clean = np.stack([ramp, 0.9 * ramp, 0.7 * ramp], axis=-1)
    noise = _shaped(np.random.default_rng(1), (H, W))
    amp = np.stack([_amp(clean[..., c], c) for c in range(3)], axis=-1)
    return clean, noise * amp


def test_amplitude_per_channel_and_intensity_matches_the_plate(plate):
    clean, noise = plate
    keep = np.ones((H, W), bool)
    keep[80:200, 120:400] = False  # the hole: not measured
    model = grain.measure(clean + noise, keep)
    assert model is not None
    for c in range(3):
        assert len(model.levels[c]) >= 3
        for level, sig in zip(model.levels[c], model.sigma[c], strict=True):
            want = _amp(level, c)  # the true amplitude at this channel's intensity
            assert abs(sig / want - 1) < 0.12, (level, c, sig, want)
    # channels correlated 0.6 by construction
    assert abs(model.corr[0, 1] - 0.6) < 0.1


def test_synthesized_grain_has_the_plate_s_statistics(plate):
    clean, noise = plate
    model = grain.measure(clean + noise, np.ones((H, W), bool))
    made = grain.synthesize(model, clean, grain.rng_for(5, 1001))
    # amplitude: per channel, over the dark and the bright half
    for half in (slice(0, W // 2), slice(W // 2, W)):
        for c in range(3):
            ratio = made[:, half, c].std() / noise[:, half, c].std()
            assert abs(ratio - 1) < 0.1, (half, c, ratio)

    # spectrum: the radial power profiles of the two agree
    def profile(x):
        p = np.abs(np.fft.fft2(x[..., 1] / _amp(clean[..., 1], 1))) ** 2
        r = np.hypot(*np.meshgrid(np.fft.fftfreq(W), np.fft.fftfreq(H)))
        bins = np.minimum((r / 0.5 * 8).astype(int), 8)
        return np.bincount(bins.ravel(), p.ravel())[1:8] / np.bincount(bins.ravel())[1:8]

    a, b = profile(made), profile(noise)
    assert np.corrcoef(a, b)[0, 1] > 0.95
    assert np.all(np.abs(a / b - 1) < 0.3)


def test_the_same_seed_and_frame_give_the_same_bits(plate):
    clean, noise = plate
    model = grain.measure(clean + noise, np.ones((H, W), bool))
    one = grain.synthesize(model, clean, grain.rng_for(42, 1001))
    two = grain.synthesize(model, clean, grain.rng_for(42, 1001))
    assert one.tobytes() == two.tobytes()
    assert not np.array_equal(one, grain.synthesize(model, clean, grain.rng_for(42, 1002)))
    assert not np.array_equal(one, grain.synthesize(model, clean, grain.rng_for(43, 1001)))


def test_white_digital_noise_is_measured_white():
    rng = np.random.default_rng(3)
    clean = np.full((H, W, 3), 0.3, np.float32)
    noise = rng.standard_normal((H, W, 3), dtype=np.float32) * 0.01
    model = grain.measure(clean + noise, np.ones((H, W), bool))
    assert abs(model.sigma[0].mean() / 0.01 - 1) < 0.1
    s = model.spectrum[0]
    r = np.hypot(*np.meshgrid(np.fft.fftfreq(grain.BLOCK), np.fft.fftfreq(grain.BLOCK)))
    bins = np.minimum((r / 0.5 * 4).astype(int), 4)
    radial = np.bincount(bins.ravel(), s.ravel())[1:4] / np.bincount(bins.ravel())[1:4]
    assert radial.max() / radial.min() < 1.25  # white: no band of frequencies stands out
    assert abs(model.corr[0, 1]) < 0.1


def test_degrain_removes_grain_and_keeps_an_edge():
    rng = np.random.default_rng(4)
    noise = rng.standard_normal((H, W, 3), dtype=np.float32) * 0.01
    edge = np.zeros((H, W, 3), np.float32)
    edge[:, W // 2 :] = 0.2
    edge[:, : W // 2] = -0.2  # a strong high-band edge at the middle column
    out, _ = grain.degrain(noise, np.full(3, 0.01, np.float32))
    assert out.std() < 0.5 * noise.std()
    kept, _ = grain.degrain(edge + noise, np.full(3, 0.01, np.float32))
    assert np.abs(kept[:, W // 2 - 2 : W // 2 + 2] - edge[:, W // 2 - 2 : W // 2 + 2]).mean() < 0.02


def test_too_little_plate_outside_the_mask_gives_no_model():
    assert grain.measure(np.zeros((H, W, 3), np.float32), np.zeros((H, W), bool)) is None


def test_texture_that_moves_with_the_scene_is_not_taken_for_grain():
    """A sharp texture panning 2 pixels a frame: measured against the next frame warped onto
    it, a grain-free plate has no grain, and a grainy one has the grain it was given."""
    from void_vfx.render.finish.flow import compensate

    rng = np.random.default_rng(6)
    base = rng.random((H, W + 8), dtype=np.float32)
    tex = 0.1 + 0.5 * (0.6 * cv2.GaussianBlur(base, (0, 0), 1.0) + 0.4 * base)
    frames = [np.repeat(tex[:, 2 * k : 2 * k + W, None], 3, axis=2) for k in (0, 1)]
    keep = np.ones((H, W), bool)
    nothing = np.zeros((H, W), bool)
    change, covered = compensate(frames[0], frames[1], nothing)
    clean = grain.measure(frames[0], keep & ~covered, change)
    assert clean is None or max(float(s.max()) for s in clean.sigma) < 0.002
    spatial_only = grain.measure(frames[0], keep)  # the flattest blocks alone: fooled
    assert max(float(s.max()) for s in spatial_only.sigma) > 0.01
    noisy = [f + 0.01 * rng.standard_normal(f.shape, dtype=np.float32) for f in frames]
    change, covered = compensate(noisy[0], noisy[1], nothing)
    model = grain.measure(noisy[0], keep & ~covered, change)
    for c in range(3):
        assert np.all(np.abs(model.sigma[c] / 0.01 - 1) < 0.15), model.sigma[c]


def test_grain_made_in_bands_of_rows_is_the_grain_made_whole(plate):
    """Assembly makes the grain a band of rows at a time: the same pixels as in one piece."""
    clean, noise = plate
    model = grain.measure(clean + noise, np.ones((H, W), bool))
    filt = grain.filters(model)
    white = grain.white_noise(grain.rng_for(3, 1001), 61, 40)
    whole = grain.shaped(filt, white, 0, 61)
    bands = np.concatenate([grain.shaped(filt, white, a, min(61, a + 7)) for a in range(0, 61, 7)])
    assert np.allclose(whole, bands, atol=1e-6)
    # the separable terms keep the kernel's unit noise gain
    assert abs(float(whole.std()) - 1.0) < 0.1
