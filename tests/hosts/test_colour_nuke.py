"""The VOID Remove node sends the script's colour management: config and name, checked first.

Through the Nuke fake (its Root has the colour-management knobs Foundry documents), the node's
Send, and for one case the real preview server. Expected spaces: nuke-default's definitions
(see test_colour_nuke_default.py), the Foundry configs' OCIO built-in twins.
"""

from __future__ import annotations

import json

import pytest
from fakes_nuke import harness

from void_vfx.errors import SpecError
from void_vfx.hosts.nuke_spec import ocio_config_of, plate_colour
from void_vfx.media.colour_rules import config_for, resolve_spec_colour
from void_vfx.ui.job_records import load_spec

CG = "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1"
NUKE = {"colorManagement": "Nuke", "OCIO_config": "nuke-default", "floatLut": "linear"}


def test_the_roots_colour_management_names_the_config():
    assert ocio_config_of(NUKE) == "nuke-default"
    assert ocio_config_of({"colorManagement": "OCIO", "OCIO_config": CG}) == CG
    custom = {"colorManagement": "OCIO", "OCIO_config": "custom"}
    assert ocio_config_of({**custom, "customOCIOConfigPath": "/show/config.ocio"}) == (
        "/show/config.ocio"
    )
    with pytest.raises(SpecError, match="custom OCIO config path is empty or relative"):
        ocio_config_of({**custom, "customOCIOConfigPath": "config.ocio"})
    with pytest.raises(SpecError, match="no copy of Nuke's 'aces_1.2' config.*pick custom"):
        ocio_config_of({"colorManagement": "OCIO", "OCIO_config": "aces_1.2"})


def test_a_read_left_at_default_is_in_the_roots_float_default():
    assert plate_colour({"colorspace": "default", "raw": False}, NUKE) == ("nuke-default", "linear")
    ocio = {"colorManagement": "OCIO", "OCIO_config": CG, "floatLut": "default (scene_linear)"}
    assert plate_colour({"colorspace": "default"}, ocio) == (CG, "scene_linear")
    assert plate_colour(None, NUKE) == ("nuke-default", "linear")  # a plate made in the comp
    assert plate_colour({"colorspace": "Cineon", "raw": True}, NUKE) == ("nuke-default", "")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from void_vfx.demo.run import make_demo_shot

    folder = tmp_path_factory.mktemp("shot")
    return make_demo_shot(folder, frames=13, size=(96, 64), camera_pan=False)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    return harness.fresh(monkeypatch, tmp_path)


def _node(nk, shot, tmp_path, colorspace, root):
    nuke, nuke_node, _ = nk
    group, reads = harness.comp(nuke, nuke_node, shot, object_through="Multiply")
    for knob, value in root.items():
        nuke.root()[knob].setValue(value)
    reads["plate"]["colorspace"].setValue(colorspace)
    for knob, value in (
        ("engine", "preview"),
        ("min_window", 13),
        ("output_dir", str(tmp_path / "out")),
    ):
        group[knob].setValue(value)
    return group


@pytest.mark.parametrize(
    "name, space",
    [
        ("linear", "Linear Rec.709 (sRGB)"),
        ("sRGB", "sRGB Encoded Rec.709 (sRGB)"),
        ("rec709", "rec709"),
        ("Gamma2.2", "Gamma 2.2 Encoded Rec.709"),
        ("Cineon", "Cineon"),
        ("AlexaV3LogC", "AlexaV3LogC"),
        ("default (linear)", "Linear Rec.709 (sRGB)"),
    ],
)
def test_nuke_default_names_are_sent_with_their_config_and_resolve_there(
    nk, shot, tmp_path, name, space
):
    _, _, nuke_send = nk
    group = _node(nk, shot, tmp_path, name, NUKE)
    spec = nuke_send.prepare(group).spec
    assert spec.ocio_config == "nuke-default"
    assert resolve_spec_colour(spec, config=config_for("nuke-default")).name == space


def test_an_ocio_script_sends_its_config_which_the_server_has_built_in(nk, shot, tmp_path):
    _, _, nuke_send = nk
    root = {"colorManagement": "OCIO", "OCIO_config": CG}
    spec = nuke_send.prepare(_node(nk, shot, tmp_path, "ACEScct", root)).spec
    assert (spec.ocio_config, spec.colourspace) == (CG, "ACEScct")
    decision = resolve_spec_colour(spec)
    assert decision.name == "ACEScct" and decision.config == CG


@pytest.mark.parametrize(
    "root, colorspace, says",
    [
        (
            NUKE,
            "REDSpace",
            "error: colorspace: the plate Read's colorspace: colour space "
            "'REDSpace' has no exact equivalent known for Nuke's nuke-default",
        ),
        (NUKE, "ACEScg", "error: colorspace: the plate Read's colorspace: colour space 'ACEScg'"),
        (
            {"colorManagement": "OCIO", "OCIO_config": "aces_1.1"},
            "ACES - ACEScg",
            "error: OCIO_config: the server has no copy of Nuke's 'aces_1.1' config",
        ),
    ],
)
def test_an_unknown_name_is_refused_on_the_status_line_before_any_render(
    nk, shot, tmp_path, root, colorspace, says
):
    nuke, _, nuke_send = nk
    group = _node(nk, shot, tmp_path, colorspace, root)
    group["send"].execute()
    assert group["status"].value().startswith(says), group["status"].value()
    assert nuke_send.ACTIVE == {} and nuke._tasks == [] and nuke._executed == []
    assert not (tmp_path / "out").exists()  # nothing rendered, nothing uploaded


@pytest.fixture
def server(tmp_path_factory, monkeypatch):
    from void_vfx.server_entry import server_api

    tmp = tmp_path_factory.mktemp("server")
    srv = server_api().start_local_server(tmp / "data", tmp / "token", "preview")
    monkeypatch.setenv("VOID_VFX_TOKEN_FILE", str(tmp / "token"))
    yield srv
    srv.close()


def test_a_nuke_default_script_runs_on_a_server_whose_config_is_aces(nk, shot, tmp_path, server):
    """The failure of the issue: 'linear' under nuke-default was unknown on the server."""
    nuke, _, nuke_send = nk
    group = _node(nk, shot, tmp_path, "linear", NUKE)
    group["server"].setValue(f"127.0.0.1:{server.port}")
    group["send"].execute()
    sender = nuke_send.ACTIVE.get(group.fullName())
    assert sender is not None, group["status"].value()
    assert nuke._process_events(until=sender.finished.is_set, timeout=60.0)
    assert group["status"].value().startswith("done: v001"), group["status"].value()
    spec = json.loads(load_spec(sender.job_id))
    assert (spec["ocio_config"], spec["colourspace"]) == ("nuke-default", "linear")
