"""Naming: the key a user types for a sweep versus the run column that holds its value."""

from __future__ import annotations

# The override key a user types -> the run column that holds its value. For the
# plugin groups, the Hydra option chosen (init=small) is what names a row.
OVERRIDE_TO_COLUMN = {
    "init": "init_preset",
    "activation": "activation_preset",
    "model.hidden": "hidden",
    "model.dtype": "dtype",
    "train.learning_rate": "learning_rate",
    "train.iterations": "iterations",
    "train.diagnostics_every": "diagnostics_every",
}


def display_name(column: str) -> str:
    """The key a user typed for a run column (``init_preset`` -> ``init``)."""
    return {v: k for k, v in OVERRIDE_TO_COLUMN.items()}.get(column, column)
