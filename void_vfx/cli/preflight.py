"""What ``void-vfx remove`` checks and says before it submits a job.

The server checks everything again; these checks run first, on this machine, so that a mistake a
header can reveal (a mask channel that is not there) is named with the option that fixes it, and
a setting that would do nothing silently (Pass 2 on the preview engine, no prompt for VOID) is
said before any time is spent.
"""

from __future__ import annotations

#: The option that picks each mask source's channel.
CHANNEL_OPTIONS = {
    "primary": "--primary-channel",
    "affected": "--affected-channel",
    "quadmask": "--quadmask-channel",
}


def channel_hint(role: str) -> str:
    """What to type to pick another channel of the ``role`` mask."""
    return (
        f'pick one with {CHANNEL_OPTIONS[role]} (or "{role}": {{"channel": ...}} in a --spec file)'
    )


def check_mask_channels(spec) -> None:
    """Every mask source's first plate frame has the channel the spec asks for, and the plate's
    size unless ``mask.resize`` (headers only); ImageIOError or MaskError naming the file, what
    it has and the option otherwise."""
    from void_vfx.render.mask_check import check_masks

    check_masks(
        spec,
        channel_hint=channel_hint,
        resize_hint='add --mask-resize ("mask": {"resize": true} in a --spec file)',
    )


def check_colour(spec, *, trusted: bool = True):
    """The plate's colour space as the server will decide it (the spec's name in the spec's
    config, else the plate's first frame by the rules of :mod:`void_vfx.media.colour_rules`),
    checked on this machine before anything is rendered, uploaded or queued: a
    :class:`~void_vfx.media.colour_rules.ColourDecision`, or ColourError naming the plate's
    first file and frame and the option to add. Hosts without OpenColorIO check names with
    :func:`void_vfx.media.colour_names.check_name`; the conform checks each shot's plate with
    :func:`~void_vfx.media.colour_rules.check_plate_colour`, the farm when it opens the shot."""
    from void_vfx.media.colour_rules import check_plate_colour
    from void_vfx.media.sequences import find_sequence

    first = None
    if not spec.colourspace:
        plate = find_sequence(spec.plate)
        first = plate.frames(tuple(spec.frame_range) if spec.frame_range else None)[0]
    config = getattr(spec, "ocio_config", "")
    return check_plate_colour(spec.plate, first, spec.colourspace, config, trusted=trusted)


def colour_note(spec) -> str | None:
    """What to say of the plate's colour space before a job (ColourError when it cannot be
    told): the rule that decided it, when the spec does not name it."""
    decision = check_colour(spec)
    if spec.colourspace:
        return None
    return f"plate colour space {decision}; --colourspace NAME overrides it"


def setting_warnings(spec) -> list[str]:
    """Settings that would be silent no-ops on the chosen engine, each with what to type.

    ``--passes 2`` on the preview engine is said here, before the job is sent, and the caller
    sends one pass (:func:`drop_noop_settings`), so the engine's own note, which hosts that do
    not run these checks show, is not said a second time."""
    out = []
    if spec.engine == "preview" and spec.sampling.passes == 2 and spec.pass1_result is None:
        out.append(
            "--passes 2 does nothing on the preview engine (Pass 2 refines VOID's Pass 1), "
            "so one pass runs; for two, send the job to a server with VOID (void-vfx serve "
            "--engine void), or drop --passes 2"
        )
    if spec.engine == "void" and not str(spec.prompt or "").strip():
        out.append(
            "no --prompt: VOID is steered by a prompt that describes the scene after the "
            'removal (what stays, not what goes), e.g. --prompt "an empty street with parked '
            'cars"; without one the fill follows the picture alone'
        )
    return out


def drop_noop_settings(spec) -> None:
    """Sets that :func:`setting_warnings` said do nothing, put back to what will run."""
    if spec.engine == "preview" and spec.sampling.passes == 2 and spec.pass1_result is None:
        spec.sampling.passes = 1
