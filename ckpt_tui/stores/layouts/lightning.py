"""PyTorch Lightning: ``epoch=E-step=S[-metric=V][-vN].ckpt`` files (or folders, for sharded saves).

``last.ckpt``, ``last-v1.ckpt``... (copies or links, one per fit or per
``ModelCheckpoint``) are never steps: they are left alone, and the checkpoint
each links to is protected. A monitored metric with a ``/`` (``val/acc``) makes
Lightning write ``epoch=0-step=5-val/acc=0.6250.ckpt``: a sub-folder
``epoch=0-step=5-val/`` per checkpoint, which is the step here.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from ...core.lazy_pattern import LazyPattern
from ...core.metrics import Metrics, metrics_from_records
from ...core.models import TrainingState
from .base import TRAINER_BEST, Inspection, Layout, RunFiles, Summary, register

SUFFIX = ".ckpt"
LAST = "last"
BEST_K = "best_k_models.yaml"
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_PAIR = LazyPattern(rf"(?:^|-)([A-Za-z_][\w.]*(?:/[A-Za-z_][\w.]*)*)=({NUMBER})(?=-|$)")
_VERSION = LazyPattern(r"-v\d+$")
# A folder name that ends in the first part of a metric name holding a ``/``: ``epoch=0-step=5-val``.
_NESTED = re.compile(r"^(?P<pairs>.+=[^-]+)-[A-Za-z_][\w.]*$")


def lightning_values(name: str) -> dict[str, float]:
    """``epoch=2-step=300-val_loss=0.12.ckpt`` -> {'epoch': 2, 'step': 300, 'val_loss': 0.12}
    (``epoch=0-step=5-val/acc=0.625.ckpt``, a file in a sub-folder: ``val/acc``)."""
    if not name.endswith(SUFFIX):
        return {}
    stem = _VERSION.sub("", name[: -len(SUFFIX)])
    return {key: float(value) for key, value in _PAIR.findall(stem)}


def nested_values(name: str) -> dict[str, float]:
    """The pairs of a sub-folder name such as ``epoch=0-step=5-val`` ({} for other names)."""
    match = _NESTED.match(name)
    if name.endswith(SUFFIX) or match is None:
        return {}
    return {key: float(value) for key, value in _PAIR.findall(match.group("pairs"))}


def rounding(value: float) -> float:
    """Half a unit of the last decimal a value read from a name shows (0.6531 -> 0.00005)."""
    text = repr(value)
    if "e" in text or "." not in text:
        return 0.5
    return 0.5 * 10.0 ** -len(text.split(".")[1]) * (1 + 1e-9)


def is_last(name: str) -> bool:
    """``last.ckpt``, ``last-v1.ckpt``, ``last-epoch=3.ckpt``...: what Lightning resumes from."""
    return name.startswith(LAST) and name.endswith(SUFFIX)


def best_k_paths(text: str | None) -> list[str]:
    """Paths listed in ``best_k_models.yaml`` (``{path: score}`` written by ``ModelCheckpoint.to_yaml``)."""
    paths = []
    for line in (text or "").splitlines():
        key = line.split(": ", 1)[0].strip().strip("'\"").replace("\\", "/")
        if key.endswith(SUFFIX):
            paths.append(key)
    return paths


def names_path(name: str, path: str) -> bool:
    """Whether ``path`` (from another machine, absolute) is checkpoint ``name`` or a file inside it."""
    return path == name or path.endswith("/" + name) or f"/{name}/" in f"/{path}"


def slash_aliases(metrics: Metrics) -> dict[str, str]:
    """``val/acc`` -> ``val_acc``: a template with ``auto_insert_metric_name=False`` often spells a
    monitored ``val/acc`` that way."""
    names = set(metrics.names())
    return {alias: name for name in names if (alias := name.replace("_", "/", 1)) != name and alias not in names}


class LightningLayout(Layout):
    name = "lightning"
    display_name = "Lightning"
    trainers = ("PyTorch Lightning",)
    preference = 70
    summary = Summary(
        checkpoint="`epoch=E-step=S[-val_loss=V][-vN].ckpt`; `epoch=E-step=S-val/` for a `val/…` metric",
        complete="always (written whole)",
        kept="every `last*.ckpt` and its target, `best_k_models.yaml`",
        metrics=("the file name merged with TensorBoard (one step later; `version_0`, `version_1` read"
                 " as one logger)"))
    step_kind = "any"
    fork_container = "checkpoints"
    complete_evidence = "a finished .ckpt (Lightning writes it in one transaction: a temporary file moved into place)"
    merges_event_files = True
    logger_versions = True  # a second fit into one dirpath logs to lightning_logs/version_1

    def step(self, name: str) -> int | None:
        if name.startswith(LAST):
            return None
        step = (lightning_values(name) or nested_values(name)).get("step")
        return int(step) if step is not None and step.is_integer() and step >= 0 else None

    def entry(self, name: str) -> str:
        return name.split("/", 1)[0]  # epoch=0-step=5-val/acc=0.6250.ckpt is its sub-folder

    def needs_look(self, name: str) -> bool:
        return not name.endswith(SUFFIX) and self.step(name) is not None

    def confirms(self, children: Collection[str]) -> bool:
        return any(child.endswith(SUFFIX) for child in children)

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return like if self.step(like) == step else f"step={step}{SUFFIX}"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return TrainingState(refusal="a Lightning .ckpt holds weights and optimizer state in one file; "
                                     "it cannot be slimmed in place")

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [BEST_K]

    def files_of(self, name: str, files: RunFiles) -> list[str]:
        """The checkpoint files a step holds, by path from the run folder: itself, or its sub-folder's."""
        if not self.needs_look(name):
            return [name]
        return sorted(f"{name}/{child}" for child in files.children(name) if child.endswith(SUFFIX))

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        for link in sorted(filter(is_last, files.names())):
            target = files.link_target(link)
            if target in steps:
                found.protect(steps[target], link, resume=True)
        kept = best_k_paths(files.read_text(BEST_K))
        records = []
        for name, step in steps.items():
            inner = self.files_of(name, files)
            if self.needs_look(name) and len(inner) == 1:
                found.targets[name] = inner[0]
            if any(names_path(name, path) for path in kept):
                found.protect(step, TRAINER_BEST)
            records += [{**lightning_values(path), "step": step} for path in inner]
        if with_metrics:
            found.metrics = metrics_from_records(records)
            found.metrics.aliases = slash_aliases(found.metrics)
        return found

    def from_event_steps(self, metrics: Metrics) -> Metrics:
        # Lightning's loggers write at global_step - 1: the values of the checkpoint saved at step S,
        # validation and training alike, are logged at S - 1.
        metrics.by_step = {step + 1: values for step, values in metrics.by_step.items()}
        return metrics

    def event_step(self, step: int) -> int:
        return step - 1

    def merge_event_values(self, events: Metrics, own: Metrics) -> Metrics:
        """A name's value is what ``ModelCheckpoint`` ranked the file by: the last value logged before
        the save. That is the value logged for the step where it rounds to the name's; a save made
        before its validation (``every_n_train_steps``) names the one logged before it."""
        logged = {name: events.series(name) for name in own.names()}
        for step, values in own.by_step.items():
            into = events.by_step.setdefault(step, {})
            for name, value in values.items():
                before = [v for s, v in logged[name] if s < step]
                ranked = next((v for v in ([into[name]] if name in into else []) + before[-1:]
                               if abs(v - value) <= rounding(value)), value)
                into[name] = ranked
        events.aliases = {**own.aliases, **events.aliases}
        return events


LIGHTNING = register(LightningLayout())
