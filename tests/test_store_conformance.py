"""The store conformance suite: every backend (memory, SQLite, PostgreSQL) must pass it.

The ``store`` fixture (tests/conftest.py) hands each test a fresh, empty store of each
backend, so every test here runs three times.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import numpy as np
import pytest

import tunelab
from tunelab import InvalidArgumentError, StudyNotFoundError, TrialNotFoundError
from tunelab.store import SCHEMA_VERSION, SQLStore, Store, StudyRecord
from tunelab.trial import Report, Trial, TrialStatus

SPACE: dict[str, Any] = {
    "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "layers": {"type": "int", "low": 1, "high": 4},
    "act": {"type": "categorical", "choices": ["relu", "tanh", None]},
}
SEARCHER: dict[str, Any] = {"name": "random", "seed": 7}
SCHEDULER: dict[str, Any] = {"name": "fifo"}

W, R, C, F, S = (
    TrialStatus.WAITING,
    TrialStatus.RUNNING,
    TrialStatus.COMPLETE,
    TrialStatus.FAILED,
    TrialStatus.STOPPED,
)

# Floats whose shortest repr needs all 17 digits, a subnormal, the extremes, -0.0 ...
TRICKY_FLOATS: dict[str, float] = {
    "sum": 0.1 + 0.2,
    "third": 1 / 3,
    "pi": float(np.pi),
    "tiny": 5e-324,
    "huge": 1.7976931348623157e308,
    "neg": -123456.78901234567,
    "two": 2.0,
    "zero": -0.0,
}


def make_study(store: Store, name: str = "s", direction: str = "min", **kw: Any) -> StudyRecord:
    return store.create_study(
        name,
        metric="loss",
        direction=direction,
        space=SPACE,
        searcher=SEARCHER,
        scheduler=SCHEDULER,
        **kw,
    )


def assert_same_floats(got: dict[str, Any], want: dict[str, float]) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        assert type(got[key]) is float, (key, got[key])
        assert repr(got[key]) == repr(value), (key, got[key], value)  # bit-exact, sign too


def test_get_trials_by_number(store: Store) -> None:
    rec = make_study(store, "numbered")
    for i in range(6):
        t = store.create_trial(rec.id, {"lr": 0.01, "layers": 1, "act": "relu"},
                               status=R if i % 2 else C, metrics={"loss": float(i)},
                               value=float(i))
        store.add_reports(t.id, [Report(1, {"loss": float(i)})])
    assert [t.number for t in store.get_trials(rec.id, min_number=4)] == [4, 5]
    picked = store.get_trials(rec.id, numbers=[5, 1, 9], with_reports=True)
    assert [t.number for t in picked] == [1, 5]
    assert [r.metrics["loss"] for r in picked[1].reports] == [5.0]
    both = store.get_trials(rec.id, min_number=2, statuses=[R], with_reports=True)
    assert [t.number for t in both] == [3, 5] and all(len(t.reports) == 1 for t in both)


# ------------------------------------------------------------------------------ environments


def test_environment_cards_are_stored_once_per_hash(store: Store) -> None:
    card = {"python": {"version": "3.11.7"}, "packages": {"numpy": "2.4.1"},
            "git": {"commit": "abc", "dirty": True, "diff": "+x\n"}, "argv": ["t", "-x"]}
    assert store.get_environment("h1") is None
    store.save_environment("h1", card)
    store.save_environment("h1", {"other": 1})  # a second save of the hash changes nothing
    assert store.get_environment("h1") == card
    got = store.get_environment("h1")
    assert got is not None
    got["python"]["version"] = "changed"  # the caller's copy, not the store's
    assert store.get_environment("h1") == card


def test_environment_card_must_be_json(store: Store) -> None:
    with pytest.raises(InvalidArgumentError, match="environment"):
        store.save_environment("h2", {"bad": object()})
    assert store.get_environment("h2") is None


# ------------------------------------------------------------------------------ studies


def test_create_and_get_study_round_trips(store: Store) -> None:
    before = time.time()
    attrs = {"owner": "ana", "tags": ["a", "b"], "n": 3, "nested": {"k": [1.5, None]}}
    created = make_study(store, "alpha", direction="max", user_attrs=attrs)
    got = store.get_study("alpha")
    for rec in (created, got):
        assert rec.name == "alpha"
        assert rec.metric == "loss"
        assert rec.direction == "max"
        assert rec.space == SPACE
        assert rec.searcher == SEARCHER
        assert rec.scheduler == SCHEDULER
        assert rec.user_attrs == attrs
        assert before - 1 <= rec.created_at <= time.time() + 1
    assert got.id == created.id
    assert got == created


def test_create_existing_name_returns_existing_record(store: Store) -> None:
    first = make_study(store, "dup", direction="min", user_attrs={"v": 1})
    again = store.create_study(
        "dup",
        metric="other",
        direction="max",
        space={"y": {"type": "int", "low": 0, "high": 1}},
        searcher={},
        scheduler={},
        user_attrs={"v": 2},
    )
    assert again.id == first.id
    assert (again.metric, again.direction, again.space) == ("loss", "min", SPACE)
    assert again.user_attrs == {"v": 1}
    assert [s.name for s in store.list_studies()] == ["dup"]


def test_study_ids_differ(store: Store) -> None:
    ids = {make_study(store, f"s{i}").id for i in range(3)}
    assert len(ids) == 3


def test_get_missing_study_raises_naming_it(store: Store) -> None:
    make_study(store, "present")
    with pytest.raises(StudyNotFoundError, match="no-such-study") as info:
        store.get_study("no-such-study")
    assert isinstance(info.value, KeyError)  # also a KeyError, as documented
    assert isinstance(info.value, tunelab.TunelabError)


def test_delete_missing_study_raises(store: Store) -> None:
    with pytest.raises(StudyNotFoundError, match="ghost"):
        store.delete_study("ghost")


def test_list_studies_in_creation_order(store: Store) -> None:
    assert store.list_studies() == []
    for name in ("b", "a", "c"):
        make_study(store, name)
    assert [s.name for s in store.list_studies()] == ["b", "a", "c"]


def test_delete_study_removes_it_and_only_its_trials(store: Store) -> None:
    doomed = make_study(store, "doomed")
    kept = make_study(store, "kept")
    t = store.create_trial(doomed.id, {"x": 1}, status=R, worker="w")
    store.add_reports(t.id, [Report(0, {"loss": 1.0})])
    store.set_trial_user_attr(t.id, "k", 1)
    for i in range(2):
        store.create_trial(kept.id, {"x": i}, status=W)

    store.delete_study("doomed")

    with pytest.raises(StudyNotFoundError):
        store.get_study("doomed")
    assert [s.name for s in store.list_studies()] == ["kept"]
    assert store.get_trials(doomed.id) == []
    assert [t.number for t in store.get_trials(kept.id)] == [0, 1]
    # The name is free again: a new, empty study numbering from 0.
    reborn = make_study(store, "doomed", direction="max")
    assert reborn.direction == "max"
    assert store.get_trials(reborn.id) == []
    assert store.create_trial(reborn.id, {}, status=W).number == 0


# ------------------------------------------------------------------------------ trials


def test_trial_numbers_consecutive_and_independent_per_study(store: Store) -> None:
    a = make_study(store, "a")
    b = make_study(store, "b")
    got: dict[str, list[int]] = {"a": [], "b": []}
    for i in range(7):
        got["a"].append(store.create_trial(a.id, {"i": i}, status=W).number)
        if i % 2 == 0:
            got["b"].append(store.create_trial(b.id, {"i": i}, status=R, worker="w").number)
    assert got == {"a": list(range(7)), "b": list(range(4))}
    assert [t.number for t in store.get_trials(a.id)] == list(range(7))
    assert [t.config["i"] for t in store.get_trials(b.id)] == [0, 2, 4, 6]
    ids = [t.id for t in store.get_trials(a.id) + store.get_trials(b.id)]
    assert len(set(ids)) == len(ids) == 11


def test_trial_numbers_unique_under_threads(store: Store) -> None:
    study = make_study(store)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(15):
                numbers.append(store.create_trial(study.id, {}, status=W).number)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(numbers) == list(range(60))
    assert [t.number for t in store.get_trials(study.id)] == list(range(60))


def test_create_running_trial(store: Store) -> None:
    study = make_study(store)
    before = time.time()
    config = {"lr": 0.01, "layers": 2, "act": "relu", "opt": None, "sizes": [8, 16]}
    made = store.create_trial(
        study.id,
        config,
        status=R,
        worker="host:1",
        user_attrs={"note": "hi"},
        system_attrs={"seed": 42},
    )
    got = store.get_trial(study.id, made.number)
    for t in (made, got):
        assert t.number == 0
        assert t.status is R
        assert t.config == config
        assert t.worker == "host:1"
        assert t.started_at is not None and t.heartbeat_at is not None
        assert before - 1 <= t.started_at <= time.time() + 1
        assert before - 1 <= t.created_at <= time.time() + 1
        assert t.finished_at is None
        assert t.value is None and t.metrics == {}
        assert t.attempt == 1
        assert t.user_attrs == {"note": "hi"}
        assert t.system_attrs == {"seed": 42}
        assert t.reports == ()
    assert got.id == made.id


def test_create_waiting_trial_has_no_worker(store: Store) -> None:
    study = make_study(store)
    made = store.create_trial(study.id, {"x": 1}, status=W, worker="ignored")
    got = store.get_trial(study.id, 0)
    for t in (made, got):
        assert t.status is W
        assert t.worker is None
        assert t.started_at is None and t.heartbeat_at is None and t.finished_at is None


def test_claim_waiting_lowest_number_first(store: Store) -> None:
    study = make_study(store)
    other = make_study(store, "other")
    store.create_trial(study.id, {"i": 0}, status=R, worker="w0")
    for i in (1, 2, 3):
        store.create_trial(study.id, {"i": i}, status=W)
    store.create_trial(other.id, {"i": 99}, status=W)

    before = time.time()
    claimed = [store.claim_waiting(study.id, f"w{k}") for k in range(4)]
    assert claimed[3] is None
    assert [t.number for t in claimed if t is not None] == [1, 2, 3]
    for k, t in enumerate(claimed[:3]):
        assert t is not None
        assert t.status is R
        assert t.worker == f"w{k}"
        assert t.config == {"i": k + 1}
        assert t.started_at is not None and before - 1 <= t.started_at <= time.time() + 1
        assert t.heartbeat_at is not None
        stored = store.get_trial(study.id, t.number)
        assert (stored.status, stored.worker, stored.started_at) == (R, f"w{k}", t.started_at)
    # The other study's queue was not touched.
    assert store.get_trial(other.id, 0).status is W
    assert store.claim_waiting(other.id, "x") is not None
    assert store.claim_waiting(other.id, "x") is None


def test_claim_waiting_on_empty_study_returns_none(store: Store) -> None:
    study = make_study(store)
    assert store.claim_waiting(study.id, "w") is None
    store.create_trial(study.id, {}, status=R, worker="w")
    assert store.claim_waiting(study.id, "w") is None


def test_reports_and_finish_round_trip(store: Store) -> None:
    study = make_study(store)
    t = store.create_trial(study.id, {}, status=R, worker="w")
    first = [Report(0, {"loss": 0.9, "acc": 0.1}, 100.25), Report(1, {"loss": 0.1 + 0.2}, 101.5)]
    second = [Report(3, {"loss": 1 / 3}, 102.0), Report(2, {"acc": 5e-324}, 103.0)]
    last = [Report(4, dict(TRICKY_FLOATS), 104.125)]
    store.add_reports(t.id, first)
    store.add_reports(t.id, [])  # nothing to do
    store.add_reports(t.id, second)
    done = store.finish_trial(
        t.id, status=C, metrics=dict(TRICKY_FLOATS), value=0.1 + 0.2, reports=last
    )
    assert done.status is C
    assert_same_floats(done.metrics, TRICKY_FLOATS)
    assert done.value == 0.1 + 0.2 and type(done.value) is float
    assert done.error is None and done.traceback is None
    assert done.finished_at is not None and done.started_at is not None
    assert done.finished_at >= done.started_at

    got = store.get_trial(study.id, 0)
    assert got.status is C
    assert got.value == 0.1 + 0.2
    assert_same_floats(got.metrics, TRICKY_FLOATS)
    assert got.finished_at == pytest.approx(done.finished_at, abs=1e-6)
    want = first + second + last  # insertion order, not sorted by step
    assert [r.step for r in got.reports] == [0, 1, 3, 2, 4]
    for have, expected in zip(got.reports, want, strict=True):
        assert have.step == expected.step
        assert_same_floats(have.metrics, expected.metrics)
        assert have.time == expected.time


@pytest.mark.parametrize("status", [F, S])
def test_finish_failed_or_stopped_keeps_error_text(store: Store, status: TrialStatus) -> None:
    study = make_study(store)
    t = store.create_trial(study.id, {}, status=R, worker="w")
    error = "ValueError: bad lr 'x' — ünïcödé ✓"
    tb = 'Traceback (most recent call last):\n  File "obj.py", line 3\n\tboom\nValueError: x\n'
    done = store.finish_trial(t.id, status=status, error=error, traceback=tb)
    got = store.get_trial(study.id, 0)
    for trial in (done, got):
        assert trial.status is status
        assert trial.error == error
        assert trial.traceback == tb
        assert trial.value is None
        assert trial.metrics == {}
        assert trial.finished_at is not None


def test_finish_with_metrics_but_failed_value_none(store: Store) -> None:
    study = make_study(store)
    t = store.create_trial(study.id, {}, status=R, worker="w")
    store.finish_trial(t.id, status=F, metrics={"loss": 0.5}, value=None, error="E")
    got = store.get_trial(study.id, 0)
    assert got.value is None
    assert got.metrics == {"loss": 0.5}


def test_heartbeat_updates_only_running_trials(store: Store) -> None:
    study = make_study(store)
    running = store.create_trial(study.id, {}, status=R, worker="w")
    waiting = store.create_trial(study.id, {}, status=W)
    finished = store.create_trial(study.id, {}, status=R, worker="w")
    store.finish_trial(finished.id, status=C, value=1.0, metrics={"loss": 1.0})
    old = {t.number: t for t in store.get_trials(study.id)}
    time.sleep(0.02)

    store.heartbeat([running.id, waiting.id, finished.id])
    store.heartbeat([])  # nothing to do

    new = {t.number: t for t in store.get_trials(study.id)}
    assert old[0].heartbeat_at is not None and new[0].heartbeat_at is not None
    assert new[0].heartbeat_at > old[0].heartbeat_at
    assert new[0].heartbeat_at <= time.time() + 1
    assert new[1].heartbeat_at is None
    assert new[2].heartbeat_at == old[2].heartbeat_at
    for n in range(3):  # nothing else moved
        assert new[n].status == old[n].status
        assert new[n].started_at == old[n].started_at
        assert new[n].finished_at == old[n].finished_at


def test_requeue_running_trial(store: Store) -> None:
    study = make_study(store)
    t = store.create_trial(study.id, {"x": 1}, status=R, worker="w1", system_attrs={"seed": 5})
    store.add_reports(t.id, [Report(0, {"loss": 1.0}), Report(1, {"loss": 0.5})])

    assert store.requeue_trial(t.id, expected_worker="w2", reason="lost") is False
    assert store.requeue_trial(t.id, expected_worker=None, reason="lost") is False
    unchanged = store.get_trial(study.id, 0)
    assert (unchanged.status, unchanged.worker, unchanged.attempt) == (R, "w1", 1)
    assert len(unchanged.reports) == 2

    assert store.requeue_trial(t.id, expected_worker="w1", reason="worker w1 lost") is True
    got = store.get_trial(study.id, 0)
    assert got.status is W
    assert got.worker is None and got.started_at is None and got.heartbeat_at is None
    assert got.attempt == 2
    assert got.system_attrs == {"seed": 5, "requeued": "worker w1 lost"}
    assert got.reports == ()
    assert got.config == {"x": 1}

    # Now WAITING: requeue refuses; the trial is claimable again.
    assert store.requeue_trial(t.id, expected_worker="w1", reason="again") is False
    again = store.claim_waiting(study.id, "w3")
    assert again is not None and again.number == 0 and again.attempt == 2
    assert again.worker == "w3"
    store.finish_trial(t.id, status=C, value=1.0, metrics={"loss": 1.0})
    assert store.requeue_trial(t.id, expected_worker="w3", reason="late") is False
    final = store.get_trial(study.id, 0)
    assert final.status is C and final.attempt == 2


def test_get_trials_status_filter_and_reports(store: Store) -> None:
    study = make_study(store)
    other = make_study(store, "other")
    statuses = [C, W, R, F, C, S]
    for i, status in enumerate(statuses):
        t = store.create_trial(study.id, {"i": i}, status=W if status is W else R, worker="w")
        if status is not W:
            store.add_reports(t.id, [Report(s, {"loss": float(i * 10 + s)}) for s in range(i)])
        if status.is_finished:
            store.finish_trial(t.id, status=status, value=float(i), metrics={"loss": float(i)})
    o = store.create_trial(other.id, {}, status=R, worker="w")
    store.add_reports(o.id, [Report(0, {"loss": -1.0})])

    every = store.get_trials(study.id)
    assert [t.number for t in every] == list(range(6))
    assert [t.status for t in every] == statuses
    assert all(t.reports == () for t in every)

    assert [t.number for t in store.get_trials(study.id, statuses=[C])] == [0, 4]
    assert [t.number for t in store.get_trials(study.id, statuses=[F, W, S])] == [1, 3, 5]
    assert [t.number for t in store.get_trials(study.id, statuses=[R])] == [2]
    assert store.get_trials(study.id, statuses=[TrialStatus.PAUSED]) == []
    assert store.get_trials(study.id, statuses=[]) == []

    full = store.get_trials(study.id, with_reports=True)
    for t in full:
        want = [float(t.number * 10 + s) for s in range(t.number)] if t.status is not W else []
        assert [r.metrics["loss"] for r in t.reports] == want
        assert [r.step for r in t.reports] == list(range(len(want)))
    done = store.get_trials(study.id, statuses=[C], with_reports=True)
    assert [len(t.reports) for t in done] == [0, 4]
    assert [r.metrics for r in store.get_trials(other.id, with_reports=True)[0].reports] == [
        {"loss": -1.0}
    ]


def test_get_trial_missing_raises(store: Store) -> None:
    study = make_study(store)
    store.create_trial(study.id, {}, status=W)
    with pytest.raises(TrialNotFoundError, match="7") as info:
        store.get_trial(study.id, 7)
    assert isinstance(info.value, KeyError)
    other = make_study(store, "other")
    with pytest.raises(TrialNotFoundError):
        store.get_trial(other.id, 0)  # number 0 exists, but in another study


def test_get_trial_without_reports(store: Store) -> None:
    study = make_study(store)
    t = store.create_trial(study.id, {}, status=R, worker="w")
    store.add_reports(t.id, [Report(0, {"loss": 1.0})])
    assert store.get_trial(study.id, 0, with_reports=False).reports == ()
    assert store.get_trial(study.id, 0).reports == (Report(0, {"loss": 1.0}, 0.0),)


# ------------------------------------------------------------------------------ user attrs

JSON_VALUES: dict[str, Any] = {
    "str": "héllo ✓",
    "int": 12345678901234,
    "float": 0.1 + 0.2,
    "bool": True,
    "none": None,
    "list": [1, "two", 3.0, [None]],
    "dict": {"a": {"b": [1, 2]}, "c": False},
}


def test_study_user_attrs_round_trip(store: Store) -> None:
    study = make_study(store, user_attrs={"from_create": 1})
    for key, value in JSON_VALUES.items():
        store.set_study_user_attr(study.id, key, value)
    store.set_study_user_attr(study.id, "tuple", (1, 2))  # JSON has no tuples
    store.set_study_user_attr(study.id, "np", np.float64(0.25))
    store.set_study_user_attr(study.id, "str", "overwritten")
    got = store.get_study("s").user_attrs
    assert got == {
        **JSON_VALUES,
        "from_create": 1,
        "tuple": [1, 2],
        "np": 0.25,
        "str": "overwritten",
    }
    assert type(got["np"]) is float and type(got["bool"]) is bool


def test_trial_user_attrs_round_trip(store: Store) -> None:
    study = make_study(store)
    t = store.create_trial(study.id, {}, status=W, user_attrs={"from_create": "x"})
    other = store.create_trial(study.id, {}, status=W)
    for key, value in JSON_VALUES.items():
        store.set_trial_user_attr(t.id, key, value)
    store.set_trial_user_attr(t.id, "tuple", (1, (2, 3)))
    store.set_trial_user_attr(t.id, "np", np.arange(3))
    want = {**JSON_VALUES, "from_create": "x", "tuple": [1, [2, 3]], "np": [0, 1, 2]}
    assert store.get_trial(study.id, 0).user_attrs == want
    assert store.get_trials(study.id)[0].user_attrs == want
    assert store.get_trial(study.id, other.number).user_attrs == {}


@pytest.mark.parametrize("bad", [object(), float("nan"), {"inner": {1, 2}}])
def test_non_json_user_attr_raises_naming_the_key(store: Store, bad: Any) -> None:
    study = make_study(store, user_attrs={"ok": 1})
    t = store.create_trial(study.id, {}, status=W)
    with pytest.raises(InvalidArgumentError, match="bad_study_key"):
        store.set_study_user_attr(study.id, "bad_study_key", bad)
    with pytest.raises(InvalidArgumentError, match="bad_trial_key"):
        store.set_trial_user_attr(t.id, "bad_trial_key", bad)
    assert store.get_study("s").user_attrs == {"ok": 1}  # nothing half-written
    assert store.get_trial(study.id, 0).user_attrs == {}


def test_non_json_user_attrs_on_create_raise_naming_the_key(store: Store) -> None:
    with pytest.raises(InvalidArgumentError, match="bad_create_key"):
        make_study(store, "s", user_attrs={"fine": 1, "bad_create_key": object()})
    assert store.list_studies() == []
    study = make_study(store, "s2")
    with pytest.raises(InvalidArgumentError, match="bad_trial_key"):
        store.create_trial(study.id, {}, status=W, user_attrs={"bad_trial_key": object()})
    assert store.get_trials(study.id) == []
    t = store.create_trial(study.id, {}, status=W, user_attrs={"t": (1, 2)})
    assert store.get_trial(study.id, t.number).user_attrs == {"t": [1, 2]}


# ------------------------------------------------------------------------------ summaries


def _finish(store: Store, study_id: int, status: TrialStatus, value: float | None) -> Trial:
    t = store.create_trial(study_id, {}, status=R, worker="w")
    metrics = {} if value is None else {"loss": value}
    return store.finish_trial(t.id, status=status, value=value, metrics=metrics)


def test_list_studies_counts_best_and_last_update(store: Store) -> None:
    lo = make_study(store, "lo", direction="min")
    hi = make_study(store, "hi", direction="max")
    make_study(store, "empty", direction="max")
    for study in (lo, hi):
        for v in (3.0, 1.0, 2.0):
            _finish(store, study.id, C, v)
        _finish(store, study.id, F, None)
        _finish(store, study.id, S, -50.0 if study is lo else 50.0)  # not COMPLETE: ignored
        store.create_trial(study.id, {}, status=R, worker="w")
        store.create_trial(study.id, {}, status=W)
        store.create_trial(study.id, {}, status=W)

    summaries = {s.name: s for s in store.list_studies()}
    assert list(summaries) == ["lo", "hi", "empty"]
    for name, best in (("lo", 1.0), ("hi", 3.0)):
        s = summaries[name]
        assert s.metric == "loss"
        assert s.n_trials == 8
        assert s.counts == {"COMPLETE": 3, "FAILED": 1, "STOPPED": 1, "RUNNING": 1, "WAITING": 2}
        assert s.best_value == best
        trials = store.get_trials(lo.id if name == "lo" else hi.id)
        stamps = [t.finished_at or t.started_at or t.created_at for t in trials]
        assert s.last_update == pytest.approx(max(stamps), abs=1e-6)
        assert s.created_at == pytest.approx(store.get_study(name).created_at, abs=1e-6)
    assert summaries["lo"].direction == "min" and summaries["hi"].direction == "max"
    e = summaries["empty"]
    assert (e.n_trials, e.counts, e.best_value, e.last_update) == (0, {}, None, None)


def test_list_studies_last_update_moves_with_new_work(store: Store) -> None:
    study = make_study(store)
    first = store.create_trial(study.id, {}, status=W)
    [s0] = store.list_studies()
    assert s0.last_update == pytest.approx(first.created_at, abs=1e-6)
    assert s0.best_value is None and s0.counts == {"WAITING": 1}
    time.sleep(0.02)
    done = _finish(store, study.id, C, 0.5)
    [s1] = store.list_studies()
    assert done.finished_at is not None and s0.last_update is not None
    assert s1.last_update == pytest.approx(done.finished_at, abs=1e-6)
    assert s1.last_update is not None and s1.last_update > s0.last_update
    assert s1.best_value == 0.5


# ------------------------------------------------------------------------------ schema


def _version_message_ok(message: str, url: str) -> None:
    text = message.replace(url, "<url>")  # the URL may hold digits of its own
    assert re.search(rf"\b{SCHEMA_VERSION + 1}\b", text), message
    assert re.search(rf"\b{SCHEMA_VERSION}\b", text), message
    assert "upgrade" in text.lower(), message


def test_fresh_sql_store_records_schema_version(sql_url: str) -> None:
    with SQLStore(sql_url) as store:
        assert isinstance(store, SQLStore)
        assert store.schema_version == SCHEMA_VERSION
        make_study(store, "keep")
    with SQLStore(sql_url) as again:  # reopening the same version is fine
        assert isinstance(again, SQLStore)
        assert again.schema_version == SCHEMA_VERSION
        assert again.get_study("keep").name == "keep"


def test_newer_schema_version_is_refused(sql_url: str, request: pytest.FixtureRequest) -> None:
    SQLStore(sql_url).close()
    newer = SCHEMA_VERSION + 1
    sql = f"UPDATE tunelab_meta SET value = '{newer}' WHERE key = 'schema_version'"
    if sql_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(sql_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute(sql).rowcount == 1
        conn.close()
    else:
        request.getfixturevalue("pg_server").execute(sql_url, sql)
    with pytest.raises(tunelab.SchemaVersionError) as info:
        SQLStore(sql_url)
    assert isinstance(info.value, tunelab.StoreError)
    _version_message_ok(str(info.value), sql_url)


def test_unknown_trial_ids(store: Store) -> None:
    study = make_study(store)
    t = store.create_trial(study.id, {}, status=R, worker="w")
    unknown = t.id + 1000
    with pytest.raises(TrialNotFoundError, match=str(unknown)):
        store.finish_trial(unknown, status=C, value=1.0, metrics={"loss": 1.0})
    assert store.requeue_trial(unknown, expected_worker="w", reason="r") is False
    time.sleep(0.02)
    store.heartbeat([unknown, t.id])  # unknown ids are ignored, known ones still marked
    beat = store.get_trial(study.id, 0).heartbeat_at
    assert beat is not None and t.heartbeat_at is not None and beat > t.heartbeat_at
    assert store.get_trial(study.id, 0).status is R  # nothing else moved


def test_count_trials_with_and_without_a_status_filter(store: Store) -> None:
    study = make_study(store)
    other = make_study(store, "other")
    for status in (TrialStatus.RUNNING, TrialStatus.WAITING, TrialStatus.WAITING):
        store.create_trial(study.id, {"x": 1}, status=status, worker="w")
    store.create_trial(other.id, {"x": 1}, status=TrialStatus.WAITING)
    assert store.count_trials(study.id) == 3
    assert store.count_trials(study.id, statuses=[TrialStatus.WAITING]) == 2
    assert store.count_trials(study.id, statuses=[TrialStatus.COMPLETE]) == 0
    assert store.count_trials(other.id) == 1


def test_a_guarded_finish_only_lands_for_the_current_owner(store: Store) -> None:
    study = make_study(store)
    trial = store.create_trial(study.id, {"x": 1}, status=TrialStatus.RUNNING, worker="a")
    assert store.requeue_trial(trial.id, expected_worker="a", reason="test")
    retaken = store.claim_waiting(study.id, "b")
    assert retaken is not None and retaken.worker == "b"
    late = store.finish_trial(trial.id, status=TrialStatus.COMPLETE, value=1.0,
                              metrics={"v": 1.0}, worker="a",
                              reports=[Report(0, {"v": 1.0}, 0.0)])
    assert late is None  # the old owner's result is dropped, reports included
    now = store.get_trial(study.id, trial.number)
    assert now.status is TrialStatus.RUNNING and now.worker == "b" and now.reports == ()
    done = store.finish_trial(trial.id, status=TrialStatus.COMPLETE, value=2.0,
                              metrics={"v": 2.0}, worker="b")
    assert done is not None and done.value == 2.0
    again = store.finish_trial(trial.id, status=TrialStatus.FAILED, worker="b")
    assert again is None  # finished trials are not finished twice
    assert store.get_trial(study.id, trial.number).value == 2.0


def test_the_searcher_of_a_study_can_be_replaced(store: Store) -> None:
    study = make_study(store)
    store.set_study_searcher(study.id, {"name": "grid", "seed": 3, "points": 4})
    assert store.get_study(study.name).searcher == {"name": "grid", "seed": 3, "points": 4}


def test_the_scheduler_of_a_study_can_be_replaced(store: Store) -> None:
    study = make_study(store)
    store.set_study_scheduler(study.id, {"name": "asha", "max_resource": 27})
    assert store.get_study(study.name).scheduler == {"name": "asha", "max_resource": 27}


def test_pause_and_resume_are_guarded_and_atomic(store: Store) -> None:
    study = make_study(store)
    trial = store.create_trial(study.id, {"x": 1}, status=R, worker="a",
                               system_attrs={"bracket": 2})
    # only the owner pauses
    assert store.pause_trial(trial.id, worker="b", metrics={"loss": 0.5}, value=0.5,
                             system_attrs={}) is None
    paused = store.pause_trial(
        trial.id, worker="a", metrics={"loss": 0.5}, value=0.5,
        reports=[Report(1, {"loss": 0.7}, 1.0), Report(3, {"loss": 0.5}, 2.0)],
        system_attrs={"bracket": 2, "step": 3, "consumed": 3.0},
    )
    assert paused is not None and paused.status is TrialStatus.PAUSED
    assert paused.value == 0.5 and paused.finished_at is None and paused.worker is None
    stored = store.get_trial(study.id, trial.number)
    assert [r.step for r in stored.reports] == [1, 3]
    assert stored.system_attrs == {"bracket": 2, "step": 3, "consumed": 3.0}
    assert store.heartbeat([trial.id]) is None  # paused trials have no heartbeat to keep
    assert store.get_trial(study.id, trial.number).heartbeat_at is None
    # exactly one of several drivers resumes it
    results: list[Trial | None] = []
    lock = threading.Lock()

    def resume(worker: str) -> None:
        got = store.resume_trial(trial.id, worker=worker,
                                 system_attrs={"bracket": 2, "step": 3, "resource": 9})
        with lock:
            results.append(got)

    threads = [threading.Thread(target=resume, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].status is R
    now = store.get_trial(study.id, trial.number)
    assert now.worker == winners[0].worker and now.system_attrs["resource"] == 9
    assert [r.step for r in now.reports] == [1, 3]  # reports survive a pause
    done = store.finish_trial(trial.id, status=C, value=0.1, metrics={"loss": 0.1},
                              worker=now.worker, reports=[Report(9, {"loss": 0.1}, 3.0)],
                              system_attrs={"step": 9, "consumed": 9.0})
    assert done is not None and done.system_attrs == {"step": 9, "consumed": 9.0}
    assert store.resume_trial(trial.id, worker="late", system_attrs={}) is None
    with pytest.raises(TrialNotFoundError):
        store.resume_trial(trial.id + 1000, worker="x", system_attrs={})
    with pytest.raises(TrialNotFoundError):
        store.pause_trial(trial.id + 1000, worker="x", metrics={}, value=None, system_attrs={})


def test_a_lost_run_is_retried_in_place_by_its_owner_only(store: Store) -> None:
    study = make_study(store)
    trial = store.create_trial(study.id, {"x": 1}, status=R, worker="a")
    store.add_reports(trial.id, [Report(s, {"loss": 1.0 / s}, float(s)) for s in (1, 2, 3)])
    assert store.retry_trial(trial.id, worker="b", step=2, system_attrs={}) is None
    again = store.retry_trial(trial.id, worker="a", step=2, system_attrs={"retried": "why"})
    assert again is not None and again.status is R and again.worker == "a"
    assert again.attempt == 2 and again.system_attrs == {"retried": "why"}
    stored = store.get_trial(study.id, trial.number)
    assert [r.step for r in stored.reports] == [1, 2]  # those after the checkpoint go
    assert stored.attempt == 2 and stored.heartbeat_at is not None
    store.finish_trial(trial.id, status=C, value=0.1, metrics={"loss": 0.1}, worker="a")
    assert store.retry_trial(trial.id, worker="a", step=0, system_attrs={}) is None


def test_stopping_a_paused_trial_without_an_owner(store: Store) -> None:
    study = make_study(store)
    trial = store.create_trial(study.id, {"x": 1}, status=R, worker="a")
    store.pause_trial(trial.id, worker="a", metrics={"loss": 0.5}, value=0.5,
                      system_attrs={"step": 1})
    stopped = store.finish_trial(trial.id, status=S, metrics={"loss": 0.5}, value=0.5)
    assert stopped is not None and stopped.status is S and stopped.value == 0.5
    assert stopped.system_attrs == {"step": 1}  # kept when not given


# ------------------------------------------------------------------------------ objectives


def test_objectives_round_trip(store: Store) -> None:
    single = make_study(store, "single", direction="max")
    assert single.objectives == (("loss", "max"),)
    pairs = (("loss", "min"), ("latency", "min"), ("acc", "max"))
    created = make_study(store, "multi", objectives=[list(p) for p in pairs])
    got = store.get_study("multi")
    assert created.objectives == got.objectives == pairs
    assert all(type(p) is tuple for p in got.objectives)
    assert store.get_study("single").objectives == (("loss", "max"),)
    summaries = {s.name: s for s in store.list_studies()}
    assert summaries["multi"].objectives == pairs
    assert summaries["single"].objectives == (("loss", "max"),)


def test_objectives_must_start_with_the_target(store: Store) -> None:
    with pytest.raises(InvalidArgumentError, match="first objective"):
        make_study(store, "wrong", objectives=[("acc", "max"), ("loss", "min")])


def test_a_trial_can_be_created_finished_with_its_metrics(store: Store) -> None:
    study = make_study(store)
    before = time.time()
    made = store.create_trial(study.id, {"x": 1}, status=C, metrics={"loss": 0.25, "acc": 0.5},
                              value=0.25, system_attrs={"warm_start": {"study": "a", "number": 3}})
    got = store.get_trial(study.id, made.number)
    for t in (made, got):
        assert t.status is C and t.value == 0.25
        assert t.metrics == {"loss": 0.25, "acc": 0.5}
        assert t.finished_at is not None and t.finished_at >= before - 1
        assert t.started_at is None and t.worker is None
        assert t.system_attrs == {"warm_start": {"study": "a", "number": 3}}
    assert store.list_studies()[0].best_value == 0.25
    waiting = store.create_trial(study.id, {"x": 2}, status=W)
    assert waiting.finished_at is None and waiting.metrics == {} and waiting.value is None


def _downgrade_to_v1(sql_url: str, request: pytest.FixtureRequest) -> None:
    """Make a current store look like one written at version 1."""
    statements = [
        "ALTER TABLE tunelab_studies DROP COLUMN objectives",
        "DROP TABLE tunelab_environments",
        "UPDATE tunelab_meta SET value = '1' WHERE key = 'schema_version'",
    ]
    if sql_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(sql_url.removeprefix("sqlite:///")) as conn:
            for sql in statements:
                conn.execute(sql)
        conn.close()
    else:
        for sql in statements:
            request.getfixturevalue("pg_server").execute(sql_url, sql)


def test_a_version_1_store_is_upgraded_in_place(
    sql_url: str, request: pytest.FixtureRequest
) -> None:
    with SQLStore(sql_url) as store:
        old = make_study(store, "old", direction="max")
        store.create_trial(old.id, {"x": 1}, status=C, metrics={"loss": 2.0}, value=2.0)
    _downgrade_to_v1(sql_url, request)
    with SQLStore(sql_url) as store:
        assert store.schema_version == SCHEMA_VERSION == 3
        store.save_environment("e", {"os": "x"})  # version 3's table is back
        assert store.get_environment("e") == {"os": "x"}
        record = store.get_study("old")
        assert record.objectives == (("loss", "max"),)
        assert [t.value for t in store.get_trials(record.id)] == [2.0]
        pairs = (("loss", "min"), ("acc", "max"))
        assert make_study(store, "new", objectives=pairs).objectives == pairs
    with SQLStore(sql_url) as again:  # a second open finds nothing to migrate
        assert again.schema_version == SCHEMA_VERSION
        assert again.get_study("new").objectives == pairs
