"""The verdict of a check run: did the measured IsoFLOP minimum land inside the sweep's predictions?

The check's runs (one budget, three or more sizes about the predicted N_opt) give a measured minimum: the
vertex of a quadratic in log10 N through their losses (seeds averaged), as Approach 2 reads one budget. Each
method's prediction at that budget is judged on two counts: the measured N_opt inside its 95% interval on
N_opt, and the measured loss inside its interval on the loss, widened by twice the run-to-run noise (the
check's own runs are single draws).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from isoflop.laws.fit.powerlaw import find_optimal_params


@dataclass(frozen=True)
class CheckVerdict:
    """What a check run measured and how each method's prediction fared.

    Attributes:
        budget: the check's budget C (FLOPs).
        sizes, losses: the check's sizes N and their mean final losses.
        measured_params, measured_loss: the vertex (NaN with ``status`` "edge" when the lowest loss is at an
            end of the check's sizes: the minimum lies beyond them).
        status, reason: "ok" or "edge"/"too few", and why.
        methods: method -> {predicted N, its interval, predicted loss, its interval, size_inside, loss_inside}.
        noise: the run-to-run σ of the loss (nats) used to widen the loss intervals.
    """

    budget: float
    sizes: tuple[float, ...]
    losses: tuple[float, ...]
    measured_params: float
    measured_loss: float
    status: str
    reason: str = ""
    methods: dict = field(default_factory=dict)
    noise: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The verdict as lines of text."""
        head = (
            f"check at {self.budget:.3g} FLOPs: sizes "
            + ", ".join(f"{n:.3g}" for n in self.sizes)
            + "; losses "
            + ", ".join(f"{v:.4f}" for v in self.losses)
        )
        if self.status != "ok":
            return [head, f"no measured minimum: {self.reason}"]
        out = [head, f"measured minimum: N = {self.measured_params:.3g}, loss = {self.measured_loss:.4f}"]
        for m, v in self.methods.items():
            lo, hi = v["params_ci"] or (math.nan, math.nan)
            llo, lhi = v["loss_ci"] or (math.nan, math.nan)
            out.append(
                f"{m}: predicted N {v['params']:.3g} [{lo:.3g}, {hi:.3g}] -> "
                f"{'inside' if v['size_inside'] else 'OUTSIDE'}; loss {v['loss']:.4f} "
                f"[{llo:.4f}, {lhi:.4f}] +/- {2 * self.noise:.4f} -> {'inside' if v['loss_inside'] else 'OUTSIDE'}"
            )
        return out


def judge_check(result, n_params, loss, budget: float, noise: float = 0.0) -> CheckVerdict:
    """Judge a check run's losses against ``result``'s predictions at ``budget``.

    Args:
        result: the sweep's :class:`~isoflop.laws.result.AnalysisResult`, fitted with ``budget`` as a target.
        n_params, loss: the check's finished runs (seeds at one size are averaged).
        budget: the check's budget C.
        noise: run-to-run σ of the loss in nats (the sweep's seed noise), to widen the loss intervals.
    """
    n, y = np.asarray(n_params, dtype=float), np.asarray(loss, dtype=float)
    sizes = np.unique(n)
    mean = np.array([y[n == s].mean() for s in sizes])
    base: dict[str, Any] = dict(
        budget=float(budget), sizes=tuple(map(float, sizes)), losses=tuple(map(float, mean)), noise=noise
    )
    if sizes.size < 3:
        return CheckVerdict(
            **base,
            measured_params=math.nan,
            measured_loss=math.nan,
            status="too few",
            reason=f"{sizes.size} sizes finished; a minimum needs 3",
        )
    i = int(np.argmin(mean))
    q = find_optimal_params(sizes, mean)
    if i in (0, sizes.size - 1) or not (q.curvature > 0 and sizes[0] <= q.x_opt <= sizes[-1]):
        side = "smallest" if i == 0 else "largest"
        return CheckVerdict(
            **base,
            measured_params=math.nan,
            measured_loss=math.nan,
            status="edge",
            reason=f"the lowest loss is at the {side} size ({sizes[i]:.3g}): the minimum lies beyond "
            "the check's sizes, so every prediction inside them missed",
        )
    n_star, l_star = float(q.x_opt), float(q.y_opt)
    methods = {}
    for m in result.fitted:
        p = result.prediction(m, budget)
        ci, lci = p.get("params_ci"), p.get("loss_ci")
        ok_ci = ci and ci[0] is not None and ci[1] is not None
        ok_lci = lci and lci[0] is not None and lci[1] is not None
        methods[m] = {
            "params": p["optimal_params"],
            "params_ci": list(ci) if ok_ci else None,
            "loss": p["loss"],
            "loss_ci": list(lci) if ok_lci else None,
            "size_inside": bool(ok_ci and ci[0] <= n_star <= ci[1]),
            "loss_inside": bool(ok_lci and lci[0] - 2 * noise <= l_star <= lci[1] + 2 * noise),
        }
    return CheckVerdict(**base, measured_params=n_star, measured_loss=l_star, status="ok", methods=methods)
