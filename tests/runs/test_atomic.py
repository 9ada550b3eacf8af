"""Atomic writes between real processes: writers of one file at once never collide, readers always see a whole
file, and two drivers building one corpus cache at once both get it."""

import json
import subprocess
import sys

WRITE = """
import sys
from isoflop.jsonio import write_json_atomic
for i in range(int(sys.argv[3])):
    write_json_atomic(sys.argv[1], {"writer": sys.argv[2], "i": i, "pad": "x" * 20000})
"""

BUILD = """
import sys
from isoflop.data.corpus import load_corpus
c = load_corpus("synthetic", "byte", sys.argv[1], synthetic_tokens=300_000)
print(int(c.train.size), int(c.train[:1000].sum()))
"""


def test_processes_writing_one_file_at_once_all_succeed_and_leave_it_whole(tmp_path):
    path = tmp_path / "sweep.json"
    ps = [
        subprocess.Popen([sys.executable, "-c", WRITE, str(path), str(w), "150"], stderr=subprocess.PIPE, text=True)
        for w in range(4)
    ]
    reads = 0
    while any(p.poll() is None for p in ps):
        if path.exists():
            doc = json.loads(path.read_text())  # whole at every moment: the old file or the new one
            assert len(doc["pad"]) == 20000
            reads += 1
    errors = [p.stderr.read() for p in ps if p.wait() != 0]
    assert not errors, errors
    assert json.loads(path.read_text())["i"] == 149 and reads > 0
    assert [f.name for f in tmp_path.iterdir()] == ["sweep.json"]  # no temp file left behind


def test_two_processes_building_one_corpus_cache_at_once_both_get_it(tmp_path):
    ps = [
        subprocess.Popen([sys.executable, "-c", BUILD, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in ps]
    assert all(p.returncode == 0 for p in ps), [e.decode()[-500:] for _, e in outs]
    assert outs[0][0] == outs[1][0] and int(outs[0][0].split()[0]) == 300_000
    [folder] = (tmp_path / "corpora").iterdir()
    assert not [f for f in folder.iterdir() if f.name.startswith(".")]  # the build folders are gone
