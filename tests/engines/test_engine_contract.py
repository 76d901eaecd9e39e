"""One contract for every engine, the way diffusers' ``PipelineTesterMixin`` checks every
pipeline: a mixin of tests written once against :class:`void_vfx.render.engine.Engine`, and a
small class per engine that says only how to build it and what window to give it.

The contract (``void_vfx/render/engine.py``): ``run`` returns float32 frames of the input's shape
in [0, 1], notes as a tuple of plain sentences, raises ``Cancelled`` once ``should_cancel()``
answers True, reports progress as ``step <= total``, and gives the same bits again for the same
window and seed. ``info()`` is plain values (it crosses the wire).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from void_vfx.errors import Cancelled
from void_vfx.model_facts import QUAD_AFFECTED, QUAD_KEEP, QUAD_REMOVE
from void_vfx.render.engine import Engine, WindowInput, WindowOutput

FRAMES, HEIGHT, WIDTH = 5, 32, 64  # the model's shortest window; multiples of 16


def contract_window(seed: int = 0, **params) -> WindowInput:
    """A textured plate with a square to remove and a band it affected, the same every call."""
    rng = np.random.default_rng(7)
    frames = rng.random((FRAMES, HEIGHT, WIDTH, 3), dtype=np.float32)
    quad = np.full((FRAMES, HEIGHT, WIDTH), QUAD_KEEP, np.uint8)
    for t in range(FRAMES):  # the object moves one pixel a frame
        quad[t, 8:20, 10 + t : 22 + t] = QUAD_REMOVE
    quad[:, 20:26, 8:30] = QUAD_AFFECTED
    return WindowInput(frames, quad, "An empty table.", seed, dict(params))


class EngineContract:
    """The tests; a subclass provides the ``engine`` fixture and may set ``params``."""

    #: Per-engine params that keep the run small (steps); part of every window.
    params: dict = {}

    def window(self, seed: int = 0) -> WindowInput:
        return contract_window(seed, **self.params)

    def test_output_shape_dtype_range_and_notes(self, engine: Engine) -> None:
        steps: list[tuple[int, int]] = []
        out = engine.run(self.window(), lambda s, n, msg: steps.append((s, n)), lambda: False)
        assert isinstance(out, WindowOutput)
        assert out.frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
        assert out.frames.dtype == np.float32
        assert np.isfinite(out.frames).all()
        assert out.frames.min() >= 0.0 and out.frames.max() <= 1.0
        assert isinstance(out.notes, tuple) and all(isinstance(n, str) and n for n in out.notes)
        assert out.pass1 is None  # one pass asked: no Pass 1 result to keep
        assert steps and all(0 <= s <= n for s, n in steps)

    def test_same_seed_gives_the_same_bits(self, engine: Engine) -> None:
        quiet = (lambda *a: None, lambda: False)
        first = engine.run(self.window(seed=5), *quiet)
        again = engine.run(self.window(seed=5), *quiet)
        np.testing.assert_array_equal(first.frames, again.frames)
        assert first.notes == again.notes

    def test_cancel_raises_cancelled(self, engine: Engine) -> None:
        """Cancel asked after the first progress report: the run stops with Cancelled."""
        reported: list[int] = []
        with pytest.raises(Cancelled):
            engine.run(self.window(), lambda s, n, m: reported.append(s), lambda: bool(reported))
        with pytest.raises(Cancelled):  # and when asked before anything started
            engine.run(self.window(), lambda *a: None, lambda: True)

    def test_a_window_breaking_the_contract_is_refused(self, engine: Engine) -> None:
        bad = self.window()
        bad.frames = bad.frames.astype(np.float64)
        with pytest.raises(ValueError, match="float32"):
            engine.run(bad, lambda *a: None, lambda: False)

    def test_info_is_plain_values(self, engine: Engine) -> None:
        json.dumps(engine.info())  # raises on anything but plain values


class TestPreviewEngine(EngineContract):
    @pytest.fixture(scope="class")
    def engine(self) -> Engine:
        from void_vfx_server.engines.preview.engine import PreviewEngine

        return PreviewEngine()


class TestVoidEngine(EngineContract):
    params = {"steps": 1}

    @pytest.fixture(scope="class")
    def engine(self, void_engine) -> Engine:
        return void_engine  # tiny random weights (tests/void_fixture.py), loaded once a session

    def test_another_seed_gives_other_bits(self, engine: Engine) -> None:
        """The VOID engine samples: its seed must reach the noise (the preview has none)."""
        quiet = (lambda *a: None, lambda: False)
        a = engine.run(self.window(seed=5), *quiet).frames
        b = engine.run(self.window(seed=6), *quiet).frames
        assert not np.array_equal(a, b)
