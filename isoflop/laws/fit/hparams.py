"""Fit a learning-rate and batch ladder: the best peak LR η* and batch size B* as power laws in (N, D, C, B).

A hyperparameter ladder trains a few cells (size N, budget C; the tokens D follow), each at a grid of batch
sizes B and, at every batch, a grid of peak LRs. Per cell and batch, η* and the loss there are the vertex of the
LR ladder (:func:`~isoflop.laws.fit.lr_ladder.ladder_point`); per cell, B* is the vertex of those losses over
log B, by the same estimator. The laws are then power laws fitted by least squares in log space,

    log10 η* = log10 η_ref + Σ_k e_k · (log10 x_k − log10 x_k,ref),   x_k among N, D, B,
    log10 B* = log10 B_ref + Σ_k e_k · (log10 x_k − log10 x_k,ref),   x_k among N, D, C,

whose variables are chosen by measurement: every candidate form is fitted with each cell left out in turn
and scored by its error on the cell it did not see (leave-one-cell-out, in decades), and the simplest form
whose mean squared error is within one standard error (over the cells) of the smallest is kept (Breiman et
al.'s one-standard-error rule: a variable more must earn its place by more than the scatter of the folds); the
others' errors are reported beside it, so the report says whether D or N carries the batch law. The literature's forms are among the candidates: DeepSeek LLM (2024) fits η_opt and B_opt in C;
Step Law (Li et al. 2025, arXiv 2503.04715) fits η* = 1.79·N^−0.713·D^0.307 and B* = 0.58·D^0.571; Power
Lines (arXiv 2505.13738) and Zhang et al. (2024, arXiv 2410.21676) find the batch growing with D, not N.
Intervals on the exponents are percentile intervals of a residual bootstrap. Batch sizes are in tokens per
step (sequences × sequence length), as the papers give them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from isoflop.errors import FitError
from isoflop.jsonio import dataclass_from_json, finite_json
from isoflop.laws.fit.lr_ladder import LadderPoint, ladder_point

#: Candidate forms of η*: the variables it is a power law in.
LR_FORMS: tuple[tuple[str, ...], ...] = (("N",), ("N", "D"), ("B",), ("N", "B"), ("D", "B"), ("N", "D", "B"))
#: Candidate forms of B*.
BATCH_FORMS: tuple[tuple[str, ...], ...] = (("D",), ("C",), ("N",), ("N", "D"))
SCHEMA = "scaling.hparam_rules/1"


@dataclass(frozen=True)
class PowerRule:
    """y = y_ref · Π_k (x_k / x_k,ref)^e_k, fitted to a ladder.

    Attributes:
        target: "lr" (η*, the peak LR) or "batch" (B*, tokens per step).
        variables: the x_k, among "N" (parameters), "D" (tokens), "C" (FLOPs), "B" (tokens per step).
        ref: x_k,ref, the geometric means of the fitted points.
        value: y_ref, the fitted y at ``ref``.
        exponents: e_k.
        exponents_ci: 95% bootstrap intervals of e_k (NaN without spare degrees of freedom).
        n_points: points fitted.
        cv_error: leave-one-cell-out RMS error in log10 y (NaN with too few cells).
        rms: in-sample RMS residual in log10 y.
        ranges: (lo, hi) of each x_k over the fitted points.
        forms: every candidate form tried and its leave-one-cell-out error.
        source: where the ladder came from.
        curvature: the median, over the fitted points, of the loss parabola's coefficient of (log10 y)² about
            its optimum (loss per decade²): the loss a value a factor r off the optimum gives up is about
            curvature · log10(r)² (:meth:`loss_given_up`). NaN when not measured.
        rivals: every form within one standard error of the best held-out error, the kept one among them, each as
            (variables, ref, value, exponents) fitted to every point: forms the ladder cannot tell apart, whose
            disagreement where the rule is used is model-form uncertainty (:meth:`spread`).
    """

    target: str
    variables: tuple[str, ...]
    ref: tuple[float, ...]
    value: float
    exponents: tuple[float, ...]
    exponents_ci: tuple[tuple[float, float], ...]
    n_points: int
    cv_error: float
    rms: float
    ranges: tuple[tuple[float, float], ...]
    forms: tuple[tuple[tuple[str, ...], float], ...] = ()
    source: str = ""
    curvature: float = math.nan
    rivals: tuple = ()

    def spread(self, **x: float) -> tuple[float, float]:
        """The lowest and highest y that the forms the ladder cannot tell apart (:attr:`rivals`) give at ``x``
        (this rule's own y twice without rivals)."""
        ys = [self.predict(**x), *(_power_law(value, v, ref, e, x) for v, ref, value, e in self.rivals)]
        return float(min(ys)), float(max(ys))

    def loss_given_up(self, ratio: float) -> float:
        """The loss a value ``ratio`` times the optimum gives up, by the ladder's median curvature (NaN when
        not measured)."""
        return float(self.curvature * math.log10(ratio) ** 2)

    def predict(self, **x: float) -> float:
        """y at the given variables (each of :attr:`variables` must be given, positive)."""
        missing = [v for v in self.variables if v not in x]
        if missing:
            raise FitError(f"{self.target} rule needs {', '.join(missing)}")
        return _power_law(self.value, self.variables, self.ref, self.exponents, x)

    def extrapolation(self, **x: float) -> dict[str, float]:
        """Each variable outside its fitted range -> the factor beyond it (x/hi or lo/x)."""
        out = {}
        for v, (lo, hi) in zip(self.variables, self.ranges):
            if v in x and x[v] > hi * (1 + 1e-9):
                out[v] = x[v] / hi
            elif v in x and x[v] < lo * (1 - 1e-9):
                out[v] = lo / x[v]
        return out

    def describe(self) -> str:
        sym = "eta*" if self.target == "lr" else "B*"
        terms = []
        for v, r, e, ci in zip(self.variables, self.ref, self.exponents, self.exponents_ci):
            band = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if all(map(math.isfinite, ci)) else ""
            terms.append(f"({v}/{r:.3g})^{e:.3f}{band}")
        cv = f", leave-one-cell-out error {self.cv_error:.3f} decades" if math.isfinite(self.cv_error) else ""
        return f"{sym} = {self.value:.4g} * {' * '.join(terms)} ({self.n_points} points{cv})"

    def to_dict(self) -> dict:
        return finite_json(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> PowerRule:
        nan = lambda v: float("nan") if v is None else float(v)  # noqa: E731
        return dataclass_from_json(
            cls,
            d,
            exponents_ci=lambda v: tuple((nan(a), nan(b)) for a, b in v),
            ranges=lambda v: tuple(tuple(r) for r in v),
            forms=lambda v: tuple((tuple(f), nan(e)) for f, e in v),
            rivals=lambda v: tuple((tuple(f), tuple(r), float(y), tuple(e)) for f, r, y, e in v),
        )


def _power_law(value: float, variables, ref, exponents, x: dict) -> float:
    """value · Π_k (x_k / ref_k)^e_k, in log10 (a rule's form, or one of its rivals)."""
    out = math.log10(value)
    for v, r, e in zip(variables, ref, exponents):
        out += e * (math.log10(x[v]) - math.log10(r))
    return float(10**out)


@dataclass(frozen=True)
class Cell:
    """One (N, C) cell of a ladder: an LR ladder at each batch, and the batch that minimised the loss.

    Attributes:
        n_params, budget, tokens: N, C and D (the mean over the cell's runs).
        batches: the batch sizes (tokens per step), ascending.
        lr_points: the LR ladder at each batch (:class:`LadderPoint`; its vertex is η* there).
        batch_opt, loss_opt: B* and the loss at it (NaN unless ``status`` is "ok").
        batch_curvature: the loss parabola's coefficient of (log10 B)² about B* (loss per decade²; NaN unless "ok").
        status, reason: as an LR ladder point's, over the batches ("edge": the lowest loss at an end of the grid).
        tokens_per_second: measured throughput at each batch (NaN where no run recorded it).
    """

    n_params: float
    budget: float
    tokens: float
    batches: tuple[float, ...]
    lr_points: tuple[LadderPoint, ...]
    batch_opt: float = math.nan
    loss_opt: float = math.nan
    status: str = "ok"
    reason: str = ""
    tokens_per_second: tuple[float, ...] = ()
    batch_curvature: float = math.nan

    def loss_at(self, batch: float) -> float:
        """The loss at the best LR of the grid's batch ``batch`` (its LR vertex, else its lowest loss)."""
        for b, p in zip(self.batches, self.lr_points):
            if math.isclose(b, batch, rel_tol=1e-9):
                return p.loss_opt if math.isfinite(p.loss_opt) else min(p.losses)
        raise FitError(f"batch {batch:g} is not in the cell's grid ({', '.join(f'{b:g}' for b in self.batches)})")

    def seconds(self, batch: float) -> float:
        """Time to train the cell's D tokens at ``batch``, from the throughput interpolated in log B."""
        tps = np.asarray(self.tokens_per_second, dtype=float)
        ok = np.isfinite(tps) & (tps > 0)
        if ok.sum() < 1:
            return math.nan
        lb = np.log10(np.asarray(self.batches)[ok])
        return float(self.tokens / 10 ** np.interp(math.log10(batch), lb, np.log10(tps[ok])))


@dataclass(frozen=True)
class HyperLadderFit:
    """Every cell of a ladder and the rules fitted to them (None, with a message, where a rule could not be)."""

    cells: tuple[Cell, ...]
    lr_rule: PowerRule | None
    batch_rule: PowerRule | None
    messages: dict = field(default_factory=dict)

    @property
    def used(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.status == "ok")


def fit_hparam_ladder(
    n_params, budget, tokens, batch, lr, loss, *, tokens_per_second=None, source: str = "", rng=None, n_boot=2000
) -> HyperLadderFit:
    """Fit η* and B* to a ladder's runs (one entry per finished run).

    Args:
        n_params, budget, tokens: N, C and D of each run.
        batch: tokens per step of each run.
        lr, loss: peak LR and final loss.
        tokens_per_second: measured throughput of each run (optional; sets :meth:`Cell.seconds`).
        source: where the runs came from, kept in the rules.
        rng: a ``numpy.random.Generator`` for the bootstrap (default: seeded 0).
        n_boot: bootstrap resamples.

    Raises:
        FitError: arrays of different lengths, non-finite or non-positive values, or one batch size only.
    """
    arrays = [np.asarray(a, dtype=float) for a in (n_params, budget, tokens, batch, lr, loss)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise FitError("n_params, budget, tokens, batch, lr and loss must be 1-D and of one length")
    n, c, d, b, eta, y = arrays
    if not (np.all(np.isfinite(arrays)) and np.all(np.stack(arrays[:5]) > 0)):
        raise FitError("a ladder's sizes, budgets, tokens, batches and LRs must be finite and positive")
    if np.unique(b).size < 2:
        raise FitError(f"a batch ladder needs two or more batch sizes, got {np.unique(b).size} ({b[0]:g})")
    tps = np.full(n.size, np.nan) if tokens_per_second is None else np.asarray(tokens_per_second, dtype=float)
    rng = rng if rng is not None else np.random.default_rng(0)
    cells = []
    for ni, ci in sorted({(float(x), float(z)) for x, z in zip(n, c)}):
        m = (n == ni) & (c == ci)
        grid = np.unique(b[m])
        pts = tuple(ladder_point(ni, ci, eta[m & (b == g)], y[m & (b == g)]) for g in grid)
        speed = tuple(
            float(np.nanmean(tps[m & (b == g)])) if np.any(np.isfinite(tps[m & (b == g)])) else math.nan for g in grid
        )
        cells.append(_cell(ni, ci, float(np.mean(d[m])), tuple(map(float, grid)), pts, speed))
    lr_rows = [
        ({"N": cl.n_params, "D": cl.tokens, "B": bb}, p.lr_opt, i, p.curvature)
        for i, cl in enumerate(cells)
        for bb, p in zip(cl.batches, cl.lr_points)
        if p.status == "ok"
    ]
    batch_rows = [
        ({"N": cl.n_params, "D": cl.tokens, "C": cl.budget}, cl.batch_opt, i, cl.batch_curvature)
        for i, cl in enumerate(cells)
        if cl.status == "ok"
    ]
    messages: dict[str, str] = {}
    rules: dict[str, PowerRule | None] = {}
    for target, rows, forms in (("lr", lr_rows, LR_FORMS), ("batch", batch_rows, BATCH_FORMS)):
        try:
            rules[target] = fit_rule(target, rows, forms, rng, n_boot, source)
        except FitError as e:
            rules[target] = None
            messages[target] = str(e)
    return HyperLadderFit(tuple(cells), rules["lr"], rules["batch"], messages)


def _cell(n: float, c: float, d: float, grid: tuple, pts: tuple, speed: tuple) -> Cell:
    """A cell with B* the vertex of its batches' losses (each at its best LR), as :func:`ladder_point` finds an
    LR's vertex; a batch whose LR ladder has no vertex gives its lowest loss."""
    losses = [p.loss_opt if math.isfinite(p.loss_opt) else min(p.losses) for p in pts]
    best = ladder_point(n, c, grid, losses)
    if best.status != "ok":
        reason = best.reason.replace("learning rates", "batch sizes").replace("LR", "batch size")
        return Cell(n, c, d, grid, pts, status=best.status, reason=reason, tokens_per_second=speed)
    return Cell(n, c, d, grid, pts, best.lr_opt, best.loss_opt, tokens_per_second=speed, batch_curvature=best.curvature)


def _design(rows, form) -> tuple[np.ndarray, np.ndarray]:
    return np.array([[math.log10(r[0][v]) for v in form] for r in rows]), np.log10([r[1] for r in rows])


def _identified(X: np.ndarray) -> bool:
    """Whether the centred columns of X and an intercept are linearly independent (the form can be fitted)."""
    return bool(np.linalg.matrix_rank(np.c_[np.ones(len(X)), X - X.mean(axis=0)]) == X.shape[1] + 1)


def _lstsq(X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(intercept, slopes, centre) of y on the columns of X, centred."""
    centre = X.mean(axis=0)
    A = np.c_[np.ones(len(y)), X - centre]
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return float(coef[0]), coef[1:], centre


def _cv(rows, form) -> tuple[float, float]:
    """Leave-one-cell-out mean squared error (decades²) of a form and its standard error over the cells, NaN
    when a fold leaves too few points or cells."""
    cells = sorted({r[2] for r in rows})
    folds = []
    for k in cells:
        train = [r for r in rows if r[2] != k]
        test = [r for r in rows if r[2] == k]
        if len(train) <= len(form) + 1 or len({r[2] for r in train}) <= len(form):
            return math.nan, math.nan
        X, y = _design(train, form)
        if not _identified(X):
            return math.nan, math.nan
        a, e, centre = _lstsq(X, y)
        Xt, yt = _design(test, form)
        folds.append(float(np.mean((a + (Xt - centre) @ e - yt) ** 2)))
    f = np.array(folds)
    return float(f.mean()), float(f.std(ddof=1) / math.sqrt(f.size)) if f.size > 1 else math.nan


def fit_rule(target: str, rows: list, forms, rng, n_boot: int, source: str = "") -> PowerRule:
    """The simplest candidate form within one standard error of the smallest leave-one-cell-out error, fitted
    to every row.

    Args:
        rows: (variables -> value, y, cell index[, loss curvature about y]) per point.
        forms: candidate variable tuples, in order of preference on ties (the first is the simplest).

    Raises:
        FitError: fewer than two cells, or no form that the points identify.
    """
    if len({r[2] for r in rows}) < 2:
        raise FitError(f"{len({r[2] for r in rows})} cell(s) with an optimum inside the grid; a {target} law needs 2")
    cv = {}
    for form in forms:
        X, y = _design(rows, form)
        if _identified(X) and len(y) > len(form) + 1:
            cv[form] = _cv(rows, form)
    if not cv:
        raise FitError(f"no form of the {target} law is identified by {len(rows)} points")
    finite = {f: v for f, v in cv.items() if math.isfinite(v[0])}
    close: list[tuple[str, ...]] = []
    if finite:  # the one-standard-error rule: the simplest form within one SE of the best
        best = min(finite, key=lambda f: finite[f][0])
        bar = finite[best][0] + (finite[best][1] if math.isfinite(finite[best][1]) else 0.0)
        close = [f for f, v in finite.items() if v[0] <= bar]
        form = min(close, key=lambda f: (len(f), finite[f][0]))
    else:
        form = next(iter(cv))
    rivals = []
    for f in close:
        Xf, yf = _design(rows, f)
        af, ef, cf = _lstsq(Xf, yf)
        rivals.append((tuple(f), tuple(float(10**c) for c in cf), float(10**af), tuple(float(e) for e in ef)))
    scored = [(f, math.sqrt(v[0]) if math.isfinite(v[0]) else math.nan) for f, v in cv.items()]
    X, y = _design(rows, form)
    a, e, centre = _lstsq(X, y)
    fitted = a + (X - centre) @ e
    resid = y - fitted
    dof = len(y) - len(form) - 1
    ci = tuple((math.nan, math.nan) for _ in form)
    if dof > 0 and n_boot > 0:
        r = (resid - resid.mean()) * math.sqrt(len(y) / dof)
        boot = np.array([_lstsq(X, fitted + rng.choice(r, size=r.size))[1] for _ in range(n_boot)])
        ci = tuple((float(lo), float(hi)) for lo, hi in np.percentile(boot, [2.5, 97.5], axis=0).T)
    return PowerRule(
        target,
        tuple(form),
        tuple(float(10**x) for x in centre),
        float(10**a),
        tuple(float(x) for x in e),
        ci,
        len(y),
        dict(scored)[form],
        float(np.sqrt(np.mean(resid**2))),
        tuple((float(10 ** X[:, k].min()), float(10 ** X[:, k].max())) for k in range(len(form))),
        tuple(scored),
        source,
        _median_curvature(rows),
        tuple(rivals),
    )


def _median_curvature(rows) -> float:
    """The median loss curvature the rows carry (their 4th element), NaN without one."""
    k = [r[3] for r in rows if len(r) > 3 and math.isfinite(r[3]) and r[3] > 0]
    return float(np.median(k)) if k else math.nan
