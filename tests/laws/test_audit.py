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


@pytest.mark.parametrize(
    "factor,verdict", [(4.0, "over-parameterised"), (0.25, "under-parameterised"), (1.05, "compute-optimal")]
)
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


def test_any_two_of_n_d_and_c_audit_a_run_and_the_third_is_derived():
    from click.testing import CliRunner

    from isoflop.cli import main
    from isoflop.errors import ConfigError
    from isoflop.model.flops import complete_ndc

    law = preset_law("epoch")
    full = audit_run(2.17e5, 6.6e6, law, flops=8.6e12)
    assert full.derived is None
    by_c = audit_run(None, 6.6e6, law, flops=8.6e12)  # the write-up's question: C and D only
    assert by_c.derived == "params" and by_c.n_params == pytest.approx(8.6e12 / (6 * 6.6e6))
    assert by_c.optimal_params == pytest.approx(full.optimal_params)
    by_n = audit_run(2.17e5, None, law, flops=8.6e12)
    assert by_n.derived == "tokens" and by_n.n_tokens == pytest.approx(8.6e12 / (6 * 2.17e5))
    assert audit_run(2.17e5, 6.6e6, law).derived == "flops"
    with pytest.raises(ValueError, match="at least two"):
        audit_run(None, None, law, flops=8.6e12)
    with pytest.raises(ConfigError, match="tokens and flops are missing"):
        complete_ndc(params=1.0)
    assert complete_ndc(np.array([1.0, 2.0]), None, np.array([60.0, 60.0]))[1] == pytest.approx([10.0, 5.0])
    r = CliRunner().invoke(main, ["audit", "--flops", "8.6e12", "--tokens", "6.6e6", "--preset", "epoch"])
    assert r.exit_code == 0 and "N derived from the other two" in r.output
    r = CliRunner().invoke(main, ["audit", "--flops", "8.6e12", "--preset", "epoch"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "at least two" in r.output
