"""The VOID Remove node's knobs -> a :class:`~void_vfx.job.spec.JobSpec`, and whether an input's
files can be sent as they are or must be rendered first.

Plain values in, plain values out: the Nuke side reads knobs and upstream nodes into dicts and
hands them here, so all of this is tested without Nuke. Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from void_vfx.errors import SpecError
from void_vfx.job.naming import plate_stem
from void_vfx.job.spec import (
    FinishSettings,
    JobSpec,
    MaskSettings,
    MatteSource,
    OutputSettings,
    RoiSettings,
    SamplingSettings,
    WindowSettings,
)
from void_vfx.media.colour_names import (
    HOST_CONFIGS,
    NUKE_DEFAULT,
    ColourNameError,
    check_name,
)
from void_vfx.model_facts import PASS1_STEPS
from void_vfx.protocol.wire import DEFAULT_PORT

#: The node's inputs in order, and what the third one may hold.
INPUTS = ("plate", "object", "affected")
THIRD_INPUT = ("affected matte", "quadmask")
RANGE_MODES = ("input", "custom")
#: Nodes that only route pixels: a Read behind them is still "the files as they are".
PASS_THROUGH = ("Dot",)


@dataclass
class NodeSettings:
    """The node's knob values, with the knob names as field names."""

    server: str = f"127.0.0.1:{DEFAULT_PORT}"
    engine: str = "void"
    third_input: str = THIRD_INPUT[0]
    prompt: str = ""
    range_mode: str = RANGE_MODES[0]
    first: int = 1001
    last: int = 1100
    passes: int = 1
    steps: int = PASS1_STEPS
    seed: int = 0
    min_window: int = WindowSettings().min_length
    roi_margin: float = RoiSettings().margin
    roi_feather: int = RoiSettings().feather
    finish_detail: bool = FinishSettings().detail
    finish_grain: bool = FinishSettings().grain
    output_dir: str = ""
    output_name: str = ""

    @classmethod
    def from_knobs(cls, values: dict) -> NodeSettings:
        """From ``{knob name: value}`` (extra knobs ignored); numbers arrive as Nuke gives them."""
        out = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            value, default = values[f.name], f.default
            try:
                out[f.name] = type(default)(value) if not isinstance(default, str) else str(value)
            except (TypeError, ValueError):
                raise SpecError(f.name, f"{value!r} is not a {type(default).__name__}") from None
        return cls(**out)


def parse_server(text: str) -> tuple[str, int]:
    """``host:port`` (or ``host``) -> (host, port); the error says what to type."""
    text = (text or "").strip()
    host, sep, port = text.rpartition(":") if ":" in text else (text, "", str(DEFAULT_PORT))
    if not host or (sep and not port.isdigit()) or not 0 < int(port or 0) < 65536:
        raise SpecError("server", f"{text!r} is not host:port; type e.g. 127.0.0.1:{DEFAULT_PORT}")
    return host, int(port)


def frame_range(settings: NodeSettings, input_range: tuple[int, int]) -> tuple[int, int]:
    """The frames to send: the plate input's range, or the custom first/last."""
    if settings.range_mode == "custom":
        first, last = settings.first, settings.last
    else:
        first, last = input_range
    if last < first:
        raise SpecError("last", f"last frame {last} comes before first frame {first}")
    return int(first), int(last)


def files_as_they_are(chain: list[dict], rng: tuple[int, int]) -> tuple[str | None, str]:
    """(pattern, "") when the input is an EXR sequence on disk that nothing changes; else
    (None, why it must be rendered).

    ``chain`` describes the nodes from the input upwards, up to and including the first that is
    not a pass-through: ``{"class": ..., "file", "first", "last", "frame", "premultiplied"...}``.
    """
    if not chain:
        return None, "nothing is connected"
    node = chain[-1]
    if node.get("class") != "Read":
        return None, f"a {node.get('class')} node makes the pixels"
    path = str(node.get("file") or "")
    if not path.lower().endswith(".exr"):
        return None, f"{os.path.basename(path) or 'the Read'} is not an EXR"
    if str(node.get("frame") or "").strip():
        return None, "the Read retimes its frames"
    if node.get("premultiplied"):
        return None, "the Read premultiplies"
    first, last = int(node.get("first", 0)), int(node.get("last", -1))
    if not (first <= rng[0] and rng[1] <= last):
        return None, f"the Read holds {first}-{last}, not all of {rng[0]}-{rng[1]}"
    return path, ""


def colourspace_of(read: dict | None) -> str:
    """The OCIO space a plate's files are in, from its Read: "" (guess from the header) for a raw
    Read or Nuke's plain default; ``default (ACEScg)`` -> ``ACEScg``."""
    if not read or read.get("raw"):
        return ""
    space = str(read.get("colorspace") or "").strip()
    if space.startswith("default (") and space.endswith(")"):
        return space[len("default (") : -1]
    return "" if space in ("default", "") else space


#: The Root's colour-management knobs (Foundry, "OCIO Color Management"): Nuke or OCIO, the
#: config (a shipped one or "custom" + its path), the working space, the float-file default.
ROOT_COLOUR_KNOBS = (
    "colorManagement",
    "OCIO_config",
    "customOCIOConfigPath",
    "workingSpaceLUT",
    "floatLut",
)


def root_colour(root) -> dict:
    """The Root node's colour knobs as plain values (the ones this Nuke has)."""
    return {n: root[n].value() for n in ROOT_COLOUR_KNOBS if root.knob(n) is not None}


def ocio_config_of(root: dict) -> str:
    """The config the script's colour names belong to, as a job names it: ``nuke-default`` for
    Nuke's native colour management, a Foundry-shipped ACES config by its name (the server
    has the same one built in), a custom config by its absolute path."""
    if str(root.get("colorManagement") or "Nuke") == "Nuke":
        return NUKE_DEFAULT  # Nuke's own LUTs carry nuke-default's names
    name = str(root.get("OCIO_config") or NUKE_DEFAULT)
    if name == "custom":
        path = str(root.get("customOCIOConfigPath") or "").strip()
        if not os.path.isabs(path):
            raise SpecError(
                "OCIO_config",
                "Project Settings > Color: the custom OCIO config path is empty or relative; "
                "give the absolute path of its config.ocio",
            )
        return path
    if name == NUKE_DEFAULT or name in HOST_CONFIGS:
        return name
    raise SpecError(
        "OCIO_config",
        f"the server has no copy of Nuke's {name!r} config: in Project Settings > Color pick "
        "custom and give the path of that config.ocio (one the server reads too), or an "
        "fn-nuke ACES config",
    )


def plate_colour(read: dict | None, root: dict) -> tuple[str, str]:
    """(OCIO config, colour space) of the plate files the job gets, checked where that can be
    done without OCIO (a nuke-default name): SpecError before anything is rendered.

    The Read's colorspace is what its files are in (a rendered plate is written back in it);
    a Read left at plain "default" uses the Root's float-file default; no Read (a plate made
    in the comp) is rendered in that default too. A raw Read: "" (the files' own header
    decides, on the server)."""
    config = ocio_config_of(root)
    if read and read.get("raw"):
        return config, ""
    space = colourspace_of(read)
    if not space:
        space = str(root.get("floatLut") or root.get("workingSpaceLUT") or "").strip()
        if space.startswith("default (") and space.endswith(")"):
            space = space[len("default (") : -1]
    try:
        check_name(config, space)
    except ColourNameError as exc:
        raise SpecError("colorspace", f"the plate Read's colorspace: {exc}") from None
    return config, space


def output_folder(knob_value: str, script_path: str) -> str:
    """The output folder: the knob, else ``void/`` beside the saved script."""
    if knob_value.strip():
        return os.path.abspath(os.path.expanduser(knob_value.strip()))
    if script_path and script_path != "Root" and os.path.isabs(script_path):
        return os.path.join(os.path.dirname(script_path), "void")
    raise SpecError(
        "output_dir", "the script is not saved: save it or set the output folder on the node"
    )


def output_name(settings: NodeSettings, plate_read: dict | None, node_name: str) -> str:
    """The result's base name: the knob, else the plate Read's file stem, else the node's name."""
    if settings.output_name.strip():
        return settings.output_name.strip()
    if plate_read and plate_read.get("file"):
        return plate_stem(str(plate_read["file"]))
    return node_name


def build_spec(
    settings: NodeSettings,
    files: dict[str, str],
    rng: tuple[int, int],
    colourspace: str,
    out_dir: str,
    name: str,
    ocio_config: str = "",
) -> JobSpec:
    """The job: ``files`` maps ``plate``/``object``/``affected`` to frame patterns (rendered or
    as they are). The third input is an affected matte or a quadmask, as the node says."""
    if not files.get("plate"):
        raise SpecError("plate", "connect the plate to the node's 'plate' input")
    quad = settings.third_input == "quadmask"
    if not files.get("object") and not (quad and files.get("affected")):
        raise SpecError("object", "connect the object matte (a Roto of what to remove)")
    third = files.get("affected")
    spec = JobSpec(
        plate=files["plate"],
        primary=None if quad else MatteSource(files["object"], "a"),
        affected=MatteSource(third, "a") if third and not quad else None,
        quadmask=MatteSource(third, "r") if third and quad else None,
        frame_range=(rng[0], rng[1]),
        colourspace=colourspace,
        ocio_config=ocio_config,
        prompt=settings.prompt.strip(),
        engine=settings.engine,
        mask=MaskSettings(),
        window=WindowSettings(min_length=settings.min_window),
        roi=RoiSettings(margin=settings.roi_margin, feather=settings.roi_feather),
        sampling=SamplingSettings(
            passes=settings.passes, pass1_steps=settings.steps, seed=settings.seed
        ),
        output=OutputSettings(dir=out_dir, name=name),
        finish=FinishSettings(detail=settings.finish_detail, grain=settings.finish_grain),
    )
    return spec.validate()


def absolute_path(evaluated: str, project_dir: str, cwd: str) -> str:
    """A file knob's evaluated path made absolute as Nuke reads it: relative to the Root's
    ``project_directory`` (itself relative to ``cwd`` if relative), else to ``cwd``
    (deadline-cloud-for-nuke ``assets.py``: ``normpath(join(project_path, path))``)."""
    path = (evaluated or "").strip()
    if not path:
        return ""
    base = os.path.join(cwd, project_dir.strip()) if project_dir.strip() else cwd
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def choose_view(views: list[str], chosen: str) -> str:
    """The one view a Send sends (``nuke.execute`` renders every view unless told): the script's
    only view, else the node's choice, which must be one of the script's views."""
    if len(views) <= 1:
        return views[0] if views else ""
    if chosen in views:
        return chosen
    raise SpecError(
        "view",
        f"{chosen!r} is not a view of this script ({', '.join(views)}): pick one in the "
        "node's view knob; each Send sends one view",
    )


def in_view(path: str, view: str) -> str:
    """A path in one view: ``%V`` is the view's name, ``%v`` its first letter (Nuke's view
    tokens, as deadline-cloud-for-nuke's ``assets.py`` reads them)."""
    return path.replace("%V", view).replace("%v", view[:1]) if view else path
