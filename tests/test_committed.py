"""The committed answers refit to the same numbers: the fit documents under results/ are rerun with the commands
results/README.md gives for them, and every answer and every fitted law must agree with what is committed."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from isoflop.cli import main
from isoflop.laws.document import FitDocument, read_fit

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = {
    "results/chinchilla_fit.json": [
        "--example",
        "chinchilla",
        "--drop-highest",
        "5",
        "--no-screen",
        "--target",
        "5.76e23",
    ],
    "results/answer/fit.json": [str(ROOT / "results/answer"), "--target", "1e15", "--target", "3.6e13"],
}


def _numbers(doc: FitDocument) -> dict:
    out = {}
    for a in doc.answers:
        out[f"{a.flops:g} answer"] = (a.params, *(a.params_ci or ()), a.tokens, *(a.tokens_ci or ()))
    for m in doc.result.fitted:
        f = doc.result.fit(m)
        if m in ("approach3", "vpnls"):
            out[m] = (f.E, f.A, f.B, f.alpha, f.beta)
        else:
            f = getattr(f, "fit", f)  # Approach 2, bias-corrected, holds its corrected IsoFLOP fit
            out[m] = (f.params_law.exponent, f.params_law.coefficient, f.tokens_law.exponent)
    return out


@pytest.mark.parametrize("path", sorted(COMMITTED))
def test_a_committed_fit_refits_to_the_same_numbers(path):
    committed = read_fit(ROOT / path)
    assert committed.result.fitted  # it holds fitted laws
    r = CliRunner().invoke(main, ["fit", *COMMITTED[path], "--json"])
    assert r.exit_code == 0, r.output
    now = FitDocument.from_dict(json.loads(r.stdout))
    want, got = _numbers(committed), _numbers(now)
    assert set(got) == set(want) and any(k.endswith("answer") for k in want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-5), k
    assert [a.method for a in now.answers] == [a.method for a in committed.answers]


SWEEPS = sorted(
    (f.stem, f) for f in (ROOT / "sweeps").glob("*.toml") if (ROOT / "results" / f.stem / "sweep.json").exists()
)


#: Committed sweeps that today's code would extend, with how many of their planned runs it lacks (given the
#: finished runs of lower budgets) and why; results/README.md says the same.
STALE = {
    "quick-shakespeare": (2, "the shape rule picks other shapes for two sizes at 1.2e12 and 2.4e12 FLOPs"),
}


@pytest.mark.parametrize("name,sweep_file", SWEEPS, ids=[n for n, _ in SWEEPS])
def test_a_committed_sweep_run_again_trains_nothing(name, sweep_file, cache_dir):
    """Every run its sweep file plans is already in its committed folder (names, renames and new keys kept the
    run ids), and the folder's sweep.json agrees with the file, so the README's commands retrain nothing; a
    sweep listed in STALE lacks exactly the runs it says."""
    from isoflop.data import load_corpus
    from isoflop.runs import finished_records, run_folders
    from isoflop.sweep import budget_runs, load_sweep, sweep_status

    sw = load_sweep(sweep_file)
    assert sw.name == name
    have = {f.run_id for f in run_folders(ROOT / "results" / name)}
    done = finished_records(ROOT / "results" / name)
    vocab = load_corpus(sw.corpus, sw.tokenizer, cache_dir).vocab_size
    specs = [s for b in sw.budgets for s in budget_runs(sw, b, vocab, [r for r in done if r.budget_flops < b])]
    missing = [s for s in specs if s.run_id not in have]
    assert specs and len(missing) == STALE.get(name, (0, ""))[0], [(s.budget, s.model) for s in missing]
    assert sweep_status(sw, ROOT / "results").config_changed == ()


def test_the_shipped_cost_model_is_the_fit_of_its_committed_runs():
    """isoflop/examples/throughput_cpu.json, the default cost model, refits from results/cpu-shakespeare."""
    from isoflop.runs.throughput import Throughput, default_throughput

    shipped, now = default_throughput(), Throughput.from_sweeps([ROOT / "results" / "cpu-shakespeare"])
    assert (now.c0, now.c1, *now.n_range, now.runs) == pytest.approx(
        (shipped.c0, shipped.c1, *shipped.n_range, shipped.runs), rel=1e-9
    )
    assert "cpu-shakespeare" in shipped.source


@pytest.mark.parametrize(
    "rules,folders",
    [
        ("answer-hp-ladder", ["answer-hp-ladder"]),
        ("answer-hp-ladder-top", ["answer-hp-ladder", "answer-hp-ladder-top"]),
    ],
)
def test_the_committed_batch_ladder_rules_refit_from_its_runs(rules, folders):
    """results/answer-hp-ladder/hparam_rules.json is what `scaling ladder` fits to the folder's runs today, and
    results/answer-hp-ladder-top/hparam_rules.json what it fits to both folders pooled: the same forms,
    coefficients, exponents and rival forms."""
    from isoflop.laws.fit.hparams import PowerRule
    from isoflop.laws.ladder import load_hparam_ladder

    doc = json.loads((ROOT / "results" / rules / "hparam_rules.json").read_text())
    fit = load_hparam_ladder([ROOT / "results" / f for f in folders])
    for key, rule in (("lr_rule", fit.lr_rule), ("batch_rule", fit.batch_rule)):
        want = PowerRule.from_dict(doc[key])
        assert rule.variables == want.variables and [f for f, *_ in rule.rivals] == [f for f, *_ in want.rivals]
        assert (rule.value, *rule.exponents, rule.curvature) == pytest.approx(
            (want.value, *want.exponents, want.curvature), rel=1e-9
        )
