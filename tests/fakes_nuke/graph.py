"""What the fake's nodes compute: real EXRs in through OpenImageIO, real EXRs out.

An image is ``{"planes": {"rgba.red": (H, W) float32, ...}, "meta": {...}, "size": (W, H)}``.
Read loads a frame (``####`` or ``%04d`` patterns), Input is the group's input, Dot and Output pass
through, Switch picks ``which``, Copy copies ``from0`` of A (input 1) into ``to0`` of B (input 0),
Expression evaluates ``expr0..3`` into rgba, Dilate grows or shrinks channels, Multiply scales rgb.
Colour spaces are recorded, not converted: void-vfx always writes a plate in the colour space its
Read decoded it from.
"""

from __future__ import annotations

import os
import re

import numpy as np

_OIIO_TO_NUKE = {"R": "rgba.red", "G": "rgba.green", "B": "rgba.blue", "A": "rgba.alpha"}
_NUKE_TO_OIIO = {v: k for k, v in _OIIO_TO_NUKE.items()}
_RGBA = ("rgba.red", "rgba.green", "rgba.blue", "rgba.alpha")
_COMPRESSION = {
    "none": "none",
    "Zip (1 scanline)": "zips",
    "Zip (16 scanlines)": "zip",
    "PIZ Wavelet (32 scanlines)": "piz",
    "RLE": "rle",
    "B44": "b44",
    "DWAA": "dwaa",
    "DWAB": "dwab",
}
_SKIP_META = {"oiio:ColorSpace", "oiio:subimages", "compression", "openexr:lineOrder"}


def frame_path(pattern: str, frame: int) -> str:
    """``plate.####.exr`` or ``plate.%04d.exr`` at ``frame``."""
    m = re.search(r"%0?(\d*)d", pattern)
    if m:
        return pattern[: m.start()] + f"{frame:0{int(m.group(1) or 1)}d}" + pattern[m.end() :]
    m = re.search(r"#+", pattern)
    if m:
        return pattern[: m.start()] + f"{frame:0{len(m.group(0))}d}" + pattern[m.end() :]
    return pattern


def evaluate(node, frame: int) -> dict:
    if node is None:
        raise RuntimeError("fake nuke: an input is not connected")
    cls = node.Class()
    if cls in ("Dot", "Output", "Write"):
        return evaluate(node.input(0), frame)
    if cls == "Input":
        group = node._parent
        return evaluate(group.input(node["number"].value()), frame)
    if cls == "Group":
        out = next((n for n in node.nodes() if n.Class() == "Output"), None)
        return evaluate(out, frame)
    if cls == "Read":
        return _read(node, frame)
    if cls == "Switch":
        which = max(0, min(node["which"].valueAt(frame), node.inputs() - 1))
        return evaluate(node.input(which), frame)
    if cls == "Copy":
        b = evaluate(node.input(0), frame)
        a = evaluate(node.input(1), frame) if node.input(1) is not None else None
        planes = dict(b["planes"])
        src = a["planes"].get(node["from0"].value()) if a is not None else None
        w, h = b["size"]
        planes[node["to0"].value()] = src if src is not None else np.zeros((h, w), np.float32)
        return dict(b, planes=planes)
    if cls == "Expression":
        img = evaluate(node.input(0), frame)
        w, h = img["size"]
        env = {ch[5]: img["planes"].get(ch, np.zeros((h, w), np.float32)) for ch in _RGBA}
        env["frame"] = float(frame)
        planes = dict(img["planes"])
        for i, ch in enumerate(_RGBA):
            text = node[f"expr{i}"].value()
            if text:
                value = Expr(text).evaluate(env)
                planes[ch] = np.broadcast_to(np.asarray(value, np.float32), (h, w)).copy()
        return dict(img, planes=planes)
    if cls == "Dilate":
        return _dilate(node, evaluate(node.input(0), frame))
    if cls == "Multiply":
        img = evaluate(node.input(0), frame)
        k = np.float32(node["value"].value())
        planes = {c: (p * k if c in _RGBA[:3] else p) for c, p in img["planes"].items()}
        return dict(img, planes=planes)
    raise RuntimeError(f"fake nuke: cannot compute a {cls} node")


def _dilate(node, img: dict) -> dict:
    """Foundry's NDK example Dilate.cpp (the Erode (fast) node): the maximum (size > 0) or
    minimum (size < 0) over a rectangle of ``int(|size| + 0.5)`` pixels each way around each
    pixel, on the ``channels`` chosen. What lies outside the image is taken as black here: the
    example reads through a ``Tile``, and the sources read here do not say whether it repeats the
    edge instead. For a grow of values >= 0 (the only use: a matte's soft edge) both readings give
    the same pixels; a shrink at the border would differ."""
    size = float(node["size"].value())
    radius = int(abs(size) + 0.5)
    chosen = node["channels"].value()
    names = _RGBA if chosen in ("all", "rgba") else (chosen,)
    planes = dict(img["planes"])
    for ch in names:
        if ch not in planes or radius == 0:
            continue
        src = planes[ch]
        h, w = src.shape
        pad = np.zeros((h + 2 * radius, w + 2 * radius), np.float32)
        pad[radius : radius + h, radius : radius + w] = src
        pick = np.maximum if size > 0 else np.minimum
        out = src.copy()
        for dy in range(2 * radius + 1):
            for dx in range(2 * radius + 1):
                out = pick(out, pad[dy : dy + h, dx : dx + w])
        planes[ch] = out
    return dict(img, planes=planes)


def _read(node, frame: int) -> dict:
    import OpenImageIO as oiio

    first, last = node["first"].value(), node["last"].value()
    if not first <= frame <= last:  # Foundry's Read reference: before/after, "hold" by default
        mode = node["before" if frame < first else "after"].value()
        if mode == "black":
            return {"planes": {}, "meta": {}, "size": (0, 0)}
        if mode != "hold":
            raise NotImplementedError(f"fake nuke: Read {mode!r} outside the range")
        frame = min(max(frame, first), last)
    path = frame_path(node["file"].value(), frame)
    buf = oiio.ImageBuf(path)
    if buf.has_error:
        if node["on_error"].value() == "black":
            return {"planes": {}, "meta": {}, "size": (0, 0)}
        raise RuntimeError(f"{node.name()}: cannot read {path}: {buf.geterror()}")
    spec = buf.spec()
    pixels = buf.get_pixels(oiio.FLOAT)
    planes = {}
    for i, name in enumerate(spec.channelnames):
        planes[_OIIO_TO_NUKE.get(name, name)] = np.ascontiguousarray(pixels[:, :, i])
    meta = {a.name: a.value for a in spec.extra_attribs if a.name not in _SKIP_META}
    return {
        "planes": planes,
        "meta": meta,
        "size": (spec.width, spec.height),
        "colorspace": node["colorspace"].value(),
        "raw": node["raw"].value(),
    }


def write_frame(write, frame: int) -> str:
    """Render one frame of a Write into a real EXR; returns the file written."""
    import OpenImageIO as oiio

    if write["file_type"].value() != "exr":
        raise RuntimeError(f"{write.name()}: fake nuke writes EXR only")
    path = frame_path(write["file"].value(), frame)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        if not write["create_directories"].value():
            raise RuntimeError(f"{write.name()}: folder {folder} does not exist")
        os.makedirs(folder, exist_ok=True)
    img = evaluate(write.input(0), frame)
    chosen = write["channels"].value()
    wanted = {
        "all": list(img["planes"]),
        "rgba": list(_RGBA),
        "rgb": list(_RGBA[:3]),
        "alpha": [_RGBA[3]],
    }[chosen]
    names = [c for c in wanted if c in img["planes"]] or list(_RGBA[:3])
    w, h = img["size"]
    data = np.stack([img["planes"].get(c, np.zeros((h, w), np.float32)) for c in names], -1)
    data, w, h = _at_active_scale(write, data)
    fmt = oiio.HALF if write["datatype"].value() == "16 bit half" else oiio.FLOAT
    spec = oiio.ImageSpec(w, h, len(names), fmt)
    spec.channelnames = tuple(_NUKE_TO_OIIO.get(c, c) for c in names)
    spec.attribute("compression", _COMPRESSION[write["compression"].value()])
    if write["metadata"].value() != "no metadata":
        for key, value in img["meta"].items():
            spec.attribute(key, value)
    spec.attribute("nuke/colorspace", write["colorspace"].value())  # what Nuke wrote it in
    tmp = path + ".tmp.exr"  # Nuke writes a temporary file and renames it into place
    out = oiio.ImageOutput.create(tmp)
    if not out.open(tmp, spec):
        raise RuntimeError(f"{write.name()}: cannot write {path}: {oiio.geterror()}")
    out.write_image(data.astype(np.float32))
    out.close()
    os.replace(tmp, path)
    return path


def _at_active_scale(write, data: np.ndarray):
    """Foundry's Write reference: a Write "executes all renders at the currently active scale":
    with Root ``proxy`` on (proxy_type scale) the frame is rendered at ``proxy_scale``."""
    root = write._module.root()
    if not root["proxy"].value():
        return data, data.shape[1], data.shape[0]
    if root["proxy_type"].value() != "scale":
        raise NotImplementedError("fake nuke: only proxy_type 'scale' is played")
    k = root["proxy_scale"].value()
    h, w = max(1, int(round(data.shape[0] * k))), max(1, int(round(data.shape[1] * k)))
    ys = np.minimum((np.arange(h) / k).astype(int), data.shape[0] - 1)
    xs = np.minimum((np.arange(w) / k).astype(int), data.shape[1] - 1)
    return np.ascontiguousarray(data[ys][:, xs]), w, h


class Expr:
    """Nuke's expression language as far as void-vfx uses it: numbers, r/g/b/a/frame, + - * /,
    comparisons, ``&&``, ``||``, ``!`` and ``cond ? a : b``, evaluated on numpy arrays."""

    _TOKENS = re.compile(r"\s*(\d+\.\d*|\.\d+|\d+|[A-Za-z_]\w*|&&|\|\||[<>=!]=|[-+*/()?:<>!])")

    def __init__(self, text: str) -> None:
        self.tokens, pos = [], 0
        text = text.strip()
        while pos < len(text):
            m = self._TOKENS.match(text, pos)
            if not m:
                raise SyntaxError(f"fake nuke: bad expression at {text[pos:]!r}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def evaluate(self, env: dict):
        self.env, self.i = env, 0
        value = self._ternary()
        if self.i != len(self.tokens):
            raise SyntaxError(f"fake nuke: trailing tokens {self.tokens[self.i :]}")
        return value

    def _peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self, want=None):
        tok = self._peek()
        if tok is None or (want is not None and tok != want):
            raise SyntaxError(f"fake nuke: expected {want!r}, got {tok!r}")
        self.i += 1
        return tok

    def _ternary(self):
        cond = self._or()
        if self._peek() != "?":
            return cond
        self._take("?")
        yes = self._ternary()
        self._take(":")
        no = self._ternary()
        return np.where(np.asarray(cond) != 0, yes, no)

    def _or(self):
        v = self._and()
        while self._peek() == "||":
            self._take()
            v = ((np.asarray(v) != 0) | (np.asarray(self._and()) != 0)).astype(np.float32)
        return v

    def _and(self):
        v = self._cmp()
        while self._peek() == "&&":
            self._take()
            v = ((np.asarray(v) != 0) & (np.asarray(self._cmp()) != 0)).astype(np.float32)
        return v

    def _cmp(self):
        v = self._sum()
        ops = {
            ">": np.greater,
            "<": np.less,
            ">=": np.greater_equal,
            "<=": np.less_equal,
            "==": np.equal,
            "!=": np.not_equal,
        }
        while self._peek() in ops:
            op = ops[self._take()]
            v = op(v, self._sum()).astype(np.float32)
        return v

    def _sum(self):
        v = self._product()
        while self._peek() in ("+", "-"):
            v = v + self._product() if self._take() == "+" else v - self._product()
        return v

    def _product(self):
        v = self._unary()
        while self._peek() in ("*", "/"):
            v = v * self._unary() if self._take() == "*" else v / self._unary()
        return v

    def _unary(self):
        tok = self._peek()
        if tok == "-":
            self._take()
            return -self._unary()
        if tok == "!":
            self._take()
            return (np.asarray(self._unary()) == 0).astype(np.float32)
        if tok == "(":
            self._take()
            v = self._ternary()
            self._take(")")
            return v
        tok = self._take()
        if tok[0].isdigit() or tok[0] == ".":
            return np.float32(float(tok))
        if tok in self.env:
            return self.env[tok]
        raise SyntaxError(f"fake nuke: unknown name {tok!r} in expression")
