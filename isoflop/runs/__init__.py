"""Run records and the folders that hold them.

* :mod:`~isoflop.runs.record`: :class:`RunRecord`, one schema both ways.
* :mod:`~isoflop.runs.store`: the one reader and writer of run and sweep folders.
"""

from isoflop.runs.record import SCHEMA_VERSION, RunRecord, TrunkState
from isoflop.runs.store import (
    RUNS_COLUMNS,
    RunFolder,
    TrunkFolder,
    finished_records,
    is_sweep_dir,
    iter_records,
    read_curves,
    read_manifest,
    run_folder,
    run_folders,
    runs_frame,
    trunk_folder,
    trunk_folders,
    write_manifest,
    write_runs_csv,
)

__all__ = ["RUNS_COLUMNS", "RunFolder", "RunRecord", "SCHEMA_VERSION", "TrunkFolder", "TrunkState", "trunk_folder",
           "trunk_folders", "finished_records", "is_sweep_dir",
           "iter_records", "read_curves", "read_manifest", "run_folder", "run_folders", "runs_frame",
           "write_manifest", "write_runs_csv"]
