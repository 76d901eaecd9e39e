"""Resolve's colour management reaches the job: the clip's Input Color Space, the project's colour
science, the render's output space, each sent as an exact OCIO space or refused before anything.

Through the Resolve fake (its project settings and clip properties carry the keys Blackmagic's
README and real scripts use), the real core and, for one run, the real preview server.
"""

from __future__ import annotations

import pytest
from resolve_setup import edit, request

from void_vfx.hosts.resolve_app import ResolveError
from void_vfx.hosts.resolve_remove import RemoveSession
from void_vfx.hosts.resolve_source import read_colour
from void_vfx.media.colour_names import RESOLVE_CONFIG
from void_vfx.media.colour_rules import config_for, given

pytest_plugins = ["resolve_fixtures"]
RCM = "davinciYRGBColorManagedv2"


def _setup(shot, settings=None, clip=("Project", "")):
    resolve, project, timeline, item = edit(shot)
    project.colour_settings.update(settings or {})
    item.GetMediaPoolItem().input_colour, item.GetMediaPoolItem().input_gamma = clip
    return resolve, project, item


@pytest.mark.parametrize(
    "settings, clip, rendered, expected",
    [
        # unmanaged: Resolve converts nothing, the files' own headers decide on the server
        ({}, ("Project", ""), False, ""),
        ({}, ("Project", ""), True, ""),
        # colour managed: the clip's space, "Project" meaning the project's input space
        ({"colorScienceMode": RCM}, ("Project", ""), False, "Gamma 2.4 Encoded Rec.709"),
        ({"colorScienceMode": RCM}, ("sRGB", ""), False, "sRGB Encoded Rec.709 (sRGB)"),
        (
            {"colorScienceMode": RCM, "separateColorSpaceAndGamma": "1"},
            ("Rec.709", "Linear"),
            False,
            "Linear Rec.709 (sRGB)",
        ),
        (
            {
                "colorScienceMode": RCM,
                "separateColorSpaceAndGamma": "1",
                "colorSpaceInput": "Sony S-Gamut3.Cine",
                "colorSpaceInputGamma": "S-Log3",
            },
            ("Project", ""),
            False,
            "S-Log3 S-Gamut3.Cine",
        ),
        # a render holds the output space ("Same as Timeline": the timeline's)
        (
            {
                "colorScienceMode": RCM,
                "separateColorSpaceAndGamma": "1",
                "colorSpaceTimeline": "DaVinci WG",
                "colorSpaceTimelineGamma": "DaVinci Intermediate",
            },
            ("Rec.709", "Linear"),
            True,
            "DaVinci Intermediate WideGamut",
        ),
        (
            {"colorScienceMode": RCM, "colorSpaceOutput": "Rec.709 (Scene)"},
            ("Project", ""),
            True,
            "Camera Rec.709",
        ),
        # ACES: the clip's files as they are, their headers decide
        ({"colorScienceMode": "acescct"}, ("Project", ""), False, ""),
    ],
)
def test_resolves_colour_settings_become_an_exact_space(shot, settings, clip, rendered, expected):
    _, project, item = _setup(shot, settings, clip)
    config, space, said = read_colour(project, item, rendered)
    assert space == expected, said
    assert config == (RESOLVE_CONFIG if expected else "")
    assert settings.get("colorScienceMode", "davinciYRGB") in said
    if expected:  # the name is one of the config it is sent with
        assert given(config_for(config), space, config).name == expected


@pytest.mark.parametrize(
    "settings, clip, rendered, says",
    [
        (
            {"colorScienceMode": RCM},
            ("Canon Cinema Gamut/Canon Log 2", ""),
            False,
            "Resolve's colour space 'Canon Cinema Gamut/Canon Log 2' has no exact OCIO",
        ),
        (
            {"colorScienceMode": RCM, "separateColorSpaceAndGamma": "1"},
            ("Rec.709", "Gamma 2.6"),
            False,
            "'Rec.709' with gamma 'Gamma 2.6' has no exact",
        ),
        ({"colorScienceMode": "acescct"}, ("Project", ""), True, "ACES project .* renders through"),
    ],
)
def test_a_space_with_no_exact_equivalent_is_refused_before_any_render_or_job(
    shot, server, tmp_path, settings, clip, rendered, says
):
    resolve, project, item = _setup(shot, settings, clip)
    with pytest.raises(ResolveError, match=says):
        read_colour(project, item, rendered)
    session = RemoveSession(resolve, request(shot, server, tmp_path / "out", render=rendered))
    with pytest.raises(ResolveError, match=says):
        session.run(poll_s=0.05)
    assert session.job_id == "" and project.render.jobs == {}  # nothing rendered or sent
    assert not (tmp_path / "out").exists()


def test_a_colour_managed_clip_is_sent_with_its_space_and_config(shot, server, tmp_path):
    settings = {"colorScienceMode": RCM, "separateColorSpaceAndGamma": "1"}
    resolve, project, _ = _setup(shot, settings, ("Rec.709", "Linear"))
    session = RemoveSession(resolve, request(shot, server, tmp_path / "out"))
    sent = []
    make_spec = session._spec
    session._spec = lambda: sent.append(make_spec()) or sent[-1]  # the spec the job is given
    assert session.run(poll_s=0.05).track == 3  # ran on the server and laid back
    (spec,) = sent
    assert (spec.ocio_config, spec.colourspace) == (RESOLVE_CONFIG, "Linear Rec.709 (sRGB)")


def test_an_unmanaged_render_of_a_movie_holds_video_in_the_timelines_space(shot):
    _, project, item = _setup(shot)  # a new project: unmanaged, Rec.709 Gamma 2.4 timeline
    config, space, said = read_colour(project, item, rendered=True, sequence=False)
    assert (config, space) == (RESOLVE_CONFIG, "Gamma 2.4 Encoded Rec.709")
    assert "timeline colour space 'Rec.709 Gamma 2.4'" in said
