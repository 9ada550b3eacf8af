"""The multi-power law of loss curves: recovers a known law from WSD curves and predicts held-out cooldowns."""

import numpy as np
import pytest

from isoflop.laws.curves.law import PARAMS, MultiPowerLaw, Schedule, fit_multipower
from isoflop.train.optim import wsd_lr_at

TRUTH = MultiPowerLaw(L0=1.3, A=0.9, alpha=0.4, B=0.6, C=2.0, beta=0.6, gamma=0.5, eta_ref=3e-3)
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
    assert TRUTH.predict(const) == pytest.approx(TRUTH.L0 + TRUTH.A * s1[const.at - 1] ** -TRUTH.alpha)
    gain = [TRUTH.predict(_end(_trunk(T)))[0] - TRUTH.predict(_end(_wsd(T)))[0] for T in (1000, 3000)]
    assert 0 < gain[0] < gain[1]
    assert len(PARAMS) == 7


def test_a_schedule_read_from_logged_rows_interpolates_the_lr():
    s = Schedule.from_rows([10, 20, 30], [1.0, 1.0, 0.5])
    assert s.eta.size == 30 and s.eta[0] == 1.0 and s.eta[24] == pytest.approx(0.75) and list(s.at) == [10, 20, 30]
