"""MLflow tracking against real stores: SQLite files and a real mlflow server."""

from __future__ import annotations

import base64
import itertools
import json
import re
import zlib
from collections.abc import Mapping
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from shallownet.job import Job
from shallownet.lifecycle import run
from shallownet.tracking import view
from shallownet.tracking.claim import finished
from shallownet.tracking.mlflow_internals import lists_named_views

from .cli_helpers import BIN, run_cli
from .recorded import RecordedSweep, compose_settings
from .servers import mlflow_server
from .store_helpers import artifact_paths, experiment_runs, parents_and_children

GRID = ("init=zeros,small,large", "activation=sigmoid,tanh,relu", "seed=0")
FIGURES = {
    "activation_histogram.png",
    "cost_curve.png",
    "decision_boundary.png",
    "hidden_weights.png",
}


@pytest.mark.slow
def test_sweep_on_the_default_store(tmp_path: Path) -> None:
    result = run_cli("-m", *GRID, "train.iterations=200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert (tmp_path / "mlflow.db").is_file()
    parents, children = parents_and_children(uri)
    assert len(parents) == 1
    assert len(children) == 9
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["children_finished"] == "9"
    assert parent.data.params["sweep.init"] == "zeros,small,large"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    names = {c.info.run_name for c in children}
    assert "init=zeros,activation=tanh,seed=0,train.iterations=200" in names
    client = MlflowClient(uri)
    for child in children:
        p = child.data.params
        assert child.info.status == "FINISHED"
        # the names typed: init=small is params.init = 'small'; its plugin has its own keys
        assert p["init"] in {"zeros", "small", "large"}
        assert p["init.name"] == ("zeros" if p["init"] == "zeros" else "normal")
        assert p.get("init.scale") == {"zeros": None, "small": "0.01", "large": "1.0"}[p["init"]]
        assert p["activation"] == p["activation.name"]
        assert p["activation"] in {"sigmoid", "tanh", "relu"}
        keys = ("data", "model.hidden", "train.learning_rate", "train.iterations", "seed")
        assert tuple(p[k] for k in keys) == ("flower", "[4]", "1.2", "200", "0")
        assert (p["data.test_samples"], p["data.test_seed"]) == ("0", "null")
        assert child.data.tags["shallownet.job_num"].isdigit()
        assert child.data.tags["shallownet.version"] == "0.1.0"
        # 200 steps, diagnostics every 10: cost points at 0, 10, ..., 190, the last step 199,
        # and the cost after the last update at step 200; the diagnostics at 0, 10, ..., 150,
        # then every 20 (tracking/run.py: on_curve), and the last step
        cost = client.get_metric_history(child.info.run_id, "cost")
        assert [m.step for m in cost] == [*range(0, 200, 10), 199, 200]
        sym = client.get_metric_history(child.info.run_id, "distinct_units")
        assert [m.step for m in sym] == [*range(0, 160, 10), 160, 180, 199]
        for key in (
            "train_accuracy",
            "sym_rel_spread",
            "sat_frac",
            "mean_gprime",
            "out_sat_frac",
            "grad_norm/W1",
            "grad_norm/W2",
        ):
            assert len(client.get_metric_history(child.info.run_id, key)) == 19, key
        assert child.data.metrics["final_cost"] == pytest.approx(cost[-1].value)
        files = artifact_paths(client, child.info.run_id)
        assert {"history.csv", "config.yaml", "overrides.yaml"} <= files
        assert {f"figures/{f}" for f in FIGURES} <= files
    # the lessons, visible in the store: zero init keeps one distinct unit, tanh + zeros learns nothing
    zeros_tanh = next(
        c for c in children if c.info.run_name.startswith("init=zeros,activation=tanh")
    )
    assert zeros_tanh.data.metrics["distinct_units"] == 1
    assert zeros_tanh.data.metrics["final_cost"] == pytest.approx(0.6931471805599453, abs=1e-12)
    for act in ("sigmoid", "tanh"):  # large init starts in the flat tails, small init does not
        large = next(
            c for c in children if c.info.run_name.startswith(f"init=large,activation={act}")
        )
        small = next(
            c for c in children if c.info.run_name.startswith(f"init=small,activation={act}")
        )
        assert small.data.metrics["sat_frac_init"] == 0.0
        assert large.data.metrics["sat_frac_init"] > 0.04
        assert (
            large.data.metrics["mean_gprime_init"] < 0.8 * small.data.metrics["mean_gprime_init"]
        )
    # filterable as in the UI
    for init in ("zeros", "small", "large"):
        found = client.search_runs([parent.info.experiment_id], f"params.init = '{init}'")
        assert len(found) == 3, init
    # the mlflow of this environment, by its absolute path: it works as printed
    assert f"{BIN / 'mlflow'} ui --backend-store-uri {uri} " in result.stdout


@pytest.mark.slow
def test_history_artifact_has_full_resolution(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/store.db"
    result = run_cli(
        "train.iterations=120", f"tracking.uri={uri}", "tracking.figures=false", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    client = MlflowClient(uri)
    (run,) = experiment_runs(uri)
    assert "mlflow.parentRunId" not in run.data.tags  # a single run is a plain run
    assert run.info.status == "FINISHED"
    local = Path(client.download_artifacts(run.info.run_id, "history.csv", str(tmp_path)))
    frame = pd.read_csv(local, index_col="step")
    assert len(frame) == 120
    assert frame["cost"].notna().all()
    assert frame["distinct_units"].notna().sum() == 13  # every 10 steps + the last


@pytest.mark.slow
def test_diverging_run_fails_with_its_reason_and_the_sweep_goes_on(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "init=large",
        "activation=relu",
        "train.learning_rate=1.2,1e6",
        "seed=0",
        "train.iterations=100",
        "tracking.figures=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, children = parents_and_children(f"sqlite:///{tmp_path}/mlflow.db")
    by_lr = {c.data.params["train.learning_rate"]: c for c in children}
    assert by_lr["1.2"].info.status == "FINISHED"
    failed = by_lr["1000000.0"]
    assert failed.info.status == "FAILED"
    assert re.fullmatch(
        r"diverged at step \d+: cost is (nan|inf); try a smaller learning rate \(was 1e\+06\)",
        failed.data.tags["failure_reason"],
    )
    assert "1 FAILED" in result.stdout
    assert "1 FINISHED" in result.stdout


@pytest.mark.slow
def test_sweep_against_a_real_mlflow_server(tmp_path: Path) -> None:
    with mlflow_server(tmp_path) as url:
        result = run_cli(
            "-m",
            "init=zeros,small",
            "activation=tanh",
            "seed=0",
            "train.iterations=50",
            f"tracking.uri={url}",
            "tracking.experiment=served",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        parents, children = parents_and_children(url, "served")
        assert len(parents) == 1
        assert len(children) == 2
        client = MlflowClient(url)
        for child in children:
            assert child.info.status == "FINISHED"
            assert "figures/cost_curve.png" in artifact_paths(client, child.info.run_id)
            assert len(client.get_metric_history(child.info.run_id, "cost")) == 7
        experiment = client.get_experiment_by_name("served")  # while the server runs
        assert experiment is not None
    assert not (tmp_path / "mlflow.db").exists()
    parent_id = parents[0].info.run_id
    view_url = f"{url}/#/experiments/{experiment.experiment_id}/runs?viewStateShareKey={parent_id}"
    assert f"  open:    {view_url}&compareRunsMode=CHART" in result.stdout
    assert "mlflow ui" not in result.stdout  # the server is already serving its UI


@pytest.mark.slow
def test_tracking_none_records_nothing(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "init=small",
        "activation=tanh",
        "seed=0",
        "train.iterations=20",
        "tracking=none",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "mlartifacts").exists()


def test_a_sweep_recorded_in_process(recorded_sweep: RecordedSweep) -> None:
    """The job lifecycle (shallownet.lifecycle.run) under a sweep's parent run, on a real store."""
    uri, jobs, costs = recorded_sweep.uri, recorded_sweep.jobs, recorded_sweep.costs
    zeros = [k for k, job in enumerate(jobs) if job.settings.record["init"] == "zeros"]
    assert [costs[k] for k in zeros] == pytest.approx([0.6931471805599453] * 2, abs=1e-12)
    client = MlflowClient(uri)
    parent = client.get_run(recorded_sweep.parent_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params == {"sweep.init": "zeros,large", "sweep.seed": "0,1"}
    assert parent.data.tags["children_finished"] == "4"
    _, children = parents_and_children(uri)
    by_name = {c.info.run_name: c for c in children}
    assert set(by_name) == {job.label for job in jobs}
    large = by_name["init=large,seed=1"]
    assert large.info.status == "FINISHED"
    assert (large.data.params["init"], large.data.params["init.scale"]) == ("large", "1.0")
    assert large.data.tags["shallownet.config_hash"] == jobs[3].settings.config_hash()
    assert large.data.metrics["final_cost"] == pytest.approx(costs[3])
    steps = [m.step for m in client.get_metric_history(large.info.run_id, "cost")]
    assert steps == [0, 10, 20, 29, 30]
    files = artifact_paths(client, large.info.run_id)
    assert {"history.csv", "config.yaml", "overrides.yaml"} <= files
    assert {f"figures/{f}" for f in FIGURES} <= files


def test_skip_finished_finds_the_run_of_the_same_configuration(
    recorded_sweep: RecordedSweep,
) -> None:
    job = recorded_sweep.jobs[1]
    assert job.settings.tracking is not None
    found = finished(job.settings.tracking, job.settings.config_hash())
    assert found is not None
    assert found.data.metrics["final_cost"] == pytest.approx(recorded_sweep.costs[1])
    assert finished(job.settings.tracking, "0" * 16) is None


def test_tracking_graph_attaches_the_computation_graph(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    overrides = (
        "init=zeros",
        "train.iterations=20",
        "tracking.figures=false",
        "tracking.graph=true",
    )
    settings = compose_settings(tmp_path, *overrides, f"tracking.uri={uri}")
    run([Job(settings, "graph", overrides, 0, False, str(tmp_path), str(tmp_path), {})])
    (recorded,) = experiment_runs(uri)
    client = MlflowClient(uri)
    assert artifact_paths(client, recorded.info.run_id) >= {"figures/computation_graph.svg"}
    local = client.download_artifacts(
        recorded.info.run_id, "figures/computation_graph.svg", str(tmp_path)
    )
    assert "<svg" in Path(local).read_text()


def test_each_run_describes_itself_from_its_own_numbers(recorded_sweep: RecordedSweep) -> None:
    """The run's description (``mlflow.note.content``, shown by the MLflow UI) says what
    its diagnostics say: zeros keeps the units identical, randn*1 saturates some."""
    client = MlflowClient(recorded_sweep.uri)
    for job in recorded_sweep.jobs:
        found = client.search_runs(
            [client.get_experiment_by_name("shallownet").experiment_id],  # type: ignore[union-attr]
            f"tags.`shallownet.config_hash` = '{job.settings.config_hash()}'",
        )
        (run,) = found
        note = run.data.tags["mlflow.note.content"]
        metrics = run.data.metrics
        init = run.data.params["init"]
        assert note.startswith(f"{init} + tanh: ")
        accuracy = f"train accuracy {metrics['train_accuracy_final']:.1%}"
        if init == "zeros":
            assert note == (
                "zeros + tanh: all 4 hidden units identical from step 0 to 30 (symmetric); "
                f"cost stayed at ln 2 (chance); {accuracy}"
            )
            assert metrics["distinct_units_final"] == 1
        else:
            saturated = (
                f"{metrics['sat_frac_init']:.0%} of hidden activations in the flat tails of tanh"
            )
            assert f"{int(metrics['distinct_units_final'])} of 4 hidden units distinct" in note
            assert saturated in note
            assert f"(final {metrics['final_cost']:.3g})" in note
            assert note.endswith(accuracy)


def test_a_sweep_ends_with_its_report_on_the_parent_run(recorded_sweep: RecordedSweep) -> None:
    """The parent's description is the comparison table and its figures are attached,
    at the end of every sweep (not only after shallownet-report); the experiment says
    what is recorded."""
    client = MlflowClient(recorded_sweep.uri)
    parent = client.get_run(recorded_sweep.parent_id)
    note = parent.data.tags["mlflow.note.content"]
    lines = note.splitlines()
    assert lines[0] == "**init=zeros,large seed=0,1 (4 FINISHED)**"
    assert lines[2].startswith("| init | runs | reached cost<0.3 | final cost |")
    assert [line.split(" | ")[0] for line in lines[4:6]] == ["| zeros", "| large"]
    assert artifact_paths(client, recorded_sweep.parent_id, "report") >= {
        "report/table.md",
        "report/table.csv",
        "report/runs.csv",
        "report/cost_curves.png",
        "report/summary.png",
    }
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.note.content"].startswith("Runs recorded by shallownet")


def test_a_sweep_saves_its_view_on_the_experiment(recorded_sweep: RecordedSweep) -> None:
    """The view MLflow's UI opens from the printed URL: this sweep's runs, grouped by the
    swept keys (not the seed), the curves in story order, every logged metric placed."""
    client = MlflowClient(recorded_sweep.uri)
    parent = client.get_run(recorded_sweep.parent_id)
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    saved = experiment.tags[f"mlflow.sharedViewState.{recorded_sweep.parent_id}"]
    if lists_named_views(mlflow.__version__):  # in the envelope MLflow's Views menu lists
        envelope = json.loads(saved)
        assert envelope["name"] == "init=zeros,large seed=0,1"  # the sweep's
        saved = envelope["state"]
    assert saved.startswith("deflate;")  # MLflow's compressed UI state: base64 of zlib data
    assert len(saved) < 5000  # what MLflow 3.7 allows an experiment tag
    state = json.loads(zlib.decompress(base64.b64decode(saved.removeprefix("deflate;"))))

    children = client.search_runs([experiment.experiment_id], state["searchFilter"])
    assert sorted(run.info.run_id for run in children) == sorted(
        run.info.run_id
        for run in client.search_runs([experiment.experiment_id])
        if run.info.run_id != recorded_sweep.parent_id
    )
    assert len(children) == 4
    group_by = state["groupBy"]
    assert group_by["aggregateFunction"] == "average"
    [key] = group_by["groupByKeys"]
    assert key["mode"] == "tag"
    tag = key["groupByData"]
    labels = {run.data.tags[tag] for run in children}
    assert tag == "init"  # named after the keys swept (not the seed)
    assert labels == {"zeros", "large"}  # the seeds of one init share a group
    assert len({view.colour(f"tag.{tag}.{label}") for label in labels}) == 2

    charts = state["compareRunCharts"]
    lines = [c["metricKey"] for c in charts if c["type"] == "LINE"]
    assert lines[:3] == ["cost", "distinct_units", "sat_frac"]
    assert lines[4:6] == ["mean_gprime", "train_accuracy"]  # after dead_frac (relu's)
    assert lines[7:9] == ["grad_norm/W1", "grad_norm/W2"]  # after test_accuracy
    logged = set().union(*(run.data.metrics for run in children))
    assert logged <= {c["metricKey"] for c in charts}  # MLflow adds no chart of its own
    bars = [c["metricKey"] for c in charts if c["type"] == "BAR" and not c["deleted"]]
    assert [c["metricKey"] for c in charts[:2]] == ["sat_frac_init", "distinct_units_final"]
    assert {c["metricSectionId"] for c in charts[:3]} == {"curves"}  # first, on the first screen
    assert bars[2] == "final_cost"  # the other summaries after the curves
    assert {c["metricSectionId"] for c in charts} == {
        s["uuid"] for s in state["compareRunSections"]
    }
    assert [(s["columns"], s["cardHeight"]) for s in state["compareRunSections"]] == [
        (2, 520),  # two to a row, taller than MLflow's 360 px: room for every group's name
        (2, 520),
    ]
    columns = state["selectedColumns"]
    assert columns[:2] == ["params.`init`", "params.`seed`"]
    for column in columns:
        kind, _, name = column.partition(".")
        if kind == "params":
            assert all(name.strip("`") in run.data.params for run in children)
        elif kind == "metrics":
            assert all(name.strip("`") in run.data.metrics for run in children)
    assert state["runsHiddenMode"] == "SHOW_ALL"  # not MLflow's first ten


def test_group_tag_gives_each_group_its_own_colour() -> None:
    """MLflow colours groups by a hash of their id; the colour of a known id is the one the
    UI showed (MLflow 3.17, Chromium), and the tag name is chosen so no two groups share one."""
    assert view.colour("tag.group.init=large activation=relu") == "#1f272d"
    assert view.colour("tag.group.init=zeros activation=tanh") == "#c83243"
    records = [
        {"init": i, "activation": a}
        for i in ("zeros", "small", "large")
        for a in ("sigmoid", "tanh", "relu")
    ]
    group = view.grouping(["init", "activation"], records)
    labels = [group.label(record) for record in records]
    assert "init x activation" in group.tag
    assert labels[0] == "zeros·sigmoid"
    assert len({view.colour(f"tag.{group.tag}.{label}") for label in labels}) == 9
    many = [{"seed_like": n} for n in range(40)]  # more groups than colours: as many as can be
    crowded = view.grouping(["seed_like"], many)
    assert len({view.colour(f"tag.{crowded.tag}.{crowded.label(r)}") for r in many}) >= 25


def test_group_names_are_told_apart_in_mlflows_run_list() -> None:
    """MLflow's run list shows about 8 characters of a group's name: the view's names are
    put in another order, shortened, or the sweep split into one view per value of its
    first key, so that they differ within them (the browser test measures what is shown)."""

    def layout(
        values: Mapping[str, tuple[str, ...]], **given: bool
    ) -> tuple[tuple[str, ...], list[str]]:
        records = [
            dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())
        ]
        group = view.grouping(list(values), records, **given)
        return group.split, [group.label(record) for record in records]

    main = {"data": ("flower", "many_features"), "init": ("zeros", "small", "large")}
    main["activation"] = ("sigmoid", "tanh", "relu")
    split, labels = layout(main)
    assert split == ("data",)  # one view per data set, named by the rest
    assert labels[:3] == ["zeros·sigmoid", "zeros·tanh", "zeros·relu"]
    late = {"init": ("standard", "xavier"), "activation": ("tanh", "relu")}  # "standard"...
    assert layout(late) == ((), ["tanh·standard", "relu·standard", "tanh·xavier", "relu·xavier"])
    symmetry = {"init": ("zeros", "constant", "small"), "activation": ("sigmoid", "tanh")}
    assert layout(symmetry) == (  # "constant" whole would hide the activation
        (),
        [
            "zeros·sigmoid",
            "zeros·tanh",
            "cons·sigmoid",
            "cons·tanh",
            "small·sigmoid",
            "small·tanh",
        ],
    )
    depth = {"activation": ("sigmoid", "tanh", "relu"), "init": ("standard", "xavier", "he")}
    assert layout(depth)[1][:3] == ["sigm·standard", "sigm·xavier", "sigm·he"]
    scales = {"init.scale": ("0.01", "0.1", "1.0", "10.0"), "activation": ("sigmoid", "tanh")}
    assert layout(scales)[1][:2] == ["0.01·sigmoid", "0.01·tanh"]  # numbers stay whole
    # without saved views the tag alone groups: one view; a search's first trials are not
    # all its values: whole values, one view
    assert layout(main, split=False)[0] == ()
    assert layout(symmetry, complete=False) == (
        (),
        [f"{i}·{a}" for i in symmetry["init"] for a in symmetry["activation"]],
    )
    fan_in = {"data.n_features": ("2", "10", "50", "200"), "init": ("small", "xavier", "large")}
    assert layout(fan_in) == (
        (),
        [f"{n}·{i}" for n in fan_in["data.n_features"] for i in fan_in["init"]],
    )


def test_a_sweep_split_into_views_saves_and_prints_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three swept keys whose names would be cut: one view per data set, each of its own
    runs, grouped by init x activation, named after its data set in the Views menu, each
    URL printed and found again by the report."""
    from shallownet.tracking.parent import parent_run

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    jobs: list[Job] = []
    grid = itertools.product(("flower", "many_features"), ("zeros", "small"), ("tanh", "sigmoid"))
    for data, init, activation in grid:
        overrides = (f"data={data}", f"init={init}", f"activation={activation}")
        settings = compose_settings(tmp_path, *overrides, f"tracking.uri={uri}")
        config = {"data": data, "init": init, "activation": activation}
        job = Job(settings, ",".join(overrides), overrides, len(jobs), True, "", "", config)
        jobs.append(job)
    tracking = jobs[0].settings.tracking
    assert tracking is not None
    keys = ["data", "init", "activation"]
    with parent_run(tracking, "grid", {}, str(tmp_path), jobs, group_keys=keys) as parent:
        assert parent.group.keys == ("init", "activation")  # the runs' group tag
    printed = capsys.readouterr().out
    client = MlflowClient(uri)
    experiment = client.get_experiment(client.get_run(parent.run_id).info.experiment_id)
    states = []
    for n, data in enumerate(("flower", "many_features")):
        saved = experiment.tags[f"mlflow.sharedViewState.{parent.run_id}.{n}"]
        if lists_named_views(mlflow.__version__):
            envelope = json.loads(saved)
            assert envelope["name"] == f"data={data} · grid"
            saved = envelope["state"]
        states.append(
            json.loads(zlib.decompress(base64.b64decode(saved.removeprefix("deflate;"))))
        )
        assert states[-1]["searchFilter"] == (
            f"tags.`mlflow.parentRunId` = '{parent.run_id}' and params.`data` = '{data}'"
        )
        assert len(states[-1]["groupsExpanded"]) == 4  # its groups: init x activation
    assert f"mlflow.sharedViewState.{parent.run_id}" not in experiment.tags
    assert "  views:   one per data, in this order: data=flower, data=many_features\n" in printed
    opens = [line.removeprefix("  open:    ") for line in printed.splitlines() if "open:" in line]
    port = re.search(r"--port (\d+)\n", printed)
    assert port, printed
    assert opens == view.saved_urls(client, uri, parent.run_id, int(port[1]))  # the report's
    assert [url.split("viewStateShareKey=")[1] for url in opens] == [
        f"{parent.run_id}.0&compareRunsMode=CHART",
        f"{parent.run_id}.1&compareRunsMode=CHART",
    ]


def test_without_saved_views_the_sweep_prints_a_plain_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the installed MLflow's UI cannot open saved views (``mlflow-skinny``, a UI
    without them), the sweep saves none and prints the experiment's page and what to do."""
    from shallownet.tracking import parent
    from shallownet.tracking.store import prepare

    monkeypatch.setattr(view, "supported", lambda: False)
    settings = compose_settings(tmp_path, f"tracking.uri=sqlite:///{tmp_path}/mlflow.db")
    tracking = settings.tracking
    assert tracking is not None
    client = MlflowClient(tracking.uri)
    experiment_id = prepare(tracking)
    group = view.grouping(["init"], [settings.record])
    links = parent._save_views(client, tracking, experiment_id, "0" * 32, group, [{}], [])
    assert links(5001) == [
        f"http://127.0.0.1:5001/#/experiments/{experiment_id}  (this MLflow's UI has no "
        "saved views: group by 'init' there)"
    ]
    tags = client.get_experiment(experiment_id).tags
    assert not [key for key in tags if key.startswith("mlflow.sharedViewState.")]


@pytest.mark.parametrize("sql_insert", [True, False])
def test_a_long_curve_and_the_description_reach_the_store_in_fewest_calls(
    sql_insert: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,500 buffered points and the run's description, every point stored once: on an
    SQL store one insert of all points (mlflow_internals.insert_metrics), then the tag;
    through log_batch (any other store), three calls under MLflow's limit of 1,000
    entities per call, the tag with the last."""
    from mlflow.entities import Metric, RunTag

    from shallownet.tracking import mlflow_internals, run
    from shallownet.tracking.run import MlflowMetrics
    from shallownet.tracking.sqlite import create
    from shallownet.vocabulary import NOTE_TAG

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    create(uri, db)
    client = MlflowClient(uri)
    run_id = client.create_run("0").info.run_id
    calls: list[tuple[int, int]] = []
    log_batch = client.log_batch
    inserted: list[int] = []

    def counted(run_id: str, metrics: list[Metric] = [], tags: list[RunTag] = []) -> None:  # noqa: B006
        calls.append((len(metrics), len(tags)))
        log_batch(run_id, metrics=metrics, tags=tags)

    def insert(client: MlflowClient, run_id: str, metrics: list[Metric]) -> bool:
        inserted.append(len(metrics))
        return sql_insert and mlflow_internals.insert_metrics(client, run_id, metrics)

    monkeypatch.setattr(client, "log_batch", counted)
    monkeypatch.setattr(run, "insert_metrics", insert)
    metrics = MlflowMetrics(client, run_id, every=1)
    metrics.add(Metric("cost", 1.0 / (step + 1), 0, step) for step in range(2500))
    metrics.flush(tags=[RunTag(NOTE_TAG, "a description")])
    assert inserted == [2500]
    assert calls == ([(0, 1)] if sql_insert else [(999, 0), (999, 0), (502, 1)])
    history = client.get_metric_history(run_id, "cost")
    assert sorted(m.step for m in history) == list(range(2500))
    assert client.get_run(run_id).data.metrics["cost"] == 1.0 / 2500  # the latest point
    assert client.get_run(run_id).data.tags[NOTE_TAG] == "a description"
    metrics.flush()  # nothing buffered: no call
    assert inserted == [2500]
    assert len(calls) == (1 if sql_insert else 3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "run_figures", "drawn"),
    [
        ("batched", "first_seed", {"init=zeros,seed=0", "init=small,seed=0"}),
        ("basic", "first_seed", {"init=zeros,seed=0", "init=small,seed=0"}),
        (
            "batched",
            "every_run",
            {f"init={i},seed={s}" for i in ("zeros", "small") for s in (0, 1)},
        ),
    ],
)
def test_a_sweep_draws_each_configurations_figures_once(
    launcher: str, run_figures: str, drawn: set[str], tmp_path: Path
) -> None:
    """By default the first seed of each configuration draws the run's figures (the other
    seeds are repeats of it), under shallownet's launcher and Hydra's own alike; every
    run does with tracking.run_figures=every_run."""
    result = run_cli(
        "-m",
        "init=zeros,small",
        "seed=0,1",
        "train.iterations=20",
        f"hydra/launcher={launcher}",
        f"tracking.run_figures={run_figures}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    _, children = parents_and_children(uri)
    client = MlflowClient(uri)
    with_figures = {
        c.info.run_name
        for c in children
        if {f"figures/{f}" for f in FIGURES} <= artifact_paths(client, c.info.run_id)
    }
    assert with_figures == {f"{name},train.iterations=20" for name in drawn}
    assert all(c.data.tags["shallownet.overrides"].count("tracking.") == 1 for c in children)


def test_curves_are_dense_early_and_sparse_later() -> None:
    """MLflow's curves: every recorded step of the first 16, then 8 for each doubling of
    the step, and the last step; with tracking.log_every, every log_every-th step."""
    from shallownet.tracking.run import on_curve

    steps = [s for s in range(10_000) if on_curve(s, 9_999, 10, uniform=False)]
    assert steps[:17] == [*range(0, 160, 10), 160]
    assert steps[16:26] == [160, 180, 200, 220, 240, 260, 280, 300, 320, 360]
    assert steps[-1] == 9_999
    assert len(steps) == 65  # against 1,000 recorded (history.csv has all 10,000 steps)
    gaps = [b - a for a, b in itertools.pairwise(steps[:-1])]  # the last step aside
    assert gaps == sorted(gaps)  # never denser later
    uniform = [s for s in range(200) if on_curve(s, 199, 25, uniform=True)]
    assert uniform == [0, 25, 50, 75, 100, 125, 150, 175, 199]


def test_jobs_a_sweep_never_started_are_among_the_jobs_it_lost(tmp_path: Path) -> None:
    """A batch whose worker died before it opened some of its jobs' runs: those jobs have
    no run, and the sweep counts them among its lost jobs, saying so (it said "1 of 12
    jobs failed" while 2 more had not run; the report lists them as MISSING)."""
    from shallownet.tracking.parent import parent_run

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    jobs: list[Job] = []
    for seed in (0, 1, 2):
        overrides = (f"seed={seed}", "train.iterations=20")
        settings = compose_settings(tmp_path, *overrides, f"tracking.uri={uri}")
        config = {"seed": seed}
        jobs.append(Job(settings, ",".join(overrides), overrides, seed, True, "", "", config))
    tracking = jobs[0].settings.tracking
    assert tracking is not None
    with parent_run(tracking, "seeds", {"seed": "0,1,2"}, str(tmp_path), jobs) as parent:
        run([parent.adopt(jobs[0], figures=False)])  # the others never opened their runs
    assert parent.status == "FINISHED"
    assert parent.lost == [
        f"{job.label}: never started (its batch stopped before it opened the job's run)"
        for job in jobs[1:]
    ]
    # run again: the job FINISHED in the first sweep is not lost, the others are
    with parent_run(tracking, "seeds", {"seed": "0,1,2"}, str(tmp_path), jobs) as again:
        pass
    assert [line.partition(":")[0] for line in again.lost] == [job.label for job in jobs[1:]]
