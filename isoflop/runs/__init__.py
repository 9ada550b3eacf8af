"""The folders that hold run records, and what is read from them.

* :mod:`~isoflop.runs.folder`: one run folder, and one WSD trunk folder.
* :mod:`~isoflop.runs.store`: the one reader and writer of sweep folders.
* :mod:`~isoflop.runs.cost`: what a sweep spent; :mod:`~isoflop.runs.throughput`: how fast it trained.

The record itself (:class:`RunRecord`, :class:`TrunkState`) is what training returns, so it lives with training
(:mod:`isoflop.train.record`) and is re-exported here: the data flow is train → records → folders, and a package
that trains must not import the one that stores.
"""

from isoflop.runs.folder import RunFolder, TrunkFolder, run_folder, trunk_folder
from isoflop.runs.store import (
    RUNS_COLUMNS,
    finished_records,
    is_sweep_dir,
    iter_records,
    read_curves,
    read_manifest,
    run_folders,
    runs_frame,
    trunk_folders,
    write_manifest,
    write_runs_csv,
)
from isoflop.train.record import SCHEMA_VERSION, RunRecord, TrunkState

__all__ = [
    "RUNS_COLUMNS",
    "SCHEMA_VERSION",
    "RunFolder",
    "RunRecord",
    "TrunkFolder",
    "TrunkState",
    "finished_records",
    "is_sweep_dir",
    "iter_records",
    "read_curves",
    "read_manifest",
    "run_folder",
    "run_folders",
    "runs_frame",
    "trunk_folder",
    "trunk_folders",
    "write_manifest",
    "write_runs_csv",
]
