"""Colour: from the plate's space to the model's working encoding and back, with OpenColorIO.

The model sees display-referred sRGB in 0-1 (the sRGB curve on linear Rec.709 primaries). The
conversion is the config's own transform from the plate's colour space to its sRGB-encoded
Rec.709 space, so ACEScg, ACES2065-1, Linear Rec.709 and camera spaces all work, and the way back
is that transform inverted: exact to float32 precision for every value the encoding holds.

Highlights. Scene-linear values above 1.0 (encoded above 1.0) cannot enter the model. With
``highlight="clip"`` they are clamped to 1.0 and come back flat. With ``highlight="shoulder"``
(the default) encoded values above a knee of 0.8 are bent by the rational curve
``y = k + s*x/(x + s)`` (``x = e - k``, ``s = 1 - k``): slope 1 at the knee, approaching 1.0 but
never reaching it, so every highlight keeps a distinct value (linear 1.0 -> 0.9, 5 -> 0.97,
30 -> 0.99) and the exact inverse ``x = s*t/(s - t)`` restores it from the model's output. The
price is precision: the model's 0.8-1.0 range now spans all highlights, so inside the removed
region bright detail is rebuilt with less precision than midtones. Everything runs in float32
without quantisation, so there is no banding, and NaN/Inf never come out (inputs are sanitised,
the inverse clamps its input to the shouldered value of linear 65504, or to a ceiling such as
the brightest working value the window had). Negative values (out-of-gamut colours) clamp to 0: the
model cannot represent them. Outside the removed region none of this matters: paste-back keeps
the plate's own pixels there.
"""

from __future__ import annotations

import difflib
import os

import numpy as np

from void_vfx.errors import ColourError

BUILTIN_CONFIG = "ocio://studio-config-latest"
# Names and aliases of the sRGB-encoded Rec.709 space across OCIO configs, most specific first.
WORKING_CANDIDATES = (
    "sRGB Encoded Rec.709 (sRGB)",
    "srgb_tx",
    "sRGB - Texture",
    "Utility - sRGB - Texture",
    "srgb_texture",
    "sRGB",
    "srgb",
)
KNEE = 0.8
# sRGB encoding of 65504 (the largest half): the inverse never returns more than this, so a
# model output of pure white comes back as a finite half value, not as an unbounded one.
ENCODED_MAX = float(1.055 * 65504.0 ** (1 / 2.4) - 0.055)
#: Pixels converted per pass: a block's values and temporaries stay in the CPU's cache across
#: the several whole-array steps of a conversion, rather than streaming a 4K crop through
#: memory once per step (every step is per pixel, so the bits are the same).
BLOCK_PIXELS = 16384
#: OCIO transforms that act on each channel alone (a MatrixTransform only when diagonal, a
#: Lut1DTransform only without hue adjustment): a chain of these maps every half value of a
#: channel to one float32, so a half plate converts through a table of the 65536 half values.
_PER_CHANNEL = (
    "ExponentTransform",
    "ExponentWithLinearTransform",
    "LogTransform",
    "LogAffineTransform",
    "LogCameraTransform",
    "RangeTransform",
)


def load_config(config=None):
    """The OCIO config: a Config object, a path or ``ocio://`` URI, else ``$OCIO``, else
    built-in."""
    import PyOpenColorIO as ocio

    if config is not None and not isinstance(config, str | os.PathLike):
        return config
    source = os.fspath(config) if config is not None else os.environ.get("OCIO") or BUILTIN_CONFIG
    try:
        return ocio.Config.CreateFromFile(source)
    except Exception as exc:  # OCIO raises its own Exception type for every failure
        raise ColourError(
            f"cannot load OCIO config {source!r}: {exc}; fix $OCIO or unset it to use the "
            f"built-in {BUILTIN_CONFIG}"
        ) from exc


def _all_names(config) -> list[str]:
    names: list[str] = []
    for cs in config.getColorSpaces():
        names.append(cs.getName())
        names.extend(cs.getAliases())
    names.extend(role for role, _ in config.getRoles())
    return names


def resolve_colourspace(config, name: str) -> str:
    """Canonical colour-space name for a name, alias or role; ColourError with close names."""
    if name:
        cs = config.getColorSpace(name)
        if cs is not None:
            return cs.getName()
    names = _all_names(config)
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.4)
    lowered = {n.lower(): n for n in names}
    close += [n for key, n in lowered.items() if name and name.lower() in key and n not in close]
    hint = f"; did you mean {', '.join(repr(n) for n in close[:5])}?" if close else ""
    raise ColourError(
        f"unknown colour space {name!r} in OCIO config {config.getName() or '(unnamed)'}{hint} "
        "Run `ociocheck` or look at the config for the exact names."
    )


def find_working_space(config) -> str:
    """The config's sRGB-encoded Rec.709 colour space (by name/alias, then by role)."""
    for name in WORKING_CANDIDATES:
        cs = config.getColorSpace(name)
        if cs is not None and not cs.isData():
            return cs.getName()
    for role in ("color_picking", "texture_paint", "matte_paint"):
        cs = config.getColorSpace(role)
        if cs is not None and "srgb" in cs.getName().lower():
            return cs.getName()
    raise ColourError(
        f"OCIO config {config.getName()!r} has no sRGB-encoded Rec.709 colour space "
        f"(looked for {', '.join(WORKING_CANDIDATES)}); use a config that has one"
    )


def shoulder(encoded: np.ndarray, knee: float = KNEE) -> np.ndarray:
    """Bend values above ``knee`` into [knee, 1) invertibly; clamp negatives to 0 (in place)."""
    s, k = np.float32(1.0 - knee), np.float32(knee)
    np.maximum(encoded, 0.0, out=encoded)
    # Branch-free, whole-array passes (no gather/scatter of the values above the knee); the
    # same float32 operations in the same order there, + 0 below it: the same bits.
    x = np.maximum(encoded - k, 0.0)
    bend = np.divide(x * s, x + s, out=x)
    np.minimum(encoded, k, out=encoded)
    encoded += bend
    return encoded


def shoulder_limit(knee: float = KNEE) -> float:
    """The shouldered value of ENCODED_MAX: the largest value :func:`unshoulder` inverts."""
    x = ENCODED_MAX - knee
    return knee + (1.0 - knee) * x / (x + 1.0 - knee)


def unshoulder(values: np.ndarray, knee: float = KNEE, ceiling: float | None = None) -> np.ndarray:
    """Exact inverse of :func:`shoulder` (in place); inputs are clamped to [0, ceiling]."""
    s = np.float32(1.0 - knee)
    top = shoulder_limit(knee) if ceiling is None else min(float(ceiling), shoulder_limit(knee))
    k = np.float32(knee)
    np.clip(values, 0.0, top, out=values)
    t = np.maximum(values - k, 0.0)  # as in shoulder: branch-free, the same bits
    bend = np.divide(s * t, s - t, out=t)
    np.minimum(values, k, out=values)
    values += bend
    return values


def _sanitise(rgb: np.ndarray, owned: bool = False) -> np.ndarray:
    if owned and rgb.dtype == np.float32 and rgb.flags.c_contiguous and rgb.flags.writeable:
        out = rgb  # the caller's own scratch array: converted in place, no copy of the crop
    else:
        out = np.array(rgb, dtype=np.float32, order="C", copy=True)
    if out.shape[-1] != 3:
        raise ColourError(f"colour transforms take (..., 3) RGB arrays, got shape {out.shape}")
    return replace_nonfinite(out)


def replace_nonfinite(values: np.ndarray) -> np.ndarray:
    """NaN -> 0, +Inf -> 65504, -Inf -> 0, in place (float32); one sum proves most arrays
    clean, so the three full scans of ``nan_to_num`` run only where something is to be
    replaced."""
    with np.errstate(over="ignore", invalid="ignore"):
        clean = np.isfinite(np.add.reduce(values, axis=None))
    if not clean:
        np.nan_to_num(values, copy=False, nan=0.0, posinf=65504.0, neginf=0.0)
    return values


def _apply(processor, block: np.ndarray) -> None:
    """Run an OCIO CPU processor over a C-contiguous float32 (N, 3) block in place, through a
    packed image view of it (one row of N pixels)."""
    import PyOpenColorIO as OCIO

    if len(block):
        processor.apply(OCIO.PackedImageDesc(block, len(block), 1, 3))


def _blocks(rgb: np.ndarray):
    """Views of a C-contiguous (..., 3) array, :data:`BLOCK_PIXELS` pixels each, as (N, 3)."""
    flat = rgb.reshape(-1, 3)
    for i in range(0, len(flat), BLOCK_PIXELS):
        yield flat[i : i + BLOCK_PIXELS]


def per_channel(processor) -> bool:
    """True when every op of an OCIO processor acts on each channel alone (no crosstalk)."""
    import PyOpenColorIO as ocio

    for t in processor.createGroupTransform():
        kind = type(t).__name__
        if kind in _PER_CHANNEL:
            continue
        if kind == "MatrixTransform":
            m = t.getMatrix()
            if all(m[4 * r + c] == 0.0 for r in range(4) for c in range(4) if r != c):
                continue
        if kind == "Lut1DTransform" and t.getHueAdjust() == ocio.HUE_NONE:
            continue
        return False
    return True


def _half_values() -> np.ndarray:
    """Every half value (all 65536 bit patterns, NaN and Inf included) as float32, (65536, 3)."""
    values = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
    return np.repeat(values[:, None], 3, axis=1)


class ColourTransform:
    """Plate colour space <-> the model's working encoding (display-referred sRGB, 0-1).

    ``to_working`` returns float32 values in [0, 1]; ``from_working`` takes the model's output
    back to the plate's space. ``highlight`` is "shoulder" (default) or "clip"; see the module
    docstring for what each does to values the encoding cannot hold.
    """

    def __init__(
        self,
        source_space: str,
        config=None,
        *,
        highlight: str = "shoulder",
        working_space: str | None = None,
        knee: float = KNEE,
    ) -> None:
        import PyOpenColorIO as ocio

        if highlight not in ("shoulder", "clip"):
            raise ColourError(f"highlight must be 'shoulder' or 'clip', not {highlight!r}")
        self.config = load_config(config)
        self.source_space = resolve_colourspace(self.config, source_space)
        self.working_space = (
            resolve_colourspace(self.config, working_space)
            if working_space
            else find_working_space(self.config)
        )
        self.highlight = highlight
        self.knee = float(knee)
        self._half_table: np.ndarray | None = None
        lossless = ocio.OPTIMIZATION_LOSSLESS
        try:
            fwd = self.config.getProcessor(self.source_space, self.working_space)
            inv = self.config.getProcessor(self.working_space, self.source_space)
            self._forward = fwd.getOptimizedCPUProcessor(lossless)
            self._inverse = inv.getOptimizedCPUProcessor(lossless)
            self._per_channel = per_channel(fwd.getOptimizedProcessor(lossless))
        except Exception as exc:
            raise ColourError(
                f"OCIO cannot convert {self.source_space!r} <-> {self.working_space!r}: {exc}"
            ) from exc

    def __repr__(self) -> str:
        return (
            f"ColourTransform({self.source_space!r} -> {self.working_space!r}, "
            f"highlight={self.highlight!r})"
        )

    def to_working(self, rgb: np.ndarray, *, owned: bool = False) -> np.ndarray:
        """Plate RGB (..., 3) -> working encoding in [0, 1], float32, never NaN. ``owned``: the
        array is the caller's scratch and may be converted in place.

        Half input through a transform with no crosstalk between channels is looked up in a
        table of what this conversion gives each half value (made once): the same bits as
        converting the values, at a tenth of the cost."""
        if rgb.dtype == np.float16 and self._per_channel and rgb.shape[-1:] == (3,):
            return self._from_table(rgb)
        return self._convert(rgb, owned)

    def _from_table(self, rgb: np.ndarray) -> np.ndarray:
        table = self._half_table
        if table is None:  # two threads may both make it: the same table, one kept
            table = np.ascontiguousarray(self._convert(_half_values()).T)
            if np.array_equal(table[0], table[1]) and np.array_equal(table[0], table[2]):
                table = table[:1]  # one curve for all three channels: one lookup
            self._half_table = table
        bits = rgb.view(np.uint16)
        if len(table) == 1:
            return table[0][bits]
        out = np.empty(rgb.shape, dtype=np.float32)
        for c in range(3):
            out[..., c] = table[c][bits[..., c]]
        return out

    def _convert(self, rgb: np.ndarray, owned: bool = False) -> np.ndarray:
        out = _sanitise(rgb, owned)
        for block in _blocks(out):
            _apply(self._forward, block)
            replace_nonfinite(block)
            if self.highlight == "shoulder":
                shoulder(block, self.knee)
            else:
                np.clip(block, 0.0, 1.0, out=block)
        return out

    def from_working(self, rgb: np.ndarray, *, ceiling: float | None = None) -> np.ndarray:
        """Working encoding (..., 3) -> plate colour space, float32.

        ``ceiling`` (shoulder mode) caps the values inverted, e.g. at the brightest working value
        of the window that went in, so that a model output of pure white does not come back as
        a highlight far brighter than anything in the plate.
        """
        out = _sanitise(rgb)
        for block in _blocks(out):
            if self.highlight == "shoulder":
                unshoulder(block, self.knee, ceiling)
            else:
                np.clip(block, 0.0, 1.0, out=block)
            _apply(self._inverse, block)
        return out
