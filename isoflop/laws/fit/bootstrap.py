"""Bootstrap machinery shared by the three approaches (vectorised over resamples).

Resampling is stratified by budget: each resample draws, with replacement, as
many runs from every budget as that budget has, so every resample keeps the
IsoFLOP design of the original sweep (a budget never vanishes). When some
(N, C) points hold several seeds, it is two-level: points within each budget,
then seeds within each drawn point (Davison & Hinkley 1997, Section 3.8), so the
seed-to-seed noise enters every interval. Intervals are percentile intervals
(Efron & Tibshirani 1993, Ch. 13).
"""

from __future__ import annotations

import numpy as np

from isoflop.errors import FitError


def point_ids(groups, n_params) -> np.ndarray:
    """An id per run for its (budget, N) point: runs of one size at one budget are seeds of one point."""
    keys = np.stack([np.asarray(groups, dtype=float), np.asarray(n_params, dtype=float)], axis=1)
    return np.unique(keys, axis=0, return_inverse=True)[1].ravel()


def seed_noise(loss, points) -> dict:
    """The seed-to-seed standard deviation of the loss, pooled over the points that hold two or more runs.

    Returns:
        ``{"sigma": nats, "sigma_log": of log L, "dof": degrees of freedom, "n_points": points with seeds}``;
        sigma is NaN (dof 0) when no point has two runs.
    """
    l = np.asarray(loss, dtype=float)
    pts = np.asarray(points)
    ss = ss_log = 0.0
    dof = n_points = 0
    for p in np.unique(pts):
        v = l[pts == p]
        if v.size >= 2:
            ss += float(np.sum((v - v.mean()) ** 2))
            lv = np.log(v)
            ss_log += float(np.sum((lv - lv.mean()) ** 2))
            dof += v.size - 1
            n_points += 1
    if dof == 0:
        return {"sigma": float("nan"), "sigma_log": float("nan"), "dof": 0, "n_points": 0}
    return {
        "sigma": float(np.sqrt(ss / dof)),
        "sigma_log": float(np.sqrt(ss_log / dof)),
        "dof": dof,
        "n_points": n_points,
    }


def resample_indices(
    groups: np.ndarray, n_resamples: int, rng: np.random.Generator, points: np.ndarray | None = None
) -> np.ndarray:
    """Indices of runs for each resample, stratified by group.

    Args:
        groups: group id per run, shape (n,).
        n_resamples: R.
        rng: the random generator (the caller owns the seed).
        points: point id per run (see :func:`point_ids`). When some point holds two or more runs, each
            point's runs (its seeds) are a slot: a resample puts in every slot a point drawn from the
            slot's group, and fills the slot with that point's runs drawn with replacement.

    Returns:
        Integer array (R, n): column j holds a run drawn from the group of run j,
        so ``groups[idx] == groups`` for every row.
    """
    groups = np.asarray(groups)
    out = np.empty((n_resamples, groups.size), dtype=int)
    if points is None or np.unique(points).size == groups.size:  # one run per point: resample runs
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)
            out[:, members] = members[rng.integers(0, members.size, size=(n_resamples, members.size))]
        return out
    points = np.asarray(points)
    for g in np.unique(groups):
        pts = np.unique(points[groups == g])
        runs = [np.flatnonzero(points == p) for p in pts]
        drawn = rng.integers(0, pts.size, size=(n_resamples, pts.size))  # which point fills each slot
        for slot, members in enumerate(runs):
            for r in range(n_resamples):
                src = runs[drawn[r, slot]]
                out[r, members] = src[rng.integers(0, src.size, size=members.size)]
    return out


def counts_from_indices(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of n runs appears in each resample, shape (R, n), as weights."""
    R = idx.shape[0]
    flat = (idx + n * np.arange(R)[:, None]).ravel()
    return np.bincount(flat, minlength=R * n).reshape(R, n).astype(float)


def batched_quadratic(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares quadratics y ≈ c2 u² + c1 u + c0, one per row.

    Args:
        u, y: shape (R, m).

    Returns:
        (R, 3) coefficients (c2, c1, c0); NaN rows where the normal equations
        are singular (fewer than 3 distinct u).
    """
    # Centre u per row for conditioning; shift the coefficients back after.
    mu = u.mean(axis=1, keepdims=True)
    v = u - mu
    V = np.stack([v**2, v, np.ones_like(v)], axis=2)  # (R, m, 3)
    M = np.einsum("rmi,rmj->rij", V, V)
    rhs = np.einsum("rmi,rm->ri", V, y)
    det = np.linalg.det(M)
    scale = np.einsum("rii->r", M) ** 3
    ok = np.abs(det) > 1e-12 * scale
    c = np.full((u.shape[0], 3), np.nan)
    if np.any(ok):
        c[ok] = np.linalg.solve(M[ok], rhs[ok][..., None])[..., 0]
    q2, q1, q0 = c[:, 0], c[:, 1], c[:, 2]
    m = mu[:, 0]
    # q2 (u−m)² + q1 (u−m) + q0 = q2 u² + (q1 − 2 q2 m) u + (q2 m² − q1 m + q0)
    return np.stack([q2, q1 - 2 * q2 * m, q2 * m * m - q1 * m + q0], axis=1)


def batched_line(x: np.ndarray, Y: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares lines Y[r] ≈ slope[r]·x + intercept[r], skipping NaNs.

    Args:
        x: shape (G,).
        Y: shape (R, G); NaN entries are left out of their row's fit.
        weights: each point's weight, shape (G,) (weighted least squares; None: equal).

    Returns:
        slope and intercept, shape (R,); NaN where a row has fewer than 2
        distinct x.
    """
    w = np.isfinite(Y).astype(float)
    count = w.sum(axis=1)
    Yz = np.where(w > 0, Y, 0.0)
    if weights is not None:
        w = w * np.asarray(weights, dtype=float)[None, :]
        Yz = Yz * np.asarray(weights, dtype=float)[None, :]
    n = w.sum(axis=1)
    sx, sy = w @ x, Yz.sum(axis=1)
    sxx, sxy = w @ (x * x), Yz @ x
    den = n * sxx - sx**2
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (n * sxy - sx * sy) / den
        intercept = (sy - slope * sx) / n
    bad = (count < 2) | (np.abs(den) <= 1e-12 * np.maximum(n * sxx, 1e-300))
    slope[bad] = np.nan
    intercept[bad] = np.nan
    return slope, intercept


def percentile_interval(samples, level: float = 0.95) -> tuple[float, float] | None:
    """Central percentile interval of the finite samples, or None if there are none.

    Args:
        samples: bootstrap replicates of one quantity.
        level: coverage, in (0, 1).
    """
    if not 0 < level < 1:
        raise FitError(f"level ({level}) must be in (0, 1)")
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return None
    lo, hi = np.percentile(s, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)
