"""The OCIO configs a job can name: the server's, OCIO's built-ins, Nuke's nuke-default (built
here from its published definitions), and config files a server is allowed to read.

See :mod:`void_vfx.media.colour_names` for what each reference means; this module makes the
OpenColorIO config for one.
"""

from __future__ import annotations

import os

from void_vfx.errors import ColourError
from void_vfx.media.colour_names import (
    DEFAULT_CONFIG,
    LUT_RANGE,
    NUKE_DEFAULT,
    NUKE_DEFAULT_ROLES,
    NUKE_DEFAULT_SPACES,
    ColourNameError,
    config_kind,
    config_uri,
    nuke_lut_values,
)

#: Allowed OCIO config files on a server besides $OCIO (os.pathsep between them).
ALLOWED_CONFIGS_ENV = "VOID_VFX_OCIO_CONFIGS"
#: nuke-default's reference: the curves are on Linear Rec.709 primaries.
LINEAR_709 = "Linear Rec.709 (sRGB)"

_BUILT: dict[str, object] = {}


def config_for(ref: str = "", *, trusted: bool = False):
    """The OCIO config a job's ``ocio_config`` names (see :mod:`.colour_names`).

    A config file is read on a server only when it is $OCIO or listed in
    ``$VOID_VFX_OCIO_CONFIGS``: a job must not make the server open arbitrary files.
    ``trusted`` (the user's own machine, e.g. the CLI's preflight) skips that list."""
    from void_vfx.media.colour import load_config

    try:
        kind = config_kind(ref)
    except ColourNameError as exc:
        raise ColourError(f"{exc}; set it with --ocio-config") from None
    if kind == "server":
        return load_config()
    if kind == NUKE_DEFAULT:
        if NUKE_DEFAULT not in _BUILT:
            _BUILT[NUKE_DEFAULT] = nuke_default_config()
        return _BUILT[NUKE_DEFAULT]
    if kind == "file" and not trusted:
        _check_allowed(ref)
    return load_config(config_uri(ref))


def _check_allowed(path: str) -> None:
    allowed = [os.environ.get("OCIO", "")]
    allowed += os.environ.get(ALLOWED_CONFIGS_ENV, "").split(os.pathsep)
    real = os.path.realpath(path)
    if any(a and os.path.isabs(a) and os.path.realpath(a) == real for a in allowed):
        return
    raise ColourError(
        f"OCIO config {path} is not one this server reads: start the server with "
        f"{ALLOWED_CONFIGS_ENV}={path} (or OCIO={path}), or name an ocio:// built-in config"
    )


def nuke_default_config():
    """Nuke's nuke-default config, exactly: its names on the ACES studio config, each either an
    alias of the same curve there or built from nuke-default's formula on Linear Rec.709
    (:data:`~void_vfx.media.colour_names.NUKE_DEFAULT_SPACES`); roles as nuke-default sets
    them (scene_linear is ``linear``, not ACEScg)."""
    import PyOpenColorIO as ocio

    from void_vfx.media.colour import load_config

    cfg = load_config(DEFAULT_CONFIG)  # a new object each load: ours to edit
    lin = cfg.getColorSpace(LINEAR_709).getName()
    for name, (kind, value) in NUKE_DEFAULT_SPACES.items():
        if kind == "data":
            continue  # "raw": the config's Raw (OCIO names ignore case)
        if kind == "alias":
            cs = cfg.getColorSpace(value)
            cs.addAlias(name)
            cfg.addColorSpace(cs)
            continue
        if kind == "log":
            base, log_slope, log_offset, lin_slope, lin_offset = value
            curve = ocio.LogAffineTransform(
                logSideSlope=[log_slope] * 3,
                logSideOffset=[log_offset] * 3,
                linSideSlope=[lin_slope] * 3,
                linSideOffset=[lin_offset] * 3,
                direction=ocio.TRANSFORM_DIR_INVERSE,
            )
            curve.setBase(base)
        elif kind == "lut":
            curve = _nuke_lut(value)
        else:  # logc
            log_slope, log_offset, lin_slope, lin_offset, brk, slope = value
            curve = ocio.LogCameraTransform(
                linSideBreak=[brk] * 3,
                logSideSlope=[log_slope] * 3,
                logSideOffset=[log_offset] * 3,
                linSideSlope=[lin_slope] * 3,
                linSideOffset=[lin_offset] * 3,
                base=10.0,
                linearSlope=[slope] * 3,
                direction=ocio.TRANSFORM_DIR_INVERSE,
            )
        to_linear = ocio.GroupTransform(
            [curve, ocio.ColorSpaceTransform(src=lin, dst=cfg.getCanonicalName("aces_interchange"))]
        )
        cs = ocio.ColorSpace(ocio.REFERENCE_SPACE_SCENE, name=name, family="nuke-default")
        cs.setDescription(f"nuke-default {name}: its curve to linear, on Rec.709 primaries")
        cs.setTransform(to_linear, ocio.COLORSPACE_DIR_TO_REFERENCE)
        cfg.addColorSpace(cs)
    for role, space in NUKE_DEFAULT_ROLES.items():
        cfg.setRole(role, cfg.getColorSpace(space).getName())
    cfg.setName(f"{NUKE_DEFAULT} (on {load_config(DEFAULT_CONFIG).getName()})")
    cfg.validate()
    return cfg


def _nuke_lut(curve: str):
    """A nuke-default spi1d LUT in OCIO ops: the code range scaled onto the LUT's [0, 1]
    domain, then the samples, interpolated linearly (as OCIO reads the .spi1d)."""
    import PyOpenColorIO as ocio

    lo, hi = LUT_RANGE
    values = nuke_lut_values(curve)
    lut = ocio.Lut1DTransform(length=len(values), inputHalfDomain=False)
    for i, v in enumerate(values):
        lut.setValue(i, v, v, v)
    lut.setInterpolation(ocio.INTERP_LINEAR)
    scale = 1.0 / (hi - lo)
    to_domain = ocio.MatrixTransform(
        matrix=[scale, 0, 0, 0, 0, scale, 0, 0, 0, 0, scale, 0, 0, 0, 0, 1],
        offset=[-lo * scale] * 3 + [0.0],
    )
    return ocio.GroupTransform([to_domain, lut])
