"""Model shapes by parameter count: the clean shapes of a family and the nearest ones to a target.

A family (aspect ratio d_model / n_layers, head size) has one size dial, the
depth (:meth:`isoflop.model.config.ModelConfig.from_depth`). For tiny models
one more layer multiplies the size by 2-3x, so asking for a parameter count
also considers the "clean" shapes around the dial: every depth, with widths in
multiples of the head size and an aspect ratio within a factor 2 of the
family's.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from isoflop.errors import ConfigError
from isoflop.model.config import ASPECT_RATIO, HEAD_DIM, ModelConfig
from isoflop.model.flops import param_counts


def clean_shapes(
    *,
    vocab_size: int,
    seq_len: int,
    max_layers: int = 48,
    aspect_ratio: int = ASPECT_RATIO,
    head_dim: int = HEAD_DIM,
    **kw,
) -> list[ModelConfig]:
    """Every clean shape of the family: n_layers ≤ max_layers, d_model a multiple of
    head_dim, and an aspect ratio d_model/n_layers within a factor 2 of the family's.

    The depth-dial shapes (:meth:`ModelConfig.from_depth`) are among them; the
    others fill the gaps between depths.
    """
    out = []
    for L in range(1, max_layers + 1):
        lo = max(head_dim, math.ceil(aspect_ratio * L / 2 / head_dim) * head_dim)
        for d in range(lo, 2 * aspect_ratio * L + 1, head_dim):
            out.append(
                ModelConfig(n_layers=L, d_model=d, n_heads=d // head_dim, vocab_size=vocab_size, seq_len=seq_len, **kw)
            )
    return out


def shape_for_params(
    n_params: float,
    *,
    vocab_size: int,
    seq_len: int,
    max_layers: int = 48,
    aspect_ratio: int = ASPECT_RATIO,
    head_dim: int = HEAD_DIM,
    **kw,
) -> ModelConfig:
    """The clean shape (:func:`clean_shapes`) whose total parameter count is nearest
    ``n_params`` in log space; ties go to the aspect ratio nearest the family's.

    Raises:
        ConfigError: a non-positive target.
    """
    if not (n_params > 0 and math.isfinite(n_params)):
        raise ConfigError(f"n_params ({n_params}) must be a positive number")
    shapes = clean_shapes(
        vocab_size=vocab_size,
        seq_len=seq_len,
        max_layers=max_layers,
        aspect_ratio=aspect_ratio,
        head_dim=head_dim,
        **kw,
    )
    return min(
        shapes,
        key=lambda c: (
            round(abs(math.log(param_counts(c).total / n_params)), 9),
            abs(math.log(c.d_model / (aspect_ratio * c.n_layers))),
        ),
    )


def distinct_shapes_for_params(
    targets, *, vocab_size: int, seq_len: int, aspect_ratio: int = ASPECT_RATIO, head_dim: int = HEAD_DIM, **kw
) -> list[ModelConfig]:
    """Distinct clean shapes matching parameter-count targets, in the targets' order.

    Tiny shapes are coarsely spaced, so rounding each target to its nearest
    shape can give the same shape twice and fewer sizes than asked for.
    Instead the targets are matched to distinct shapes minimising the total
    |log(N / target)| (an assignment problem, solved exactly by scipy).
    """
    from scipy.optimize import linear_sum_assignment

    shapes = clean_shapes(vocab_size=vocab_size, seq_len=seq_len, aspect_ratio=aspect_ratio, head_dim=head_dim, **kw)
    sizes = np.array([param_counts(m).total for m in shapes], dtype=float)
    t = np.asarray(targets, dtype=float)
    # Prefer the family's own aspect ratio among shapes of (nearly) equal size.
    aspect = np.array([abs(math.log(m.d_model / (aspect_ratio * m.n_layers))) for m in shapes])
    cost = np.abs(np.log(sizes[None, :] / t[:, None])) + 1e-6 * aspect[None, :]
    rows, cols = linear_sum_assignment(cost)
    return [shapes[c] for _, c in sorted(zip(rows, cols))]


def shape_ladder(anchor: float, ratio: float, **family) -> dict[int, ModelConfig]:
    """One ladder of sizes shared by every budget of a sweep: rung j targets anchor · ratio^j, each rung its
    own clean shape, the same at every budget (one exact assignment over every rung the family's shapes
    reach). Returns {j: shape}."""
    return _ladder(float(anchor), float(ratio), tuple(sorted(family.items())))


@functools.lru_cache(maxsize=16)
def _ladder(anchor: float, ratio: float, family: tuple) -> dict[int, ModelConfig]:
    fam = dict(family)
    sizes = [param_counts(m).total for m in clean_shapes(**fam)]
    lo = math.ceil(math.log(min(sizes) / anchor, ratio))
    hi = math.floor(math.log(max(sizes) / anchor, ratio))
    js = list(range(lo, hi + 1))
    return dict(zip(js, distinct_shapes_for_params([anchor * ratio**j for j in js], **fam)))
