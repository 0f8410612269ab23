"""The domain's hand-written value classes behave as the dataclasses they replace."""

import copy
import pickle

import pytest

from ckpt_tui.core.errors import Refused
from ckpt_tui.core.metrics import Metrics
from ckpt_tui.core.models import Checkpoint, Pending, Run
from ckpt_tui.core.policy import Settings
from ckpt_tui.core.records import FrozenRecord, Record
from ckpt_tui.core.retention import Plan, Policy, Rule


def test_frozen_records_compare_hash_and_refuse_assignment():
    a, b = Checkpoint(3, 10, 1.0, "0003"), Checkpoint(3, 10, 1.0, "0003")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != a._replace(detail="x") and a != (3, 10, 1.0, "0003")
    with pytest.raises(AttributeError):
        a.step = 4  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del a.name
    assert repr(Rule("last", 3)) == "Rule(kind='last', n=3)"
    assert list(dict.fromkeys([Rule("best"), Rule("best"), Rule("last", 2)])) == [Rule("best"), Rule("last", 2)]


def test_a_checkpoint_is_made_whole_as_a_frozen_checkpoint():
    made = Checkpoint(7, 10, 1.5, "0007", "/x/0007", Pending.SETTLING, "d", (), True, None)
    assert type(made) is Checkpoint and type(made._replace(step=8)) is Checkpoint
    assert [getattr(made, name) for name in Checkpoint._fields] == [7, 10, 1.5, "0007", "/x/0007", Pending.SETTLING,
                                                                    "d", (), True, None]
    assert Checkpoint(step=7, bytes=10, mtime=1.5, name="0007").location == ""
    with pytest.raises(TypeError):
        Checkpoint(7, 10)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        made.detail = ""  # type: ignore[misc]


def test_replace_runs_the_checks_of_init():
    policy = Policy((Rule("latest"),), metric=None)
    with pytest.raises(Refused):
        policy._replace(rules=(Rule("best"),))
    assert policy.with_metric("val/loss").metric == "val/loss" and policy.metric is None
    assert Settings(metric="m").values() == {"metric": "m"}


def test_mutable_records_defaults_are_not_shared_and_they_are_not_hashable():
    first, second = Metrics(), Metrics()
    first.by_step[1] = {"a": 1.0}
    assert second.by_step == {} and first != second
    run = Run("p", "r", [Checkpoint(2, 1, 0.0, "2"), Checkpoint(1, 1, 0.0, "1")])
    assert [c.step for c in run.checkpoints] == [1, 2] and run.metrics == Metrics()
    with pytest.raises(TypeError):
        hash(run)
    plan = Plan("p", "r", Policy(), source=run)
    assert plan == Plan("p", "r", Policy()) and "source" not in repr(plan)  # as the dataclass's compare=False


def test_records_travel_through_pickle_and_copy():
    run = Run("p", "r", [Checkpoint(1, 5, 2.0, "1", pending=None)], Metrics({1: {"a": 0.5}}, malformed=2),
              pending=[Checkpoint(None, 0, 0.0, ".x", pending=Pending.NO_STEP)], notes=["n"])
    for again in (pickle.loads(pickle.dumps(run, pickle.HIGHEST_PROTOCOL)), copy.deepcopy(run)):
        assert again == run and again is not run
        assert again.pending[0].pending is Pending.NO_STEP and again.metrics.malformed == 2


def test_named_tuples_declared_as_with_typing_keep_defaults_methods_and_pickling():
    from ckpt_tui.core.models import Blob
    from ckpt_tui.core.records import NamedTuple
    from ckpt_tui.stores.layouts.whole_files import Weights

    blob = Blob("k", 3)
    assert blob == ("k", 3, None, 1) and blob._replace(count=2).count == 2 and Blob._fields == ("key", "bytes", "links", "count")
    assert pickle.loads(pickle.dumps(blob)) == blob and Blob.__qualname__ == "Blob" and "may share" in Blob.__doc__
    assert Weights(problems=("a: cut",)).verdict() == "a: cut" and Weights(payload=False).verdict() == "no weights file yet"
    with pytest.raises(TypeError):
        class Wrong(NamedTuple):  # noqa: F841 - as typing refuses it
            first: int = 0
            second: int


def test_a_lazy_pattern_answers_as_the_compiled_one():
    import re

    from ckpt_tui.core.lazy_pattern import LazyPattern

    lazy, compiled = LazyPattern(r"^step(\d+)$", re.IGNORECASE), re.compile(r"^step(\d+)$", re.IGNORECASE)
    assert lazy.match("STEP12").group(1) == compiled.match("STEP12").group(1) == "12"
    assert lazy.sub("x", "step3") == "x" and lazy.findall("no") == [] and lazy.pattern == compiled.pattern


def _records() -> list[type]:
    import importlib
    import pkgutil

    import ckpt_tui.core

    for module in pkgutil.iter_modules(ckpt_tui.core.__path__):
        importlib.import_module(f"ckpt_tui.core.{module.name}")
    found, stack = [], [Record]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__dict__.get("__slots__") and not cls.__name__.startswith("_"):
            found.append(cls)
    return found


@pytest.mark.parametrize("record", _records(), ids=lambda cls: cls.__name__)
def test_a_records_fields_are_what_it_is_made_from_in_that_order(record):
    """Pickling and ``_replace`` hand the fields back by position in ``__slots__``' order: a field
    added to the slots and not to ``__init__`` (or ``__new__``), or in another place, fails here."""
    import inspect

    maker = record.__new__ if "__new__" in record.__dict__ else record.__init__
    taken = [name for name in inspect.signature(maker).parameters][1:]
    assert taken == list(record._fields)


def test_a_checkpoint_made_by_name_keeps_every_field_and_comes_back_the_same():
    values = {name: object() for name in Checkpoint._fields}
    made = Checkpoint(**values)
    assert {name: getattr(made, name) for name in Checkpoint._fields} == values
    real = Checkpoint(4, 1, 2.0, "0004", "/x", Pending.SETTLING, "d", (), True, None)
    for again in (pickle.loads(pickle.dumps(real)), copy.copy(real), copy.deepcopy(real), real._replace()):
        assert type(again) is Checkpoint and again == real and hash(again) == hash(real)
    assert isinstance(real, Checkpoint) and Checkpoint.__mro__[1:] == (FrozenRecord, Record, object)
