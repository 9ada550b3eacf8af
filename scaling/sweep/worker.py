"""One run of a sweep, in whatever process an executor gives it: train, and write its folder."""

from __future__ import annotations

from scaling.errors import RecordError
from scaling.runs.store import run_folder
from scaling.sweep.plan import RunSpec


def execute_run(spec_dict: dict, sweep_dir: str, cache_dir: str | None = None) -> dict:
    """Run one spec and write its records; return a small summary.

    Never raises for a training failure: the run is recorded as failed with
    its error, so a sweep goes on. Safe to call again for an interrupted run:
    it resumes from the run's checkpoint (or starts over), and metrics from
    after the checkpoint are dropped so no step is logged twice. A damaged
    ``result.json`` (torn, or not a record) is redone.
    """
    from scaling.data.corpus import load_corpus
    from scaling.train.checkpoint import checkpoint_step
    from scaling.train.loop import train

    spec = RunSpec.from_dict(spec_dict)
    folder = run_folder(sweep_dir, spec.run_id)
    try:
        done = folder.read_result()
    except RecordError:
        folder.clear()  # damaged: redo the run from scratch
        done = None
    if done is not None:
        return {"run_id": spec.run_id, "status": done.status, "skipped": True}
    folder.write_config(spec.to_dict())
    folder.keep_metrics_until(checkpoint_step(folder.checkpoint_path))
    try:
        data = load_corpus(spec.corpus, spec.tokenizer, cache_dir)
        record = train(spec.model, spec.budget, data, spec.train, device=spec.device, seed=spec.seed,
                       cache_dir=cache_dir, on_metrics=folder.append_metrics, checkpoint_path=folder.checkpoint_path,
                       checkpoint_every_s=spec.checkpoint_every_s).with_run_id(spec.run_id)
    except Exception as e:  # noqa: BLE001 - a bad corpus or config is this run's failure, not the sweep's
        record = spec.failed_record(f"{type(e).__name__}: {e}")
    folder.write_result(record)
    return {"run_id": spec.run_id, "status": record.status, "skipped": False}
