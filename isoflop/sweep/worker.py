"""One task of a sweep, in whatever process an executor gives it: a run (or WSD branch), or a trunk's growth."""

from __future__ import annotations

from isoflop.errors import RecordError
from isoflop.runs.claim import Claim, ClaimLost, claim_path, held_elsewhere, try_claim
from isoflop.runs.folder import run_folder, trunk_folder
from isoflop.train.record import TrunkState
from isoflop.train.spec import RunSpec


class TrunkHeld(RuntimeError):
    """A branch's trunk must grow to its branch point, and another live driver is growing it."""


def execute_run(
    spec_dict: dict,
    sweep_dir: str,
    cache_dir: str | None = None,
    keep_snapshot: bool = False,
    earlier: tuple[dict, ...] = (),
) -> dict:
    """Run one spec and write its records; return a small summary.

    Never raises for a training failure: the run is recorded as failed with
    its error, so a sweep goes on. Safe to call again for an interrupted run:
    it resumes from the run's checkpoint (or starts over), and metrics from
    after the checkpoint are dropped so no step is logged twice. A damaged
    ``result.json`` (torn, or not a record) is redone. A WSD branch starts from
    its trunk's snapshot at its branch point; when that snapshot is missing or
    damaged, the branch re-creates it first. The snapshot is deleted after the
    branch unless ``keep_snapshot`` (another branch starts there too). ``earlier``: the specs of the trunk's
    branches at earlier branch points (see :func:`grow`).

    The run is claimed first (:mod:`isoflop.runs.claim`): a run another live driver holds is left to it
    (status ``claimed``), and a claim whose holder died is taken over, resuming from its checkpoint.
    """
    spec = RunSpec.from_dict(spec_dict)
    folder = run_folder(sweep_dir, spec.run_id)
    done, _ = examine(folder, spec)
    if done is not None:
        return {"run_id": spec.run_id, "status": done.status, "skipped": True}
    claim = try_claim(claim_path(sweep_dir, "run", spec.run_id))
    if not isinstance(claim, Claim):  # another driver trains it now
        return _left_to(spec, claim.describe())
    with claim:
        return _claimed_run(spec, folder, sweep_dir, cache_dir, keep_snapshot, claim, earlier)


def _claimed_run(
    spec: RunSpec, folder, sweep_dir: str, cache_dir: str | None, keep_snapshot: bool, claim, earlier=()
) -> dict:
    """:func:`execute_run` once this process holds the run's claim."""
    from isoflop.data.corpus import load_corpus
    from isoflop.train.checkpoint import checkpoint_step, save_checkpoint

    done, why = examine(folder, spec)  # again: another driver may have finished it before the claim was taken
    if why:
        folder.set_aside(why)  # redo the run from scratch; the damaged files are kept aside
    if done is not None:
        return {"run_id": spec.run_id, "status": done.status, "skipped": True}
    claim.started()
    folder.write_config(spec)
    folder.keep_metrics_until(checkpoint_step(folder.checkpoint_path))
    try:
        data = load_corpus(spec.corpus, spec.tokenizer, cache_dir)
        emit, save = restart_aware(folder, claim.guarded), claim.guarded(save_checkpoint)
        record = (
            _branch(spec, data, folder, sweep_dir, cache_dir, emit, save, earlier)
            if spec.is_branch
            else _independent(spec, data, folder, cache_dir, emit, save)
        ).with_run_id(spec.run_id)
    except ClaimLost as e:  # thought dead, and taken over: the new holder trains it, and this one writes nothing
        return _left_to(spec, str(e))
    except TrunkHeld as e:  # its trunk is being grown by another driver: left for later, nothing trained
        claim.yielded()
        return _left_to(spec, str(e))
    except Exception as e:  # a run that crashes (or cannot load its data) is recorded as failed: the sweep goes on
        record = spec.failed_record(f"{type(e).__name__}: {e}")
    try:
        claim.guarded(folder.write_result)(record)
    except ClaimLost as e:
        return _left_to(spec, str(e))
    branch = spec.branch
    if branch is not None and not keep_snapshot:  # no other branch starts at this snapshot
        trunk_folder(sweep_dir, branch.trunk_id).snapshot_path(branch.step).unlink(missing_ok=True)
    return {"run_id": spec.run_id, "status": record.status, "skipped": False}


def _left_to(spec: RunSpec, holder: str) -> dict:
    """The summary of a run left to another driver (it holds the run or its trunk, or took it over)."""
    return {"run_id": spec.run_id, "status": "claimed", "skipped": True, "claimed_by": holder}


def examine(folder, spec: RunSpec):
    """A run folder's record (None: unfinished or damaged), and why the folder cannot be trusted (None: it can):
    a result.json that is not a record, or a record of another run; for an unfinished run, a config.json that is
    not the spec its run id names (its curve and checkpoint belong to another run)."""
    try:
        rec = folder.read_result()
    except RecordError as e:
        return None, str(e)
    if rec is not None:
        if rec.run_id not in (None, spec.run_id):
            return None, f"{folder.result_path}: damaged (the record of run {rec.run_id}, not {spec.run_id})"
        return rec, None
    if not folder.config_path.exists():
        return None, None
    try:
        written = folder.read_spec()
    except RecordError:  # a spec that does not read back is damage
        written = None
    if written is None or written.run_id != spec.run_id:
        return None, f"{folder.config_path}: damaged (not the spec of run {spec.run_id})"
    return None, None


def restart_aware(folder, guard=lambda write: write):
    """``folder.append_metrics``, except that the first rows of this attempt first drop any kept rows from
    their step on: a run whose checkpoint was refused (another shape, another run, a planted pickle) starts
    over, and no step is logged twice. ``guard`` wraps both writes (:meth:`~isoflop.runs.claim.Claim.guarded`:
    a holder whose claim was taken over writes no more rows)."""
    first = [True]
    trim, append = guard(folder.keep_metrics_until), guard(folder.append_metrics)

    def emit(rows: list[dict]) -> None:
        if first[0] and rows:
            first[0] = False
            trim(min(int(r.get("step", 0)) for r in rows) - 1)
        append(rows)

    return emit


def _independent(spec: RunSpec, data, folder, cache_dir, emit, save):
    from isoflop.train.loop import train

    return train(
        spec.model,
        spec.budget,
        data,
        spec.train,
        device=spec.device,
        seed=spec.seed,
        cache_dir=cache_dir,
        on_metrics=emit,
        checkpoint_path=folder.checkpoint_path,
        checkpoint_every_s=spec.checkpoint_every_s,
        save=save,
    )


def _branch(spec: RunSpec, data, folder, sweep_dir: str, cache_dir, emit, save, earlier=()):
    from isoflop.train.branch import train_branch

    branch = spec.as_branch()

    def cooldown():
        return train_branch(
            spec.model,
            spec.budget,
            data,
            spec.train,
            warmup_steps=branch.trunk.trunk_warmup_steps,
            snapshot_path=trunk_folder(sweep_dir, branch.trunk_id).snapshot_path(branch.step),
            trunk_id=branch.trunk_id,
            device=spec.device,
            seed=spec.seed,
            cache_dir=cache_dir,
            on_metrics=emit,
            checkpoint_path=folder.checkpoint_path,
            checkpoint_every_s=spec.checkpoint_every_s,
            save=save,
        )

    try:
        return cooldown()
    except FileNotFoundError:  # no snapshot yet (or a missing or damaged one): grow the trunk to it, then branch
        grow(spec.to_dict(), sweep_dir, cache_dir, earlier, data=data, from_branch=True)
        return cooldown()


def grow(
    spec_dict: dict,
    sweep_dir: str,
    cache_dir: str | None = None,
    earlier: tuple[dict, ...] = (),
    *,
    data=None,
    from_branch: bool = False,
) -> dict:
    """Grow a branch's trunk to its branch point and save the snapshot the branch starts from.

    Skips a snapshot that is already there. Resumes a killed growth from the
    trunk's head, dropping the curve rows after it, so the trunk's curve holds
    every step once. Updates the trunk's ``trunk.json`` (steps, FLOPs and wall
    time spent). A trunk another live driver holds is never raced: the task is skipped (its branches wait for
    that driver, see :func:`isoflop.sweep.runner.run_sweep`), and a branch that needs it raises
    :class:`TrunkHeld`; a claim whose holder died is taken over, and the growth resumes from the trunk's head.

    ``earlier`` holds the specs of the trunk's branches at earlier branch points. A growth that starts before one
    of them still needed (its snapshot missing, a branch there unfinished) saves that snapshot on its way: a
    driver that takes over a dead one's trunk may reach this task before that branch point's, and growing past
    it would leave its branches to grow the trunk a second time.
    """
    from isoflop.train.checkpoint import checkpoint_step

    spec = RunSpec.from_dict(spec_dict)
    branch = spec.as_branch()
    tf = trunk_folder(sweep_dir, branch.trunk_id)
    if _has_snapshot(tf, branch.step):
        return {"trunk_id": branch.trunk_id, "step": branch.step, "skipped": True}
    if not from_branch and _taken(spec, sweep_dir):
        return {"trunk_id": branch.trunk_id, "step": branch.step, "skipped": True}
    # One grower at a time: a trunk another live driver grows is left to it (its branches wait for it, or take
    # it over when its holder dies), and its snapshot checked again once claimed, so that no trunk is grown twice.
    claim = try_claim(claim_path(sweep_dir, "trunk", branch.trunk_id))
    if not isinstance(claim, Claim):
        if from_branch:
            raise TrunkHeld(f"trunk {branch.trunk_id} held by {claim.describe()}")
        return {"trunk_id": branch.trunk_id, "step": branch.step, "skipped": True, "claimed_by": claim.describe()}
    with claim:
        if _has_snapshot(tf, branch.step) or (not from_branch and _taken(spec, sweep_dir)):
            return {"trunk_id": branch.trunk_id, "step": branch.step, "skipped": True}
        tf.write_config(branch.trunk)
        head = checkpoint_step(tf.head_path)
        if head <= branch.step:
            tf.keep_metrics_until(head)  # rows after the head were trained by a growth that was killed
        if data is None:
            from isoflop.data.corpus import load_corpus

            data = load_corpus(spec.corpus, spec.tokenizer, cache_dir)
        recreated = False
        try:
            for step in (*_stops(earlier, tf, head, branch.step, sweep_dir), branch.step):
                claim.started(step=step)
                recreated = _claimed_growth(spec, tf, step, data, claim.guarded) or recreated
        except ClaimLost as e:  # thought dead, and taken over: the new holder grows it
            if from_branch:
                raise TrunkHeld(str(e)) from None
            return {"trunk_id": branch.trunk_id, "step": branch.step, "skipped": True, "claimed_by": str(e)}
        return {"trunk_id": branch.trunk_id, "step": branch.step, "skipped": False, "recreated": recreated}


def _stops(earlier: tuple[dict, ...], tf, head: int, to_step: int, sweep_dir: str) -> list[int]:
    """The earlier branch points a growth from ``head`` to ``to_step`` passes that are still needed: their
    snapshot missing and a branch there unfinished."""
    needed: set[int] = set()
    for d in earlier:
        s = RunSpec.from_dict(d)
        step = s.as_branch().step
        if not head < step < to_step or step in needed:
            continue
        if _has_snapshot(tf, step):
            continue
        if examine(run_folder(sweep_dir, s.run_id), s)[0] is None:
            needed.add(step)
    return sorted(needed)


def _has_snapshot(tf, step: int) -> bool:
    """Whether the trunk's snapshot at ``step`` is there, and whole at that step."""
    from isoflop.train.checkpoint import checkpoint_step

    snap = tf.snapshot_path(step)
    return snap.exists() and checkpoint_step(snap) == step


def _taken(spec: RunSpec, sweep_dir: str) -> bool:
    """Whether a growth task's branch is finished, or claimed by another live driver: the snapshot it would
    grow is then not needed here (another driver's branch grows or used it; growing it again would train the
    trunk twice)."""
    done, _ = examine(run_folder(sweep_dir, spec.run_id), spec)
    if done is not None:
        return True
    return held_elsewhere(claim_path(sweep_dir, "run", spec.run_id))


def _claimed_growth(spec: RunSpec, tf, to_step: int, data, guard) -> bool:
    """Grow the trunk (claimed by this process) from its head to ``to_step``, save the snapshot there and add
    what it cost to ``trunk.json``; whether the trunk had to be re-created from its first step. ``guard``
    (:meth:`~isoflop.runs.claim.Claim.guarded`) wraps the writes to the trunk's records."""
    from dataclasses import replace

    from isoflop.train.branch import grow_trunk
    from isoflop.train.checkpoint import save_checkpoint

    branch = spec.as_branch()
    g = grow_trunk(
        spec.model,
        data,
        spec.train,
        warmup_steps=branch.trunk.trunk_warmup_steps,
        to_step=to_step,
        head_path=tf.head_path,
        snapshot_path=tf.snapshot_path(to_step),
        device=spec.device,
        seed=spec.seed,
        on_metrics=guard(tf.append_metrics),
        logged_until=tf.last_logged_step(),
        checkpoint_every_s=spec.checkpoint_every_s,
        save=guard(save_checkpoint),
    )
    try:
        state = tf.read_state()
    except RecordError:  # a damaged trunk.json: start its accounting again
        state = TrunkState(branch.trunk_id)
    # Steps this growth trained that the trunk had already paid for (its head was lost, or was past the branch
    # point) are counted again, as re-created: the cost is what was spent, not what was kept.
    again = max(0, min(state.steps, g.to_step) - g.from_step) * spec.step_flops
    guard(tf.write_state)(
        replace(
            state,
            steps=max(state.steps, g.to_step),
            step_flops=spec.step_flops,
            wall_time_s=state.wall_time_s + g.wall_time_s,
            recreated_flops=state.recreated_flops + again,
        )
    )
    return g.recreated
