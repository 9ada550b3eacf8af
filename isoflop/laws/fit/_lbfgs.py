"""Batched L-BFGS: many independent smooth minimisations advanced in lock-step.

Approach 3 is fitted from thousands of starting points (Hoffmann et al. 2022 use
a grid; Besiroglu et al. 2024 use 4,500 points), and each bootstrap resample is
its own minimisation. Looping ``scipy.optimize.minimize`` over them pays the
Python overhead per start and per iteration; here every iteration evaluates
the objective and gradient of all still-active problems in one vectorised call,
so the cost is a few large numpy operations.

Each problem b has parameters ``x[b]`` of dimension p. The caller supplies
``fun_grad(x, idx) -> (f, g)`` evaluating problems ``idx`` at ``x`` (shape
``(len(idx), p)``), returning f of shape ``(len(idx),)`` and g of shape
``(len(idx), p)``.

The algorithm is textbook L-BFGS (Nocedal & Wright 2006, Algorithm 7.4, the
two-loop recursion) with a backtracking Armijo line search. A pair (s, y)
failing the curvature condition s·y > 0 is not stored, which keeps the
implicit Hessian positive definite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FunGrad = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]


@dataclass(frozen=True)
class BatchResult:
    """Outcome of a batched minimisation.

    Attributes:
        x: final parameters, shape (B, p).
        f: final objective values, shape (B,).
        converged: whether each problem met a stopping tolerance (rather than
            being pruned or running out of iterations), shape (B,).
        pruned: whether each problem was abandoned as hopeless, shape (B,).
        n_iter: iterations taken by each problem, shape (B,).
        n_evals: total number of (problem, evaluation) pairs computed.
    """

    x: np.ndarray
    f: np.ndarray
    converged: np.ndarray
    pruned: np.ndarray
    n_iter: np.ndarray
    n_evals: int


def minimize_batch(
    fun_grad: FunGrad,
    x0: np.ndarray,
    *,
    max_iter: int = 500,
    memory: int = 10,
    gtol: float = 1e-10,
    ftol: float = 1e-14,
    prune_at: tuple[int, ...] = (),
    prune_keep: float = 0.1,
    prune_min_keep: int = 50,
) -> BatchResult:
    """Minimise B independent problems with L-BFGS, vectorised over problems.

    Args:
        fun_grad: objective and gradient of a subset of problems (see module doc).
        x0: starting points, shape (B, p).
        max_iter: iteration limit per problem.
        memory: number of (s, y) pairs kept.
        gtol: stop a problem when max|g| <= gtol.
        ftol: stop a problem when its objective decreases by at most
            ``ftol * max(|f|, tiny)`` in one iteration (a relative test, since
            Huber objectives can be far below 1).
        prune_at: iterations after which hopeless problems are dropped. This is
            for multi-start searches where only the best optimum matters.
        prune_keep: at a pruning iteration, keep the problems whose objective is
            within the best ``prune_keep`` fraction (at least ``prune_min_keep``).
        prune_min_keep: see ``prune_keep``.

    Returns:
        A :class:`BatchResult`.
    """
    x = np.array(x0, dtype=np.float64, copy=True)
    B, p = x.shape
    m = memory
    S = np.zeros((B, m, p))
    Y = np.zeros((B, m, p))
    rho = np.zeros((B, m))
    gamma = np.ones(B)
    n_iter = np.zeros(B, dtype=int)
    converged = np.zeros(B, dtype=bool)
    pruned = np.zeros(B, dtype=bool)

    all_idx = np.arange(B)
    f, g = fun_grad(x, all_idx)
    n_evals = B
    active = np.isfinite(f) & np.all(np.isfinite(g), axis=1)
    pruned[~active] = True
    converged[active] = np.max(np.abs(g[active]), axis=1) <= gtol
    active &= ~converged

    for it in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        xa, fa, ga = x[idx], f[idx], g[idx]

        # Two-loop recursion, newest pair first. Slot order follows the global
        # iteration count, which is shared by all problems.
        q = ga.copy()
        order = [(it - 1 - j) % m for j in range(min(it, m))]
        # Gather this iteration's histories once (fancy indexing copies).
        Sa, Ya, ra = S[idx], Y[idx], rho[idx]
        alphas = []
        for j in order:
            a_j = ra[:, j] * np.einsum("bp,bp->b", Sa[:, j], q)
            q -= a_j[:, None] * Ya[:, j]
            alphas.append(a_j)
        r = gamma[idx, None] * q
        for j, a_j in zip(reversed(order), reversed(alphas)):
            b_j = ra[:, j] * np.einsum("bp,bp->b", Ya[:, j], r)
            r += (a_j - b_j)[:, None] * Sa[:, j]
        d = -r
        slope = np.einsum("bp,bp->b", ga, d)
        bad = ~(slope < 0) | ~np.all(np.isfinite(d), axis=1)
        if np.any(bad):
            # Not a descent direction: forget the history, use steepest descent.
            d[bad] = -ga[bad]
            slope[bad] = -np.einsum("bp,bp->b", ga[bad], ga[bad])
            rho[idx[bad]] = 0.0
        # First step of a fresh direction: a unit-length move, not a unit step.
        first = bad | (n_iter[idx] == 0)
        t = np.ones(idx.size)
        t[first] = np.minimum(1.0, 1.0 / np.maximum(np.linalg.norm(d[first], axis=1), 1e-300))

        # Backtracking Armijo line search, re-evaluating only failing problems.
        x_new = np.empty_like(xa)
        f_new = np.full(idx.size, np.inf)
        g_new = np.empty_like(ga)
        todo = np.arange(idx.size)
        for _ in range(60):
            xt = xa[todo] + t[todo, None] * d[todo]
            ft, gt = fun_grad(xt, idx[todo])
            n_evals += todo.size
            ok = np.isfinite(ft) & (ft <= fa[todo] + 1e-4 * t[todo] * slope[todo])
            ok &= np.all(np.isfinite(gt), axis=1)
            done = todo[ok]
            x_new[done], f_new[done], g_new[done] = xt[ok], ft[ok], gt[ok]
            todo = todo[~ok]
            if todo.size == 0:
                break
            t[todo] *= 0.5
        failed = np.zeros(idx.size, dtype=bool)
        failed[todo] = True

        # Problems whose line search found no decrease are at a (numerical)
        # minimum along every direction L-BFGS can find: stop them.
        okm = ~failed
        s = x_new[okm] - xa[okm]
        yv = g_new[okm] - ga[okm]
        sy = np.einsum("bp,bp->b", s, yv)
        yy = np.einsum("bp,bp->b", yv, yv)
        slot = it % m
        ido = idx[okm]
        good = (sy > 1e-16 * np.maximum(yy, 1e-300)) & (yy > 0)
        rho[ido, slot] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        S[ido, slot] = s
        Y[ido, slot] = yv
        gamma[ido[good]] = sy[good] / yy[good]

        df = fa[okm] - f_new[okm]
        x[ido], f[ido], g[ido] = x_new[okm], f_new[okm], g_new[okm]
        n_iter[idx] += 1
        stop = (np.max(np.abs(g_new[okm]), axis=1) <= gtol) | (df <= ftol * np.maximum(np.abs(f_new[okm]), 1e-300))
        converged[ido[stop]] = True
        converged[idx[failed]] = True
        active[ido[stop]] = False
        active[idx[failed]] = False

        if (it + 1) in prune_at:
            idx = np.flatnonzero(active)
            keep_n = max(prune_min_keep, int(np.ceil(prune_keep * idx.size)))
            if idx.size > keep_n:
                # Compare with every problem, finished ones included, so a start
                # that already converged to a good optimum sets the bar.
                cutoff = np.partition(f[idx], keep_n - 1)[keep_n - 1]
                drop = idx[f[idx] > cutoff]
                active[drop] = False
                pruned[drop] = True

    return BatchResult(x=x, f=f, converged=converged, pruned=pruned, n_iter=n_iter, n_evals=n_evals)
