"""Which colour space a plate is in, decided by rules a user can check, in a named OCIO config.

A job names its plate's colour space and the config that name belongs to (see
:mod:`void_vfx.media.colour_names`). When it names no space, the plate's first frame decides, by
the first of these rules that applies (the report says which one did):

1. **attribute**: the header names its space (``colorspace``, ``ocio:colorspace``,
   ``oiio:ColorSpace``...). OpenImageIO's own names (``srgb_rec709_scene``, ``lin_rec709``...)
   map to the config's equivalent. A bare ``linear``/``scene_linear`` says linear but not which
   primaries: the next rules decide those. A name the config lacks, or a role (whose meaning
   changes from config to config), is refused rather than passed over.
2. **chromaticities**: an EXR's ``chromaticities`` (primaries and white point) matched against
   the linear spaces Rec.709, P3-D65, AP1 (ACEScg), AP0 (ACES2065-1) and Rec.2020.
3. **format default**, as each format's specification states it: OpenEXR without
   ``chromaticities`` is scene-linear with Rec. 709 primaries and D65 white (OpenEXR's
   "Standard Attributes"); PNG, JPEG and 8-bit TIFF are sRGB; DPX follows its transfer field.

Nothing else is guessed: no config role is ever used as a default. A plate none of these rules
can tell is refused before any work, with the option to add.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from void_vfx.errors import ColourError
from void_vfx.media.colour_configs import config_for
from void_vfx.media.colour_names import NUKE_DEFAULT, config_kind, is_nuke_name, unknown_nuke_name
from void_vfx.media.sequences import find_sequence

RULE_GIVEN = "given"
RULE_ATTRIBUTE = "attribute"
RULE_CHROMATICITIES = "chromaticities"
RULE_FORMAT = "format default"
FIX = '--colourspace NAME ("colourspace" in a --spec file)'

# Each space by its names across configs, most specific first: the ACES studio/CG configs'
# names and aliases (OCIO 2.x built-ins and ACES 1.x configs alike).
LIN_709 = ("Linear Rec.709 (sRGB)", "lin_rec709", "lin_srgb", "Utility - Linear - sRGB")
LIN_P3D65 = ("Linear P3-D65", "lin_p3d65", "Utility - Linear - P3-D65")
LIN_2020 = ("Linear Rec.2020", "lin_rec2020", "Utility - Linear - Rec.2020")
ACESCG = ("ACEScg", "lin_ap1", "ACES - ACEScg")
ACES2065 = ("ACES2065-1", "lin_ap0", "ACES - ACES2065-1")
SRGB = ("sRGB Encoded Rec.709 (sRGB)", "srgb_tx", "Utility - sRGB - Texture", "sRGB - Texture")
CAMERA_709 = ("Camera Rec.709", "rec709_camera", "Utility - Rec.709 - Camera")
G18 = ("Gamma 1.8 Encoded Rec.709", "g18_rec709", "Utility - Gamma 1.8 - Rec.709 - Texture")
G22 = ("Gamma 2.2 Encoded Rec.709", "g22_rec709", "Utility - Gamma 2.2 - Rec.709 - Texture")
G24 = ("Gamma 2.4 Encoded Rec.709", "g24_rec709", "Utility - Rec.709 - Display")
CINEON = ("Cineon",)

#: EXR chromaticities (red xy, green xy, blue xy, white xy) -> (label, the space's names).
PRIMARIES = (
    ("Rec.709 primaries, D65 white", (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290), LIN_709),
    ("P3-D65", (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290), LIN_P3D65),
    ("AP1 (ACEScg)", (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767), ACESCG),
    ("AP0 (ACES2065-1)", (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767), ACES2065),
    ("Rec.2020", (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290), LIN_2020),
)
#: Chromaticities within this of a set's values match it (files round D65 to 0.3127/0.329 or
#: 0.31271/0.32902; the nearest two sets, AP1 and Rec.2020, differ by 0.002 or more).
CHROMA_TOLERANCE = 1e-3

#: Header attributes that name a colour space, in the order they are believed: OpenEXR's
#: ``colorInteropID`` (a Color Interop Forum ID), then names writers put, then OpenImageIO's
#: ``oiio:ColorSpace``, which is the file's own tag in an EXR but, for a DPX, OpenImageIO's
#: reading of the transfer field (rule 3 reads that field itself).
NAME_ATTRIBUTES = (
    "colorInteropID",
    "colorspace",
    "ocio:colorspace",
    "colorSpace",
    "ColorSpace",
    "oiio:ColorSpace",
)
#: Values that say "linear" and nothing of the primaries (old OpenImageIO wrote ``Linear``).
GENERIC_LINEAR = ("linear", "scene_linear", "scene-linear", "reference")
#: OpenImageIO's colour-space names (its interop IDs and older names) -> the space's names.
OIIO_NAMES = {
    "srgb_rec709_scene": SRGB,
    "srgb": SRGB,
    "srgb_texture": SRGB,
    "lin_rec709_scene": LIN_709,
    "lin_rec709": LIN_709,
    "lin_srgb": LIN_709,
    "rec709": CAMERA_709,
    "g18_rec709_scene": G18,
    "g22_rec709_scene": G22,
    "gammacorrected2.2": G22,
    "g24_rec709_scene": G24,
    "lin_ap1_scene": ACESCG,
    "lin_ap0_scene": ACES2065,
    "lin_p3d65_scene": LIN_P3D65,
    "lin_rec2020_scene": LIN_2020,
    "kodaklog": CINEON,
}
#: DPX transfer characteristic (OpenImageIO's ``dpx:Transfer`` text) -> space (SMPTE 268M).
DPX_TRANSFER = {
    "Printing density": CINEON,
    "Logarithmic": CINEON,
    "ITU-R 709-4": CAMERA_709,
    "SMPTE 274M": CAMERA_709,
}


@dataclass(frozen=True)
class ColourDecision:
    """A plate's colour space, the config it is named in, and the rule that decided it."""

    name: str
    rule: str
    reason: str
    config: str = ""

    @property
    def read(self) -> bool:
        """The header named the space outright: information, not a deduction."""
        return self.rule == RULE_ATTRIBUTE

    def __str__(self) -> str:
        return f"{self.name} (rule: {self.rule}; {self.reason})"


def config_label(config, ref: str = "") -> str:
    return ref or config.getName() or "(unnamed)"


def space_in(config, names: tuple[str, ...]) -> str | None:
    """The canonical name of the first of ``names`` the config has (a colour space or alias,
    not a role), else None."""
    for name in names:
        cs = config.getColorSpace(name)
        if cs is not None and not is_role(config, name):
            return cs.getName()
    return None


def is_role(config, name: str) -> bool:
    """True when ``name`` is only a role of the config (not a space's name or alias)."""
    low = name.lower()
    if low not in {role.lower() for role, _ in config.getRoles()}:
        return False
    return all(
        low != n.lower() for cs in config.getColorSpaces() for n in (cs.getName(), *cs.getAliases())
    )


# -- the rules ----------------------------------------------------------------------------------


def given(config, name: str, ref: str = "") -> ColourDecision:
    """A name the job gives: canonical in its config, or ColourError (with close names)."""
    from void_vfx.media.colour import resolve_colourspace

    if config_kind(ref) == NUKE_DEFAULT and not is_nuke_name(name):
        raise ColourError(unknown_nuke_name(name))
    canonical = resolve_colourspace(config, name)
    where = f"in {config_label(config, ref)}"
    return ColourDecision(canonical, RULE_GIVEN, f"{name!r} given {where}", ref)


def decide(header, config, ref: str = "") -> ColourDecision:
    """The plate's colour space from its header, by the module's rules; ColourError (naming
    the file, what it says and the option to add) when none can tell."""
    attrs = dict(getattr(header, "attributes", {}) or {})
    label = config_label(config, ref)
    linear_only = ""
    dpx = str(getattr(header, "file_format", "")).lower() == "dpx"
    for key in NAME_ATTRIBUTES:
        value = attrs.get(key)
        if dpx and key == "oiio:ColorSpace":
            continue
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if value.lower() in GENERIC_LINEAR:
            linear_only = linear_only or f"its {key} attribute {value!r} says linear"
            continue
        names = OIIO_NAMES.get(value.lower(), ()) + (value,)
        found = space_in(config, names)
        if found:
            return ColourDecision(found, RULE_ATTRIBUTE, f"its {key} attribute is {value!r}", ref)
        if is_role(config, value):
            why = f"its {key} attribute names the role {value!r}, whose space differs by config"
        else:
            why = f"its {key} attribute says {value!r}, which OCIO config {label} does not have"
        _refuse(header, why, label)
    found = _by_chromaticities(header, attrs, config, label, ref)
    if found is not None:
        return found
    return _by_format(header, attrs, config, label, ref, linear_only)


def _by_chromaticities(header, attrs, config, label, ref) -> ColourDecision | None:
    chroma = attrs.get("chromaticities")
    if chroma is None:
        return None
    values = tuple(float(v) for v in chroma) if isinstance(chroma, tuple | list) else ()
    if len(values) != 8:
        _refuse(header, f"its chromaticities attribute {chroma!r} is not 8 numbers", label)
    for what, ref_values, names in PRIMARIES:
        if all(abs(a - b) <= CHROMA_TOLERANCE for a, b in zip(values, ref_values, strict=True)):
            found = space_in(config, names)
            if found is None:
                why = f"its chromaticities are {what}, and OCIO config {label} has no such space"
                _refuse(header, why, label)
            reason = f"its chromaticities are {what} (scene-linear, as EXR values are)"
            return ColourDecision(found, RULE_CHROMATICITIES, reason, ref)
    shown = ", ".join(f"{v:g}" for v in values)
    known = ", ".join(p[0] for p in PRIMARIES)
    _refuse(header, f"its chromaticities ({shown}) match none of {known}", label)
    return None


def _by_format(header, attrs, config, label, ref, linear_only: str) -> ColourDecision:
    fmt = str(getattr(header, "file_format", "")).lower()
    pixel = str(getattr(header, "pixel_type", "")).lower()
    if fmt == "openexr":
        names = LIN_709
        why = (
            "an OpenEXR file without chromaticities: Rec.709 primaries and D65 white "
            "(OpenEXR Standard Attributes), scene-linear values"
        )
    elif linear_only:
        _refuse(header, f"{linear_only}, but not in which primaries", label)
    elif fmt in ("png", "jpeg") or (fmt == "tiff" and pixel == "uint8"):
        names, why = SRGB, f"a {fmt.upper()} file ({pixel}) with no colour information is sRGB"
    elif fmt == "dpx":
        transfer = str(attrs.get("dpx:Transfer", ""))
        names = DPX_TRANSFER.get(transfer, ())
        if transfer == "Linear" and attrs.get("dpx:Colorimetric") == "ITU-R 709-4":
            names = LIN_709
        if not names:
            _refuse(header, f"its DPX transfer field is {transfer or 'empty'!r}", label)
        why = f"its DPX transfer field is {transfer!r}"
    else:
        _refuse(header, f"a {fmt or 'file'} of {pixel or 'unknown'} values names no space", label)
    found = space_in(config, names)
    if found is None:
        hint = " (Cineon is in --ocio-config nuke-default)" if names == CINEON else ""
        _refuse(header, f"{why}, a space OCIO config {label} does not have{hint}", label)
    return ColourDecision(found, RULE_FORMAT, why, ref)


def _refuse(header, why: str, label: str) -> None:
    """The refusal (callers put the file and frame in front)."""
    raise ColourError(
        f"cannot tell the plate's colour space: {why}; give it with {FIX}, a colour space of "
        f"OCIO config {label}"
    )


def resolve_spec_colour(spec, header=None, *, config=None, trusted: bool = False) -> ColourDecision:
    """The plate's colour space for a job: the spec's name in the spec's config (``config``
    when the caller has loaded it), else the rules over ``header`` (the plate's first frame)."""
    ref = str(getattr(spec, "ocio_config", "") or "")
    if config is None:
        config = config_for(ref, trusted=trusted)
    if spec.colourspace:
        return given(config, spec.colourspace, ref)
    if header is None:
        raise ColourError(f"no colour space given and no plate header to read; add {FIX}")
    return decide(header, config, ref)


def guess_colourspace(header, config=None) -> ColourDecision:
    """The plate's colour space from its header alone, in ``config`` (a Config object or
    reference; default the server's): :func:`decide`. Never a config role."""

    cfg = config if config is not None and not isinstance(config, str) else None
    return decide(header, cfg or config_for(config or ""), config if cfg is None else "")


def check_plate_colour(
    plate: str, frame: int | None, colourspace: str = "", ocio_config: str = "", *, trusted=True
) -> ColourDecision:
    """The colour space a job on ``plate`` will use, checked before it starts (front ends with
    OpenColorIO: CLI, conform, farm): the name in its config, else the plate's first frame by
    the rules; ColourError naming the file and frame and the option to add."""

    from void_vfx.media.image_io import read_header

    spec = SimpleNamespace(colourspace=colourspace, ocio_config=ocio_config)
    header = where = None
    if not colourspace:
        seq = find_sequence(plate)
        frame = None if seq.is_still else frame
        path = seq.path(frame) if frame is not None else seq.path()
        header = read_header(path, frame=frame)
        where = f"{path} (frame {frame})" if frame is not None else path
    try:
        return resolve_spec_colour(spec, header, trusted=trusted)
    except ColourError as exc:
        raise ColourError(f"{where or plate}: {exc}") from None


def check_named_colour(spec) -> ColourDecision | None:
    """What a server can check when a job is submitted, before any upload: the job's config
    loads (a config file only if this server reads it) and a name the job gives is in it. A
    plate's own rules need its files, so they run when the job opens them."""
    ref = str(getattr(spec, "ocio_config", "") or "")
    config = config_for(ref)
    return given(config, spec.colourspace, ref) if spec.colourspace else None
