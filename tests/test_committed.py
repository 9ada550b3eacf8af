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
    "results/cpu/fit.json": [str(ROOT / "results/cpu"), "--target", "1e15", "--target", "3.6e13"],
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
