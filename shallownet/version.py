"""shallownet's version: its one home (pyproject.toml reads it; runs record it)."""

__version__ = "0.1.0"
