"""The multi-power law of loss curves: recovers a known law from WSD curves and predicts held-out cooldowns."""

from dataclasses import replace

import numpy as np
import pytest

from isoflop.laws.curves.law import PARAMS, MultiPowerLaw, Schedule, fit_joint, fit_multipower
from isoflop.train.optim import wsd_lr_at

TRUTH = MultiPowerLaw(L0=1.3, A=0.9, alpha=0.4, B=0.6, C=2.0, beta=0.6, gamma=0.5, eta_ref=3e-3, S0=120.0)
PEAK, WARM = 3e-3, 50


def _wsd(T: int, every: int = 8) -> Schedule:
    """A WSD run of T steps as the training loop runs it (warmup, peak, 1-sqrt cooldown over the last 20%)."""
    eta = np.array([wsd_lr_at(s, T, PEAK, WARM, 0.1, 0.2, "1-sqrt") for s in range(T)])
    at = np.unique(np.append(np.arange(every, T + 1, every), T))
    return Schedule(eta, at)


def _trunk(T: int, every: int = 8) -> Schedule:
    eta = np.array([PEAK * min(1.0, (s + 1) / WARM) for s in range(T)])
    return Schedule(eta, np.arange(every, T + 1, every))


def _end(s: Schedule) -> Schedule:
    return Schedule(s.eta, np.array([s.eta.size]))


@pytest.mark.parametrize("noise, tol", [(0.0, 1e-6), (0.005, 5e-3)])
def test_a_trunk_and_two_cooldowns_recover_the_law_and_predict_the_other_cooldowns(noise, tol):
    """Fitted on a trunk's constant phase and two of its cooldowns, as a WSD sweep trains them, the law
    predicts the ends of cooldowns it never saw, shorter, between and 1.4x longer than the fitted ones."""
    rng = np.random.default_rng(0)
    cool = {T: _wsd(T) for T in (1000, 1500, 2200, 3200, 4500)}
    trunk = _trunk(3600)
    seen = [trunk, cool[1500], cool[3200]]
    obs = [(s, TRUTH.predict(s) * np.exp(rng.normal(0.0, noise, s.at.size))) for s in seen]
    fit = fit_multipower(obs)
    assert fit.success and fit.n_points == sum(s.at.size for s in seen)
    if noise == 0:
        assert fit.law.params == pytest.approx(TRUTH.params, rel=1e-4)  # every parameter, exactly
        assert fit.rms < 1e-8
    for T in (1000, 2200, 4500):
        want, got = TRUTH.predict(_end(cool[T]))[0], fit.law.predict(_end(cool[T]))[0]
        assert abs(got / want - 1) < tol, (T, got, want)


def test_the_law_is_schedule_aware():
    """The same law predicts a lower end for a run with a cooldown than for one at constant LR, and the loss
    reduction grows with the cooldown's length; a constant-LR curve is the power law alone."""
    const = _trunk(3000)
    cooled = _wsd(3000)
    assert TRUTH.predict(_end(cooled))[0] < TRUTH.predict(_end(const))[0]
    s1 = np.cumsum(const.eta / TRUTH.eta_ref)
    assert TRUTH.predict(const) == pytest.approx(TRUTH.L0 + TRUTH.A * (s1[const.at - 1] + TRUTH.S0) ** -TRUTH.alpha)
    gain = [TRUTH.predict(_end(_trunk(T)))[0] - TRUTH.predict(_end(_wsd(T)))[0] for T in (1000, 3000)]
    assert 0 < gain[0] < gain[1]
    assert len(PARAMS) == 8


def test_the_offset_is_what_lets_the_law_follow_the_early_descent_and_old_documents_read_without_it():
    """Curves whose power term is offset (S0 = 120 steps at the peak LR): the paper's law (offset=False, S0
    held at 0) cannot follow the early descent and misses the held-out cooldowns by far more than the law with
    the offset, which recovers S0; a law written before S0 existed reads back as S0 = 0, the same law."""
    seen = [_trunk(3600), _wsd(1500), _wsd(3200)]
    obs = [(s, TRUTH.predict(s)) for s in seen]
    with_s0, without = fit_multipower(obs), fit_multipower(obs, offset=False)
    assert with_s0.success and without.success and without.law.S0 == 0.0
    assert with_s0.law.S0 == pytest.approx(120.0, rel=1e-3)
    held = [_end(_wsd(T)) for T in (1000, 2200, 4500)]

    def worst(fit):
        return max(abs(fit.law.predict(h)[0] / TRUTH.predict(h)[0] - 1) for h in held)

    assert worst(with_s0) < 1e-6 < 1e-3 < worst(without)
    old = {k: v for k, v in TRUTH.to_dict().items() if k != "S0"}
    assert MultiPowerLaw.from_dict(old) == replace(TRUTH, S0=0.0)
    assert MultiPowerLaw.from_dict(TRUTH.to_dict()) == TRUTH
    with pytest.raises(ValueError, match="nonlinear"):
        fit_joint([obs], own=("S0",), offset=False)
    # A constant-LR curve alone cannot give B > 0: the fit fails with its reason, and with S0 fitted per group
    # there is no paper's law to fall back to (it is not tried, rather than refused)
    flat = [(_trunk(2000), TRUTH.predict(_trunk(2000)))]
    (failed,) = fit_joint([flat], own=("S0",))
    assert not failed.success and "wrong sign" in failed.message


def test_a_schedule_read_from_logged_rows_interpolates_the_lr():
    s = Schedule.from_rows([10, 20, 30], [1.0, 1.0, 0.5])
    assert s.eta.size == 30 and s.eta[0] == 1.0 and s.eta[24] == pytest.approx(0.75) and list(s.at) == [10, 20, 30]


def _wsd_table():
    """A trunk and three cooldown branches of one size, logged as a loss-curve table, losses from TRUTH."""
    import pandas as pd

    rows = []
    trunk = _trunk(3300)
    for st, eta, y in zip(trunk.at, trunk.eta[trunk.at - 1], TRUTH.predict(trunk)):
        rows.append({"run": "trunk", "N": 5e5, "step": st, "tokens": st * 2048, "lr": eta, "loss": y})
    for T in (1200, 2400, 4000):
        s = _wsd(T)
        start = T - int(round(0.2 * T))
        own = s.at > start
        for st, eta, y in zip(s.at[own], s.eta[s.at[own] - 1], TRUTH.predict(s)[own]):
            rows.append(
                {
                    "run": f"cool-{T}",
                    "N": 5e5,
                    "step": st,
                    "tokens": st * 2048,
                    "lr": eta,
                    "loss": y,
                    "parent": "trunk",
                    "branch_step": start,
                }
            )
    return pd.DataFrame(rows)


def test_fit_curves_reads_a_table_with_branches_and_recovers_the_law(tmp_path):
    """From a CSV table of a trunk and its cooldowns, one law for the size, which predicts TRUTH; the CLI's
    JSON reads back through its document, and a table without learning rates is one line, exit 2."""
    import json

    from click.testing import CliRunner

    from isoflop.cli import main
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.fits import CurveLaws, fit_curves

    p = tmp_path / "curves.csv"
    _wsd_table().to_csv(p, index=False)
    doc = fit_curves(load_curves(p))
    (size,) = doc.sizes
    assert size.status == "ok" and size.runs == ("trunk", "cool-1200", "cool-2400", "cool-4000")
    # The rows are every 8 steps, so the per-step LR is interpolated between them (the warmup's worst): the
    # law is recovered where the curves pin it, and held-out cooldown ends to within 0.2%.
    assert size.fit.rms < 0.005 and size.fit.law.L0 == pytest.approx(TRUTH.L0, rel=0.02)
    for T in (1800, 3000, 5000):
        assert size.fit.law.predict(_end(_wsd(T)))[0] == pytest.approx(TRUTH.predict(_end(_wsd(T)))[0], rel=2e-3)
    r = CliRunner().invoke(main, ["curves", "fit", str(p), "--json"])
    assert r.exit_code == 0, r.output
    back = CurveLaws.from_dict(json.loads(r.output))
    assert back.sizes[0].fit.law.params == pytest.approx(size.fit.law.params)
    r = CliRunner().invoke(main, ["curves", "fit", str(p)])
    assert r.exit_code == 0 and "5e+05" in r.output and "ok" in r.output
    _wsd_table().drop(columns=["lr"]).to_csv(tmp_path / "nolr.csv", index=False)
    r = CliRunner().invoke(main, ["curves", "fit", str(tmp_path / "nolr.csv")])
    assert r.exit_code == 2 and "needs an 'lr' column" in r.output and len(r.output.strip().splitlines()) == 1


def test_a_size_with_too_few_rows_gets_a_status_and_the_others_go_on():
    import pandas as pd

    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.fits import fit_curves

    df = _wsd_table()
    tiny = pd.DataFrame(
        [{"run": "tiny", "N": 1e4, "step": s, "tokens": s, "lr": 1e-3, "loss": 3.0 - s / 1e3} for s in (10, 20, 30)]
    )
    doc = fit_curves(load_curves(pd.concat([df, tiny], ignore_index=True)))
    by = {s.n_params: s for s in doc.sizes}
    assert by[1e4].status == "not fitted" and "3 rows with a loss" in by[1e4].error
    assert by[5e5].status == "ok"


def _sizes_table(noise: float = 0.0, seed: int = 0):
    """Three sizes that share the law's exponents (each with its own L0, A, B): a trunk and cooldowns of
    1200, 2400 and 4000 steps each, the training rows from the law (times exp of a normal of σ ``noise``)
    and each cooldown's validation loss 0.05 above its end."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for N, (L0, A, B) in {1e5: (1.6, 1.1, 0.7), 3e5: (1.4, 0.9, 0.6), 1e6: (1.25, 0.8, 0.5)}.items():
        law = MultiPowerLaw(L0=L0, A=A, alpha=0.4, B=B, C=2.0, beta=0.6, gamma=0.5, eta_ref=3e-3)
        trunk = _trunk(3300, every=2)
        ys = law.predict(trunk) * np.exp(rng.normal(0.0, noise, trunk.at.size))
        for st, eta, y in zip(trunk.at, trunk.eta[trunk.at - 1], ys):
            rows.append({"run": f"t{N:g}", "N": N, "step": st, "tokens": st * 2048, "lr": eta, "loss": y})
        for T in (1200, 2400, 4000):
            s = _wsd(T, every=2)
            start = T - int(round(0.2 * T))
            own = s.at > start
            y = law.predict(s)[own] * np.exp(rng.normal(0.0, noise, int(own.sum())))
            for k, (st, eta) in enumerate(zip(s.at[own], s.eta[s.at[own] - 1])):
                last = k == own.sum() - 1
                rows.append(
                    {
                        "run": f"c{N:g}-{T}",
                        "N": N,
                        "step": st,
                        "tokens": st * 2048,
                        "lr": eta,
                        "loss": y[k],
                        "val_loss": y[k] + 0.05 if last else None,
                        "parent": f"t{N:g}",
                        "branch_step": start,
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("joint", [True, False])
def test_profiles_predict_the_held_out_budget_of_every_size(joint):
    """Fitted to each size's trunk and its shortest and longest cooldown (jointly, sharing the exponents, or
    each alone), the profile's point at the middle budget is the held-out cooldown's validation loss; the
    trained budgets keep their trained losses, and the frame says which is which."""
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.profiles import check_against, profiles, trained_budgets

    table = load_curves(_sizes_table())
    budgets = trained_budgets(table)
    assert len(budgets) == 8  # three sizes x three lengths; 3e5 x 4000 steps and 1e6 x 1200 are one budget
    fit_runs = {c.run for c in table.curves if c.parent and not c.run.endswith("-2400")}
    mid = [6 * N * 2048 * 2400 for N in (1e5, 3e5, 1e6)]
    extra = (6 * 1e5 * 2048 * 4000, 6 * 1e5 * 2048 * 1800)
    prof = profiles(table, tuple(mid) + extra, skip=0.0, joint=joint, fit_runs=fit_runs)
    assert all(t.fit.success and t.cooldowns == 2 for t in prof.trunks)
    for t, c in zip(prof.trunks, mid):
        (p,) = [p for p in t.points if p.budget == c]
        want = table.full(f"c{t.n_params:g}-2400").final_val
        assert p.source == "trained" and p.loss == want  # trained, but not fitted to: a held-out end
        assert abs(p.predicted / want - 1) < 3e-3, (t.trunk, p.predicted, want)
    frame = prof.frame()
    assert set(frame.columns) >= {"N", "D", "C", "budget", "loss", "source", "predicted"}
    # Every size at every budget it reaches; trained where one of its cooldowns ended there (the middle
    # budgets, the smallest size's longest, and 3e5's shortest, 11% below the 4.9e12 asked: nearer it than
    # half the budgets' spacing, so it is that budget's point, at its own steps), predicted elsewhere (the
    # smallest size's 1800 steps), and none where the run would be shorter than the fitted cooldowns.
    assert (frame["source"] == "trained").sum() == 5 and len(frame) == len(prof.points) > 5
    assert any("shorter than any cooldown" in why for why in prof.trunks[1].skipped)  # 3e5 at 800 steps
    pred = frame[frame["source"] == "predicted"]
    assert (pred["loss"] == pred["predicted"]).all()
    assert len(prof.frame("trained")) == 5
    assert (prof.frame("law")["loss"] == frame["predicted"]).all()
    if joint:  # the shared exponents are the truth's
        law = prof.trunks[0].fit.law
        assert (law.alpha, law.beta) == pytest.approx((0.4, 0.6), rel=0.05)
    import pandas as pd

    runs = pd.DataFrame(
        {
            "status": "ok",
            "trunk_id": [t.trunk for t in prof.trunks],
            "budget": mid,
            "loss": [table.full(f"c{t.n_params:g}-2400").final_val * 1.01 for t in prof.trunks],
        }
    )
    check = check_against(prof, runs)
    assert len(check) == 3 and (check["error"].abs() - 0.01).abs().max() < 4e-3


def test_law_draws_carry_the_curves_noise_and_keep_the_trained_points():
    """The law's wild-bootstrap draws: the predicted points spread about the fit's own prediction, by the
    fit's misfit on clean curves (the LR read between logged rows leaves a 0.1% rms) and more than twice that
    on curves with 1% noise (the offset S0, free in the draws, moves with the clean fit's misfit: 0.014% without
    it, 0.043% with), while a trained point keeps its trained loss in every draw (loss_draws)."""
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.profiles import profiles

    spread = {}
    for noise in (0.0, 0.01):
        table = load_curves(_sizes_table(noise))
        fit_runs = {c.run for c in table.curves if c.parent and not c.run.endswith("-2400")}
        mid = tuple(6 * N * 2048 * 2400 for N in (1e5, 3e5, 1e6))
        prof = profiles(table, mid + (6 * 1e5 * 2048 * 1800,), skip=0.0, fit_runs=fit_runs, draws=6, seed=1)
        assert prof.draws == 6
        pts = prof.points
        assert all(len(p.draws) == 6 for p in pts)
        trained = [p for p in pts if p.source == "trained"]
        assert trained and all(p.loss_draws == (p.loss,) * 6 for p in trained)
        pred = [p for p in pts if p.source == "predicted"]  # every size at the budget of 1e5's 1800 steps
        assert pred
        d = np.log(np.array([p.draws for p in pred]) / np.array([[p.predicted] for p in pred]))
        spread[noise] = float(np.sqrt(np.mean(d**2)))
        assert np.abs(d.mean(axis=1)).max() < 2 * spread[noise] + 1e-9  # centred on the fit's prediction
    assert spread[0.0] < 5e-4 and 2 * spread[0.0] < spread[0.01] < 0.02, spread


def test_a_joint_fit_can_free_alpha_per_group_and_then_recovers_each():
    """Three models whose power-law exponents differ (0.3, 0.4, 0.5) but whose annealing is shared: the
    all-shared joint fit cannot follow them, and its held-out cooldowns miss; freeing α per group
    (own=("alpha",)) recovers every α and predicts the held-out cooldowns, as does a refit started from
    those laws (start_laws, as the bootstrap draws refit). A name that is no parameter is refused."""
    laws = [
        MultiPowerLaw(L0=L0, A=A, alpha=a, B=0.6, C=2.0, beta=0.6, gamma=0.5, eta_ref=3e-3)
        for L0, A, a in ((1.6, 1.1, 0.3), (1.4, 0.9, 0.4), (1.25, 0.8, 0.5))
    ]
    seen = [_trunk(3600), _wsd(1500), _wsd(3200)]
    groups = [[(s, law.predict(s)) for s in seen] for law in laws]
    held = _end(_wsd(2200))

    def worst(fits):
        return max(abs(f.law.predict(held)[0] / law.predict(held)[0] - 1) for f, law in zip(fits, laws))

    shared = fit_joint(groups)
    freed = fit_joint(groups, own=("alpha",))
    assert all(f.success for f in freed)
    assert [f.law.alpha for f in freed] == pytest.approx([0.3, 0.4, 0.5], rel=0.02)
    assert worst(freed) < 1e-3 < worst(shared)
    again = fit_joint(groups, own=("alpha",), start_laws=[f.law for f in freed])
    assert [f.law.alpha for f in again] == pytest.approx([0.3, 0.4, 0.5], rel=0.02)
    with pytest.raises(ValueError, match="nonlinear"):
        fit_joint(groups, own=("L0",))


@pytest.mark.parametrize("own", [(), ("alpha",)])
def test_profiles_extend_a_trunk_four_times_past_its_fitted_length(own):
    """Cut back to its first 1000 steps (the 1200-step cooldown's branch point at 960) and that one cooldown,
    each size's law, continued at its stable LR (extend=True), predicts the 4000-step cooldown's validation
    loss, 3.3x longer than anything it was fitted to, within 0.5%; without extend that budget is skipped,
    with the reason."""
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.profiles import profiles

    df = _sizes_table()
    trunk = df["parent"].isna()
    cut = df[(trunk & (df["step"] <= 960)) | df["run"].str.endswith("-1200")].reset_index(drop=True)
    table = load_curves(cut)
    far = {N: 6 * N * 2048 * 4000 for N in (1e5, 3e5, 1e6)}
    for N, c in far.items():
        prof = profiles(table, (c,), skip=0.0, own=own, extend=True)
        (t,) = [t for t in prof.trunks if t.n_params == N]
        (p,) = t.points
        want = df[(df["run"] == f"c{N:g}-4000")]["val_loss"].dropna().iloc[0]
        assert p.source == "predicted" and abs(p.predicted / want - 1) < 5e-3, (N, p.predicted, want)
    short = profiles(table, (far[1e5],), skip=0.0, own=own)
    assert not short.trunks[0].points and "past step" in short.trunks[0].skipped[0]


def test_profiles_skip_a_run_shorter_than_every_fitted_cooldown_unless_asked_to_extend():
    """With its 1200-step cooldowns gone, each size's shortest fitted cooldown is 2400 steps: the 1200-step
    budget is a length the law would extrapolate down to, so by default it gets no point, with the reason
    (the trained budgets keep theirs); extend=True predicts it, and the dropped trained ends judge it."""
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.profiles import profiles

    df = _sizes_table()
    table = load_curves(df[~df["run"].str.endswith("-1200")].reset_index(drop=True))
    N = 1e5
    cs = tuple(6 * N * 2048 * T for T in (1200, 2400, 4000))
    (t,) = [t for t in profiles(table, cs, skip=0.0).trunks if t.n_params == N]
    assert [p.steps for p in t.points] == [2400, 4000] and all(p.source == "trained" for p in t.points)
    assert len(t.skipped) == 1 and "shorter than any cooldown" in t.skipped[0]
    (e,) = [t for t in profiles(table, cs[:1], skip=0.0, extend=True).trunks if t.n_params == N]
    (p,) = e.points
    want = df[df["run"] == "c100000-1200"]["val_loss"].dropna().iloc[0]
    assert p.source == "predicted" and abs(p.predicted / want - 1) < 5e-3, (p.predicted, want)


def test_seeds_of_one_size_measure_how_well_the_grid_reproduces():
    """Two seeds of every size (the same table drawn twice): identical seeds agree exactly; noisy ones
    differ at their trained ends by about the noise, and the law's predicted points agree too, pair by pair
    at the same budget. One trunk per size gives no pairs."""
    import pandas as pd

    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.profiles import profiles

    def seeded(noise, seed):
        df = _sizes_table(noise, seed)
        df = df[~df["run"].str.endswith("-2400")]  # the middle budget is the law's to predict
        for col in ("run", "parent"):
            df[col] = df[col].where(df[col].isna(), df[col] + f"s{seed}")
        return df

    mid = tuple(6 * N * 2048 * 2400 for N in (1e5, 3e5, 1e6))
    got = {}
    for noise in (0.0, 0.003):
        table = load_curves(pd.concat([seeded(noise, 0), seeded(noise, 1)], ignore_index=True))
        ends = tuple(6 * N * 2048 * T for N in (1e5, 3e5, 1e6) for T in (1200, 4000))
        got[noise] = profiles(table, mid + ends, skip=0.0).seed_agreement()
        assert got[noise]["trained"]["pairs"] >= 6 and got[noise]["predicted"]["pairs"] >= 3
    assert got[0.0]["trained"]["sigma"] == 0 and got[0.0]["predicted"]["sigma"] < 1e-9
    assert 5e-4 < got[0.003]["trained"]["sigma"] < 6e-3 and 0 < got[0.003]["predicted"]["sigma"] < 6e-3
    one = profiles(load_curves(seeded(0.0, 0)), mid, skip=0.0).seed_agreement()
    assert "predicted" not in one and "trained" not in one


def _cosine_checkpoints(lengths=(1000, 1800, 3000, 4500), n=20):
    """Checkpoint tables as papers give them: each cosine run's loss at n checkpoints, its peak LR and warmup
    on every row, and its schedule named instead of its LR at each row; losses from TRUTH under the exact
    per-step schedule the training loop runs."""
    import pandas as pd

    from isoflop.schedules import named_lr

    rows = []
    for T in lengths:
        eta = np.array([named_lr("cosine", s, T, PEAK, WARM, 0.1) for s in range(T)])
        at = np.unique(np.linspace(T / n, T, n).round().astype(int))
        for st, y in zip(at, TRUTH.predict(Schedule(eta, at))):
            rows.append(
                {"run": f"cos-{T}", "N": 5e5, "step": st, "loss": y, "schedule": "cosine", "lr": PEAK, "warmup": WARM}
            )
    return pd.DataFrame(rows)


def test_a_checkpoint_table_that_names_its_schedule_is_a_curve_table_and_fits(tmp_path):
    """A table of checkpoints with each run's schedule named (no LR per row) reads with each row's LR the
    schedule's at its step, and the law fitted to three runs predicts the fourth's end; a schedule that is
    not known, or a peak that changes within a run, is one line naming the run (exit 2 from the CLI)."""
    from click.testing import CliRunner

    from isoflop.cli import main
    from isoflop.errors import TableError
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.fits import fit_curves
    from isoflop.schedules import named_lr

    table = _cosine_checkpoints()
    curves = load_curves(table)
    c = curves.curve("cos-3000")
    assert c.lr == pytest.approx([named_lr("cosine", s - 1, 3000, PEAK, WARM, 0.1) for s in c.step])
    doc = fit_curves(load_curves(table[table["run"] != "cos-3000"]))
    (size,) = doc.sizes
    assert size.status == "ok"
    eta = np.array([named_lr("cosine", s, 3000, PEAK, WARM, 0.1) for s in range(3000)])
    end = Schedule(eta, np.array([3000]))
    assert size.fit.law.predict(end)[0] == pytest.approx(TRUTH.predict(end)[0], rel=5e-3)
    # Read as the LR at each row (no schedule named), the same peaks make every run constant: 17% off.
    flat = fit_curves(load_curves(table[table["run"] != "cos-3000"].drop(columns=["schedule"]))).sizes[0]
    assert abs(flat.fit.law.predict(end)[0] / TRUTH.predict(end)[0] - 1) > 0.05
    p = tmp_path / "bad.csv"
    table.assign(schedule=np.where(table["run"] == "cos-1800", "linear", "cosine")).to_csv(p, index=False)
    r = CliRunner().invoke(main, ["curves", "fit", str(p)])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "run cos-1800: row 20 (line 22): schedule 'linear' is not one of constant, cosine, wsd" in r.output
    bad = table.copy()
    bad.loc[3, "lr"] = 2 * PEAK
    with pytest.raises(TableError, match=r"run cos-1000: column 'lr' changes within the run .*'peak_lr' column"):
        load_curves(bad)


def test_curves_fit_shares_the_exponents_across_sizes_and_predicts_any_size_with_intervals():
    """fit_curves fits the three sizes at once (one α, C, β, γ, S0 for all, the truth's α and β), and its
    bootstrap draws give predict() an interval that holds a held-out cooldown's true loss at a fitted size;
    between two sizes the prediction lies between theirs; past the fitted sizes it is refused; each size
    fitted alone gets its own exponents; the document, draws included, reads back from its JSON."""
    import json

    from isoflop.errors import FitError
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.fits import CurveLaws, fit_curves

    table = load_curves(_sizes_table(noise=0.003, seed=2))
    doc = fit_curves(table, draws=6, seed=1)
    assert doc.joint and [s.status for s in doc.sizes] == ["ok"] * 3 and all(len(s.draws) == 6 for s in doc.sizes)
    shared = {tuple(round(getattr(s.fit.law, k), 9) for k in ("alpha", "C", "beta", "gamma", "S0")) for s in doc.sizes}
    assert len(shared) == 1
    law = doc.sizes[0].fit.law
    assert law.alpha == pytest.approx(0.4, rel=0.1) and law.beta == pytest.approx(0.6, rel=0.25)
    held = _end(_wsd(3000, every=2))
    truth = MultiPowerLaw(L0=1.4, A=0.9, alpha=0.4, B=0.6, C=2.0, beta=0.6, gamma=0.5, eta_ref=3e-3).predict(held)
    p = doc.predict(3e5, held)
    assert p["loss"][0] == pytest.approx(truth[0], rel=3e-3)
    assert p["lo"][0] < truth[0] < p["hi"][0] and p["hi"][0] / p["lo"][0] < 1.02
    assert p["draws"].shape == (6, 1)
    lo, mid, hi = (doc.predict(n, held)["loss"][0] for n in (3e5, 5.5e5, 1e6))
    assert hi < mid < lo
    with pytest.raises(FitError, match="outside the fitted sizes"):
        doc.predict(3e6, held)
    back = CurveLaws.from_dict(json.loads(json.dumps(doc.to_dict())))
    assert back.joint and back.predict(3e5, held)["hi"][0] == pytest.approx(p["hi"][0])
    alone = fit_curves(table, joint=False)
    assert not alone.joint and len({s.fit.law.alpha for s in alone.sizes}) == 3
