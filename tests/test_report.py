"""Reports: pure pandas functions on hand-made frames, and the report on a real store."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from shallownet.report import (
    comparison,
    frames,
    load_sweep,
    per_run,
    readable,
    steps_to_threshold,
    to_markdown,
)
from shallownet.report.cli import main
from shallownet.report.figures import layer_grid
from shallownet.report.tables import per_layer
from shallownet.report.write import write_report
from shallownet.tracking.store import ui_port

from .cli_helpers import python_out, run_cli
from .recorded import RecordedSweep


def _curves() -> pd.DataFrame:
    # run a reaches 0.3 at step 20, b never does, c at step 10; d (KILLED) at step 10,
    # e (FAILED) diverged
    return pd.DataFrame(
        {
            "run_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["d"] * 3 + ["e"] * 3,
            "step": [0, 10, 20] * 5,
            "value": [
                *(0.69, 0.5, 0.3),
                *(0.69, 0.69, 0.69),
                *(0.69, 0.2, 0.1),
                *(0.69, 0.05, 0.01),
                *(0.69, 5.0, math.inf),
            ],
        }
    )


def _runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d", "e"],
            "init": ["small", "zeros", "small", "small", "zeros"],
            "seed": [0, 0, 1, 2, 1],
            "status": ["FINISHED", "FINISHED", "FINISHED", "KILLED", "FAILED"],
            "final_cost": [0.3, 0.69, 0.1, 0.01, math.nan],
            "train_accuracy_final": [0.9, 0.5, 0.95, 0.99, math.nan],
            "distinct_units_final": [4, 1, 4, 4, 1],
            "sat_frac_init": [0.0, 0.0, 0.2, 0.0, 0.0],
            "mean_gprime_init": [1.0, 1.0, 0.6, 1.0, 1.0],
        }
    )


def test_steps_to_threshold() -> None:
    got = steps_to_threshold(_curves(), 0.3)
    assert got["a"] == 20
    assert math.isnan(got["b"])
    assert got["c"] == 10


def test_comparison_counts_every_status_and_summarizes_finished_runs_only() -> None:
    runs = per_run(_runs(), _curves(), ["init", "seed"], threshold=0.3)
    assert list(runs.columns[:4]) == ["run_id", "init", "seed", "status"]
    assert runs["test_accuracy"].isna().all()  # no test set: the column is there, empty
    table = comparison(runs, ["init"])
    assert list(table["init"]) == ["small", "zeros"]  # in sweep order
    small = table.iloc[0]
    counts = ("runs", "finished", "failed", "killed", "reached")
    assert tuple(small[c] for c in counts) == (3, 2, 0, 1, 2)
    # the KILLED run d (cost 0.01 when stopped) is not a result
    assert small["final_cost_median"] == pytest.approx(0.2)
    assert (small["final_cost_min"], small["final_cost_max"]) == (0.1, 0.3)
    assert small["steps_to_threshold_median"] == 15
    zeros = table.iloc[1]
    assert tuple(zeros[c] for c in counts) == (2, 1, 1, 0, 0)
    # b never reached it in its 20 recorded steps: censored, not left out
    assert zeros["steps_to_threshold_median"] == math.inf
    assert zeros["steps_censored_at"] == 20


def test_steps_to_threshold_counts_runs_that_never_got_there() -> None:
    """With 1 of 3 runs below the threshold, the median is '> N', not the one run's steps
    (huge init must not look fastest because its few lucky seeds were fast)."""
    curves = pd.DataFrame(
        {
            "run_id": [r for r in "xyz" for _ in range(3)],
            "step": [0, 50, 100] * 3,
            "value": [0.7, 0.2, 0.1, 0.7, 0.6, 0.5, 0.7, 0.7, 0.7],
        }
    )
    runs = pd.DataFrame(
        {
            "run_id": list("xyz"),
            "init": ["huge"] * 3,
            "seed": [0, 1, 2],
            "status": ["FINISHED"] * 3,
        }
    )
    table = comparison(per_run(runs, curves, ["init", "seed"], 0.3), ["init"])
    text = readable(table, ["init"], 0.3)
    assert text.loc[0, "reached cost<0.3"] == "1/3"
    assert text.loc[0, "steps to cost<0.3"] == "> 100 [50–> 100]"
    two = comparison(per_run(runs.iloc[:2], curves, ["init", "seed"], 0.3), ["init"])
    assert two.loc[0, "steps_to_threshold_median"] == 50  # half of them got there by 50


def test_readable_cells_and_markdown() -> None:
    runs = per_run(_runs(), _curves(), ["init", "seed"], threshold=0.3)
    text = readable(comparison(runs, ["init"]), ["init"], 0.3)
    assert list(text.columns[:5]) == ["init", "runs", "failed", "killed", "reached cost<0.3"]
    assert text.loc[0, "final cost"] == "0.2 [0.1–0.3]"
    assert text.loc[1, "final cost"] == "0.69"
    assert text.loc[1, "steps to cost<0.3"] == "> 20"  # run b never got there
    assert text.loc[0, "reached cost<0.3"] == "2/2"
    assert text.loc[1, "reached cost<0.3"] == "0/1"
    assert "test acc" not in text.columns  # nothing to show
    md = to_markdown(text).splitlines()
    assert md[0].startswith("| init | runs | failed | killed |")
    assert md[1].startswith("|---|---|")
    assert len(md) == 4


@pytest.mark.slow
def test_report_on_a_real_sweep(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "init=zeros,small",
        "activation=sigmoid,tanh",
        "seed=0,1,2",
        "train.iterations=300",
        "tracking.figures=false",
        "hydra/launcher=joblib",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep = load_sweep(uri)
    assert len(sweep.runs) == 12
    assert sweep.keys == ["init", "activation", "seed"]
    assert sweep.group_keys == ["init", "activation"]
    assert set(sweep.curves.columns) == {"run_id", "step", "value"}
    assert len(sweep.curves) == 12 * 32  # steps 0, 10, ..., 290, 299 and 300
    runs = per_run(sweep.runs, sweep.curves, sweep.keys)
    table = comparison(runs, sweep.group_keys)
    assert len(table) == 4
    assert set(table["runs"]) == {3}
    zeros_tanh = table[(table.init == "zeros") & (table.activation == "tanh")].iloc[0]
    assert zeros_tanh["final_cost_median"] == pytest.approx(math.log(2), abs=1e-12)
    assert zeros_tanh["distinct_units_median"] == 1
    small_tanh = runs[(runs.init == "small") & (runs.activation == "tanh")]
    row = table[(table.init == "small") & (table.activation == "tanh")].iloc[0]
    assert row["final_cost_median"] == pytest.approx(small_tanh["final_cost"].median())
    assert row["final_cost_max"] == pytest.approx(small_tanh["final_cost"].max())

    report = run_cli(
        "--tracking-uri", uri, "--out", "rep", cwd=tmp_path, command="shallownet-report"
    )
    assert report.returncode == 0, report.stderr
    assert "| init | activation | runs | reached cost<0.3 | final cost |" in report.stdout
    out = tmp_path / "rep"
    for name in ("table.csv", "table.md", "runs.csv", "cost_curves.png", "summary.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "cost_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = pd.read_csv(out / "table.csv")
    assert list(csv["init"]) == ["zeros", "zeros", "small", "small"]
    client = MlflowClient(uri)
    attached = {a.path for a in client.list_artifacts(sweep.parent_id, "report")}
    assert attached == {
        f"report/{n}"
        for n in ("table.csv", "table.md", "runs.csv", "cost_curves.png", "summary.png")
    }


def test_report_without_a_store_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli(cwd=tmp_path, command="shallownet-report")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"shallownet-report: error: --tracking-uri: no MLflow store at {tmp_path}/mlflow.db; "
        "run a sweep here first (shallownet -m)"
    )


def test_report_on_an_empty_file_leaves_it_empty(tmp_path: Path) -> None:
    """It built a 950 KB store in it (issue "Nothing lost, round four")."""
    (tmp_path / "mlflow.db").touch()
    result = run_cli(cwd=tmp_path, command="shallownet-report")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"shallownet-report: error: --tracking-uri: an empty file at {tmp_path}/mlflow.db; "
        "run a sweep here first (shallownet -m)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]
    assert (tmp_path / "mlflow.db").stat().st_size == 0


@pytest.mark.parametrize("threshold", ["nan", "-1", "inf", "0"])
def test_a_threshold_that_is_no_cost_is_refused_in_one_line(
    threshold: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--threshold", threshold])
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"shallownet-report: error: --threshold={float(threshold)!r} is invalid: "
        "must be a positive number (a cost, e.g. 0.3)"
    )


def test_ctrl_c_during_a_report_is_one_line(
    recorded_sweep: RecordedSweep,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while the report reads the store: one line naming the signal, exit 130."""
    from shallownet.report import frames

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(frames, "load_sweep", interrupted)  # as the command imports it
    with pytest.raises(SystemExit) as stopped:
        main(["--tracking-uri", recorded_sweep.uri, "--out", str(tmp_path)])
    assert stopped.value.code == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "shallownet-report: interrupted by SIGINT"
    ]


def test_report_of_a_recorded_sweep(
    recorded_sweep: RecordedSweep, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """shallownet-report, in process, on a real store: the table, the files, attached."""
    main(["--tracking-uri", recorded_sweep.uri, "--out", str(tmp_path), "--no-attach"])
    out = capsys.readouterr().out
    assert "| init | runs | reached cost<0.3 | final cost |" in out
    assert out.splitlines()[-1] == (  # the sweep's saved view in the MLflow UI
        f"open:  http://127.0.0.1:{ui_port()}/#/experiments/1/runs?viewStateShareKey="
        f"{recorded_sweep.parent_id}&compareRunsMode=CHART"
    )
    sweep = load_sweep(recorded_sweep.uri)
    assert sweep.keys == ["init", "seed"]
    assert list(pd.read_csv(tmp_path / "table.csv")["init"]) == ["zeros", "large"]
    for name in ("cost_curves.png", "summary.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_curves_are_read_at_once_from_a_database_as_run_by_run(
    recorded_sweep: RecordedSweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The histories of a sweep's runs in a few queries on an SQL store, the same frame
    as one get_metric_history call per run (what a tracking server gets)."""
    client = MlflowClient(recorded_sweep.uri)
    run_ids = list(reversed(load_sweep(recorded_sweep.uri).runs["run_id"]))
    monkeypatch.setattr(frames, "HISTORY_CHUNK", 3)  # 4 runs: two queries
    at_once = frames.histories_at_once(client, run_ids, "distinct_units")
    assert at_once is not None
    assert len(at_once) == 4 * 4  # steps 0, 10, 20, 29 of each run
    bulk = frames.curves_frame(client, run_ids, "distinct_units")
    monkeypatch.setattr(frames, "histories_at_once", lambda *args: None)
    one_by_one = frames.curves_frame(client, run_ids, "distinct_units")
    pd.testing.assert_frame_equal(bulk, one_by_one)
    assert list(bulk["run_id"].unique()) == run_ids
    assert list(bulk["step"][:4]) == [0, 10, 20, 29]
    assert set(bulk["value"]) == {1.0, 4.0}  # zeros: 1 distinct unit; large: 4


def test_figures_name_every_colour_beside_the_curves() -> None:
    """summary.png colours a bar by its first key's value and says which is which;
    cost_curves.png puts its legend beside the last panel, not over its curves."""
    from shallownet.report.figures import cost_grid, summary_chart

    runs = per_run(_runs(), _curves(), ["init", "seed"], threshold=0.3)
    fig = summary_chart(runs, ["init", "seed"])
    legend = fig.axes[-1].get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["init=small", "init=zeros"]
    bars = {
        (str(label.get_text()), tuple(patch.get_facecolor()))
        for label, patch in zip(fig.axes[0].get_yticklabels(), fig.axes[0].patches, strict=True)
    }  # a row per configuration, labelled on the left: "small · 0"
    by_init: dict[str, set[object]] = {}
    for label, colour in bars:
        by_init.setdefault(label.split(" · ")[0], set()).add(colour)
    assert all(len(colours) == 1 for colours in by_init.values())  # one colour per init
    assert len(set().union(*by_init.values())) == 2
    grid = cost_grid(runs, _curves(), ["init", "seed"])
    grid.canvas.draw()
    last = grid.axes[-1]
    beside = last.get_legend()
    assert beside is not None
    box = beside.get_window_extent()
    assert box.x0 >= last.get_window_extent().x1  # beside the panel
    assert box.x1 <= grid.bbox.x1  # and inside the figure


def test_a_deeper_sweep_records_and_reports_each_layer(tmp_path: Path) -> None:
    """Networks of several hidden layers: per-layer summaries in the store, the per-run
    figure of layer distributions, and the report's per-layer table and figure."""
    from shallownet.vocabulary import summary_names

    from .recorded import record_sweep

    recorded = record_sweep(tmp_path, "model.hidden=[3,3]", "data.n_samples=100")
    client = MlflowClient(recorded.uri)
    sweep = load_sweep(recorded.uri)
    assert summary_names(3)[-3:] == ["grad_norm/W1", "grad_norm/W2", "grad_norm/W3"]
    for run_id in sweep.runs["run_id"]:
        metrics = client.get_run(run_id).data.metrics
        for name in ("act_std_h2", "sat_frac_h2", "fan_in_w2_h2", "grad_norm/W3"):
            assert f"{name}_init" in metrics, name
            assert f"{name}_final" in metrics, name
        files = {f.path for f in client.list_artifacts(run_id, "figures")}
        assert "figures/layer_distributions.png" in files
        # the summary at init is the curve's first point
        first = client.get_metric_history(run_id, "act_std_h2")[0]
        assert (first.step, first.value) == (0, metrics["act_std_h2_init"])
    paths = write_report(sweep, tmp_path / "report")
    layers = pd.read_csv(paths["layers.csv"], dtype=str)
    assert list(layers[["init", "layer"]].itertuples(index=False, name=None)) == [
        ("zeros", "1"),
        ("zeros", "2"),
        ("large", "1"),
        ("large", "2"),
    ]
    # zeros: every activation 0 in both layers (tanh), no weights to amplify anything
    zeros = layers[layers["init"] == "zeros"]
    assert list(zeros["act std @init"]) == ["0", "0"]
    assert list(zeros["fan-in·w² @init"]) == ["0", "0"]
    # large (randn * 1): layer 1 reads 2 inputs (fan-in·w² near 2 over seeds), layer 2 reads 3
    large = sweep.runs[sweep.runs["init"] == "large"]
    values = large["fan_in_w2_h2_init"]
    expected = f"{values.median():.3g} [{values.min():.3g}–{values.max():.3g}]"
    assert layers.loc[layers["init"] == "large", "fan-in·w² @init"].iloc[1] == expected
    assert "| init | layer | fan-in·w² @init | act std @init |" in paths["layers.md"].read_text()
    # the figure: one panel per init, each with a line per layer, named in the legend
    assert set(sweep.layers["layer"]) == {1, 2}
    assert set(sweep.layers["run_id"]) == {large["run_id"].iloc[0], sweep.runs["run_id"].iloc[0]}
    fig = layer_grid(sweep.runs, sweep.layers, ["init"])
    assert [ax.get_title() for ax in fig.axes] == ["init=zeros", "init=large"]
    legends = [legend for ax in fig.axes if (legend := ax.get_legend()) is not None]
    assert len(legends) == 1
    assert [t.get_text() for t in legends[0].get_texts()] == ["layer 1", "layer 2"]
    for ax in fig.axes:  # a mean line per layer (and the edges of its band, unlabelled)
        assert [str(line.get_label()) for line in ax.get_lines()][::3] == ["layer 1", "layer 2"]
    assert paths["layers.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_hidden_layer_has_no_per_layer_report(recorded_sweep: RecordedSweep) -> None:
    sweep = load_sweep(recorded_sweep.uri)
    assert per_layer(sweep.runs, sweep.group_keys) is None
    assert sweep.layers.empty


def test_the_report_imports_mlflow_only_once_ctrl_c_is_handled() -> None:
    """Ctrl-C in the seconds MLflow takes to import printed a traceback (issue "Nothing
    lost, round four"): the command's module imports none of it, main() does after
    installing its handler; the package's names still import as before."""
    code = (
        "import sys, shallownet.report.cli\n"
        "print('mlflow' in sys.modules)\n"
        "import shallownet.report as r\n"
        "print(sorted(r.__all__) == sorted(r._HOME), [getattr(r, n).__name__ for n in r.__all__])\n"
    )
    first, second = python_out(code).splitlines()
    assert first == "False"
    assert second == (
        "True ['Sweep', 'comparison', 'load_sweep', 'per_run', 'readable', "
        "'steps_to_threshold', 'to_markdown']"
    )
