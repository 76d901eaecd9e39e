"""Frame rates: the NTSC rationals and the spec's spelling of a rate, in one place.

Files and applications print 23.976 or 29.97 for the rates that are exactly 24000/1001 and
30000/1001; a spec keeps the exact fraction (``24``, ``24000/1001``). The job spec, the shot, the
conform and the Resolve code all read rates through here. Standard library only (hosts import it).
"""

from __future__ import annotations

from fractions import Fraction

#: The NTSC rates: the whole rates 24, 30, 48, 60 and 120 slowed by 1000/1001.
NTSC_RATES = tuple(Fraction(whole * 1000, 1001) for whole in (24, 30, 48, 60, 120))
#: The decimal spellings that mean an NTSC rate (as Resolve, EDLs and people write them).
NTSC_SPELLINGS = {
    "23.976": NTSC_RATES[0],
    "23.98": NTSC_RATES[0],
    "29.97": NTSC_RATES[1],
    "47.952": NTSC_RATES[2],
    "59.94": NTSC_RATES[3],
    "119.88": NTSC_RATES[4],
}


def exact_rate(text: object) -> Fraction:
    """The exact rate a spelling means: an NTSC decimal its rational, else ``Fraction(text)``
    (ValueError or ZeroDivisionError where ``text`` is not a number)."""
    raw = str(text).strip()
    return NTSC_SPELLINGS.get(raw) or Fraction(raw)


def fps_text(rate: Fraction) -> str:
    """A rate as the job spec spells it: ``24``, ``25`` or ``24000/1001``."""
    rate = Fraction(rate)
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"
