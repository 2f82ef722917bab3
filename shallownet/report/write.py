"""A sweep's report written out: tables and figures in a folder, and attached to the
sweep's parent run (its artifacts under ``report/`` and its description)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient

from ..tracking.runs import retry
from ..vocabulary import NOTE_TAG, REPORT_FOLDER
from .frames import Sweep, load_sweep
from .tables import DEFAULT_THRESHOLD, per_layer, readable, to_markdown


def write_report(
    sweep: Sweep, out: Path, threshold: float = DEFAULT_THRESHOLD, figures: bool = True
) -> dict[str, Path]:
    """Write table.csv, table.md, runs.csv and (with ``figures``) cost_curves.png and
    summary.png for a sweep into ``out``; for networks of several hidden layers also
    layers.csv, layers.md and layers.png."""
    out.mkdir(parents=True, exist_ok=True)
    by = sweep.group_keys
    runs = sweep.per_run(threshold)
    table = sweep.table(threshold)
    paths = {name: out / name for name in ("table.csv", "table.md", "runs.csv")}
    table.to_csv(paths["table.csv"], index=False)
    runs.to_csv(paths["runs.csv"], index=False)
    paths["table.md"].write_text(to_markdown(readable(table, by, threshold)))
    layers = per_layer(sweep.runs, by)
    if layers is not None:  # several hidden layers: how they compare
        paths["layers.csv"], paths["layers.md"] = out / "layers.csv", out / "layers.md"
        layers.to_csv(paths["layers.csv"], index=False)
        paths["layers.md"].write_text(to_markdown(layers))
    if figures:
        paths["cost_curves.png"] = out / "cost_curves.png"
        paths["summary.png"] = out / "summary.png"
        sweep.cost_figure(threshold).savefig(paths["cost_curves.png"])
        sweep.summary_figure(threshold).savefig(paths["summary.png"])
        if (layer_figure := sweep.layers_figure()) is not None:
            paths["layers.png"] = out / "layers.png"
            layer_figure.savefig(paths["layers.png"])
    return paths


def headline(sweep: Sweep) -> str:
    """``init=zeros,small seed=0,1 (3 FINISHED, 1 KILLED)``."""
    counts = ", ".join(f"{n} {status}" for status, n in sweep.statuses.items())
    return f"{sweep.parent_name} ({counts})"


def best(sweep: Sweep) -> str | None:
    """For another sweeper's search (Optuna): its best FINISHED run, by what it optimized
    (``best: train.learning_rate=1.77: final_cost 0.3088 (optuna: minimize final_cost)``)."""
    if not sweep.search or "final_cost" not in sweep.runs:
        return None
    finished = sweep.runs[sweep.runs["status"] == "FINISHED"].dropna(subset=["final_cost"])
    if finished.empty:
        return None
    ordered = finished.sort_values("final_cost", ascending=" maximize " not in sweep.search)
    name, cost = ordered["run_name"].iloc[0], float(ordered["final_cost"].iloc[0])
    return f"best: {name}: final_cost {cost:.6g} ({sweep.search})"


def left_alone(sweep: Sweep) -> str | None:
    """The line saying which RUNNING runs of other hosts were left as they are, and why."""
    if not sweep.elsewhere:
        return None
    hosts = ", ".join(f"{host}: {n}" for host, n in sorted(sweep.elsewhere.items()))
    total = sum(sweep.elsewhere.values())
    return (
        f"left alone: {total} RUNNING run(s) of the experiment on other hosts ({hosts}), with "
        "no Slurm job that has ended: from here nothing tells whether their process still "
        "runs; shallownet-report on that host ends those whose process is gone"
    )


def incomplete(sweep: Sweep) -> str:
    """The line saying which jobs have no FINISHED run, and how to complete the study."""
    shown = ", ".join(sweep.unfinished[:10]) + (", ..." if len(sweep.unfinished) > 10 else "")
    return (
        f"incomplete: {len(sweep.unfinished)} of {len(sweep.runs) + len(sweep.missing)} "
        f"jobs have no FINISHED run ({shown}); the table's numbers are over FINISHED runs "
        f"only. To complete it, run the sweep again with tracking.skip_finished=true."
    )


def attach(client: MlflowClient, sweep: Sweep, paths: dict[str, Path]) -> None:
    """The report's files as the parent run's ``report/`` artifacts, and its table as the
    parent's description (shown on the run's page in the MLflow UI)."""
    for path in paths.values():
        retry(client.log_artifact, sweep.parent_id, str(path), REPORT_FOLDER)
    note = f"**{headline(sweep)}**\n\n"
    if (found := best(sweep)) is not None:
        note += f"{found}\n\n"
    note += paths["table.md"].read_text()
    if sweep.unfinished:
        note += f"\n{incomplete(sweep)}\n"
    retry(client.log_batch, sweep.parent_id, tags=[RunTag(NOTE_TAG, note[:5000])])


def attach_report(uri: str, experiment: str, parent_id: str, figures: bool) -> str | None:
    """At the end of a sweep: its report, written in a temporary folder and attached;
    the line to print with the sweep's last (a search's best run), if any."""
    sweep = load_sweep(uri, experiment, parent_id)
    with tempfile.TemporaryDirectory() as tmp:
        attach(MlflowClient(uri), sweep, write_report(sweep, Path(tmp), figures=figures))
    return best(sweep)
