"""Import guard for torchvision, which diffusers and transformers pull in.

A CPU build of torch beside a torchvision wheel built for another torch fails at import with
"operator torchvision::nms does not exist" (its compiled ops do not load). Nothing in void-vfx
needs those ops (RAFT is pure Python), so when the first import fails we retry with the module
that registers them replaced by an empty one.
"""

from __future__ import annotations

import sys
import types


def ensure_torchvision_importable() -> None:
    """Make ``import torchvision`` work even when its compiled operators cannot load."""
    if "torchvision" in sys.modules and "torchvision.transforms" in sys.modules:
        return
    try:
        import torchvision  # noqa: F401
        import torchvision.transforms  # noqa: F401

        return
    except ImportError:
        return  # not installed: diffusers and transformers cope without it
    except RuntimeError:
        pass
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType(
        "torchvision._meta_registrations"
    )
    import torchvision  # noqa: F401,F811


ensure_torchvision_importable()
