"""Frame rates as editorial files spell them, made exact.

Files carry 23.976, 23.98, 23.976024627685547 or 24000/1001 for the same rate; comparing floats
or building spec rates from them drifts. Everything here snaps to an exact fraction first.
Standard library only.
"""

from __future__ import annotations

from fractions import Fraction

from void_vfx.errors import SpecError
from void_vfx.framerate import NTSC_RATES

#: Rates accepted by ``--rate`` with a drop-frame suffix.
DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))


def snap_rate(value: float | Fraction | str) -> Fraction:
    """The exact rate meant by ``value``: NTSC rates within 0.005 fps, else whole numbers within
    1e-6, else the nearest fraction with a denominator up to 1001."""
    rate = Fraction(str(value)) if isinstance(value, str) else Fraction(value)
    for ntsc in NTSC_RATES:
        if abs(rate - ntsc) < Fraction(5, 1000):
            return ntsc
    nearest = round(rate)
    if abs(rate - nearest) < Fraction(1, 10**6):
        return Fraction(nearest)
    return rate.limit_denominator(1001)


def parse_rate(text: str) -> tuple[Fraction, bool]:
    """``--rate``: 24, 25, 23.976, 29.97, 29.97df, 30000/1001 ... -> (rate, drop_frame)."""
    raw = str(text).strip().lower()
    drop = raw.endswith("df") and not raw.endswith("ndf")
    raw = raw.removesuffix("ndf").removesuffix("df").strip()
    try:
        rate = snap_rate(raw)
    except (ValueError, ZeroDivisionError):
        raise SpecError(
            "--rate", f"{text!r} is not a frame rate: use 23.976, 24, 25, 29.97, 29.97df, 30 ..."
        ) from None
    if rate <= 0:
        raise SpecError("--rate", f"{text!r}: a frame rate must be positive")
    if drop and rate not in DROP_FRAME_RATES:
        raise SpecError("--rate", f"{text!r}: drop-frame timecode exists only at 29.97 and 59.94")
    return rate, drop


def rate_label(rate: Fraction) -> str:
    """What a person reads: 23.976, 24, 29.97."""
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def usable_rate(*candidates: float | None) -> Fraction | None:
    """The first candidate that is a plausible video rate (an ImageSequenceReference often says
    1.0 or 0 when its writer did not know)."""
    for value in candidates:
        if value is not None and value > 1.0:
            return snap_rate(value)
    return None
