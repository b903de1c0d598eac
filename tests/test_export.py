"""Exports read back by their readers: TensorBoard event files (TensorBoard's own reader and
HParams plugin), the plain-text log (read_text_log), and PNG plots (matplotlib figures)."""

from __future__ import annotations

import datetime as dt
import sys
import types

import pytest

from tunelab import (
    Categorical,
    Float,
    Int,
    InvalidArgumentError,
    MedianStopping,
    MissingExtraError,
    Space,
    Study,
    TrialStatus,
)
from tunelab.analysis._export import export_tensorboard, export_text_log, read_text_log
from tunelab.analysis._plots import KINDS, figure, plot

SPACE = Space(
    x=Float(0, 1),
    n=Int(1, 4),
    opt=Categorical(["sgd", "adam"]),
    momentum=Float(0, 1, when={"opt": "sgd"}),
    lr=Float(1e-4, 1e-1, log=True),
)


def learning(trial):
    """Reports 3 steps of a loss; fails for n == 4; stops when the scheduler says so."""
    if trial["n"] == 4:
        raise RuntimeError("diverged\nat step 0")
    for step in range(1, 4):
        if trial.report(step, loss=trial["x"] + 1 / step, acc=step / 4) != "CONTINUE":
            return None
    return {"loss": trial["x"] + 0.25, "acc": 0.9}


def _study(name: str, store: str = "memory") -> Study:
    study = Study(name, SPACE, metric="loss", store=store, seed=0,
                  scheduler=MedianStopping(min_samples=2))
    study.optimize(learning, n_trials=10)
    study.enqueue({"x": 0.5, "n": 2, "opt": "adam", "lr": 0.01})  # stays WAITING
    return study


@pytest.fixture(scope="module")
def study() -> Study:
    study = _study("s")
    statuses = {t.status for t in study.trials}
    assert {TrialStatus.COMPLETE, TrialStatus.STOPPED, TrialStatus.FAILED,
            TrialStatus.WAITING} <= statuses, statuses
    assert any("momentum" in t.config for t in study.trials)
    return study


def _with_reports(study: Study):
    record = study.store.get_study(study.name)
    return study.store.get_trials(record.id, with_reports=True)


@pytest.fixture(scope="module")
def two_objectives() -> Study:
    study = Study("mo", Space(x=Float(0, 1), n=Int(1, 3)), metric=["loss", "latency"],
                  direction=["min", "min"], store="memory", seed=0)
    study.optimize(lambda c: {"loss": c["x"], "latency": (1 - c["x"]) ** 2 + 0.1 * c["n"]},
                   n_trials=15)
    return study


# ---------------------------------------------------------------------------- TensorBoard


@pytest.fixture(scope="module")
def tb_root(study, tmp_path_factory):
    import tensorboard  # noqa: F401 - the reader used below must be installed (dev extra)
    return export_tensorboard(study, tmp_path_factory.mktemp("tb"))


def _accumulator(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return acc


def _hparams(acc) -> dict:
    from tensorboard.plugins.hparams import plugin_data_pb2

    return {tag: plugin_data_pb2.HParamsPluginData.FromString(content)
            for tag, content in acc.PluginTagToContent("hparams").items()}


def test_tensorboard_has_one_run_per_started_trial_with_its_reports_as_scalars(study, tb_root):
    trials = [t for t in _with_reports(study) if t.status is not TrialStatus.WAITING]
    assert tb_root.name == "s"
    assert sorted(p.name for p in tb_root.iterdir() if p.is_dir()) == [
        f"trial-{t.number:05d}" for t in trials
    ]  # the WAITING trial never ran: no run
    for trial in trials:
        acc = _accumulator(tb_root / f"trial-{trial.number:05d}")
        scalars = set(acc.Tags()["scalars"])
        for name in ("loss", "acc"):
            reported = [(r.step, r.metrics[name]) for r in trial.reports]
            if not reported:
                assert name not in scalars
                continue
            events = acc.Scalars(name)
            assert [e.step for e in events] == [s for s, _ in reported]
            assert [e.value for e in events] == pytest.approx([v for _, v in reported],
                                                              rel=1e-6)
            assert events[0].wall_time == pytest.approx(trial.reports[0].time)
        for name, value in trial.metrics.items():
            [final] = acc.Scalars(f"final/{name}")
            assert final.value == pytest.approx(value, rel=1e-6)
            assert final.step == max(r.step for r in trial.reports)


def test_tensorboard_hparams_plugin_data_holds_each_trials_config(study, tb_root):
    from tensorboard.plugins.hparams import api_pb2

    expected_status = {TrialStatus.COMPLETE: api_pb2.STATUS_SUCCESS,
                       TrialStatus.STOPPED: api_pb2.STATUS_SUCCESS,
                       TrialStatus.FAILED: api_pb2.STATUS_FAILURE}
    for trial in study.trials:
        if trial.status is TrialStatus.WAITING:
            continue
        data = _hparams(_accumulator(tb_root / f"trial-{trial.number:05d}"))
        start = data["_hparams_/session_start_info"].session_start_info
        hparams = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                   for k, v in start.hparams.items()}
        assert hparams == {k: float(v) if isinstance(v, (int, float)) else v
                           for k, v in trial.config.items()}
        assert ("momentum" in hparams) == (trial.config["opt"] == "sgd")  # inactive: absent
        assert start.start_time_secs == pytest.approx(trial.started_at)
        end = data["_hparams_/session_end_info"].session_end_info
        assert end.status == expected_status[trial.status]
        assert end.end_time_secs == pytest.approx(trial.finished_at)

    experiment = _hparams(_accumulator(tb_root))["_hparams_/experiment"].experiment
    infos = {info.name: info for info in experiment.hparam_infos}
    assert list(infos) == list(SPACE.names)
    assert infos["opt"].type == api_pb2.DATA_TYPE_STRING
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["sgd", "adam"]
    assert infos["lr"].type == api_pb2.DATA_TYPE_FLOAT64
    assert (infos["lr"].domain_interval.min_value,
            infos["lr"].domain_interval.max_value) == (1e-4, 1e-1)
    assert [m.name.tag for m in experiment.metric_infos] == ["final/loss", "final/acc"]


def test_tensorboards_hparams_tab_lists_every_trial_with_its_final_loss(study, tb_root):
    """What the HParams tab asks TensorBoard's server for: its session groups."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer as multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

    mux = multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(tb_root.parent))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(tb_root.parent))
    backend = backend_context.Context(
        base_plugin.TBContext(data_provider=provider, logdir=str(tb_root.parent)))
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=100,
        allowed_statuses=[api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS,
                          api_pb2.STATUS_FAILURE, api_pb2.STATUS_RUNNING])
    response = list_session_groups.Handler(
        context.RequestContext(), backend, "", request).run()
    groups = {g.name: g for g in response.session_groups}
    started = [t for t in study.trials if t.status is not TrialStatus.WAITING]
    assert sorted(groups) == [f"s/trial-{t.number:05d}" for t in started]
    for trial in started:
        group = groups[f"s/trial-{trial.number:05d}"]
        assert group.hparams["x"].number_value == trial.config["x"]
        assert group.hparams["opt"].string_value == trial.config["opt"]
        metrics = {m.name.tag: m.value for m in group.metric_values}
        assert metrics == pytest.approx({f"final/{k}": v for k, v in trial.metrics.items()},
                                        rel=1e-6)


def test_tensorboard_export_again_replaces_files_and_metrics_filters(study, tmp_path):
    import tensorboard  # noqa: F401 - the reader used below must be installed (dev extra)
    export_tensorboard(study, tmp_path)
    root = export_tensorboard(study, tmp_path, metrics=["loss"])
    for folder in [root, *root.glob("trial-*")]:
        assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    done = next(t for t in study.trials if t.status is TrialStatus.COMPLETE)
    tags = _accumulator(root / f"trial-{done.number:05d}").Tags()["scalars"]
    assert sorted(tags) == ["final/loss", "loss"]
    with pytest.raises(InvalidArgumentError, match="`metrics`"):
        export_tensorboard(study, tmp_path, metrics=[3])


def test_tensorboard_without_the_extra_names_the_pip_line(study, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'tunelab\[tensorboard\]'"):
        export_tensorboard(study, tmp_path)


# ---------------------------------------------------------------------------- text log


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_text_log_round_trip_recovers_every_trial(store, tmp_path):
    study = _study("log", "memory" if store == "memory" else str(tmp_path / "s.db"))
    path = export_text_log(study, tmp_path / "logs" / "study.log")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# tunelab study 'log': loss (min)")
    stamps = [dt.datetime.fromisoformat(line.split(" ", 1)[0]) for line in lines[1:]]
    assert stamps == sorted(stamps)  # time order
    assert any(" COMPLETE loss=" in line and line.endswith(" s)") for line in lines)

    back = read_text_log(path)
    trials = _with_reports(study)
    assert [t["number"] for t in back] == [t.number for t in trials]
    for trial, read in zip(trials, back, strict=True):
        assert read["status"] == trial.status.value
        assert read["config"] == trial.config
        assert read["metrics"] == trial.metrics  # exactly
        assert [(r["step"], r["metrics"]) for r in read["reports"]] == [
            (r.step, r.metrics) for r in trial.reports
        ]
        assert [r["time"] for r in read["reports"]] == pytest.approx(
            [r.time for r in trial.reports], abs=1.5e-3)
        assert read["error"] == trial.error
        if trial.started_at is not None:
            assert read["started_at"] == pytest.approx(trial.started_at, abs=1.5e-3)
        if trial.status.is_finished:
            assert read["finished_at"] == pytest.approx(trial.finished_at, abs=1.5e-3)
    assert "diverged\nat step 0" in next(t["error"] for t in back if t["status"] == "FAILED")


def test_text_log_keeps_odd_metric_names(tmp_path):
    study = Study("odd", Space(x=Float(0, 1)), metric="val loss", store="memory", seed=0)

    def objective(trial):
        trial.report(1, **{"val loss": 0.5, "error": 0.25, "a=b": 1e-300})
        return {"val loss": 0.125, "(x)": -3.0}

    study.optimize(objective, n_trials=2)
    back = read_text_log(export_text_log(study, tmp_path / "odd.log"))
    assert [t["metrics"] for t in back] == [t.metrics for t in study.trials]
    assert back[0]["reports"][0]["metrics"] == {"val loss": 0.5, "error": 0.25, "a=b": 1e-300}


def test_read_text_log_names_the_bad_line(tmp_path):
    log = tmp_path / "bad.log"
    log.write_text("# header\n2026-01-01T00:00:00+00:00 trial 0 started config={}\n"
                   "2026-01-01T00:00:01+00:00 trial 0 exploded\n")
    with pytest.raises(InvalidArgumentError, match=r"bad\.log:3: unknown event 'exploded'"):
        read_text_log(log)
    log.write_text("yesterday trial 0 started config={}\n")
    with pytest.raises(InvalidArgumentError, match=r"bad\.log:1: 'yesterday' is not"):
        read_text_log(log)


# ---------------------------------------------------------------------------- plots

IMPORTANCE = {"x": 0.6, "lr": 0.25, "opt": 0.1, "n": 0.05}
SENSITIVITY = {
    "lr": [(1e-4, 0.9, 0.1), (1e-3, 0.6, 0.05), (1e-2, 0.4, 0.05), (1e-1, 0.7, 0.2)],
    "x": [(0.0, 0.3, 0.02), (0.5, 0.7, 0.05), (1.0, 1.2, 0.1)],
    "opt": [("sgd", 0.5, 0.1), ("adam", 0.4, None)],
    "wd": [(1e-6, 0.5, 0.1), (1e-2, 0.45, 0.1)],
    "baseline": 0.5,
    "log": {"x": False},
}


def _data_for(kind: str):
    return {"importance": IMPORTANCE, "sensitivity": SENSITIVITY}.get(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_every_plot_kind_writes_a_png(kind, study, two_objectives, tmp_path):
    source = two_objectives if kind == "pareto" else study
    path = plot(source, kind, tmp_path / "plots" / f"{kind}.png", data=_data_for(kind))
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 10_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width >= 400 and height >= 200


def _by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_history_plot_shows_every_complete_trial_and_the_best_so_far(study):
    done = [t for t in study.trials if t.status is TrialStatus.COMPLETE]
    [ax] = figure(study, "history").axes
    [points] = _by_gid(ax, "trials")
    assert list(points.get_xdata()) == [t.number for t in done]
    assert list(points.get_ydata()) == [t.value for t in done]
    [best] = _by_gid(ax, "best")
    ys = list(best.get_ydata())
    assert ys == sorted(ys, reverse=True) and ys[-1] == min(t.value for t in done)
    [ax] = figure(study, "history", metric="acc").axes  # not an objective: no best line
    assert _by_gid(ax, "best") == [] and len(_by_gid(ax, "trials")[0].get_xdata()) == len(done)


def test_curves_plot_draws_one_curve_per_trial_stopped_ones_dashed(study):
    [ax] = figure(study, "curves").axes
    for trial in _with_reports(study):
        lines = _by_gid(ax, f"trial-{trial.number}")
        if not trial.reports:
            assert lines == []
            continue
        [line] = lines
        assert list(line.get_xdata()) == [r.step for r in trial.reports]
        assert line.get_linestyle() == ("--" if trial.status is TrialStatus.STOPPED else "-")
        assert bool(_by_gid(ax, f"end-{trial.number}")) == (
            trial.status is TrialStatus.STOPPED)


def test_parallel_plot_has_one_line_per_complete_trial_in_unit_cube(study):
    done = [t for t in study.trials if t.status is TrialStatus.COMPLETE]
    ax = figure(study, "parallel").axes[0]
    [lines] = _by_gid(ax, "configs")
    segments = lines.get_segments()
    assert len(segments) == len(done)
    assert all(len(s) == len(SPACE.names) + 1 for s in segments)
    assert sorted(lines.get_array().tolist()) == sorted(t.value for t in done)
    ys = [y for s in segments for y in s[:, 1]]
    assert min(ys) < 0 and all(y <= 1 for y in ys)  # some inactive momentum sits below 0
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels == [*SPACE.names, "loss"]


def test_pareto_plot_highlights_the_front(two_objectives, study):
    [ax] = figure(two_objectives, "pareto").axes
    [front] = _by_gid(ax, "front")
    [rest] = _by_gid(ax, "trials")
    assert len(front.get_offsets()) == len(two_objectives.pareto_front())
    assert len(front.get_offsets()) + len(rest.get_offsets()) == len(two_objectives.trials)
    assert ax.get_xlabel() == "loss (min)" and ax.get_ylabel() == "latency (min)"
    with pytest.raises(InvalidArgumentError, match="multi-objective"):
        figure(study, "pareto")


def test_importance_plot_takes_a_mapping_or_an_object_with_scores(study):
    [ax] = figure(study, "importance", data=IMPORTANCE).axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["n", "opt", "lr", "x"]
    assert [p.get_width() for p in ax.patches] == [0.05, 0.1, 0.25, 0.6]
    result = types.SimpleNamespace(scores={"x": 2.0, "lr": 1.0}, std={"x": 0.5})
    [ax] = figure(study, "importance", data=result).axes
    assert len(ax.patches) == 2
    with pytest.raises(InvalidArgumentError, match="needs `data`"):
        figure(study, "importance")
    with pytest.raises(InvalidArgumentError, match="must be a number"):
        figure(study, "importance", data={"x": "high"})


def test_sensitivity_plot_one_panel_per_parameter_log_when_it_spans_decades(study):
    axes = figure(study, "sensitivity", data=SENSITIVITY).axes
    assert [ax.get_xlabel() for ax in axes] == ["lr", "x", "opt", "wd"]
    lr, x, opt, wd = axes
    assert lr.get_xscale() == "log"  # a log parameter of the space
    assert wd.get_xscale() == "log"  # 4 decades, not in the space
    assert x.get_xscale() == "linear"  # told so
    assert [t.get_text() for t in opt.get_xticklabels()] == ["sgd", "adam"]
    [mean] = _by_gid(lr, "mean")
    assert list(mean.get_ydata()) == [0.9, 0.6, 0.4, 0.7]
    assert any(line.get_label() == "baseline" for line in lr.get_lines())
    curves = types.SimpleNamespace(curves={"x": [(0.1, 1.0), (0.2, 2.0)]}, baseline={"x": 0.15})
    [ax] = figure(study, "sensitivity", data=curves).axes
    assert ax.get_xscale() == "linear"
    with pytest.raises(InvalidArgumentError, match="needs `data`"):
        figure(study, "sensitivity")


def test_bad_kind_and_empty_study_are_clear_errors(study, tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"'violin'.*history, curves, importance"):
        plot(study, "violin", tmp_path / "x.png")
    empty = Study("empty", SPACE, store="memory", seed=0)
    for kind in ("history", "parallel"):
        with pytest.raises(InvalidArgumentError, match="no complete trial"):
            plot(empty, kind, tmp_path / "x.png")
    with pytest.raises(InvalidArgumentError, match="reported 'loss' per step"):
        plot(Study("empty2", SPACE, metric="loss", store="memory"), "curves",
             tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plots_without_matplotlib_name_the_pip_line(study, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'tunelab\[plot\]'"):
        plot(study, "history", tmp_path / "x.png")
