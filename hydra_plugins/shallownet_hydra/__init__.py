"""shallownet's Hydra plugins: the sweeper (``hydra/sweeper=shallownet``, what jobs run)
and the batched launcher (``hydra/launcher=batched``, where and how they run)."""
