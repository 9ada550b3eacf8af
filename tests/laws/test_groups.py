"""Consolidated tables: filters, groups fitted on their own, an outlier column, and checkpoints refused."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import TRUTH, synthetic_runs

from isoflop import load_runs
from isoflop.cli import main
from isoflop.errors import TableError
from isoflop.laws.groups import GroupedAnalysis, analyze_groups


@pytest.fixture
def consolidated(tmp_path):
    web = synthetic_runs(noise=0.003, rng=np.random.default_rng(0)).assign(dataset="web", outlier="false")
    code = synthetic_runs(noise=0.003, rng=np.random.default_rng(1), t=dict(TRUTH, alpha=0.5)).assign(
        dataset="code", outlier="no"
    )
    tiny = synthetic_runs(budgets=(1e18,), n_sizes=3).assign(dataset="tiny", outlier="0")
    df = pd.concat([web, code, tiny], ignore_index=True)
    df.loc[3, "outlier"] = "true"
    df["outlier_reason"] = ""
    df.loc[3, "outlier_reason"] = "loss spike"
    p = tmp_path / "all.csv"
    df.to_csv(p, index=False)
    return p, df


def test_where_keeps_matching_rows_and_row_numbers_stay_the_files(consolidated):
    p, df = consolidated
    t = load_runs(p, where=("dataset=code",))
    assert t.n_runs == 35 and t.n_used == 35
    web = load_runs(p, where=("dataset=web",))
    assert web.n_used == 34 and [(e.index, e.reason) for e in web.excluded] == [
        (3, "marked in column 'outlier': loss spike")
    ]
    # Numbers compare as numbers: a budget written 1e+19 in the file matches 1e19.
    assert load_runs(p, where=("dataset=web", "budget=1e19")).n_runs == 7
    code_rows = np.flatnonzero(df.dataset == "code")
    df = df.astype({"loss": object})
    df.loc[code_rows[2], "loss"] = "oops"
    bad = p.with_name("bad.csv")
    df.to_csv(bad, index=False)
    with pytest.raises(TableError, match=rf"row {code_rows[2]} \(line {code_rows[2] + 2}\): column 'loss'"):
        load_runs(bad, where=("dataset=code",))


@pytest.mark.parametrize(
    "where,msg",
    [
        (("colour=red",), "--where 'colour=red': no column 'colour'; columns are"),
        (("dataset=nope",), "--where 'dataset=nope' matches no row (values: code, tiny, web)"),
        (("dataset",), "--where 'dataset': expected column=value"),
    ],
)
def test_bad_filters_are_one_line_errors(consolidated, where, msg):
    p, _ = consolidated
    with pytest.raises(TableError) as e:
        load_runs(p, where=where)
    assert msg in str(e.value)
    r = CliRunner().invoke(main, ["fit", str(p), *[a for w in where for a in ("--where", w)]])
    assert r.exit_code == 2 and msg in r.output and len(r.output.strip().splitlines()) == 1


def test_each_group_is_fitted_on_its_own_and_a_small_one_gets_a_status(consolidated):
    p, _ = consolidated
    groups = analyze_groups(p, "dataset", targets=[1e22], n_bootstrap=0, methods="approach3")
    by = {g.value: g for g in groups}
    assert list(by) == ["web", "code", "tiny"]
    assert by["web"].result.approach3.alpha == pytest.approx(0.34, abs=0.03)
    assert by["code"].result.approach3.alpha == pytest.approx(0.5, abs=0.05)
    assert by["tiny"].result.fitted == () and "needs at least 5 runs" in by["tiny"].result.errors["approach3"]
    r = CliRunner().invoke(main, ["fit", str(p), "--by", "dataset", "--bootstrap", "0", "--target", "1e22", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert [g["value"] for g in doc["groups"]] == ["web", "code", "tiny"]
    assert doc["groups"][0]["analysis"]["n_used"] == 34
    back = GroupedAnalysis.from_dict(doc)  # the --by document reads back through its own schema
    assert back.by == "dataset" and [g.value for g in back.groups] == list(by) and back.groups[2].result.fitted == ()
    assert back.groups[0].result.approach3.alpha == pytest.approx(by["web"].result.approach3.alpha)
    r = CliRunner().invoke(main, ["fit", str(p), "--by", "dataset", "--bootstrap", "0", "--target", "1e22"])
    assert r.exit_code == 0 and "not fitted: needs at least 5 runs" in r.output
    r = CliRunner().invoke(main, ["fit", str(p), "--by", "colour"])
    assert r.exit_code == 2 and "--by 'colour': no such column" in r.output


def test_an_outlier_column_must_be_true_or_false(consolidated, tmp_path):
    p, df = consolidated
    df.loc[5, "outlier"] = "maybe"
    bad = tmp_path / "b.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(TableError, match=r"row 5 \(line 7\): column 'outlier' value 'maybe' is not true or false"):
        load_runs(bad)


def test_checkpoints_of_one_run_are_refused_not_fitted_as_runs(tmp_path):
    df = synthetic_runs(budgets=(1e18, 1e19), n_sizes=4)
    ck = pd.concat([df.assign(step=1000), df.assign(step=2000, loss=df.loss - 0.01)], ignore_index=True)
    p = tmp_path / "ck.csv"
    ck.to_csv(p, index=False)
    with pytest.raises(TableError, match="column 'step' holds several checkpoints of one run"):
        load_runs(p)
    assert load_runs(p, where=("step=2000",)).n_used == 8  # one checkpoint per run: fine
    # With the LR at each row (and a run name), it is a loss-curve table: the refusal says so, and it reads.
    from isoflop.laws.curves import load_curves

    runs = [f"r{i}" for i in range(len(df))]
    ck = pd.concat(
        [df.assign(run=runs, step=1000, lr=1e-3), df.assign(run=runs, step=2000, lr=1e-3, loss=df.loss - 0.01)],
        ignore_index=True,
    )
    ck.to_csv(p, index=False)
    with pytest.raises(TableError, match="it is a loss-curve table: scaling curves fit reads it"):
        load_runs(p)
    curves = load_curves(p)
    assert len(curves.curves) == 8 and all(len(c.step) == 2 for c in curves.curves)
    # A named schedule in place of the LR at each row: the same.
    ck.drop(columns=["lr"]).assign(schedule="cosine", peak_lr=1e-3).to_csv(p, index=False)
    with pytest.raises(TableError, match=r"with its 'lr' \(or 'schedule'\) column it is a loss-curve table"):
        load_runs(p)
    assert all(c.lr[-1] == pytest.approx(1e-4) for c in load_curves(p).curves)  # cosine to 0.1 of its peak
