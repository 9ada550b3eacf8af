"""Do two drivers on one results folder cooperate?

Run:  python benchmarks/bench_drivers.py [--budgets 3e10 6e10] [--sizes 6] [--wsd]

Times one ``scaling sweep run --workers 1`` of a 12-run sweep (synthetic corpus, one thread per run), then two
such commands started together on a fresh folder, and prints the ratio of wall times, measured in this run,
with what each driver trained (from the sweep's attempt log, ``claims/log.jsonl``) and a check that each run
was started once. On 2 cores the two drivers should take ≤ 0.6× the one driver's time. ``--wsd`` runs the same
grid as WSD trunks with cooldown branches, where the drivers also share the trunks' growths.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from isoflop.data import load_corpus
from isoflop.runs.claim import attempts

SWEEP = """
name = "coop"
schedule = "{schedule}"
corpus = "synthetic"
seq_len = 64
batch_size = 8
budgets = [{budgets}]
threads = 1
[sizes]
auto = {{ k = {k}, span = 3.0, exponent = 0.5, anchor_flops = {anchor}, anchor_params = 5e4 }}
"""


def _drivers(n: int, sweep: Path, results: Path, cache: Path) -> float:
    args = [sys.executable, "-m", "isoflop.cli", "sweep", "run", str(sweep), "--results", str(results)]
    args += ["--cache-dir", str(cache), "--workers", "1"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a driver failed: {err.strip().splitlines()[-1] if err.strip() else p.returncode}")
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", type=float, nargs="+", default=[2e11, 4e11])
    ap.add_argument("--sizes", type=int, default=6, help="sizes per budget")
    ap.add_argument("--wsd", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sweep = tmp / "coop.toml"
        text = SWEEP.format(
            schedule="wsd" if a.wsd else "cosine",
            budgets=", ".join(f"{b:g}" for b in a.budgets),
            k=a.sizes,
            anchor=f"{a.budgets[0]:g}",
        )
        sweep.write_text(text)
        cache = tmp / "cache"
        load_corpus("synthetic", "byte", cache)  # builds the corpus cache, so neither timing pays for it
        one = _drivers(1, sweep, tmp / "one", cache)
        two = _drivers(2, sweep, tmp / "two", cache)
        runs: Counter = Counter()
        by: Counter = Counter()
        last: dict = {}
        for e in attempts(tmp / "two" / "coop"):
            if not e["key"].startswith("run-"):
                continue
            if e.get("yielded"):  # stopped before training (its trunk was the other driver's): not a start
                runs[e["key"]] -= 1
                by[last[e["key"]]] -= 1
            else:
                runs[e["key"]] += 1
                by[e["pid"]] += 1
                last[e["key"]] = e["pid"]
        n = len(list((tmp / "one" / "coop" / "runs").iterdir()))
    print(f"{n} runs ({'WSD' if a.wsd else 'cosine'}), budgets {', '.join(f'{b:.3g}' for b in a.budgets)}")
    print(f"one driver, --workers 1:        {one:6.1f} s")
    print(f"two drivers, --workers 1 each:  {two:6.1f} s   ratio {two / one:.2f}")
    print(
        f"runs trained by each driver: {sorted(by.values())}; started more than once: {sum(c > 1 for c in runs.values())}"
    )


if __name__ == "__main__":
    main()
