"""Repeated data: how many fresh tokens D tokens drawn from a limited corpus are worth.

Every token is worth one while the data is seen once. With a corpus of U_D unique tokens, the data-constrained
law of Muennighoff et al. (2023, Eq. 5, huggingface/datablations) discounts repeats:

    D' = U_D + U_D · R_D* · (1 − exp(−R_D / R_D*)),   R_D = D / U_D − 1 (repetitions after the first epoch),

with R_D* ≈ 15.4 their fitted half-life of repeated data. The loss surface (:mod:`isoflop.laws.surface`) and a
run table read as fresh tokens (:meth:`isoflop.laws.table.RunTable.with_unique_tokens`) both use it.
"""

from __future__ import annotations

import numpy as np

#: Muennighoff et al. (2023): the fitted R_D*, beyond which repeated tokens are worth little.
R_STAR = 15.4


def effective_tokens(d, unique, r_star: float = R_STAR):
    """Muennighoff et al. (2023, Eq. 5) D' of D tokens drawn from U_D unique ones:
    D' = U_D + U_D·R_D*·(1 − exp(−R_D / R_D*)), R_D = D / U_D − 1 repetitions; D' = D within one epoch."""
    d, u = np.asarray(d, dtype=float), np.asarray(unique, dtype=float)
    repeats = np.maximum(d / u - 1.0, 0.0)
    return np.where(d <= u, d, u + u * r_star * (1.0 - np.exp(-repeats / r_star)))
