"""The report page: written from a real sweep folder and from a loss table, parsed back, and its figures decoded."""

import base64
import io
import shutil
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
from click.testing import CliRunner
from conftest import FIXTURES

from isoflop.cli import main
from isoflop.laws import analyze, load_runs
from isoflop.laws.answer import AVERAGE, PREFERENCE, choose_answer, human
from isoflop.laws.page import default_target
from isoflop.runs import run_folders


class _Page(HTMLParser):
    """Headings, images, table cells and paragraphs of a page."""

    def __init__(self):
        super().__init__()
        self.headings, self.images, self.cells, self.paragraphs, self._tag = [], [], [], [], None

    def handle_starttag(self, tag, attrs):
        self._tag = tag
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_endtag(self, tag):
        self._tag = None

    def handle_data(self, data):
        if self._tag in ("h1", "h2", "h3"):
            self.headings.append(data.strip())
        elif self._tag in ("td", "th"):
            self.cells.append(data.strip())
        elif self._tag == "p":
            self.paragraphs.append(data.strip())


def _parse(path) -> _Page:
    p = _Page()
    p.feed(path.read_text())
    return p


def _decode(img) -> np.ndarray:
    src = img["src"]
    assert src.startswith("data:image/png;base64,")
    png = base64.b64decode(src.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(png), format="png")


def test_a_report_of_a_real_sweep_holds_the_answer_figures_sensitivity_runs_cost_and_checklist(tmp_path):
    out = tmp_path / "report.html"
    src = tmp_path / "quick"  # a real sweep folder (20 runs), one of whose runs then dies
    shutil.copytree(FIXTURES / "quick-shakespeare", src)
    dead = run_folders(src)[0]
    dead.write_result(dead.read_spec().failed_record("the worker died (SIGKILL)"))
    r = CliRunner().invoke(main, ["report", str(src), "--out", str(out), "--target", "1e15", "--bootstrap", "60"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("At 1e+15 FLOPs:") and f"wrote {out}" in r.output
    page = _parse(out)
    for h in ("The answer", "Figures", "Sensitivity", "Runs used and excluded", "Cost", "Reporting checklist"):
        assert h in page.headings, h
    assert any(p.startswith("At 1e+15 FLOPs") for p in page.paragraphs)
    assert len(page.images) >= 3
    for img in page.images:  # every figure loads: a real PNG of some size
        pixels = _decode(img)
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100 and pixels.std() > 0
    assert "failed" in page.cells  # the run that did not finish is listed, with its reason
    for item in ("Functional form", "Counting of N, D and C", "Optimiser and schedule", "Data", "Seeds", "Excluded"):
        assert item in page.cells
    assert any("shakespeare" in c for c in page.cells)  # the corpus, read from sweep.json
    assert any("min of run time" in p for p in page.paragraphs)
    assert "choice" in page.cells  # the sensitivity table's header


def test_a_report_of_a_loss_table_as_markdown_writes_its_figures_beside_it(tmp_path):
    from conftest import synthetic_runs

    df = synthetic_runs(budgets=(1e18, 1e19, 1e20))
    nan_row = {"params": 1e9, "tokens": 1e9, "flops": 6e18, "loss": float("nan"), "budget": 1e19}
    table = tmp_path / "runs.csv"
    pd.concat([df, pd.DataFrame([nan_row])]).to_csv(table, index=False)  # the last row is excluded, with its reason
    out = tmp_path / "rep" / "report.md"
    r = CliRunner().invoke(main, ["report", str(table), "--out", str(out), "--bootstrap", "40", "--no-sensitivity"])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "## Reporting checklist" in text and "Not recorded" in text and "not computed" in text
    links = [line.split("](")[1].rstrip(")\n") for line in text.splitlines() if line.startswith("![")]
    assert links and all((out.parent / link).exists() for link in links)
    assert f"At {default_target([1e20]):.3g} FLOPs" in text  # the default target: 1e22, 100x the top budget
    assert "row 21" in text


def test_report_refuses_bad_input_with_one_line(tmp_path):
    r = CliRunner().invoke(main, ["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(main, ["report", "--example", "chinchilla", "--out", str(tmp_path / "r.pdf")])
    assert r.exit_code == 2 and "must end in .html or .md" in r.output


def test_the_answer_averages_the_methods_that_pass_every_check():
    from conftest import synthetic_runs, true_nopt  # a known surface: every method fits

    runs = load_runs(synthetic_runs(noise=0.003, rng=np.random.default_rng(0)))
    res = analyze(runs, targets=(1e22,), n_bootstrap=60, seed=0)
    ans = choose_answer(res, 1e22)
    assert ans.method == AVERAGE and len(ans.members) >= 2
    assert set(ans.members) == {m for m in res.fitted if m in PREFERENCE and m not in ans.set_aside}
    est = [res.prediction(m, 1e22)["optimal_params"] for m in ans.members]
    # The median of an equal-weight mixture lies among its members' medians, and its 95% interval holds each
    # of them (the mixture has at least 1/(2k) of its mass on either side of each).
    assert min(est) <= ans.params <= max(est)
    assert all(ans.params_ci[0] <= e <= ans.params_ci[1] for e in est)
    assert ans.params_ci[0] / 1.5 < true_nopt(1e22) < ans.params_ci[1] * 1.5
    assert ans.loss is not None and ans.loss > 0
    assert "the average of Approach" in ans.line() and "mixed with equal weights" in ans.line()
    line = ans.line()
    assert line.startswith("At 1e+22 FLOPs: N ≈ ") and "parameters (95%: " in line and " tokens" in line
    assert human(2.69e6) == "2.7M" and human(5.95e7) == "60M" and human(649_000) == "649k"
    assert type(ans).from_dict(ans.to_dict()) == ans
