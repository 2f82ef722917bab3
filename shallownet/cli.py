"""The ``shallownet`` command: a Hydra app over ``conf/``.

    shallownet                      one run with the defaults (the course's network)
    shallownet -m                   the main study
    shallownet --help               groups, their options (every registered plugin) and examples

Each job: validate the config, open its MLflow run, train, record, and
return the final cost (what an optimizing sweeper would minimize). User
errors end in one line on stderr and exit code 2; nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import job
from .config import Settings, store_configs, validate
from .errors import USER_ERRORS, Abort, RunFailed, one_line
from .plugin_modules import ENV_VAR, absolutize, import_plugin_modules
from .progress import Progress
from .tracking.run import TrackedRun

log = logging.getLogger("shallownet")


def _git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def config_hash(params: dict[str, str]) -> str:
    """Identifies a configuration across sweeps (used to skip finished ones)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def _run_job(cfg: DictConfig) -> float:
    import_plugin_modules()  # worker processes of parallel launchers start here
    store_configs()
    hc = HydraConfig.get()
    launch = Path(hc.runtime.cwd)
    settings = validate(cfg, launch)
    multirun = hc.mode == RunMode.MULTIRUN
    overrides = [str(o) for o in hc.overrides.task]
    label = ",".join(overrides) or "defaults"
    data = job.load_data(settings)
    tracked = None
    if settings.tracking is not None:
        params = _params(settings)
        if settings.tracking.skip_finished:
            done = _finished_cost(settings, params, label)
            if done is not None:
                return done
        tracked = _open_run(settings, params, label, launch)
    callbacks = [Progress(label), *([tracked.metrics] if tracked is not None else [])]
    try:
        result = job.run(settings, callbacks, data=data)
    except KeyboardInterrupt:
        if tracked is not None:
            tracked.kill()
        raise
    except Exception as exc:  # a plugin or the data broke mid-run: record it, keep the sweep going
        reason = f"{type(exc).__name__}: {exc}"
        if tracked is not None:
            tracked.fail(reason)
        if not multirun:
            msg = f"{label}: run failed: {reason}"
            raise RunFailed(msg) from exc
        log.error("%s: FAILED: %s", label, reason)
        return math.nan

    status = result.status
    if tracked is not None:
        files = {
            "config.yaml": OmegaConf.to_yaml(cfg, resolve=True),
            "overrides.yaml": yaml.safe_dump(overrides),
        }
        status = tracked.finish(result, files, label)
    _report(settings, result, label, status, tracked.run_id if tracked is not None else None)
    if status == "FAILED" and not multirun:
        msg = f"{label}: {result.history.failure_reason}"
        raise RunFailed(msg)
    return result.history.final_cost


def _params(settings: Settings) -> dict[str, str]:
    from .tracking.run import settings_params

    choices = HydraConfig.get().runtime.choices
    return settings_params(
        settings,
        {"init_preset": choices.get("init"), "activation_preset": choices.get("activation")},
    )


def _finished_cost(settings: Settings, params: dict[str, str], label: str) -> float | None:
    """The final cost of an earlier FINISHED run of this very configuration, if any."""
    from mlflow.tracking import MlflowClient

    from .tracking.skip import find_finished
    from .tracking.store import prepare

    assert settings.tracking is not None
    experiment_id = prepare(settings.tracking)
    found = find_finished(MlflowClient(settings.tracking.uri), experiment_id, config_hash(params))
    if found is None:
        return None
    run_id, final_cost = found
    log.info("%s: skipped, already FINISHED as MLflow run %s", label, run_id)
    return final_cost


def _open_run(settings: Settings, params: dict[str, str], label: str, launch: Path) -> TrackedRun:
    from mlflow.tracking import MlflowClient

    from .tracking.hydra_callback import PARENT_ENV
    from .tracking.run import PARENT_TAG
    from .tracking.store import prepare

    assert settings.tracking is not None
    hc = HydraConfig.get()
    experiment_id = prepare(settings.tracking)
    tags = {
        "shallownet.overrides": label,
        "shallownet.config_hash": config_hash(params),
        "shallownet.output_dir": hc.runtime.output_dir,
    }
    parent = os.environ.get(PARENT_ENV)
    if hc.mode == RunMode.MULTIRUN and parent:
        tags[PARENT_TAG] = parent
        tags["shallownet.sweep_id"] = parent
        tags["shallownet.job_num"] = str(hc.job.num)
    commit = _git_commit(launch)
    if commit:
        tags["shallownet.git_commit"] = commit
    client = MlflowClient(settings.tracking.uri)
    return TrackedRun(client, experiment_id, settings, label, tags, params)


def _report(
    settings: Settings, result: job.JobResult, label: str, status: str, run_id: str | None
) -> None:
    text = f"{label}: {status}, final cost {result.history.final_cost:.6f}"
    if status == "FINISHED":
        text += f", train accuracy {result.train_accuracy:.4f}"
        if result.test_accuracy is not None:
            text += f", test accuracy {result.test_accuracy:.4f}"
    else:
        text += f" ({result.history.failure_reason})"
    if settings.tracking is not None and run_id is not None:
        text += f"; MLflow run {run_id} in {settings.tracking.uri}"
    log.info(text)
    if HydraConfig.get().mode != RunMode.MULTIRUN and settings.tracking is not None:
        from .tracking.store import ui_command

        log.info("  browse: %s", ui_command(settings.tracking.uri))


@hydra.main(config_path="pkg://shallownet.conf", config_name="config", version_base="1.3")
def app(cfg: DictConfig) -> float:
    """The Hydra task: one job."""
    return _run_job(cfg)


def main() -> None:
    """Console entry point: set up plugins, run the Hydra app, report user errors briefly."""
    user_wants_traces = bool(os.environ.get("HYDRA_FULL_ERROR"))
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us; we print them in one line
    try:
        if os.environ.get(ENV_VAR):
            os.environ[ENV_VAR] = absolutize(os.environ[ENV_VAR], Path.cwd())
        import_plugin_modules()
        store_configs()
        app()
    except KeyboardInterrupt:
        _interrupted()
        sys.exit(130)
    except Abort as exc:
        print(f"shallownet: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except USER_ERRORS as exc:
        if user_wants_traces:
            raise
        print(f"shallownet: error: {one_line(exc)}", file=sys.stderr)
        sys.exit(1 if isinstance(exc, RunFailed) else 2)


def _interrupted() -> None:
    """Ctrl-C: the running job marked itself KILLED; mark the sweep's parent run KILLED too."""
    from .tracking.hydra_callback import PARENT_ENV, PARENT_URI_ENV, end_parent_run

    parent = os.environ.pop(PARENT_ENV, None)
    uri = os.environ.pop(PARENT_URI_ENV, None)
    if parent and uri:
        end_parent_run(uri, parent, "KILLED")
    print("\nshallownet: interrupted", file=sys.stderr)


if __name__ == "__main__":
    main()
