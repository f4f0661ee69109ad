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
from scipy import ndimage

from sarcomp.data.random_fields import fbm, gamma_texture, smooth_noise, threshold_fraction

#: Land-cover class codes used internally (fractions are reported in the metadata).
CLASS_NAMES: tuple[str, ...] = ("field", "forest", "urban", "water", "road")
FIELD, FOREST, URBAN, WATER, ROAD = range(5)
NESZ_DB = -28.0  # additive thermal noise floor (noise-equivalent sigma zero)


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
def _trends(rng: np.random.Generator, size: int, xx: np.ndarray) -> tuple[np.ndarray, ...]:
    """Large-scale structure: the terrain ``dem`` and, in dB, its slope brightness, soil moisture
    and the far-range darkening ramp."""
    dem = fbm(rng, size, rng.uniform(120, 260), octaves=4, gain=0.55)
    hilliness = rng.uniform(0.0, 3.0)  # dB of slope-induced brightness variation
    gx = np.gradient(dem, axis=1)
    tilt_db = hilliness * gx / (gx.std() + 1e-12)
    moisture_db = 0.8 * smooth_noise(rng, size, rng.uniform(60, 150))
    ramp_db = rng.uniform(0.3, 1.0) * (0.5 - xx / size)  # far range slightly darker
    return dem, tilt_db, moisture_db, ramp_db


def _fields(rng: np.random.Generator, size: int, xx: np.ndarray, yy: np.ndarray) -> tuple[np.ndarray, ...]:
    """Field parcels in two orientation zones with domain warp, hedgerows and ditches on their
    edges: (dB, texture ν, class map, parcel labels, warped x, warped y)."""
    warp = rng.uniform(1.0, 4.0)
    wx = xx + warp * smooth_noise(rng, size, 40)
    wy = yy + warp * smooth_noise(rng, size, 40)
    labels = []
    for _ in range(2):
        ang = rng.uniform(0, np.pi)
        u, v = _rotated(wx, wy, ang)
        w0 = rng.uniform(6, 16)
        l0 = rng.uniform(10, 30)
        labels.append(
            _brick_parcels(rng, u, v, (w0, w0 * rng.uniform(1.5, 3.0)), (l0, l0 * rng.uniform(1.5, 3.5)))
        )
    zone = smooth_noise(rng, size, rng.uniform(100, 200)) > rng.uniform(-0.8, 0.8)
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
    return db, nu, cls, parcel, wx, wy


def _forest(
    rng: np.random.Generator, size: int, db: np.ndarray, nu: np.ndarray, cls: np.ndarray, parcel: np.ndarray
) -> np.ndarray:
    """Forest stands (one level per parcel) painted into ``db``, ``nu``, ``cls``; their mask."""
    forest = threshold_fraction(fbm(rng, size, rng.uniform(50, 120)), rng.uniform(0.05, 0.4))
    stand_db = rng.normal(-7.0, 0.6, int(parcel.max()) + 1)
    db[forest] = stand_db[parcel[forest]]
    nu[forest] = rng.uniform(3.0, 8.0)
    cls[forest] = FOREST
    return forest


def _urban(
    rng: np.random.Generator,
    size: int,
    grids: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    db: np.ndarray,
    nu: np.ndarray,
    cls: np.ndarray,
    forest: np.ndarray,
) -> np.ndarray:
    """A rotated block grid inside a blob (``grids``: x, y and their warped versions), painted in;
    the mask of its blocks (not streets)."""
    xx, yy, wx, wy = grids
    urban = threshold_fraction(
        fbm(rng, size, rng.uniform(60, 120), octaves=3), rng.choice([0.0, 0.03, 0.08, 0.15])
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
    return ub


def _water(
    rng: np.random.Generator, size: int, dem: np.ndarray, db: np.ndarray, nu: np.ndarray, cls: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lakes (low ground) and small ponds, painted in: (water mask, wind roughness in dB)."""
    lake_field = -0.8 * dem + 0.6 * fbm(rng, size, rng.uniform(40, 90))
    lakes = threshold_fraction(lake_field, rng.choice([0.02, 0.04, 0.07, 0.12]))
    ponds = threshold_fraction(smooth_noise(rng, size, rng.uniform(2.5, 5.0)), rng.uniform(0.0, 0.02))
    ponds &= smooth_noise(rng, size, 80) > 0  # ponds cluster in some areas
    water = lakes | ponds
    wlab, nw = ndimage.label(water)
    body_db = rng.uniform(-24.0, -20.0, nw + 1)
    wind_db = 1.0 * smooth_noise(rng, size, rng.uniform(20, 60))
    db[water] = body_db[wlab[water]] + wind_db[water]
    nu[water] = 128.0
    cls[water] = WATER
    return water, wind_db


def _lines(
    rng: np.random.Generator,
    size: int,
    db: np.ndarray,
    nu: np.ndarray,
    cls: np.ndarray,
    water: np.ndarray,
    wind_db: np.ndarray,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Linear features, painted in: a river (added to ``water``), roads (bridges over the river)
    and a power line; (road mask, pylon positions)."""
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
    if not center_kind.any():
        return np.zeros((size, size), bool), pylons
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
    return road, pylons


def _textured(rng: np.random.Generator, size: int, db: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Linear reflectivity: the dB levels times correlated Gamma texture (K-distributed clutter)."""
    z = rng.standard_normal((size, size)).astype(np.float32)
    z = ndimage.gaussian_filter(z, rng.uniform(0.6, 1.2))
    z /= z.std() + 1e-12
    return np.power(10.0, db / 10.0, dtype=np.float32) * gamma_texture(z, nu)


def _target_pixels(
    rng: np.random.Generator,
    size: int,
    masks: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    pylons: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the bright point targets: buildings, farmsteads, pylons, ships and
    isolated scatterers (``masks``: urban blocks, class map, roads, water)."""
    ub, cls, road, water = masks
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
    return np.concatenate(tr), np.concatenate(tc)


def _add_targets(
    rng: np.random.Generator, refl: np.ndarray, db: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """Add the targets at ``rows``, ``cols`` to ``refl``, 10-30 dB over the local level and blurred
    by the impulse response; their gains in dB."""
    if not rows.size:
        return np.zeros(0)
    imp = np.zeros(refl.shape, np.float32)
    bg = np.power(10.0, db[rows, cols] / 10.0)
    gain_db = rng.uniform(10.0, 30.0, int(rows.size))
    np.add.at(imp, (rows, cols), bg * np.power(10.0, gain_db / 10.0))
    imp = ndimage.convolve1d(imp, _PSF, axis=0, mode="constant")
    imp = ndimage.convolve1d(imp, _PSF, axis=1, mode="constant")
    refl += np.maximum(imp, 0.0)
    return gain_db


def _generate_layers(
    rng: np.random.Generator, size: int, record: dict | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Noise-free reflectivity (float32, linear), class map (uint8), number of targets; ``record``
    receives the targets' pixels and their gain over the local level (``rows``, ``cols``, ``gain_db``).
    Each stage draws from ``rng`` in turn, so their order is part of every scene."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dem, tilt_db, moisture_db, ramp_db = _trends(rng, size, xx)
    db, nu, cls, parcel, wx, wy = _fields(rng, size, xx, yy)
    forest = _forest(rng, size, db, nu, cls, parcel)
    ub = _urban(rng, size, (xx, yy, wx, wy), db, nu, cls, forest)
    db += tilt_db + moisture_db  # terrain and soil moisture on land
    water, wind_db = _water(rng, size, dem, db, nu, cls)
    road, pylons = _lines(rng, size, db, nu, cls, water, wind_db)
    db += ramp_db  # global incidence ramp
    refl = _textured(rng, size, db, nu)
    rows, cols = _target_pixels(rng, size, (ub, cls, road, water), pylons)
    gain_db = _add_targets(rng, refl, db, rows, cols)
    refl += np.float32(10.0 ** (NESZ_DB / 10.0))
    if record is not None:
        record.update(rows=rows, cols=cols, gain_db=gain_db)
    return refl.astype(np.float32), cls, int(rows.size)


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
