"""A synthetic shot with a known clean background, generated on the spot (nothing ships).

The scene is a procedural, scene-linear Rec.709 set: sky gradient, a wall with windows (one
of them a bright window well above 1.0, so the highlight path is exercised), a tiled floor and
two octaves of value noise. The camera pans slowly across it; a shaded ball rolls and bounces
over the floor and casts a soft shadow. Everything is evaluated analytically at each frame's
sub-pixel camera offset, so the clean plate is exact and the shifts are true sub-pixel motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Reference width the scene is laid out in; other sizes scale it.
REF_WIDTH = 960.0


def _f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass
class SceneParams:
    """Everything a frame depends on, derived from the size, length and seed."""

    width: int
    height: int
    frames: int
    camera_pan: bool
    seed: int = 7

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        # Noise lattices in reference units (coarse 48 px, fine 9 px), big enough for the pan.
        self.noise_coarse = rng.random((64, 96)).astype(np.float32)
        self.noise_fine = rng.random((160, 256)).astype(np.float32)
        self.tint = rng.uniform(0.85, 1.15, size=3).astype(np.float32)

    @property
    def scale(self) -> float:
        """Reference units per pixel."""
        return REF_WIDTH / self.width

    def camera(self, t: int) -> tuple[float, float]:
        """Camera offset (y, x) in reference units at frame index t: a slow, eased pan."""
        if not self.camera_pan:
            return 0.0, 0.0
        return 0.21 * t, 1.37 * t + 0.004 * t * t

    def ball(self, t: int) -> tuple[float, float, float]:
        """Ball centre (y, x) in screen reference units and its radius, at frame index t."""
        ref_h = self.height * self.scale
        u = t / max(self.frames - 1, 1)
        r = 0.075 * ref_h
        x = REF_WIDTH * (0.18 + 0.64 * u)
        floor = 0.86 * ref_h
        y = floor - r - 0.22 * ref_h * abs(np.sin(np.pi * 2.2 * u))
        return y, x, r


def _value_noise(lattice: np.ndarray, y: np.ndarray, x: np.ndarray, cell: float) -> np.ndarray:
    """Smooth value noise: lattice values, eased bilinear interpolation, wrapped."""
    gy, gx = y / cell, x / cell
    y0, x0 = np.floor(gy), np.floor(gx)
    fy, fx = _smoothstep(0, 1, gy - y0), _smoothstep(0, 1, gx - x0)
    h, w = lattice.shape
    y0i, x0i = y0.astype(np.int64) % h, x0.astype(np.int64) % w
    y1i, x1i = (y0i + 1) % h, (x0i + 1) % w
    top = lattice[y0i, x0i] * (1 - fx) + lattice[y0i, x1i] * fx
    bot = lattice[y1i, x0i] * (1 - fx) + lattice[y1i, x1i] * fx
    return top * (1 - fy) + bot * fy


def _box(y: np.ndarray, x: np.ndarray, y0: float, x0: float, y1: float, x1: float, aa: float):
    """Anti-aliased coverage of an axis-aligned box."""
    return (
        _smoothstep(y0 - aa, y0 + aa, y)
        * _smoothstep(-y1 - aa, -y1 + aa, -y)
        * _smoothstep(x0 - aa, x0 + aa, x)
        * _smoothstep(-x1 - aa, -x1 + aa, -x)
    )


def background(p: SceneParams, t: int) -> np.ndarray:
    """The clean plate at frame index t: float32 (H, W, 3), scene-linear Rec.709."""
    cy, cx = p.camera(t)
    s = p.scale
    aa = 0.75 * s
    ys, xs = np.mgrid[0 : p.height, 0 : p.width].astype(np.float32)
    y = (ys + 0.5) * s + cy  # world reference units
    x = (xs + 0.5) * s + cx
    ref_h = p.height * s
    horizon = 0.55 * ref_h
    sky_t = np.clip(y / horizon, 0, 1)[..., None]
    sky = (1 - sky_t) * _f32([0.20, 0.35, 0.80]) + sky_t * _f32([0.65, 0.70, 0.80])
    n1 = _value_noise(p.noise_coarse, y, x, 48.0)
    n2 = _value_noise(p.noise_fine, y, x, 9.0)
    # Wall with a band of windows, one of them bright (values around 4-6).
    wall_cov = _box(y, x, 0.18 * ref_h, -1e6, horizon, 1e6, aa)[..., None]
    wall = _f32([0.42, 0.30, 0.22]) * (0.75 + 0.35 * n1 + 0.12 * n2)[..., None]
    img = sky * (1 - wall_cov) + wall * wall_cov
    # Windows every 150 units, 70 wide: one periodic box; the fourth one is lit.
    period = (x - 20.0) / 150.0
    index = np.floor(period)
    local = (period - index) * 150.0  # the window spans 40..110 of its period
    cov = _box(y, local, 0.25 * ref_h, 40.0, 0.42 * ref_h, 110.0, aa)[..., None]
    glass = _f32([0.06, 0.09, 0.16]) * (1.0 + 0.1 * (index % 3))[..., None]
    lit = _f32([5.0, 4.2, 2.8]) * (0.9 + 0.2 * n2)[..., None]
    colour = np.where((index == 3)[..., None], lit, glass)
    img = img * (1 - cov) + colour * cov
    # Tiled floor below the horizon: checker of two stones, grout lines, noise.
    floor_cov = _smoothstep(horizon - aa, horizon + aa, y)[..., None]
    tile = 64.0
    checker = ((np.floor(x / tile) + np.floor(y / (tile * 0.5))) % 2)[..., None]
    stone = _f32([0.30, 0.28, 0.25]) * (1 - checker) + _f32([0.18, 0.20, 0.22]) * checker
    gx = np.abs((x / tile) - np.round(x / tile)) * tile
    gy = np.abs((y / (tile * 0.5)) - np.round(y / (tile * 0.5))) * tile * 0.5
    grout = 1.0 - 0.6 * (1 - _smoothstep(1.0, 1.0 + 2 * aa, np.minimum(gx, gy)))
    floor = stone * ((0.8 + 0.3 * n2 + 0.2 * n1) * grout)[..., None]
    img = img * (1 - floor_cov) + floor * floor_cov
    return (img * p.tint).astype(np.float32)


def ball_layers(p: SceneParams, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ball colour (H, W, 3), ball alpha, shadow strength 0-1, affected matte) at frame t."""
    s = p.scale
    by, bx, r = p.ball(t)
    ys, xs = np.mgrid[0 : p.height, 0 : p.width].astype(np.float32)
    y, x = (ys + 0.5) * s, (xs + 0.5) * s
    d = np.hypot(y - by, x - bx)
    alpha = 1.0 - _smoothstep(r - 0.75 * s, r + 0.75 * s, d)
    # Lambert shading from a light up and to the left, with a specular glint above 1.0.
    nz = np.sqrt(np.clip(1.0 - (d / r) ** 2, 0.0, 1.0))
    ny, nx = (y - by) / r, (x - bx) / r
    lam = np.clip(-0.45 * nx - 0.55 * ny + 0.7 * nz, 0.0, 1.0)
    spec = np.clip(-0.45 * nx - 0.55 * ny + 0.7 * nz, 0, 1) ** 40 * 3.0
    colour = _f32([0.75, 0.08, 0.05]) * (0.08 + lam)[..., None] + spec[..., None]
    # Soft shadow on the floor: an ellipse below the ball, offset away from the light,
    # fainter and wider while the ball is up in the air.
    floor = 0.86 * p.height * s
    lift = np.clip((floor - r - by) / (0.22 * p.height * s), 0.0, 1.0)
    sy, sx = floor - 0.05 * r, bx + 0.6 * r + 0.5 * r * lift
    ry, rx = 0.32 * r * (1 + 0.3 * lift), 1.25 * r * (1 + 0.4 * lift)
    e = np.hypot((y - sy) / ry, (x - sx) / rx)
    shadow = (0.65 - 0.3 * lift) * (1.0 - _smoothstep(0.35, 1.0, e))
    affected = 1.0 - _smoothstep(1.0, 1.0 + 2.0 * s / ry, e)
    return colour.astype(np.float32), alpha.astype(np.float32), shadow, affected.astype(np.float32)


def render_frame(p: SceneParams, t: int) -> dict[str, np.ndarray]:
    """All layers of frame index t: plate, clean, primary matte, affected matte."""
    clean = background(p, t)
    colour, alpha, shadow, affected = ball_layers(p, t)
    shaded = clean * (1.0 - shadow)[..., None].astype(np.float32)
    plate = shaded * (1.0 - alpha[..., None]) + colour * alpha[..., None]
    return {"plate": plate, "clean": clean, "primary": alpha, "affected": affected}
