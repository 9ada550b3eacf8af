"""What a planner believes before the sweep: loss surfaces to simulate from, and the noise of a run.

A prior is a set of surfaces (draws of the law's uncertainty: bootstrap replicates of a VPNLS or
Approach 3 fit) and the noise of one run: its independent σ (the seed-to-seed σ when the table
holds seeds, else the fit's residual σ in log loss) and a per-seed shared σ.
It comes from:

* a fit JSON (``scaling fit --json``) with a parametric surface and its replicates;
* a results folder or loss table, fitted here by VPNLS with a bootstrap;
* nothing: a wide default (:func:`default_prior`), which says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isoflop.design.law_error import LAW_BUMP
from isoflop.errors import LawError, ScalingError
from isoflop.laws.surface import Surface


@dataclass(frozen=True)
class Prior:
    """Surfaces to draw truths from, and the noise of a run.

    Attributes:
        surfaces: draws of the law (the first is the point estimate).
        sigma: independent log-noise of one run.
        seed_sigma: per-seed shared noise (see :mod:`isoflop.sweep.simulate`).
        source: where it came from, in words.
        law_bump: the loss-curve law's error at the points it predicts, (mean, sd) of a
            (:data:`~isoflop.design.law_error.LAW_BUMP`).
    """

    surfaces: tuple[Surface, ...]
    sigma: float
    seed_sigma: float = 0.0
    source: str = ""
    law_bump: tuple[float, float] = LAW_BUMP

    def __post_init__(self):
        if not self.surfaces:
            raise LawError(f"prior {self.source}: no surfaces")
        if not (0 <= self.sigma < 1 and 0 <= self.seed_sigma < 1):
            raise LawError(f"prior {self.source}: sigma ({self.sigma}) and seed_sigma must be in [0, 1)")
        if not (len(self.law_bump) == 2 and abs(self.law_bump[0]) < 1 and 0 <= self.law_bump[1] < 1):
            raise LawError(f"prior {self.source}: law_bump ({self.law_bump}) must be (mean, sd), both under 1")

    @property
    def point(self) -> Surface:
        return self.surfaces[0]

    def draw(self, rng: np.random.Generator) -> Surface:
        """One truth: a replicate when there are several, else the point surface."""
        if len(self.surfaces) == 1:
            return self.point
        return self.surfaces[int(rng.integers(1, len(self.surfaces)))]

    def describe(self) -> str:
        s = self.point
        return (
            f"{self.source}: {len(self.surfaces) - 1 or 'no'} replicate surfaces about "
            f"alpha={s.alpha:.3g}, beta={s.beta:.3g}; noise {self.sigma:.2%} per run"
            + (f", {self.seed_sigma:.2%} shared per seed" if self.seed_sigma else "")
        )


def default_prior(rng_seed: int = 0, draws: int = 200, sigma: float = 0.01) -> Prior:
    """A wide prior for byte-level text on small models, when nothing is known.

    α and β uniform on [0.25, 0.45]; N_opt at 1e12 FLOPs log-uniform on [1.5e4, 1.5e5] (the committed CPU
    sweeps found 4.5e4); E = 1.5 nats, and A, B such that the model term is 0.5 nats at that optimum and
    the first-order condition αA/N^α = βB/D^β holds there (C = 6ND); 1% noise per run.
    """
    rng = np.random.default_rng(rng_seed)
    out = []
    for i in range(draws + 1):
        al, be = (0.35, 0.35) if i == 0 else rng.uniform(0.25, 0.45, 2)
        n0 = 4.5e4 if i == 0 else 10 ** rng.uniform(np.log10(1.5e4), np.log10(1.5e5))
        d0 = 1e12 / (6 * n0)
        a = 0.5 * n0**al
        b = al * 0.5 / be * d0**be
        out.append(Surface(1.5, float(a), float(b), float(al), float(be), name="default prior"))
    return Prior(
        tuple(out),
        sigma,
        0.0,
        "no prior given: a wide default (alpha, beta in [0.25, 0.45], N_opt(1e12) in [1.5e4, 1.5e5], 1% noise)",
    )


def prior_from_result(result, name: str) -> Prior:
    """A prior from an analysis: its VPNLS (else Approach 3) surface and replicates, and its noise."""
    method = next((m for m in ("vpnls", "approach3") if m in result.fitted), None)
    if method is None:
        raise LawError(
            f"{name}: no parametric surface (VPNLS or Approach 3) to simulate from; "
            f"fitted: {', '.join(result.fitted) or 'none'}"
        )
    f = result.fit(method)
    surfaces = [Surface.from_fit(f, f"{name} {method}")]
    s = result.samples.get(method) or {}
    if s:
        for la, lb, le, al, be in zip(s["log_A"], s["log_B"], s["log_E"], s["alpha"], s["beta"]):
            vals = np.exp([la, lb, le])
            if np.all(np.isfinite(vals)) and al > 0 and be > 0:
                surfaces.append(
                    Surface(
                        float(vals[2]),
                        float(vals[0]),
                        float(vals[1]),
                        float(al),
                        float(be),
                        name=f"{name} {method} replicate",
                    )
                )
    t = result.table
    n, d, l = t.n_params[t.used], t.n_tokens[t.used], t.loss[t.used]
    resid = np.log(l / surfaces[0].loss(n, d))
    sigma = float(np.sqrt(np.sum(resid**2) / max(1, resid.size - 5)))
    noise = result.seed_noise or {}
    if noise.get("dof") and np.isfinite(noise.get("sigma_log", np.nan)):
        sigma = float(noise["sigma_log"])  # measured between seeds: the noise of one run
    return Prior(tuple(surfaces), min(sigma, 0.5), 0.0, f"{name} ({method}, {len(surfaces) - 1} replicates)")


def load_prior(source: str | None, *, bootstrap: int = 200, seed: int = 0) -> Prior:
    """A prior from a fit JSON, a results folder or a loss table; the wide default for None.

    Raises:
        LawError: the source is neither a table nor a law, or has no parametric surface.
    """
    if source is None:
        return default_prior(seed)
    from isoflop.laws.analyze import analyze
    from isoflop.laws.table_io import load_runs

    p = Path(source)
    if not p.exists():
        raise LawError(f"{source}: prior not found (give a fit JSON, a results folder or a loss table)")
    if p.suffix == ".json" and p.is_file():
        from isoflop.laws.document import read_fit

        return prior_from_result(read_fit(p).result, p.name)  # a LawError names what is wrong
    try:
        table = load_runs(p)
    except ScalingError as e:
        raise LawError(f"{source}: the prior is neither a fit JSON nor a loss table ({e})") from None
    return prior_from_result(analyze(table, methods="vpnls", n_bootstrap=bootstrap, seed=seed), p.name)
