"""Hydra launcher plugin ``hydra/launcher=batched``: sweeps of small networks trained together."""
