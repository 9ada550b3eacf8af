"""IsoFLOP grids read from loss-curve laws: how close are their points, vertices and answer to trained ones?

Run:  python benchmarks/bench_profiles.py [--law results/answer-law] [--full results/answer] [--bootstrap 1000]
      [--parts law lengths identification pairs]

Four measurements, all against trained cooldown ends of the same WSD trunks:

* **The law design** (``--law``, a ``cooldowns = "law"`` folder: each trunk with its smallest and largest
  budget's cooldowns). Its grid (:func:`isoflop.laws.curves.profiles.profiles`) is compared with ``--full``,
  the sweep that trained every cooldown of the same trunks (the law folder's run ids are a subset of its):
  the mean and worst |error| of the predicted points held out; each budget's Approach 2 vertex from the law's
  grid against the one from the trained points of the same trunks; and the answer at 1e15 with its width,
  beside the answers of those trained points and of the whole ``--full`` folder, with each one's FLOPs. The
  joint law (shared exponents), the joint law with each trunk's own α, and the per-trunk one are measured;
  the answer both with the law's bootstrap draws in its intervals (as ``scaling fit`` reads a law folder)
  and with the law taken as exact; and how often the draws' 95% band holds the held-out ends.
* **Held-out lengths** (``--full`` alone). Each trunk of ``--full`` is cut back to the lowest budgets of the
  sweep (``--lengths-from``: the lower 4 of 7, up to 2.8x out, and the lower 3, up to 4x out): its cooldowns
  at those budgets, and its stable phase up to the last of their branch points. Its law
  then predicts the top budgets' ends (the stable phase continued at its LR, ``extend=True``), up to
  ``top / half`` times longer than any run it was fitted to, and the trained ends judge it; so do the top
  budgets' vertices.
* **What two cooldowns leave unidentified** (``--full`` alone). The joint law (each trunk its own α) is fitted
  to every cooldown of ``--full`` and to each trunk's shortest and longest only. Fitted to every one, the law
  plus a gap line through all of a trunk's ends gives how closely the form can follow the trained ends at all
  (in sample). Fitted to two, each held-out end's error splits into the law's training loss there moving from
  the every-cooldown fit's, and the gap line through the two ends missing the gap (validation − the
  every-cooldown law) there.
* **Which two cooldowns** (``--full`` alone, :data:`PAIRS`). The same law fitted to each trunk's shortest and
  longest cooldown, shortest and middle, middle and longest, or second and second-longest: the held-out ends'
  error, between the two fitted and beyond them (the planner chooses where a law sweep's two cooldowns go).
  Also three (shortest, middle, longest; the gap then runs on the broken line through the three ends), which a
  law sweep does not train today, to show what a third cooldown buys; each choice with its FLOPs (the trunks
  to their last branch point, plus the cooldowns trained) against training every cooldown of those trunks.

The seed noise of ``--full`` (the relative spread of one point's final loss across seeds) is printed for scale.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from isoflop.laws.analyze import analyze
from isoflop.laws.answer import choose_answer
from isoflop.laws.curves.fits import normal_band
from isoflop.laws.curves.grid import DRAWS, with_seed_noise
from isoflop.laws.curves.law import Schedule
from isoflop.laws.curves.profiles import SAME_BUDGET, check_against, profiles, trained_budgets
from isoflop.laws.curves.table import curves_from_frame, load_curves
from isoflop.laws.table_io import load_runs
from isoflop.runs.cost import folder_cost
from isoflop.runs.store import curve_frame, read_manifest, runs_frame

TARGET = 1e15
#: The laws compared: all nonlinear parameters shared, each trunk its own exponent α, or each trunk alone.
LAWS = {
    "joint": {"joint": True},
    "joint, alpha per trunk": {"joint": True, "own": ("alpha",)},
    "per-trunk": {"joint": False},
}


def _trained(runs: pd.DataFrame) -> pd.DataFrame:
    """The ok branch ends of a runs table, as a loss table."""
    ok = runs[(runs["status"] == "ok") & runs["loss"].notna()]
    return ok[["run_id", "params", "tokens", "flops", "budget", "loss"]]


def _fit(frame: pd.DataFrame, n_bootstrap: int, draws=None):
    table = load_runs(frame)
    r = analyze(replace(table, draws=draws) if draws is not None else table, targets=(TARGET,), n_bootstrap=n_bootstrap)
    return r, choose_answer(r, TARGET)


def _vertices(result) -> dict[float, float]:
    f2 = result.approach2
    return {} if f2 is None else {float(b.flops): float(b.optimal_params) for b in f2.budgets}


def _answer(a) -> str:
    if a.params is None:
        return f"no answer ({a.reason})"
    w = f", {a.params_ci[1] / a.params_ci[0]:.2f}x wide" if a.params_ci else ""
    return f"N_opt {a.params:.3g}{w} ({a.method})"


def _errors(check: pd.DataFrame) -> str:
    held = check[~check["fitted"]]
    if not len(held):
        return "no held-out end"
    e = held["error"].abs()
    return f"mean {e.mean():.2%}, worst {e.max():.2%}, bias {held['error'].mean():+.2%} (n={len(held)})"


def _draw_band(prof, check: pd.DataFrame) -> str:
    """How often the law's draws hold a held-out trained end within their 95% band, before and after removing
    the held-out ends' common offset (which moves no vertex), and the draws' median relative spread. The band
    is the normal bootstrap interval about the point's prediction (:func:`~isoflop.laws.curves.fits.normal_band`)."""
    held = check[~check["fitted"]]
    band = {f"{p.trunk}@{p.budget:.4g}": normal_band(p.predicted, p.draws) for p in prof.points if p.draws}
    spread = np.median([np.std(p.draws) / p.predicted for p in prof.points if p.draws and p.source == "predicted"])
    if not len(held) or not band:
        return "no draws"
    lo, hi = np.array([band[r] for r in held["run"]]).T
    y = held["trained"].to_numpy()
    offset = float(np.median(held["predicted"] / held["trained"]))
    inside = int(((lo <= y) & (y <= hi)).sum())
    centred = int(((lo / offset <= y) & (y <= hi / offset)).sum())
    return (
        f"draws' 95% band holds {inside}/{len(held)} held-out ends, {centred}/{len(held)} once their common "
        f"offset ({offset - 1:+.2%}) is removed; the draws' median spread {spread:.2%}"
    )


def _vertex_line(law: dict, trained: dict, budgets) -> str:
    out = []
    for c in budgets:
        a = next((v for k, v in law.items() if abs(k / c - 1) <= SAME_BUDGET), np.nan)
        b = next((v for k, v in trained.items() if abs(k / c - 1) <= SAME_BUDGET), np.nan)
        out.append(f"{a / b - 1:+.1%}" if np.isfinite(a) and np.isfinite(b) else "-")
    return ", ".join(out)


def seed_noise(runs: pd.DataFrame) -> float:
    ok = runs[(runs["status"] == "ok") & runs["loss"].notna()]
    g = ok.groupby([ok["params"], ok["budget"]])["loss"]
    rel = (g.std() / g.mean()).dropna()
    return float(rel.mean())


def noise_split(runs: pd.DataFrame) -> tuple[float, float, int]:
    """How much of a point's seed noise its trunk's cooldowns share: each end's relative deviation from the mean of
    its point's seeds, split into its trunk's mean deviation and the rest (rms of each, over the ends of trunks
    with 3 or more cooldowns at points with 3 seeds). A law fitted to a trunk's own cooldowns carries the shared
    part; only the rest bounds how closely it can predict the trunk's other ends."""
    ok = runs[(runs["status"] == "ok") & runs["loss"].notna()].copy()
    g = ok.groupby(["params", "budget"])["loss"]
    ok = ok[g.transform("size") == 3]
    ok["dev"] = ok["loss"] / ok.groupby(["params", "budget"])["loss"].transform("mean") - 1
    by_trunk = ok.groupby("trunk_id")["dev"]
    ok = ok[by_trunk.transform("size") >= 3]
    shared = ok.groupby("trunk_id")["dev"].transform("mean")
    rms = lambda v: float(np.sqrt(np.mean(np.square(v))))  # noqa: E731
    return rms(shared), rms(ok["dev"] - shared), len(ok)


def _positions(n: int, pos) -> list[int]:
    """The indices, among a trunk's ``n`` cooldowns (shortest first), of the positions ``pos`` of :data:`PAIRS`."""
    return sorted({n // 2 if i == "mid" else i % n for i in pos})


def _seed_deviations(runs: pd.DataFrame) -> list[pd.DataFrame]:
    """Per trunk with 5 or more cooldowns at points with 3 or more seeds, its ends (shortest first) with ``dev``:
    each end's relative deviation from the mean of its point's seeds, scaled by √(k / (k − 1)) for k seeds (the
    deviation from the true mean)."""
    ok = runs[(runs["status"] == "ok") & runs["loss"].notna()].copy()
    k = ok.groupby(["params", "budget"])["loss"].transform("size")
    ok, k = ok[k >= 3], k[k >= 3]
    ok["dev"] = (ok["loss"] / ok.groupby(["params", "budget"])["loss"].transform("mean") - 1) * np.sqrt(k / (k - 1))
    return [t.sort_values("budget") for _, t in ok.groupby("trunk_id") if len(t) >= 5]


def noise_floor(runs: pd.DataFrame, pos) -> tuple[float, float, float, float, int]:
    """What seed noise alone leaves for a prediction through a trunk's cooldowns at positions ``pos``.

    A law exactly right for the seeds' mean, plus the gap line (:func:`_gap_line`, in log budget) through the
    trunk's fitted ends, would miss each held-out end by its seed deviation (:func:`_seed_deviations`) less that
    line through the fitted ends' deviations: the first mean and worst. The second pair is the best any linear
    rule could do from the fitted ends' deviations: each held-out deviation predicted by its regression on them
    (their covariance over the other trunks, leave-one-trunk-out; trunks with the most common number of
    cooldowns). Returns (line mean, line worst, best mean, best worst, n held-out ends)."""
    trunks = _seed_deviations(runs)
    if not trunks:
        return (np.nan,) * 4 + (0,)
    line = []
    for t in trunks:
        x, dev = np.log(t["budget"].to_numpy(float)), t["dev"].to_numpy(float)
        at = _positions(len(t), pos)
        miss = np.abs(dev - _gap_line(x, dev, at))
        line += [miss[j] for j in range(len(t)) if j not in at]
    n = pd.Series([len(t) for t in trunks]).mode()[0]
    dev = np.array([t["dev"].to_numpy(float) for t in trunks if len(t) == n])
    at = _positions(n, pos)
    held = [j for j in range(n) if j not in at]
    best = []
    for i in range(len(dev)):
        rest = np.delete(dev, i, axis=0)
        cov = rest.T @ rest / len(rest)
        w = cov[np.ix_(held, at)] @ np.linalg.inv(cov[np.ix_(at, at)])
        best += list(np.abs(dev[i, held] - w @ dev[i, at]))
    return float(np.mean(line)), float(np.max(line)), float(np.mean(best)), float(np.max(best)), len(line)


def law_design(law_dir: str, full_dir: str, n_bootstrap: int, offset: bool = True) -> None:
    runs = runs_frame(full_dir)
    budgets = tuple(read_manifest(law_dir)["budgets"])
    curves = load_curves(law_dir)
    trunks = {c.run for c in curves.curves if c.parent is None}
    law_runs = runs_frame(law_dir)
    law_cost = folder_cost(law_dir).flops  # each trunk once, with its cooldowns
    trunk_cost = law_cost - float(law_runs["cost_flops"].sum())  # the same trunks, grown as far in --full
    of_same = runs[runs["trunk_id"].map(lambda t: f"trunk:{t}" in trunks)]  # the same trunks' runs in --full
    r_same, a_same = _fit(_trained(of_same), n_bootstrap)
    r_full, a_full = _fit(_trained(runs), n_bootstrap)
    full_cost = folder_cost(full_dir).flops
    same_cost = trunk_cost + float(of_same["cost_flops"].sum())
    print(f"law design: {law_dir} ({len(trunks)} trunks) against {full_dir}")
    print(f"  trained, every cooldown of {full_dir}: {_answer(a_full)} at {TARGET:.0e}; {full_cost:.3g} FLOPs")
    print(
        f"  trained, every cooldown of the same {len(trunks)} trunks: {_answer(a_same)}; {same_cost:.3g} FLOPs "
        f"({same_cost / full_cost:.0%})"
    )
    for name, kind in LAWS.items():
        t0 = time.perf_counter()
        law_only = profiles(curves, budgets, **kind, draws=DRAWS, offset=offset)
        prof, sigma = with_seed_noise(law_only, np.random.default_rng(1))
        wall = time.perf_counter() - t0
        r_law, a_law = _fit(prof.frame(), n_bootstrap)
        _, a_drawn = _fit(prof.frame(), n_bootstrap, prof.loss_draws())
        n_pred = sum(p.source == "predicted" for p in prof.points)
        print(
            f"  {name} law ({wall:.0f} s to fit it and {prof.draws} bootstrap draws; {n_pred} of "
            f"{len(prof.points)} points predicted):"
        )
        check = check_against(prof, runs)
        print(f"    held-out points: {_errors(check)}")
        print(f"    the law's draws alone: {_draw_band(law_only, check)}")
        print(f"    with one run's noise (the folder's seeds: {sigma:.2%}): {_draw_band(prof, check)}")
        print(
            f"    Approach 2 vertices, law grid vs trained: {_vertex_line(_vertices(r_law), _vertices(r_same), budgets)}"
        )
        print(f"    answer: {_answer(a_drawn)}; {law_cost:.3g} FLOPs ({law_cost / full_cost:.0%} of {full_dir}'s)")
        print(f"    answer with the law taken as exact (no draws): {_answer(a_law)}")


def held_out_lengths(full_dir: str, n_bootstrap: int, fitted: int | None = None, offset: bool = True) -> None:
    doc = read_manifest(full_dir)
    budgets = tuple(sorted(doc["budgets"]))
    half = budgets[: fitted or (len(budgets) + 1) // 2]
    top = budgets[len(half) :]
    df = curve_frame(full_dir)
    # A branch of a budget in the lower half: its end's FLOPs are at most the half's top budget.
    ends = df[df["parent"].notna()].groupby("run")["flops"].max()
    keep = set(ends.index[ends <= half[-1] * (1 + SAME_BUDGET)])
    cut = df[df["run"].isin(keep)].groupby("parent")["branch_step"].max()
    trunk_rows = df["parent"].isna() & df["run"].map(lambda r: r in cut.index)
    trunk_rows &= df["step"] <= df["run"].map(cut).fillna(-1)
    sub = df[trunk_rows | df["run"].isin(keep)]
    table = curves_from_frame(sub.reset_index(drop=True), f"{full_dir} (cut to the budgets <= {half[-1]:.3g})")
    runs = runs_frame(full_dir)
    r_trained, _ = _fit(_trained(runs), n_bootstrap)
    print(
        f"held-out lengths: {full_dir}, fitted to the budgets {half[0]:.3g}..{half[-1]:.3g}, predicting "
        f"{top[0]:.3g}..{top[-1]:.3g} (up to {top[-1] / half[-1]:.1f}x longer)"
    )
    for name, kind in LAWS.items():
        prof = profiles(table, budgets, **kind, extend=True, offset=offset)
        check = check_against(prof, runs)
        check = check[check["budget"] >= top[0] * (1 - SAME_BUDGET)]
        r_law, _ = _fit(prof.frame(), n_bootstrap)
        by = ", ".join(
            f"{c:.3g}: {check[np.isclose(check['budget'], c)]['error'].abs().mean():.2%}"
            for c in top
            if np.isclose(check["budget"], c).any()
        )
        print(f"  {name}: top budgets' ends {_errors(check)}; mean by budget {by}")
        print(
            f"    Approach 2 vertices at the top budgets, law vs trained: {_vertex_line(_vertices(r_law), _vertices(r_trained), top)}"
        )


def identification(full_dir: str, own=("alpha",), offset: bool = True) -> None:
    curves = load_curves(full_dir)
    budgets = trained_budgets(curves)
    ends = {t.run: curves.trained_branches(t.run) for t in curves.curves if t.parent is None}
    two = {bs[i].run for bs in ends.values() if bs for i in (0, -1)}
    t0 = time.perf_counter()
    every = {t.trunk: t.fit for t in profiles(curves, budgets, own=own, offset=offset).trunks}
    outer = {t.trunk: t.fit for t in profiles(curves, budgets, own=own, fit_runs=two, offset=offset).trunks}
    wall = time.perf_counter() - t0
    inside, held, shift, gap_miss = [], [], [], []
    for trunk, bs in ends.items():
        fa, f2 = every.get(trunk), outer.get(trunk)
        if len(bs) < 2 or fa is None or f2 is None or not (fa.success and f2.success):
            continue
        fulls = [curves.full(b.run) for b in bs]
        at = [Schedule.from_rows(f.step, f.lr, [f.end]) for f in fulls]
        la = np.array([fa.law.predict(s)[0] for s in at])
        l2 = np.array([f2.law.predict(s)[0] for s in at])
        val = np.array([b.final_val for b in bs], dtype=float)
        x = np.log([f.end for f in fulls])
        gap = val - la  # the gap under the every-cooldown law
        inside += list((la + np.polyval(np.polyfit(x, gap, 1), x)) / val - 1)
        line2 = np.polyfit(x[[0, -1]], (val - l2)[[0, -1]], 1)
        mid = slice(1, len(bs) - 1)
        held += list((l2 + np.polyval(line2, x))[mid] / val[mid] - 1)
        shift += list(((l2 - la) / val)[mid])
        gap_miss += list(((np.polyval(line2, x) - gap) / val)[mid])
    a = lambda v: np.abs(np.asarray(v))  # noqa: E731
    print(
        f"what two cooldowns leave unidentified: {full_dir}, joint law, own={own or 'none'} ({wall:.0f} s for both fits)"
    )
    print(
        f"  fitted to every cooldown, law + gap line through every end: mean {a(inside).mean():.2%}, worst {a(inside).max():.2%} (n={len(inside)}, in sample)"
    )
    print(
        f"  fitted to the shortest and longest: held-out ends mean {a(held).mean():.2%}, worst {a(held).max():.2%} (n={len(held)})"
    )
    print(
        f"    of which the law's training loss moving from the every-cooldown fit's: mean {a(shift).mean():.2%}; "
        f"the gap line missing the gap: mean {a(gap_miss).mean():.2%} (the two partly cancel)"
    )


#: Which two cooldowns of a trunk's (shortest first) the law is fitted to, by position.
PAIRS = {
    "shortest, longest": (0, -1),
    "shortest, middle": (0, "mid"),
    "middle, longest": ("mid", -1),
    "second, second-longest": (1, -2),
    "shortest, second-longest": (0, -2),
    "second, longest": (1, -1),
    "shortest, middle, longest": (0, "mid", -1),
}


def _gap_line(x: np.ndarray, gap: np.ndarray, fitted: list[int]) -> np.ndarray:
    """The gap at every end from the fitted ends' gaps: the line through two; through more, the broken line
    through them (continued past the outer ones along its end segments)."""
    if len(fitted) == 2:
        return np.polyval(np.polyfit(x[fitted], gap[fitted], 1), x)
    xs, gs = x[fitted], gap[fitted]
    out = np.interp(x, xs, gs)
    lo, hi = x < xs[0], x > xs[-1]
    out[lo] = gs[0] + (x[lo] - xs[0]) * (gs[1] - gs[0]) / (xs[1] - xs[0])
    out[hi] = gs[-1] + (x[hi] - xs[-1]) * (gs[-1] - gs[-2]) / (xs[-1] - xs[-2])
    return out


def cooldown_pairs(full_dir: str, own=("alpha",), offset: bool = True) -> None:
    curves = load_curves(full_dir)
    budgets = trained_budgets(curves)
    ends = {t.run: curves.trained_branches(t.run) for t in curves.curves if t.parent is None}
    ends = {t: bs for t, bs in ends.items() if len(bs) >= 5}
    law = f"joint law, {', '.join(own)} per trunk" if own else "joint law"
    print(f"which cooldowns: {full_dir}, the {len(ends)} trunks with 5 or more, {law}")
    runs = runs_frame(full_dir).set_index("run_id")
    cost = {b.run: float(runs.loc[b.run, "cost_flops"]) for bs in ends.values() for b in bs}
    trunk = {t: max(float(runs.loc[b.run, "flops"]) - cost[b.run] for b in bs) for t, bs in ends.items()}
    every = sum(trunk.values()) + sum(cost.values())
    for name, pos in PAIRS.items():
        at = {t: _positions(len(bs), pos) for t, bs in ends.items()}
        t0 = time.perf_counter()
        fits = {
            t.trunk: t.fit
            for t in profiles(
                curves,
                budgets,
                own=own,
                fit_runs={bs[i].run for t, bs in ends.items() for i in at[t]},
                offset=offset,
            ).trunks
        }
        inner, outer = [], []
        for t, bs in ends.items():
            f = fits.get(t)
            if f is None or not f.success:
                continue
            fulls = [curves.full(b.run) for b in bs]
            law = np.array([f.law.predict(Schedule.from_rows(c.step, c.lr, [c.end]))[0] for c in fulls])
            val = np.array([b.final_val for b in bs], dtype=float)
            x = np.log([c.end for c in fulls])
            err = (law + _gap_line(x, val - law, at[t])) / val - 1
            for k in range(len(bs)):
                if k not in at[t]:
                    (inner if at[t][0] < k < at[t][-1] else outer).append(abs(err[k]))
        both = inner + outer
        flops = sum(trunk.values()) + sum(cost[bs[i].run] for t, bs in ends.items() for i in at[t])
        fm, fw, bm, bw, fn = noise_floor(runs.reset_index(), pos)
        floor = f"; seed noise alone: the same line {fm:.2%} / {fw:.2%}, at best {bm:.2%} / {bw:.2%}" if fn else ""
        print(
            f"  {name:26s} held-out ends mean {np.mean(both):.2%}, worst {np.max(both):.2%} (n={len(both)}); between "
            f"the fitted {np.mean(inner) if inner else np.nan:.2%} (n={len(inner)}), beyond them "
            f"{np.mean(outer) if outer else np.nan:.2%} (n={len(outer)}); {flops / every:.0%} of the FLOPs of every "
            f"cooldown{floor}; {time.perf_counter() - t0:.0f} s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--law", default="results/answer-law")
    ap.add_argument("--full", default="results/answer")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument(
        "--lengths-from",
        type=int,
        nargs="*",
        default=[4, 3],
        help="held-out lengths: fit on this many of the lowest budgets (each a separate measurement)",
    )
    ap.add_argument(
        "--parts",
        nargs="*",
        choices=("law", "lengths", "identification", "pairs"),
        default=["law", "lengths", "identification", "pairs"],
        help="which measurements to run",
    )
    ap.add_argument(
        "--own",
        nargs="*",
        default=["alpha"],
        help="the nonlinear parameters each trunk fits for itself in the identification and pairs parts (none: "
        "the joint law, the default of a law folder)",
    )
    ap.add_argument("--no-offset", action="store_true", help="fit the paper's law (its offset S0 held at 0)")
    args = ap.parse_args()
    offset, own = not args.no_offset, tuple(args.own)
    print(f"law: {'with' if offset else 'without'} the offset S0; pairs and identification own={own or 'none'}")
    t0 = time.perf_counter()
    full = runs_frame(args.full)
    shared, alone, n = noise_split(full)
    print(
        f"seed noise of {args.full}: {seed_noise(full):.2%} of the loss (mean relative std); of an end's deviation "
        f"from its point's mean over seeds, its trunk's cooldowns share {shared:.2%} rms and {alone:.2%} rms is its "
        f"own (n={n})"
    )
    if "law" in args.parts:
        law_design(args.law, args.full, args.bootstrap, offset)
    if "lengths" in args.parts:
        for k in args.lengths_from:
            held_out_lengths(args.full, args.bootstrap, k, offset)
    if "identification" in args.parts:
        identification(args.full, own, offset)
    if "pairs" in args.parts:
        cooldown_pairs(args.full, own, offset)
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
