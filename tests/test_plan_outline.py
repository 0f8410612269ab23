"""``ls --json`` shows of a plan only its best steps, kept steps and refusal, worked out without the
rest of the plan (``kept_outline``, ``outline_for``): they must be exactly the whole plan's."""

import random

import pytest

from ckpt_tui.core import Checkpoint, Policy, Run
from ckpt_tui.core.metrics import metrics_from_records
from ckpt_tui.core.policy import Resolved, outline_for, plan_for, resolve
from ckpt_tui.core.retention import kept_outline, plan_run

RULES = ["best,latest", "latest", "last:3", "every:4", "top:2,latest", "step:5,latest", "budget:2000",
         "interval:1h", "best,latest,last:2,every:3,step:9"]


def _plan_shown(plan) -> tuple:
    return plan.best_steps, sorted({k.step for k in plan.keep if k.step is not None}), plan.refused


def _run(rng: random.Random) -> Run:
    steps = sorted(rng.sample(range(40), rng.randint(0, 12)))
    ckpts = [Checkpoint(step=s, bytes=100 + s, mtime=1000.0 * s, name=f"{s:04d}") for s in steps]
    if steps and rng.random() < 0.2:  # two checkpoints of one step
        ckpts.append(Checkpoint(step=steps[0], bytes=7, mtime=5.0, name=f"{steps[0]:04d}.extra"))
    metric = rng.choice(["val/reward", "train/loss", "other"])
    logged = [s for s in range(45) if rng.random() < 0.5]
    records = [{"step": s, metric: rng.choice([0.1, 0.5, 0.9, rng.random()])} for s in logged]
    protected = {rng.choice(steps): ("tracker",)} if steps and rng.random() < 0.3 else {}
    return Run("p", "r", ckpts, metrics_from_records(records), protected=protected,
               refusal="cannot read it" if rng.random() < 0.1 else "")


def _policy(rng: random.Random) -> Policy:
    metric = rng.choice(["val/reward", "train/loss", "other"])
    try:
        policy = Policy.parse(rng.choice(RULES), metric=metric, mode=rng.choice(["auto", "max", "min"]),
                              smoothing=rng.choice([None, None, 0.5]), full=rng.choice([None, None, "latest"]))
    except Exception:  # noqa: BLE001 - a rule that wants a metric it has not: try another
        return Policy()
    return policy.with_steps(pins=frozenset(rng.sample(range(40), rng.randint(0, 2))),
                             marked=frozenset(rng.sample(range(40), rng.randint(0, 6))))


@pytest.mark.parametrize("seed", range(40))
def test_the_outline_is_what_the_whole_plan_shows(seed):
    rng = random.Random(seed)
    for _ in range(25):
        run, policy = _run(rng), _policy(rng)
        assert kept_outline(run, policy) == _plan_shown(plan_run(run, policy)), (seed, policy, run.checkpoints)


def test_the_outline_covers_refused_and_metric_less_runs():
    records = [{"step": s, "train/reward": 0.5} for s in range(5)]
    run = Run("p", "r", [Checkpoint(s, 1, 0.0, str(s)) for s in range(5)], metrics_from_records(records))
    shown = kept_outline(run, Policy(metric="val/reward"))
    assert shown == _plan_shown(plan_run(run, Policy(metric="val/reward")))
    assert shown[1] == [0, 1, 2, 3, 4] and "val/reward" in shown[2]  # refused: every step kept
    assert kept_outline(run, Policy.parse("latest", metric="none")) == ([], [4], None)


def test_a_policy_problem_refuses_the_outline_as_the_plan():
    run = Run("p", "r", [Checkpoint(s, 1, 0.0, str(s)) for s in range(4)],
              metrics_from_records([{"step": 2, "val/reward": 0.9}]))
    resolved = resolve("p", "r", [], metrics=run.metrics.names())
    assert outline_for(run, resolved) == _plan_shown(plan_for(run, resolved)) == ([2], [2, 3], None)
    broken = Resolved(**{key: getattr(resolved, key) for key in Resolved.__slots__ if key != "problem"},
                      problem="bad file")
    assert outline_for(run, broken) == _plan_shown(plan_for(run, broken)) == ([2], [0, 1, 2, 3], "bad file")


def test_a_runs_checkpoints_are_in_step_then_name_order_with_an_unknown_step_first():
    made = [Checkpoint(3, 1, 0.0, "b"), Checkpoint(None, 1, 0.0, "z"), Checkpoint(3, 1, 0.0, "a"),
            Checkpoint(-2, 1, 0.0, "n"), Checkpoint(None, 1, 0.0, "y"), Checkpoint(0, 1, 0.0, "m")]
    order = [(c.step, c.name) for c in Run("p", "r", [], pending=iter(made)).pending]
    assert order == [(-2, "n"), (None, "y"), (None, "z"), (0, "m"), (3, "a"), (3, "b")]  # None as -1
    known = [c for c in made if c.step is not None]
    assert [(c.step, c.name) for c in Run("p", "r", iter(known)).checkpoints] == [(-2, "n"), (0, "m"), (3, "a"), (3, "b")]
