"""What a recommended run is flagged for: its rules used beyond the ranges they were fitted on, the rival forms of
a rule that disagree where it is used, and an expected loss whose sweep was trained under other rules than the
run takes. Each flag is one line, printed with the recommendation (:mod:`isoflop.design.recommend`)."""

from __future__ import annotations

import math

from isoflop.laws.fit.hparams import PowerRule
from isoflop.sweep.config import SweepConfig


def rules_changed(source: SweepConfig, sw: SweepConfig) -> list[str]:
    """A flag when the run's batch or LR comes from other rules than the sweep's runs were trained under: the
    expected loss is the sweep's law, so it holds for runs trained as the sweep's were. Measured: at 3.6e13 on the
    code corpus, the run under the ladder's rules came in 0.12 nats below the point the fixed-batch sweep predicted,
    and below its interval (docs, LR and batch ladders)."""
    from isoflop.jsonio import finite_json

    def rule(r, fixed):  # a fixed value, or what the rule predicts with (not its intervals, errors or source)
        if r is None:
            return fixed
        keep = ("target", "variables", "ref", "value", "exponents", "eta0", "n0", "gamma")
        return {k: v for k, v in finite_json(r.to_dict()).items() if k in keep}

    changed = [
        what
        for what, old, new in (
            ("batch", rule(source.batch_rule, source.batch_size), rule(sw.batch_rule, sw.batch_size)),
            ("peak LR", rule(source.lr_rule, source.train.get("lr")), rule(sw.lr_rule, sw.train.get("lr"))),
        )
        if old != new
    ]
    if not changed:
        return []
    return [
        f"expected loss: the sweep's law, fitted to runs trained under its own {' and '.join(changed)} "
        f"{'rules' if len(changed) > 1 else 'rule'}, not the ones this run takes; under better rules the run can land "
        "below its interval (train the sweep under these rules, or check with --train)"
    ]


def form_spread(what: str, rule, x: dict, noise: float) -> tuple[tuple | None, list[str]]:
    """A row giving the range the rule's rival forms (those its ladder cannot tell apart) predict here, and a flag
    when being off by half that range (in log) would cost more than the seed noise, by the ladder's curvature."""
    if not (isinstance(rule, PowerRule) and len(rule.rivals) > 1):
        return None, []
    lo, hi = rule.spread(**x)
    cost = rule.loss_given_up(math.sqrt(hi / lo))
    forms = ", ".join("(" + ", ".join(f[0]) + ")" for f in rule.rivals)
    row = (f"{what} by rival forms", f"{lo:.4g}-{hi:.4g} ({hi / lo:.2f}x)", f"forms within one SE of the best: {forms}")
    if not (math.isfinite(cost) and cost > noise):
        return row, []
    return row, [
        f"{what}: the forms the ladder cannot tell apart give {lo:.4g}-{hi:.4g} here ({hi / lo:.1f}x); half that "
        f"range costs {cost:.3f} nats by the ladder's curvature, more than the seed noise {noise:.4f}: check it "
        "with --train"
    ]


def rule_flags(rule, what: str, **x: float) -> list[str]:
    """A flag for each variable the rule (a PowerRule or an LRRule, or None) is used beyond its fitted range."""
    if rule is None:
        return []
    return [
        f"{what} rule: {v} = {x[v]:.3g} is {f:.1f}x beyond its fitted range" for v, f in rule.extrapolation(**x).items()
    ]
