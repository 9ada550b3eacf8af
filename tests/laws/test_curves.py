"""The loss-curve table: read from a sweep folder and from files, every malformed curve named in one line."""

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

from isoflop.errors import TableError
from isoflop.laws.curves import load_curves
from isoflop.runs import iter_records
from isoflop.runs.store import curve_frame


def test_a_sweep_folder_is_a_curve_table_of_its_logged_steps():
    """The fixture sweep (20 cosine runs): every run's logged rows, with the LR and the validation losses."""
    folder = FIXTURES / "quick-shakespeare"
    ct = load_curves(folder)
    recs = {rid: r for rid, r in iter_records(folder, curves=True)}
    assert len(ct) == len(recs) == 20 and len(ct.sizes) >= 5
    for c in ct.curves:
        r = recs[c.run]
        assert c.n_params == r.n_params and c.parent is None
        assert list(c.step) == [p["step"] for p in r.curve]
        assert np.allclose(c.loss, [p["train_loss"] for p in r.curve]) and np.all(c.lr > 0)
        assert c.final_val == pytest.approx(r.val_loss) and c.end == r.steps


def test_a_csv_curve_table_reads_back_the_same_curves(tmp_path):
    folder = FIXTURES / "quick-shakespeare"
    p = tmp_path / "curves.csv"
    curve_frame(folder).to_csv(p, index=False)
    a, b = load_curves(folder), load_curves(p)
    assert a.runs == b.runs
    for x, y in zip(a.curves, b.curves):
        assert np.array_equal(x.step, y.step) and np.allclose(x.loss, y.loss) and np.allclose(x.lr, y.lr)
        assert [v[0] for v in x.val] == [v[0] for v in y.val]
        assert [v[1] for v in x.val] == pytest.approx([v[1] for v in y.val])


def _table(over=None):
    rows = []
    for run, n in (("a", 1e6), ("b", 2e6)):
        for s in (10, 20, 30):
            rows.append({"run": run, "N": n, "step": s, "tokens": s * 1000, "lr": 1e-3, "loss": 3.0 - s / 100})
    df = pd.DataFrame(rows).astype(object)  # cells may be set to text, as in a file
    for (i, col), v in (over or {}).items():
        df.loc[i, col] = v
    return df


def test_a_branch_reads_as_its_parents_prefix_then_its_own_rows():
    df = _table()
    cool = pd.DataFrame(
        [
            {
                "run": "a-cool",
                "N": 1e6,
                "step": s,
                "tokens": s * 1000,
                "lr": 1e-4,
                "loss": 2.5,
                "parent": "a",
                "branch_step": 20,
            }
            for s in (25, 30)
        ]
    )
    ct = load_curves(pd.concat([df, cool], ignore_index=True))
    full = ct.full("a-cool")
    assert list(full.step) == [10, 20, 25, 30] and list(full.lr) == [1e-3, 1e-3, 1e-4, 1e-4]
    assert [c.run for c in ct.branches("a")] == ["a-cool"]


@pytest.mark.parametrize(
    "edit, says",
    [
        ({(1, "step"): 5}, "run a: row 1: step 5 comes after step 10 (steps must increase within a run)"),
        ({(2, "N"): 1.5e6}, "run a: N changes mid-curve (row 0: 1e+06, row 2: 1.5e+06); a run has one size"),
        ({(4, "lr"): None}, "run b: row 4: a loss without a learning rate (lr)"),
        ({(3, "loss"): "high"}, "row 3: column 'loss' value 'high' is not a number (loss)"),
        ({(0, "N"): -1}, "run a: row 0: N must be a positive number"),
    ],
)
def test_a_malformed_curve_is_named_with_its_run_and_row(edit, says):
    with pytest.raises(TableError) as e:
        load_curves(_table(edit))
    assert str(e.value) == f"<dataframe>: {says}"


def test_a_table_without_lr_or_with_an_unknown_parent_is_refused(tmp_path):
    p = tmp_path / "ck.csv"
    _table().drop(columns=["lr"]).to_csv(p, index=False)
    with pytest.raises(TableError, match=r"ck.csv: a loss-curve table needs an 'lr' column"):
        load_curves(p)
    df = _table().assign(parent=["", "", "", "zzz", "zzz", "zzz"], branch_step=[None, None, None, 10, 10, 10])
    with pytest.raises(TableError, match=r"run b: its parent 'zzz' is not in the table"):
        load_curves(df)
    p = tmp_path / "bad.csv"
    _table({(4, "step"): 10}).to_csv(p, index=False)
    with pytest.raises(TableError, match=r"bad.csv: run b: row 4 \(line 6\): step 10 comes after step 10"):
        load_curves(p)
