"""The store's vocabulary: every tag, artifact path, role and metric name shallownet writes
to MLflow or reads back. Tracking writes with these names, the report reads with them,
and nothing else spells them (plain constants: no MLflow, no Hydra).
"""

from __future__ import annotations

from .diagnostics import layer_suffix

# -- tags: MLflow's own ---------------------------------------------------------------
PARENT_TAG = "mlflow.parentRunId"  # a job's run under its sweep's parent run
NOTE_TAG = "mlflow.note.content"  # a run's (or the experiment's) description in the UI
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # the UI opens the experiment on its runs
EXPERIMENT_KIND = "custom_model_development"  # (not on its GenAI traces view)
SHARE_TAG_PREFIX = "mlflow.sharedViewState."  # an experiment tag holding a saved view

# -- tags: shallownet's ---------------------------------------------------------------
ROLE_TAG = "shallownet.role"  # on a sweep's parent run: SWEEP_ROLE
SWEEP_ROLE = "sweep"
VERSION_TAG = "shallownet.version"
CONFIG_HASH_TAG = "shallownet.config_hash"  # a job's configuration (Settings.config_hash)
SWEEP_HASH_TAG = "shallownet.sweep_hash"  # a sweep's configurations (to resume it)
JOB_NUM_TAG = "shallownet.job_num"  # a job's number in its sweep
OVERRIDES_TAG = "shallownet.overrides"
OUTPUT_DIR_TAG = "shallownet.output_dir"
SWEEP_DIR_TAG = "shallownet.sweep_dir"
GIT_COMMIT_TAG = "shallownet.git_commit"
HOST_TAG = "shallownet.host"  # the host and process that own a RUNNING run
PROCESS_TAG = "shallownet.process"  # "<pid>:<start time>"
SLURM_JOB_TAG = "shallownet.slurm_job"  # the Slurm job that owns a run: "9_0" (array 9, task 0)
REASON_TAG = "failure_reason"  # why a run ended FAILED or KILLED
SEARCH_TAG = (
    "shallownet.search"  # a parent run of another sweeper's search: "optuna: minimize final_cost"
)
CHILDREN_TAG = "children_{}"  # on a parent run: children_finished, _failed, _killed

# -- artifacts -------------------------------------------------------------------------
HISTORY_ARTIFACT = "history.csv"  # every step of a run, at full resolution
CONFIG_ARTIFACT = "config.yaml"  # a job's resolved config
OVERRIDES_ARTIFACT = "overrides.yaml"  # a job's overrides, as Hydra writes them
FIGURES_FOLDER = "figures"  # a run's PNGs (and its computation graph)
JOBS_ARTIFACT = "sweep/jobs.json"  # a sweep's planned jobs (num, label, config_hash)
REPORT_FOLDER = "report"  # a sweep's tables and figures, on its parent run

# -- queries ---------------------------------------------------------------------------
MAX_RESULTS = 50_000  # runs a search returns at most (MLflow's own limit)

# -- metrics ---------------------------------------------------------------------------
COST = "cost"  # the curve: cost[step] before update step
FINAL_COST = "final_cost"  # the cost after the last update
# Diagnostics also recorded as one value at the first and last step (``sat_frac_init``, ...)
SUMMARIZED = (
    "sat_frac",
    "dead_frac",
    "mean_gprime",
    "out_sat_frac",
    "distinct_units",
    "sym_rel_spread",
    "fan_in_w2",
)
# ... and, in a network of several hidden layers, these per layer (``sat_frac_h2_init``,
# ``grad_norm/W1_init``, ...): how saturation and gradients differ with depth
SUMMARIZED_PER_LAYER = ("sat_frac", "dead_frac", "mean_gprime", "act_std", "fan_in_w2")


def summary_names(layers: int) -> list[str]:
    """The diagnostics summarized at the first and last step in a network of ``layers``
    layers (hidden layers and the output), first-layer names first."""
    names = list(SUMMARIZED)
    if layers > 2:
        per_layer = [
            f"{key}{layer_suffix(l)}" for l in range(1, layers) for key in SUMMARIZED_PER_LAYER
        ]
        names += [name for name in per_layer if name not in names]
        names += [f"grad_norm/W{l}" for l in range(1, layers + 1)]
    return names


# The curves in the order they tell the story (the view's charts): learning, symmetry,
# saturation, accuracy, then each layer's gradient norm, then the finer diagnostics.
CURVES = (
    COST,
    "distinct_units",
    "sat_frac",
    "dead_frac",  # relu's, where it has one
    "mean_gprime",
    "train_accuracy",
    "test_accuracy",
)
FINER = ("sym_rel_spread", "out_sat_frac", "sym_max_pair_dist", "act_mean", "act_std", "fan_in_w2")
# The lessons at a glance: the first charts of a sweep's view, bars of the group averages
# (saturation at initialization; symmetry: 1 distinct unit).
LESSONS = ("sat_frac_init", "distinct_units_final")
# One value per run, shown as bars of the group averages in the view.
SUMMARIES = (
    FINAL_COST,
    "distinct_units_final",
    "sat_frac_init",
    "train_accuracy_final",
    "test_accuracy_final",
)
# The view's table columns after the swept params.
COLUMNS = (FINAL_COST, "distinct_units_final", "sat_frac_init", "train_accuracy_final")

# The report's comparison: column -> (heading, the run metric it summarizes; None: the
# report computes it from the cost curve)
REPORTED: dict[str, tuple[str, str | None]] = {
    "final_cost": ("final cost", FINAL_COST),
    "train_accuracy": ("train acc", "train_accuracy_final"),
    "test_accuracy": ("test acc", "test_accuracy_final"),
    "steps_to_threshold": ("steps to cost<{t}", None),
    "distinct_units": ("distinct units", "distinct_units_final"),
    "fan_in_w2_init": ("fan-in·w² @init", "fan_in_w2_init"),
    "sat_frac_init": ("sat frac @init", "sat_frac_init"),
    "dead_frac_init": ("dead frac @init", "dead_frac_init"),
    "mean_gprime_init": ("mean g' @init", "mean_gprime_init"),
}

# per-layer table: heading -> the runs-frame column ({s}: the layer's metric suffix, {l}: its
# number), as recorded for networks of several hidden layers (summary_names)
LAYER_COLUMNS = {
    "fan-in·w² @init": "fan_in_w2{s}_init",
    "act std @init": "act_std{s}_init",
    "act std @final": "act_std{s}_final",
    "sat frac @init": "sat_frac{s}_init",
    "sat frac @final": "sat_frac{s}_final",
    "dead frac @init": "dead_frac{s}_init",
    "dead frac @final": "dead_frac{s}_final",
    "grad norm W @init": "grad_norm/W{l}_init",
}
