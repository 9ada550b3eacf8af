import numpy as np
import pytest

from isoflop import audit_run, preset_law


def test_preset_optimum_follows_chinchilla_eq4():
    law = preset_law("chinchilla")
    p = law.fit
    assert (p.E, p.A, p.B, p.alpha, p.beta) == (1.69, 406.4, 410.7, 0.34, 0.28)
    assert p.a == pytest.approx(0.28 / 0.62)
    c = 5.76e23  # Chinchilla's own budget
    n = law.optimum(c)["optimal_params"]
    # Eq. 4: N_opt minimises L along C = 6ND.
    grid = n * np.logspace(-0.3, 0.3, 601)
    assert grid[np.argmin(p.loss(grid, c / (6 * grid)))] == pytest.approx(n, rel=0.01)


@pytest.mark.parametrize("factor,verdict", [(4.0, "over-parameterised"), (0.25, "under-parameterised"), (1.05, "compute-optimal")])
def test_verdicts(factor, verdict):
    law = preset_law("epoch")
    c = 8.6e12
    o = law.optimum(c)
    n = o["optimal_params"] * factor
    a = audit_run(n, c / (6 * n), law)
    assert a.verdict == verdict and a.ratio == pytest.approx(factor)
    assert a.flops == pytest.approx(c) and a.loss >= a.optimal_loss
    assert a.sentence.startswith(verdict)
    if verdict != "compute-optimal":
        assert f"{o['optimal_params']:.2g}-parameter model" in a.sentence


def test_audit_rejects_non_positive():
    with pytest.raises(ValueError, match="--params"):
        audit_run(-1, 1e9, preset_law("epoch"))
