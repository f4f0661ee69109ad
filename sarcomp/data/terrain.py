"""The noise-free half of a synthetic SAR scene: reflectivity ``R`` and its land-cover map.

A land-cover map (rectangular field parcels in two orientation zones, forest stands, an urban
block grid, lakes and ponds, a meandering river, roads), per-class mean backscatter in dB,
large-scale trends (terrain slope towards the sensor, incidence-angle ramp, soil moisture),
hedgerows/ditches on field edges, spatially correlated Gamma texture (K-distributed clutter) and
bright point targets (buildings, farmsteads, pylons, ships) blurred by a SAR impulse response with
sidelobes. Stage 1 of :mod:`sarcomp.data.synthetic`; speckle is :mod:`sarcomp.data.speckle`'s.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, special

#: Land-cover class codes used internally (fractions are reported in the metadata).
CLASS_NAMES: tuple[str, ...] = ("field", "forest", "urban", "water", "road")
FIELD, FOREST, URBAN, WATER, ROAD = range(5)
NESZ_DB = -28.0  # additive thermal noise floor (noise-equivalent sigma zero)


# --------------------------------------------------------------------------- #
# Random-field helpers
# --------------------------------------------------------------------------- #
def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ``scale`` px.

    Large scales are synthesised on a coarse grid and bilinearly upsampled, so
    the cost stays ~O(size²) whatever the scale.
    """
    f = max(1, int(scale // 3))
    n = max(size // f + 2, 4)
    w = rng.standard_normal((n, n), dtype=np.float32)
    w = ndimage.gaussian_filter(w, scale / f, mode="wrap")
    w = (w - w.mean()) / (w.std() + 1e-12)  # normalised on the coarse grid (cheap)
    return _upsample(w, f, size) if f > 1 else w[:size, :size]


def _upsample(a: np.ndarray, f: int, size: int) -> np.ndarray:
    """Separable bilinear upsampling of a square coarse grid by ``f`` to ``size`` px."""
    n = a.shape[0]
    pos = np.clip((np.arange(size) + 0.5) / f - 0.5, 0, n - 1)
    i0 = np.minimum(pos.astype(np.int64), n - 2)
    w = (pos - i0).astype(np.float32)
    a = a[:, i0] * (1 - w) + a[:, i0 + 1] * w  # columns first, on the small grid
    return a[i0] * (1 - w)[:, None] + a[i0 + 1] * w[:, None]  # contiguous row gathers


def _fbm(
    rng: np.random.Generator, size: int, base_scale: float, octaves: int = 4, gain: float = 0.5
) -> np.ndarray:
    """Fractal (multi-octave) unit-std noise: natural-looking shores and forest edges."""
    out = np.zeros((size, size), np.float32)
    amp = 1.0
    for k in range(octaves):
        out += amp * _smooth_noise(rng, size, max(base_scale / 2**k, 1.0))
        amp *= gain
    return (out - out.mean()) / (out.std() + 1e-12)


def _threshold_fraction(field: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the ``fraction`` highest values of ``field``."""
    if fraction <= 0:
        return np.zeros(field.shape, bool)
    thr = np.quantile(field[::4, ::4], 1.0 - fraction)
    return field > thr


# Gamma quantile look-up tables: exact Gamma(ν, 1/ν) marginals at ~LUT cost.
_NU_LEVELS = np.array([1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128], np.float64)
_Z_GRID = np.linspace(-6.0, 6.0, 2049)
_GAMMA_LUT = (
    special.gammaincinv(_NU_LEVELS[:, None], special.ndtr(_Z_GRID)[None, :]) / _NU_LEVELS[:, None]
).astype(np.float32)


def _gamma_texture(z: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Map a unit Gaussian field ``z`` to Gamma(ν, 1/ν) texture (mean 1, var 1/ν).

    The Gaussian-copula mapping keeps ``z``'s spatial correlation; ``nu`` is
    snapped (in log space) to the nearest tabulated level.
    """
    mids = np.exp(0.5 * (np.log(_NU_LEVELS[1:]) + np.log(_NU_LEVELS[:-1]))).astype(np.float32)
    lev = np.searchsorted(mids, np.asarray(nu, np.float32))
    pos = (np.clip(z, -6.0, 6.0) + np.float32(6.0)) * np.float32((_Z_GRID.size - 1) / 12.0)
    j0 = np.minimum(pos.astype(np.int32), _Z_GRID.size - 2)
    w = pos - j0
    flat = lev.astype(np.int32) * _Z_GRID.size + j0
    lut = _GAMMA_LUT.ravel()
    return np.take(lut, flat) * (1 - w) + np.take(lut, flat + 1) * w


def _psf_1d(half: int = 6, resolution: float = 1.15, hamming: float = 0.75) -> np.ndarray:
    """1-D intensity impulse response (|sinc|² with Hamming-weighted spectrum), peak 1."""
    x = np.arange(-half, half + 1, dtype=np.float64)
    f = np.linspace(-0.5, 0.5, 257) / resolution
    wgt = hamming + (1 - hamming) * np.cos(2 * np.pi * f * resolution)
    h = np.abs((wgt[None, :] * np.exp(2j * np.pi * f[None, :] * x[:, None])).sum(1)) ** 2
    return h / h.max()


_PSF = _psf_1d()


# --------------------------------------------------------------------------- #
# Geometry helpers
# --------------------------------------------------------------------------- #
def _rotated(xx: np.ndarray, yy: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(angle), np.sin(angle)
    return xx * c + yy * s, -xx * s + yy * c


def _brick_parcels(
    rng: np.random.Generator,
    u: np.ndarray,
    v: np.ndarray,
    strip_range: tuple[float, float],
    length_range: tuple[float, float],
) -> np.ndarray:
    """Label map of rectangular parcels: strips along ``v``, irregular cuts along ``u``.

    Strip edges and cuts lie on integer coordinates, so the parcel of a pixel
    is found from ``floor(u), floor(v)`` with small look-up tables (no
    per-pixel binary search).
    """
    u0, v0 = np.floor(u.min()) - 1, np.floor(v.min()) - 1
    nu_ = int(np.ceil(u.max() - u0)) + 2
    nv_ = int(np.ceil(v.max() - v0)) + 2
    iu = (u - u0).astype(np.int32)
    iv = (v - v0).astype(np.int32)
    nstrip = int(nv_ / strip_range[0]) + 2
    strip_edges = np.round(np.cumsum(rng.uniform(*strip_range, nstrip)) - rng.uniform(0, strip_range[0]))
    strip_lut = np.searchsorted(strip_edges, np.arange(nv_), side="right").astype(np.int32)
    ncut = int(nu_ / length_range[0]) + 2
    cuts = np.cumsum(rng.uniform(*length_range, (nstrip + 1, ncut)), axis=1)
    cuts = np.round(cuts - rng.uniform(0, length_range[1], (nstrip + 1, 1)))
    # cells per strip: number of cuts <= position, via one searchsorted on offset rows
    span = float(nu_ + 2 * length_range[1] + 2)
    offs = span * np.arange(nstrip + 1)[:, None]
    pos = np.arange(nu_)[None, :] + offs
    lut = np.searchsorted((cuts + offs).ravel(), pos.ravel(), side="right").reshape(pos.shape)
    lut = lut.astype(np.int32).ravel()
    strip = strip_lut[iv]
    return np.take(lut, strip * nu_ + iu)


def _walk(
    rng: np.random.Generator,
    size: int,
    wiggle: float,
    corr: float,
    step: float = 0.5,
) -> np.ndarray:
    """Points (N, 2) as (row, col) of a smooth random curve crossing the scene."""
    side = rng.integers(4)
    t = rng.uniform(0.1, 0.9) * size
    start, heading = {
        0: ((0.0, t), np.pi / 2),  # top edge, going down
        1: ((size - 1.0, t), -np.pi / 2),
        2: ((t, 0.0), 0.0),  # left edge, going right
        3: ((t, size - 1.0), np.pi),
    }[int(side)]
    heading += rng.uniform(-0.5, 0.5)
    n = int(3 * size / step)
    noise = ndimage.gaussian_filter1d(rng.standard_normal(n), corr / step, mode="reflect")
    noise /= noise.std() + 1e-12
    theta = heading + wiggle * noise
    # theta measured from +col axis; rows grow downwards
    pts = np.empty((n, 2))
    pts[:, 0] = start[0] + np.cumsum(step * np.sin(theta))
    pts[:, 1] = start[1] + np.cumsum(step * np.cos(theta))
    inside = (pts > -0.5).all(1) & (pts < size - 0.5).all(1)
    # keep only up to the first exit
    out = np.flatnonzero(~inside)
    if out.size:
        pts = pts[: out[0]]
    return np.clip(pts, 0, size - 1)


# --------------------------------------------------------------------------- #
# Reflectivity
# --------------------------------------------------------------------------- #
def _generate_layers(
    rng: np.random.Generator, size: int, record: dict | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Noise-free reflectivity (float32, linear), class map (uint8), number of targets; ``record``
    receives the targets' pixels and their gain over the local level (``rows``, ``cols``, ``gain_db``)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)

    # --- large-scale structure ---------------------------------------------
    dem = _fbm(rng, size, rng.uniform(120, 260), octaves=4, gain=0.55)
    hilliness = rng.uniform(0.0, 3.0)  # dB of slope-induced brightness variation
    gx = np.gradient(dem, axis=1)
    tilt_db = hilliness * gx / (gx.std() + 1e-12)
    moisture_db = 0.8 * _smooth_noise(rng, size, rng.uniform(60, 150))
    ramp_db = rng.uniform(0.3, 1.0) * (0.5 - xx / size)  # far range slightly darker

    # --- field parcels: two orientation zones with domain warp ------------
    warp = rng.uniform(1.0, 4.0)
    wx = xx + warp * _smooth_noise(rng, size, 40)
    wy = yy + warp * _smooth_noise(rng, size, 40)
    labels = []
    for _ in range(2):
        ang = rng.uniform(0, np.pi)
        u, v = _rotated(wx, wy, ang)
        w0 = rng.uniform(6, 16)
        l0 = rng.uniform(10, 30)
        labels.append(
            _brick_parcels(rng, u, v, (w0, w0 * rng.uniform(1.5, 3.0)), (l0, l0 * rng.uniform(1.5, 3.5)))
        )
    zone = _smooth_noise(rng, size, rng.uniform(100, 200)) > rng.uniform(-0.8, 0.8)
    parcel = np.where(zone, labels[0], labels[1] + labels[0].max() + 1)
    npar = int(parcel.max()) + 1
    # crop classes: most fields -15..-8 dB, some bare/smooth soil darker, some bright crops;
    # the spread around the scene's typical level varies (homogeneous vs. patchwork landscapes)
    kind = rng.random(npar)
    par_db = np.where(
        kind < 0.15,
        rng.uniform(-19, -15, npar),
        np.where(kind < 0.9, rng.uniform(-15, -8, npar), rng.uniform(-8, -5, npar)),
    )
    spread = rng.uniform(0.4, 1.0)
    par_db = -11.5 + spread * (par_db - -11.5)
    par_nu = np.exp(rng.uniform(np.log(8), np.log(64), npar))
    db = par_db[parcel].astype(np.float32)
    nu = par_nu[parcel].astype(np.float32)
    cls = np.full((size, size), FIELD, np.uint8)

    # field edges: hedgerows (bright) and ditches/tracks (dark) on a subset of parcels
    edge = np.zeros((size, size), bool)
    edge[:, 1:] |= parcel[:, 1:] != parcel[:, :-1]
    edge[1:, :] |= parcel[1:, :] != parcel[:-1, :]
    edge_kind = rng.random(npar)
    hedge = edge & (edge_kind[parcel] < rng.uniform(0.1, 0.35))
    ditch = edge & (edge_kind[parcel] > 1 - rng.uniform(0.05, 0.2))
    db[hedge] = rng.uniform(-6.5, -4.5)
    nu[hedge] = 4.0
    db[ditch] -= rng.uniform(2.0, 5.0)

    # --- forest -----------------------------------------------------------
    forest = _threshold_fraction(_fbm(rng, size, rng.uniform(50, 120)), rng.uniform(0.05, 0.4))
    stand_db = rng.normal(-7.0, 0.6, npar)
    db[forest] = stand_db[parcel[forest]]
    nu[forest] = rng.uniform(3.0, 8.0)
    cls[forest] = FOREST

    # --- urban: rotated block grid inside a blob -------------------------
    urban = _threshold_fraction(
        _fbm(rng, size, rng.uniform(60, 120), octaves=3), rng.choice([0.0, 0.03, 0.08, 0.15])
    )
    urban &= ~forest | (rng.random() < 0.5)
    ub = np.zeros((size, size), bool)  # urban blocks (not streets)
    if urban.any():
        ua = rng.uniform(0, np.pi)
        uu, uv = _rotated(0.3 * xx + 0.7 * wx, 0.3 * yy + 0.7 * wy, ua)  # mildly warped grid
        b0 = rng.uniform(5, 10)
        block = _brick_parcels(rng, uu, uv, (b0, 2.5 * b0), (b0, 3 * b0))
        nblock = int(block.max()) + 1
        block_db = rng.uniform(-8.0, 1.0, nblock)
        bedge = np.zeros((size, size), bool)
        bedge[:, 1:] |= block[:, 1:] != block[:, :-1]
        bedge[1:, :] |= block[1:, :] != block[:-1, :]
        street = ndimage.binary_dilation(bedge) & (rng.random(nblock) < 0.6)[block]
        ub = urban & ~street
        db[ub] = block_db[block[ub]]
        nu[ub] = rng.uniform(1.0, 2.5)
        us = urban & street
        db[us] = rng.uniform(-16.0, -11.0)
        nu[us] = 4.0
        # double bounce: block borders facing the sensor (left side in range) are brighter
        wall = ub & np.concatenate([np.zeros((size, 1), bool), block[:, 1:] != block[:, :-1]], axis=1)
        db[wall] += rng.uniform(4.0, 9.0)
        cls[urban] = URBAN

    # --- terrain and soil moisture on land --------------------------------
    db += tilt_db + moisture_db

    # --- water: lakes (low ground) and small ponds -----------------------
    lake_field = -0.8 * dem + 0.6 * _fbm(rng, size, rng.uniform(40, 90))
    lakes = _threshold_fraction(lake_field, rng.choice([0.02, 0.04, 0.07, 0.12]))
    ponds = _threshold_fraction(_smooth_noise(rng, size, rng.uniform(2.5, 5.0)), rng.uniform(0.0, 0.02))
    ponds &= _smooth_noise(rng, size, 80) > 0  # ponds cluster in some areas
    water = lakes | ponds
    wlab, nw = ndimage.label(water)
    body_db = rng.uniform(-24.0, -20.0, nw + 1)
    wind_db = 1.0 * _smooth_noise(rng, size, rng.uniform(20, 60))
    db[water] = body_db[wlab[water]] + wind_db[water]
    nu[water] = 128.0
    cls[water] = WATER

    # --- linear features: river, roads, power line -----------------------
    center_hw = np.zeros((size, size), np.float32)  # half-width at centre-line pixels
    center_kind = np.zeros((size, size), np.uint8)  # 1 river, 2 road
    pylons: list[np.ndarray] = []
    if rng.random() < 0.6:
        pts = _walk(rng, size, wiggle=rng.uniform(0.6, 1.1), corr=rng.uniform(10, 30))
        if len(pts):
            hw = rng.uniform(1.0, 4.0) * (1 + 0.3 * np.sin(np.linspace(0, rng.uniform(3, 12), len(pts))))
            r, c = np.round(pts).astype(int).T
            center_hw[r, c] = hw
            center_kind[r, c] = 1
    nroads = int(rng.integers(1, 3 + size // 256))
    for _ in range(nroads):
        pts = _walk(rng, size, wiggle=rng.uniform(0.02, 0.25), corr=rng.uniform(60, 200))
        if len(pts):
            r, c = np.round(pts).astype(int).T
            center_hw[r, c] = rng.choice([0.5, 0.9, 1.3])
            center_kind[r, c] = 2
    if rng.random() < 0.5:
        pts = _walk(rng, size, wiggle=0.0, corr=10.0)
        spacing = rng.uniform(25, 40)
        if len(pts) > 2 * spacing:
            pylons.append(pts[:: int(2 * spacing)])  # points every 0.5 px
    if center_kind.any():
        dist, (iy, ix) = ndimage.distance_transform_edt(center_kind == 0, return_indices=True)
        on_line = dist <= center_hw[iy, ix]
        lk = np.where(on_line, center_kind[iy, ix], 0)
        river = lk == 1
        road = (lk == 2) & ~water  # roads stop at lake shores (no causeways)
        db[river] = rng.uniform(-23.0, -20.0) + wind_db[river]
        nu[river] = 128.0
        cls[river] = WATER
        water |= river
        bridge = np.zeros((size, size), bool)
        if river.any() and road.any():  # road pixels within the river's banks
            bridge = road & ndimage.binary_dilation(river, iterations=3)
        db[road] = rng.uniform(-20.0, -16.0) + 0.5 * rng.standard_normal(int(road.sum()))
        nu[road] = 16.0
        db[bridge] = rng.uniform(-4.0, 2.0)
        nu[bridge] = 2.0
        cls[road] = ROAD
    else:
        road = np.zeros((size, size), bool)

    # --- global incidence ramp -------------------------------------------
    db += ramp_db

    # --- correlated Gamma texture (K-distributed clutter) -----------------
    z = rng.standard_normal((size, size)).astype(np.float32)
    z = ndimage.gaussian_filter(z, rng.uniform(0.6, 1.2))
    z /= z.std() + 1e-12
    refl = np.power(10.0, db / 10.0, dtype=np.float32) * _gamma_texture(z, nu)

    # --- point targets ----------------------------------------------------
    area = (size / 256.0) ** 2
    tr: list[np.ndarray] = []
    tc: list[np.ndarray] = []

    def add(rows: np.ndarray, cols: np.ndarray) -> None:
        rows, cols = np.round(rows).astype(int), np.round(cols).astype(int)
        ok = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
        tr.append(rows[ok])
        tc.append(cols[ok])

    upix = np.flatnonzero(ub.ravel())
    if upix.size:  # buildings: corners/walls give strong returns
        k = rng.choice(upix, size=max(1, int(upix.size * rng.uniform(0.01, 0.03))))
        add(k // size, k % size)
    fpix = np.flatnonzero(((cls == FIELD) & ~road).ravel()[::7])
    nfarm = rng.poisson(3.0 * area)
    if fpix.size and nfarm:  # farmsteads: small clusters of bright points
        centers = rng.choice(fpix, nfarm) * 7
        for cidx in centers:
            m = int(rng.integers(3, 12))
            add(cidx // size + rng.normal(0, 3, m), cidx % size + rng.normal(0, 3, m))
    for p in pylons:
        add(p[:, 0], p[:, 1])
    wpix = np.flatnonzero(ndimage.binary_erosion(water, iterations=4).ravel())
    nship = rng.poisson(min(6.0, 2e-4 * wpix.size)) if wpix.size else 0
    for cidx in rng.choice(wpix, nship) if nship else []:  # ships: short bright lines
        length, ang = rng.uniform(2, 7), rng.uniform(0, np.pi)
        t = np.linspace(-length / 2, length / 2, int(2 * length) + 1)
        add(cidx // size + t * np.sin(ang), cidx % size + t * np.cos(ang))
    nlone = 3 + rng.poisson(20 * area)  # isolated scatterers (poles, machinery, ...)
    add(rng.uniform(0, size, nlone), rng.uniform(0, size, nlone))
    rows, cols = np.concatenate(tr), np.concatenate(tc)
    ntarget = int(rows.size)
    gain_db = np.zeros(0)
    if ntarget:
        imp = np.zeros((size, size), np.float32)
        bg = np.power(10.0, db[rows, cols] / 10.0)
        gain_db = rng.uniform(10.0, 30.0, ntarget)
        np.add.at(imp, (rows, cols), bg * np.power(10.0, gain_db / 10.0))
        imp = ndimage.convolve1d(imp, _PSF, axis=0, mode="constant")
        imp = ndimage.convolve1d(imp, _PSF, axis=1, mode="constant")
        refl += np.maximum(imp, 0.0)

    refl += np.float32(10.0 ** (NESZ_DB / 10.0))
    if record is not None:
        record.update(rows=rows, cols=cols, gain_db=gain_db)
    return refl.astype(np.float32), cls, ntarget


def generate_layers(
    rng: np.random.Generator, size: int, record: dict | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Noise-free reflectivity ``R`` (float32, linear), land-cover class map (uint8 codes of
    :data:`CLASS_NAMES`) and the number of point targets (labels for probes); ``record`` receives
    the targets' pixels and gains (:mod:`sarcomp.data.truth`)."""
    return _generate_layers(rng, size, record)


def generate_reflectivity(rng: np.random.Generator, size: int) -> np.ndarray:
    """Noise-free reflectivity ``R`` (float32, linear intensity, strictly > 0), shape (size, size)."""
    return _generate_layers(rng, size)[0]
