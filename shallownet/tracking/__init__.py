"""Tracking: every run recorded in MLflow (runs, metrics, artifacts, the sweep's view).

Importing this package sets, unless the user set them, how MLflow behaves for
shallownet (read when MLflow is first imported, so before any module here imports it):

- MLflow's telemetry is off: shallownet sends nothing anywhere, and MLflow then starts
  no background thread, so the batched launcher can fork its workers;
- MLflow's HTTP client waits at most 8 s for an answer and retries once (MLflow's
  defaults are 120 s and 7 retries): a sweep on a server that stops answering gives up
  within 30 s (measured 17-21 s: the first process to find it gone waits out the retry,
  the others are told, ``runs.note_unreachable``; 269 s with 30 s and 3 retries), and
  the reachability check answers in seconds before a sweep starts;
- MLflow draws no progress bar of its own when the report reads an artifact.
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
HTTP_TIMEOUT = "8"  # seconds: also how long the reachability check waits (store.answer_seconds)
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
