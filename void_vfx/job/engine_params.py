"""Each engine's options, declared once: name, type, bounds and default.

A spec's ``params`` object is checked against its engine's table here (standard library only,
so a host's Python can check a spec without numpy or torch); the engines read their defaults
from the same tables. An unknown name is refused, never dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from void_vfx.errors import SpecError
from void_vfx.model_facts import NOISE_AUG_STRENGTH


@dataclass(frozen=True)
class Param:
    """One option: its exact type (bool, int, float or str), default, and bounds (numbers:
    ``low``..``high``; text: at most ``high`` characters)."""

    kind: type
    default: Any
    low: float = 0.0
    high: float = 0.0
    help: str = ""

    def check(self, path: str, value: Any) -> Any:
        """``value`` as this option takes it, or SpecError naming ``path`` and what fits."""
        kind = type(value)
        if self.kind is bool:
            ok = kind is bool
        elif self.kind is int:
            ok = kind is int and self.low <= value <= self.high
        elif self.kind is float:
            ok = kind in (int, float) and math.isfinite(value) and self.low <= value <= self.high
            value = float(value) if ok else value
        else:
            ok = kind is str and len(value) <= self.high
        if not ok:
            raise SpecError(path, f"{value!r}: expected {self.describe()}")
        return value

    def describe(self) -> str:
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return f"text of at most {int(self.high)} characters"
        lo, hi = (int(self.low), int(self.high)) if self.kind is int else (self.low, self.high)
        return f"{'a whole number' if self.kind is int else 'a number'} {lo}..{hi}"


#: The preview engine (server/engines/preview/engine.py).
PREVIEW_GROW_PX = 4
PREVIEW = {
    "grow_px": Param(
        int, PREVIEW_GROW_PX, 0, 64, "pixels the removal region grows before anything is read"
    ),
    "static_camera": Param(bool, False, help="a locked-off shot: skip the optical flow"),
    "seam_blend": Param(bool, True, help="nudge the spatial guess to meet each frame's plate"),
    "shadow_lift": Param(bool, True, help="lift a shadow no frame shows clean"),
    "relink": Param(bool, True, help="link the object's pixels again through the lifted region"),
}

#: The VOID engine (server/engines/void/engine.py): what every pass it runs takes (steps and
#: guidance are the spec's ``sampling``).
VOID = {
    "negative_prompt": Param(str, "", 0, 4000, "what the model should not draw"),
    "eta": Param(float, 0.0, 0.0, 0.999, "DDIM eta, below 1: 0 is deterministic sampling"),
    "noise_aug": Param(
        float,
        NOISE_AUG_STRENGTH,
        0.0,
        1.0,
        "noise added to the conditioning video (setting it turns the augmentation on)",
    ),
}

#: Engine name (``JobSpec.engine``) -> its options.
ENGINE_PARAMS: dict[str, dict[str, Param]] = {"preview": PREVIEW, "void": VOID}


def check_params(engine: str, params: Any) -> dict[str, Any]:
    """``params`` checked against ``engine``'s table: a dict of known names and values of the
    declared type within bounds; SpecError names the key, the engine and the valid names."""
    if type(params) is not dict:
        raise SpecError("params", f"expected an object, got {type(params).__name__}")
    table = ENGINE_PARAMS.get(engine, {})
    out = {}
    for name, value in params.items():
        if type(name) is not str or name not in table:
            valid = ", ".join(sorted(table)) or "none"
            raise SpecError(
                f"params.{name}", f"the {engine} engine has no such option; its options: {valid}"
            )
        out[name] = table[name].check(f"params.{name}", value)
    return out


def with_defaults(table: dict[str, Param], params: dict[str, Any] | None) -> dict[str, Any]:
    """Every option of ``table``: the job's value where it gave one, else the default."""
    params = params or {}
    return {name: params.get(name, p.default) for name, p in table.items()}
