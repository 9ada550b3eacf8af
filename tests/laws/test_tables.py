import json

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_runs

from isoflop import TableError, load_runs
from isoflop.laws.table import group_by_flops


def test_reference_tables_load_with_no_flags():
    ch = load_runs("example:chinchilla")
    assert ch.n_runs == 245 and ch.derived == "tokens"
    assert ch.columns["params"] == "Model Size" and ch.columns["flops"] == "Training FLOP"
    np.testing.assert_allclose(ch.flops, 6 * ch.n_params * ch.n_tokens)
    cs = load_runs("example:cs336")
    assert cs.n_runs == 72 and cs.budgets.size == 9 and cs.derived == "tokens"
    np.testing.assert_allclose(cs.budgets, [6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21], rtol=1e-9)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet"])
def test_formats_round_trip(tmp_path, fmt):
    df = synthetic_runs()[["params", "tokens", "loss"]]
    p = tmp_path / f"runs.{fmt}"
    if fmt == "csv":
        df.to_csv(p, index=False)
    elif fmt == "json":
        p.write_text(json.dumps(df.to_dict(orient="records")))
    elif fmt == "jsonl":
        p.write_text("\n".join(json.dumps(r) for r in df.to_dict(orient="records")))
    else:
        pytest.importorskip("pyarrow")
        df.to_parquet(p)
    t = load_runs(p)
    assert t.n_runs == len(df) and t.derived == "flops"
    np.testing.assert_allclose(t.flops, 6 * df["params"] * df["tokens"])
    assert t.budgets.size == 5


@pytest.mark.parametrize("missing", ["params", "tokens", "flops"])
def test_any_one_of_n_d_c_is_derived(missing):
    df = synthetic_runs()
    t = load_runs(df.drop(columns=[missing, "budget"]))
    assert t.derived == missing
    for col, arr in (("params", t.n_params), ("tokens", t.n_tokens), ("flops", t.flops)):
        np.testing.assert_allclose(arr, df[col], rtol=1e-12)


def test_aliases_are_case_insensitive_and_overridable():
    df = pd.DataFrame(
        {"MODEL SIZE": [1e6, 2e6, 4e6], "training_tokens": [1e8, 5e7, 2.5e7], "Final_Loss": [3.1, 3.0, 3.2]}
    )
    t = load_runs(df)
    assert t.columns == {"params": "MODEL SIZE", "tokens": "training_tokens", "loss": "Final_Loss"}
    df2 = df.rename(columns={"Final_Loss": "xent"})
    with pytest.raises(TableError, match="no loss column"):
        load_runs(df2)
    assert load_runs(df2, loss_col="xent").n_used == 3


def test_grouping_by_tolerance_and_budget_column():
    c = np.array([1e18, 1.04e18, 0.98e18, 3e18, 3.1e18, 1e19])
    assert list(group_by_flops(c, 0.05)) == [0, 0, 0, 1, 1, 2]
    assert len(set(group_by_flops(c, 0.01))) > 3
    df = synthetic_runs()
    df["flops"] *= np.exp(np.random.default_rng(0).normal(0, 0.2, len(df)))  # actual FLOPs scatter
    t = load_runs(df.drop(columns=["tokens"]))
    assert t.budgets.size == 5 and "budget" in t.grouping
    np.testing.assert_allclose(t.budgets, [1e17, 1e18, 1e19, 1e20, 1e21])


def test_bad_runs_are_excluded_with_reasons():
    df = synthetic_runs()[["params", "tokens", "loss"]].astype(object)
    df["status"] = "ok"
    df.loc[3, "loss"] = float("nan")
    df.loc[4, "loss"] = float("inf")
    df.loc[5, "status"] = "diverged"
    df.loc[6, "loss"] = ""
    t = load_runs(df)
    reasons = {e.index: e.reason for e in t.excluded}
    assert reasons == {
        3: "loss is missing or NaN",
        4: "loss is infinite",
        5: "status 'diverged'",
        6: "loss is missing or NaN",
    }
    assert t.n_used == len(df) - 4 and not t.used[[3, 4, 5, 6]].any()


def test_drop_highest_drops_the_worst_runs():
    df = synthetic_runs()
    worst = set(np.argsort(-df["loss"].to_numpy())[:3])
    t = load_runs(df, drop_highest=3)
    assert {e.index for e in t.excluded} == worst
    assert all("highest-loss" in e.reason for e in t.excluded)


@pytest.mark.parametrize(
    "content,name,pattern",
    [
        (None, "missing.csv", r"missing\.csv: file not found"),
        ("a,b\n1,2\n", "runs.xlsx", r"unknown format '\.xlsx'"),
        ("params,tokens\n1,2\n", "runs.csv", r"runs\.csv: no loss column"),
        (
            "params,tokens,loss\n1e6,1e8,3\nabc,1e8,3\n",
            "runs.csv",
            r"runs\.csv: row 1 \(line 3\): column 'params' \(params\) value 'abc' is not a number",
        ),
        (
            "params,tokens,loss\n1e6,-5,3\n",
            "runs.csv",
            r"row 0 \(line 2\): column 'tokens' \(tokens\) must be positive",
        ),
        ("params,flops,loss\n1e6,0,3\n", "runs.csv", r"column 'flops' \(flops\) must be positive"),
        ("params,loss\n1e6,3\n", "runs.csv", r"needs two of params, tokens and flops"),
        ("[1, 2", "runs.json", r"runs\.json: invalid JSON"),
        ('{"params": 1}', "runs.json", r"expected a JSON array"),
    ],
)
def test_bad_input_errors_name_file_row_and_column(tmp_path, content, name, pattern):
    p = tmp_path / name
    if content is not None:
        p.write_text(content)
    with pytest.raises(TableError, match=pattern) as e:
        load_runs(p)
    assert "\n" not in str(e.value)


def test_repr_of_a_large_table_and_its_fit_is_a_summary():
    import numpy as np
    import pandas as pd

    from isoflop.laws import analyze, load_runs

    rng = np.random.default_rng(0)
    n = rng.uniform(1e6, 1e9, 5000)
    c = np.repeat([1e18, 1e19, 1e20, 1e21, 1e22], 1000)
    loss = 2 + 0.1 * (np.log10(n) - 7.5) ** 2 + rng.normal(0, 0.01, 5000)
    df = pd.DataFrame({"params": n, "tokens": c / (6 * n), "flops": c, "loss": loss})
    t = load_runs(df)
    assert len(repr(t)) < 300 and "5000 runs" in repr(t) and "5 budgets" in repr(t)
    res = analyze(t, methods="approach2", n_bootstrap=0)
    assert len(repr(res)) < 300 and "approach2" in repr(res)
