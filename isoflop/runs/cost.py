"""What a sweep folder's finished runs cost: FLOPs and wall time as spent (each WSD trunk once, plus every
cooldown; an independent run in full), and what the same runs would have cost as independent runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from isoflop.errors import RecordError
from isoflop.runs.store import iter_records, trunk_folders
from isoflop.train.record import RunRecord


@dataclass(frozen=True)
class FolderCost:
    """Attributes:
    records: the readable records; damaged: run folders whose result.json is not a record.
    flops, wall_s: spent (trunks once, plus each run's own cost).
    independent_flops, independent_wall_s: the same runs as independent runs (each run's wall time
        scaled to all its FLOPs at the throughput it ran at).
    trunks: WSD trunks in the folder.
    """

    records: tuple
    damaged: int
    flops: float
    wall_s: float
    independent_flops: float
    independent_wall_s: float
    trunks: int


def trunk_costs(root: str | Path) -> tuple[float, float]:
    """FLOPs and wall time spent growing a sweep folder's WSD trunks (a damaged trunk.json counts nothing)."""
    flops = wall = 0.0
    for tf in trunk_folders(root):
        try:
            st = tf.read_state()
        except RecordError:
            continue
        flops += st.flops
        wall += st.wall_time_s
    return flops, wall


def folder_cost(root: str | Path) -> FolderCost:
    """Read a sweep folder's records and what they cost. Writes nothing."""
    recs, damaged = [], 0
    for _, r in iter_records(root):
        if isinstance(r, RunRecord):
            recs.append(r)
        else:
            damaged += 1
    cost = wall = ind_wall = 0.0
    for r in recs:
        own = r.cost
        cost += own
        wall += r.wall_time_s or 0.0
        ind_wall += (r.wall_time_s or 0.0) * ((r.flops or 0.0) / own if own else 1.0)
    t_flops, t_wall = trunk_costs(root)
    return FolderCost(
        tuple(recs),
        damaged,
        cost + t_flops,
        wall + t_wall,
        float(sum(r.flops or 0 for r in recs)),
        ind_wall,
        len(trunk_folders(root)),
    )
