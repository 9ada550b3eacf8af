"""The recommended run, trained and judged: ``scaling recommend --train DIR``.

The recommended config (:mod:`isoflop.design.recommend`) and the same shape at ×0.5 and ×2 its peak LR and its
batch are trained into one folder, each an ordinary run folder (``DIR/runs/<run_id>``, with ``runs.csv`` beside),
and judged on two counts: the recommended run's loss inside its predicted interval (which already carries twice
the sweep's seed noise), and the recommended run the best of the five, or within the sweep's seed noise σ of the
best (one draw each, so a difference under σ is not a finding). The wall time measured is set beside the one
predicted. The verdict goes to ``DIR/verdict.json``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from isoflop.design.recommend import Recommendation, at_batch
from isoflop.jsonio import write_json_atomic
from isoflop.train.spec import RunSpec


@dataclass(frozen=True)
class RecommendVerdict:
    """What the recommended run and its neighbours measured.

    Attributes:
        runs: label -> {run_id, lr, batch_size, loss, status, wall_time_s}.
        predicted_loss, loss_ci: the recommendation's expected loss and interval.
        loss_inside: the recommended run's loss lies inside ``loss_ci``.
        best: the label of the lowest loss.
        margin: the recommended loss minus the best (0 when it is the best).
        noise: the sweep's seed noise σ.
        best_or_within_noise: ``margin`` ≤ σ.
        predicted_s, measured_s: the recommended run's wall time, predicted and measured.
    """

    runs: dict
    predicted_loss: float | None
    loss_ci: tuple | None
    loss_inside: bool | None
    best: str
    margin: float
    noise: float
    best_or_within_noise: bool
    predicted_s: float
    measured_s: float

    def lines(self) -> list[str]:
        out = []
        for label, r in self.runs.items():
            loss = f"{r['loss']:.4f}" if r["loss"] is not None else r["status"]
            out.append(
                f"  {label:<12} lr {r['lr']:.4g}  batch {r['batch_size']:>3}  loss {loss}  "
                f"{r['wall_time_s'] or 0:.0f} s"
            )
        rec = self.runs["recommended"]["loss"]
        if self.loss_ci and rec is not None:
            where = "inside" if self.loss_inside else "OUTSIDE"
            out.append(
                f"recommended loss {rec:.4f}: {where} the predicted {self.predicted_loss:.4f} "
                f"({self.loss_ci[0]:.4f}-{self.loss_ci[1]:.4f})"
            )
        verdict = (
            "the best of them"
            if self.margin <= 0
            else f"{self.margin:.4f} nats above the best ({self.best}), "
            + ("within" if self.best_or_within_noise else "beyond")
            + f" the seed noise {self.noise:.4f}"
        )
        out.append(f"recommended run: {verdict}")
        out.append(
            f"wall time: {self.measured_s:.0f} s measured, {self.predicted_s:.0f} s predicted "
            f"({self.measured_s / self.predicted_s:.2f}x)"
            if self.predicted_s > 0
            else ""
        )
        return [x for x in out if x]

    def to_dict(self) -> dict:
        return asdict(self)


def variants(rec: Recommendation) -> list[tuple[str, RunSpec]]:
    """The recommended run and the same shape at ×0.5 and ×2 its peak LR and its batch: the LR variants keep the
    batch; the batch variants take the LR the recommendation's rules give at their own batch
    (:func:`~isoflop.design.recommend.at_batch`: each batch is tried at its best predicted LR). A batch that
    would fall under one sequence is left out."""
    assert rec.sweep is not None, "a recommendation made by recommend() carries its sweep"
    base = rec.spec
    tc = base.train
    lr = tc.peak_lr(base.model.d_model)
    out = [("recommended", base)]
    out += [(f"lr x{f:g}", replace(base, train=replace(tc, lr=float(f"{lr * f:.4g}")))) for f in (0.5, 2.0)]
    for f in (0.5, 2.0):
        b = int(round(tc.batch_size * f))
        if b >= 1 and b != tc.batch_size:
            out.append((f"batch x{f:g}", at_batch(rec.sweep, base, b)))
    return out


def run_recommendation(
    rec: Recommendation, folder: str | Path, executor, *, cache_dir: str | None = None
) -> RecommendVerdict:
    """Train the recommended run and its ×0.5/×2 LR and batch neighbours into ``folder`` (finished runs are
    kept: a rerun after a kill trains only what is missing), judge them, and write ``verdict.json``."""
    from isoflop.runs.store import finished_records, write_runs_csv
    from isoflop.sweep.worker import execute_run

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / "recommendation.json", rec.to_dict())
    runs = variants(rec)
    with executor:
        executor.map(execute_run, [(spec.to_dict(), str(root), cache_dir) for _, spec in runs])
    write_runs_csv(root)
    recs = {r.run_id: r for r in finished_records(root)}
    table: dict[str, dict] = {}
    losses: dict[str, float] = {}
    for label, spec in runs:
        r = recs.get(spec.run_id)
        loss = r.val_loss if r is not None and r.status == "ok" else None
        if loss is not None and math.isfinite(loss):
            losses[label] = float(loss)
        table[label] = {
            "run_id": spec.run_id,
            "lr": spec.train.lr,
            "batch_size": spec.train.batch_size,
            "loss": losses.get(label),
            "status": r.status if r is not None else "missing",
            "wall_time_s": r.wall_time_s if r is not None else None,
        }
    mine = losses.get("recommended")
    best = min(losses, key=losses.__getitem__) if losses else "recommended"
    margin = (mine - losses[best]) if mine is not None else math.inf
    inside = None if (mine is None or rec.loss_ci is None) else bool(rec.loss_ci[0] <= mine <= rec.loss_ci[1])
    v = RecommendVerdict(
        table,
        rec.loss,
        rec.loss_ci,
        inside,
        best,
        float(margin),
        rec.seed_noise,
        bool(margin <= rec.seed_noise),
        rec.seconds,
        float(table["recommended"]["wall_time_s"] or math.nan),
    )
    write_json_atomic(root / "verdict.json", v.to_dict())
    return v
