"""Which OCIO config a colour-space name belongs to, and Nuke's default names: standard library.

A name means nothing without its config: ``linear`` is Linear Rec.709 under Nuke's nuke-default
and unknown in the ACES studio config; the role ``scene_linear`` is ACEScg in one and Linear
Rec.709 in the other. So a job names both (``JobSpec.ocio_config`` and ``colourspace``), and this
module says, without OpenColorIO (hosts have none), what a config reference is and whether a
name can be resolved in it. :mod:`void_vfx.media.colour_rules` builds the configs themselves.

Config references:

- ``""``: the server's own config ($OCIO, else :data:`DEFAULT_CONFIG`): old specs.
- ``ocio://NAME``: an OCIO built-in config.
- ``nuke-default``: Nuke's default config (also Nuke's own colour management), built exactly
  from its definitions (:data:`NUKE_DEFAULT`).
- Foundry's copies of the ACES CG config that Nuke 14-16 ship (``fn-nuke_cg-config-...``): the
  OCIO built-in config of the same version (:data:`HOST_CONFIGS`).
- an absolute path to a ``config.ocio`` that the server is allowed to read.
"""

from __future__ import annotations

import os

#: The server's config when a job names none and $OCIO is unset.
DEFAULT_CONFIG = "ocio://studio-config-latest"
NUKE_DEFAULT = "nuke-default"
#: The longest config reference a spec takes (a path).
MAX_CONFIG_CHARS = 4096

# Nuke's default config, from its published definition (imageworks/OpenColorIO-Configs,
# nuke-default/config.ocio and make.py, whose formulas write its LUTs; Nuke ships the same
# curves): every space is a 1-D curve to "linear" (its reference), with no change of primaries,
# so each is a curve on Linear Rec.709. Each entry: (kind, value).
#   ("alias", SPACE): the same transform exists in the ACES configs under SPACE (bit for bit
#       the same formula); the nuke name becomes an alias of it.
#   ("log", (base, log_slope, log_offset, lin_slope, lin_offset)): lin from code value x by
#       x = log_slope * log_base(lin_slope * lin + lin_offset) + log_offset (OCIO's
#       LogAffineTransform, inverted), e.g. Cineon 10^((1023x - 685)/300) with its black offset.
#   ("logc", (log_slope, log_offset, lin_slope, lin_offset, lin_break, linear_slope)): the
#       same with a straight toe below lin_break (OCIO's LogCameraTransform, base 10).
#   ("data", ""): not colour (raw).
_CINEON_BLACK = 10.0 ** ((95.0 - 685.0) / 300.0)
_PANALOG_BLACK = 10.0 ** ((64.0 - 681.0) / 444.0)
_RED_BLACK = 10.0 ** ((0.0 - 1023.0) / 511.0)
NUKE_DEFAULT_SPACES: dict[str, tuple[str, object]] = {
    "linear": ("alias", "Linear Rec.709 (sRGB)"),
    # sRGB: IEC 61966-2-1 piecewise curve (make.py fromSRGB: cut 0.04045, 12.92, 1.055, 2.4).
    "sRGB": ("alias", "sRGB Encoded Rec.709 (sRGB)"),
    # rec709: make.py fromRec709 (v/4.5 below 0.081, ((v + 0.099)/1.099)^(1/0.45) above), which
    # jumps by 6e-5 at the break: no analytic OCIO op has that jump (the ACES configs' "Camera
    # Rec.709" moves the break to be continuous: 0.3% off in the toe), so it is nuke-default's
    # own LUT, made from the formula as make.py makes rec709.spi1d.
    "rec709": ("lut", "rec709"),
    # Gamma1.8/2.2: make.py ExponentTransform(1.8)/(2.2).
    "Gamma1.8": ("alias", "Gamma 1.8 Encoded Rec.709"),
    "Gamma2.2": ("alias", "Gamma 2.2 Encoded Rec.709"),
    # make.py fromCineon: (10^((1023x - 685)/300) - black) / (1 - black), black = 10^((95-685)/300)
    "Cineon": ("log", (10.0, 300.0 / 1023.0, 685.0 / 1023.0, 1.0 - _CINEON_BLACK, _CINEON_BLACK)),
    # make.py fromPanalog: 10^((1023x - 681)/444) with black 10^((64-681)/444)
    "Panalog": (
        "log",
        (10.0, 444.0 / 1023.0, 681.0 / 1023.0, 1.0 - _PANALOG_BLACK, _PANALOG_BLACK),
    ),
    # make.py fromREDLog: 10^((1023x - 1023)/511) with black 10^(-1023/511)
    "REDLog": ("log", (10.0, 511.0 / 1023.0, 1.0, 1.0 - _RED_BLACK, _RED_BLACK)),
    # make.py fromViperLog: 10^((1023x - 1023)/500)
    "ViperLog": ("log", (10.0, 500.0 / 1023.0, 1.0, 1.0, 0.0)),
    # make.py fromPLogLin: 0.18 * 10^((1023x - 445) * 0.002/0.6)
    "PLogLin": ("log", (10.0, 0.6 / 0.002 / 1023.0, 445.0 / 1023.0, 1.0 / 0.18, 0.0)),
    # make.py fromSLog: 10^((x - 0.616596 - 0.03)/0.432699) - 0.037584
    "SLog": ("log", (10.0, 0.432699, 0.616596 + 0.03, 1.0, 0.037584)),
    # make.py fromAlexaV3LogC (EI800): a=5.555556 b=0.052272 c=0.247190 d=0.385537 e=5.367655
    # cut=0.010591: c*log10(a*lin + b) + d above cut, e*lin + f below (f makes it continuous).
    "AlexaV3LogC": ("logc", (0.247190, 0.385537, 5.555556, 0.052272, 0.010591, 5.367655)),
    # SLog3: nuke-default/luts/slog3.spi1d (same repository) is Sony's S-Log3 curve:
    # 0.19 * 10^((1023x - 420)/261.5) - 0.01 above code 171.2102946929, a line to code 95 at 0.
    "SLog3": (
        "logc",
        (
            261.5 / 1023.0,
            420.0 / 1023.0,
            1.0 / 0.19,
            0.01 / 0.19,
            0.01125,
            (171.2102946929 - 95.0) / (0.01125 * 1023.0),
        ),
    ),
    "raw": ("data", ""),
}
#: nuke-default's LUT layout (make.py: NUM_SAMPLES = 2**12 + 5 over RANGE = (-0.125, 1.125),
#: interpolation linear).
LUT_SAMPLES = 2**12 + 5
LUT_RANGE = (-0.125, 1.125)


def nuke_lut_values(curve: str) -> list[float]:
    """The samples of a nuke-default LUT made from its formula (code value -> linear)."""
    lo, hi = LUT_RANGE
    out = []
    for i in range(LUT_SAMPLES):
        v = lo + (hi - lo) * i / (LUT_SAMPLES - 1.0)
        if curve != "rec709":
            raise ValueError(f"no nuke-default LUT formula {curve!r}")
        out.append(v / 4.5 if v < 0.018 * 4.5 else ((v + 0.099) / 1.099) ** (1.0 / 0.45))
    return out


#: nuke-default's roles (its config.ocio "roles:"), names there too.
NUKE_DEFAULT_ROLES = {
    "color_picking": "sRGB",
    "color_timing": "Cineon",
    "compositing_log": "Cineon",
    "data": "raw",
    "reference": "linear",
    "scene_linear": "linear",
}
#: Nuke's own names (colorManagement "Nuke") are those of nuke-default.
NUKE_NAMES = tuple(NUKE_DEFAULT_SPACES)

#: Configs Nuke ships under its own names -> the OCIO built-in with the same content.
HOST_CONFIGS = {
    "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1": "ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1",
    "fn-nuke_cg-config-v2.1.0_aces-v1.3_ocio-v2.3": "ocio://cg-config-v2.1.0_aces-v1.3_ocio-v2.3",
    "fn-nuke_cg-config-v2.2.0_aces-v1.3_ocio-v2.4": "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4",
    "fn-nuke_studio-config-v1.0.0_aces-v1.3_ocio-v2.1": (
        "ocio://studio-config-v1.0.0_aces-v1.3_ocio-v2.1"
    ),
    "fn-nuke_studio-config-v2.1.0_aces-v1.3_ocio-v2.3": (
        "ocio://studio-config-v2.1.0_aces-v1.3_ocio-v2.3"
    ),
}


class ColourNameError(ValueError):
    """A config reference or colour-space name that cannot be used (the text says what to do)."""


def config_kind(ref: str) -> str:
    """``server``, ``builtin``, ``nuke-default`` or ``file`` for a config reference; raises
    :class:`ColourNameError` for anything else (a relative path, a control character)."""
    if type(ref) is not str:
        raise ColourNameError(f"an OCIO config reference is text, not {type(ref).__name__}")
    if len(ref) > MAX_CONFIG_CHARS or any(ord(c) < 32 for c in ref):
        raise ColourNameError("an OCIO config reference is one line of at most 4096 characters")
    if not ref:
        return "server"
    if ref == NUKE_DEFAULT:
        return NUKE_DEFAULT
    if ref in HOST_CONFIGS or ref.startswith("ocio://"):
        return "builtin"
    if os.path.isabs(ref):
        return "file"
    raise ColourNameError(
        f"OCIO config {ref!r} is none of: a config.ocio's absolute path, an ocio:// built-in "
        f"(e.g. {DEFAULT_CONFIG}), {NUKE_DEFAULT!r}"
    )


def config_uri(ref: str) -> str:
    """What OCIO loads for a reference: a host's copy of a built-in -> the built-in."""
    return HOST_CONFIGS.get(ref, ref)


def check_name(ref: str, name: str) -> None:
    """Refuse what can be told wrong without OCIO: a bad config reference, or a name that
    Nuke's default config does not have. Other configs are checked where OCIO is (the CLI's
    preflight and the server)."""
    kind = config_kind(ref)
    if kind == NUKE_DEFAULT and name and not is_nuke_name(name):
        raise ColourNameError(unknown_nuke_name(name))


def is_nuke_name(name: str) -> bool:
    """A colour space or role of nuke-default."""
    return name in NUKE_DEFAULT_SPACES or name in NUKE_DEFAULT_ROLES


def unknown_nuke_name(name: str) -> str:
    """The refusal for a name outside the nuke-default table, with what to do."""
    known = ", ".join(NUKE_NAMES)
    return (
        f"colour space {name!r} has no exact equivalent known for Nuke's nuke-default config "
        f"(known: {known}); convert the plate to linear in Nuke (a Colorspace node, or the "
        "Read's colorspace) or use an OCIO config (Project Settings > Color)"
    )


# -- DaVinci Resolve's colour management -------------------------------------------------------
# Project settings (Project.GetSetting, Blackmagic's scripting README; values as scripts set
# them): colorScienceMode "davinciYRGB" (unmanaged), "davinciYRGBColorManagedv2" (RCM),
# "acescct"/"acescc"; colorSpaceInput/Timeline/Output, with colorSpace*Gamma when
# separateColorSpaceAndGamma is "1". A clip's "Input Color Space" (and "Input Gamma")
# clip properties, "Project" meaning the project's input space. Each Resolve space below is
# the same primaries and curve as the ACES studio config space it maps to.
RESOLVE_CONFIG = DEFAULT_CONFIG
RESOLVE_SPACES = {
    "Rec.709 Gamma 2.4": "Gamma 2.4 Encoded Rec.709",
    "Rec.709 Gamma 2.2": "Gamma 2.2 Encoded Rec.709",
    "sRGB": "sRGB Encoded Rec.709 (sRGB)",
    "Rec.709 (Scene)": "Camera Rec.709",
}
RESOLVE_PAIRS = {
    ("Rec.709", "Linear"): "Linear Rec.709 (sRGB)",
    ("Rec.709", "Gamma 2.4"): "Gamma 2.4 Encoded Rec.709",
    ("Rec.709", "Gamma 2.2"): "Gamma 2.2 Encoded Rec.709",
    ("Rec.709", "sRGB"): "sRGB Encoded Rec.709 (sRGB)",
    ("Rec.709", "Rec.709"): "Camera Rec.709",
    ("Rec.2020", "Linear"): "Linear Rec.2020",
    ("P3-D65", "Linear"): "Linear P3-D65",
    ("DaVinci WG", "Linear"): "Linear DaVinci WideGamut",
    ("DaVinci WG", "DaVinci Intermediate"): "DaVinci Intermediate WideGamut",
    ("Sony S-Gamut3.Cine", "S-Log3"): "S-Log3 S-Gamut3.Cine",
    ("ARRI Wide Gamut 3", "ARRI LogC3"): "ARRI LogC3 (EI800)",
    ("ARRI Wide Gamut 4", "ARRI LogC4"): "ARRI LogC4",
}
RESOLVE_UNMANAGED = "davinciYRGB"
RESOLVE_ACES = ("acescct", "acescc")


def resolve_space(space: str, gamma: str = "") -> str:
    """The ACES studio config name of a Resolve colour space (and gamma), or ColourNameError."""
    found = RESOLVE_PAIRS.get((space, gamma)) if gamma else RESOLVE_SPACES.get(space)
    if found:
        return found
    said = f"{space!r} with gamma {gamma!r}" if gamma else repr(space)
    known = ", ".join([*RESOLVE_SPACES, *(f"{s}/{g}" for s, g in RESOLVE_PAIRS)])
    raise ColourNameError(
        f"Resolve's colour space {said} has no exact OCIO equivalent known (known: {known}); "
        "set the clip's Input Color Space (or the project's) to one of these"
    )
