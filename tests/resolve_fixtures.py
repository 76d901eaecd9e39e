"""Fixtures of the Resolve tests (loaded with ``pytest_plugins``): a small demo shot, a real
preview server on 127.0.0.1, a private config folder."""

from __future__ import annotations

import pytest
from resolve_setup import MEDIA_FRAMES, SIZE


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from void_vfx.demo.run import make_demo_shot

    return make_demo_shot(
        tmp_path_factory.mktemp("shot"), frames=MEDIA_FRAMES, size=SIZE, camera_pan=False
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from void_vfx.server_entry import server_api

    tmp = tmp_path_factory.mktemp("server")
    srv = server_api().start_local_server(tmp / "data", tmp / "token", "preview")
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def private_config(request, monkeypatch):
    """Job notes and tokens of a Resolve test stay out of the user's config folder. Only the
    Resolve tests: ``pytest_plugins`` makes this fixture apply to the whole session, and other
    tests look for things under the real home (e.g. ~/.pyenv's Python 3.9)."""
    if "test_resolve_" not in request.node.nodeid:
        return
    tmp_path = request.getfixturevalue("tmp_path")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
