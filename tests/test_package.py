"""The package as a whole: one error root at the CLI boundary, no import-time side effects, a layout by role."""

import ast
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import isoflop
from isoflop import errors
from isoflop.cli import _Group

PKG = Path(isoflop.__file__).resolve().parent


def test_every_input_error_derives_from_the_one_root():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ScalingError), name
    e = errors.TableError("t.csv: row 3: bad", partial={"rows": 2})
    assert isinstance(e, ValueError) and e.partial == {"rows": 2}


def test_cli_turns_scaling_errors_into_one_line_and_bugs_into_tracebacks():
    @click.group(cls=_Group)
    def cli():
        pass

    @cli.command()
    def bad_input():
        raise errors.ConfigError("sweep.toml: seq_len (-3) must be a positive integer")

    @cli.command()
    def bug():
        raise ValueError("an internal invariant broke")

    r = CliRunner().invoke(cli, ["bad-input"])
    assert r.exit_code == 2 and r.output == "Error: sweep.toml: seq_len (-3) must be a positive integer\n"
    r = CliRunner().invoke(cli, ["bug"])
    assert r.exit_code == 1 and isinstance(r.exception, ValueError)  # not swallowed as bad input


def test_import_has_no_side_effects(tmp_path):
    code = (
        "import sys, isoflop, isoflop.laws, isoflop.runs, isoflop.sweep, isoflop.model, isoflop.train, "
        "isoflop.data; print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "", "HOME": str(tmp_path / "home")},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    assert list(tmp_path.iterdir()) == []  # no file or folder written (not even a cache under HOME)
    assert sorted(isoflop.__all__) == isoflop.__all__ and all(getattr(isoflop, n) is not None for n in isoflop.__all__)


def test_planning_a_wsd_sweep_needs_no_torch():
    # Branch points, trunk ids and the planned cost are arithmetic: `sweep status` must not pay for torch.
    sweep = PKG.parent / "sweeps" / "wsd.toml"
    code = (
        "import sys; from isoflop.sweep import load_sweep; from isoflop.sweep.plan import planned_cost; "
        f"c = planned_cost(load_sweep({str(sweep)!r}), 256); print(c > 0, 'torch' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False"]


def _module_imports() -> dict[str, set[str]]:
    """Imports between the package's modules, at module level and inside functions alike: a lazy import still
    makes the two modules depend on each other."""
    mods = {}
    for p in PKG.rglob("*.py"):
        name = ".".join(("isoflop", *p.relative_to(PKG).with_suffix("").parts)).removesuffix(".__init__")
        mods[name] = p
    graph = {}
    for name, p in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("isoflop"):
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    deps.add(sub if sub in mods else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("isoflop")}
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def test_no_import_cycles_between_modules():
    graph = _module_imports()
    # A package's __init__ re-exports its modules; only cycles among the modules themselves count.
    inits = {m for m in graph if (PKG / "/".join(m.split(".")[1:]) / "__init__.py").exists() or m == "isoflop"}
    g = {m: {d for d in deps if d not in inits} for m, deps in graph.items() if m not in inits}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in g.get(m, ()):
            if state.get(d) == 1:
                pytest.fail("import cycle: " + " -> ".join(path + [d]))
            if d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in g:
        if m not in state:
            visit(m, [m])


def test_no_import_cycles_between_packages():
    """The data flows one way (model -> train -> runs -> sweep -> laws -> design -> cli), so the packages, too,
    import one another without a circle."""
    graph = _module_imports()
    pkg = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
    g: dict[str, set[str]] = {}
    for m, deps in graph.items():
        if m == "isoflop":
            continue
        g.setdefault(pkg(m), set()).update(pkg(d) for d in deps if pkg(d) != pkg(m) and d != "isoflop")
    state: dict[str, int] = {}

    def visit(p, path):
        state[p] = 1
        for d in sorted(g.get(p, ())):
            if state.get(d) == 1:
                pytest.fail("package cycle: " + " -> ".join(path + [d]))
            if d not in state:
                visit(d, path + [d])
        state[p] = 2

    for p in sorted(g):
        if p not in state:
            visit(p, [p])


def test_modules_are_short_and_laws_never_import_torch():
    sizes = {p.relative_to(PKG): len(p.read_text().splitlines()) for p in PKG.rglob("*.py")}
    assert max(sizes.values()) <= 400, max(sizes.items(), key=lambda kv: kv[1])
    graph = _module_imports()
    for m, deps in graph.items():
        if m.startswith("isoflop.laws"):
            assert not any(d.startswith(("isoflop.train", "isoflop.model.transformer")) for d in deps), m
    for p in (PKG / "laws" / "fit").glob("*.py"):  # fitting is pure: not even a lazy import of either
        for node in ast.walk(ast.parse(p.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n.split(".")[0] in ("torch", "matplotlib") for n in names), p.name
