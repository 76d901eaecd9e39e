"""Shared fixtures. Test media come from ../shared/data beside the repository; tests that need
them skip with the reason when that folder is absent (it never ships with the package)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data, or skip: the test media are not part of this checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"test media folder {SHARED_DATA} is absent (../shared/data beside the repo)")
    return SHARED_DATA


def shared_file(relative: str) -> Path:
    """One file under ../shared/data, or skip naming it."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"test media {path} is absent (../shared/data beside the repo)")
    return path


@pytest.fixture(scope="session")
def void_weights() -> Path:
    """Tiny random VOID weights in the released layout (``base/``, ``void/``), written once and
    cached under ~/.cache/void-vfx-test-weights/<version> (or $VOID_VFX_TEST_WEIGHTS)."""
    pytest.importorskip("diffusers")
    pytest.importorskip("sentencepiece")
    from void_fixture import tiny_void_weights

    return tiny_void_weights()


@pytest.fixture(scope="session")
def void_engine(void_weights: Path):
    """One VoidEngine on the tiny weights (CPU, float32, default options), loaded once for the
    whole run: loading takes seconds, and the tests that share it only run windows through it."""
    torch = pytest.importorskip("torch")
    from void_vfx_server.engines.void.engine import VoidEngine

    engine = VoidEngine(void_weights, device="cpu", dtype=torch.float32)
    engine.load()
    return engine
