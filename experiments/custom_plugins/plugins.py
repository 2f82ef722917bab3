"""Two plugins of your own, visible to the command line without touching shallownet.

    SHALLOWNET_PLUGINS=experiments/custom_plugins/plugins.py \
        shallownet -m experiment=custom_plugins

Importing this module registers them; SHALLOWNET_PLUGINS makes the command
line (and every worker process of a parallel launcher) import it first.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

import shallownet as sn


@sn.initializers.register("orthogonal")
def orthogonal(
    shape: tuple[int, int], rng: np.random.Generator, gain: float = 1.0
) -> NDArray[np.float64]:
    """Saxe et al. 2014: W = gain * Q, with Q from the QR decomposition of a Gaussian matrix.

    Rows (or columns, whichever are fewer) are orthonormal, so no two hidden units start alike.
    """
    fan_out, fan_in = shape
    A = rng.standard_normal((max(shape), min(shape)))
    Q, R = np.linalg.qr(A)
    Q = Q * np.sign(np.diag(R))  # make the decomposition unique (uniform over orthogonal matrices)
    W: NDArray[np.float64] = gain * (Q if fan_out >= fan_in else Q.T)
    return W


sn.activations.register(
    "softsign",
    sn.Activation(
        forward=lambda z: z / (1 + np.abs(z)),  # like tanh, but with polynomial tails
        derivative=lambda z, a: 1 / (1 + np.abs(z)) ** 2,
        saturated=lambda z, a: np.abs(a) > 0.99,
    ),
)
