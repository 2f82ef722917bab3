"""Tracking: every run recorded in MLflow (runs, metrics, artifacts, the sweep's view).

Importing this package sets, unless the user set them, how MLflow behaves for
shallownet (read when MLflow is first imported, so before any module here imports it):

- MLflow's telemetry is off: shallownet sends nothing anywhere, and MLflow then starts
  no background thread, so the batched launcher can fork its workers;
- MLflow's HTTP client gives up a refused connection after 3 retries and 30 s, not
  minutes (the reachability check answers in seconds before that);
- MLflow draws no progress bar of its own when the report reads an artifact.
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
