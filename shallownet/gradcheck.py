"""Gradient checking: the backward pass against central differences of the cost."""

from __future__ import annotations

import numpy as np

from .network import Array, Network, backward, cost, forward


def numerical_gradients(net: Network, X: Array, Y: Array, eps: float = 1e-6) -> dict[str, Array]:
    """dJ/dθ for every parameter θ by central differences: (J(θ + ε) - J(θ - ε)) / 2ε."""
    X, Y = net.check_data(X, Y)
    grads: dict[str, Array] = {}
    for key, theta in net.params.items():
        approx = np.zeros_like(theta, dtype=np.float64)
        for idx in np.ndindex(theta.shape):
            original = theta[idx]
            theta[idx] = original + eps
            J_plus = cost(forward(net.params, X, net.g)[0][-1], Y)
            theta[idx] = original - eps
            J_minus = cost(forward(net.params, X, net.g)[0][-1], Y)
            theta[idx] = original
            approx[idx] = (J_plus - J_minus) / (2 * eps)
        grads["d" + key] = approx
    return grads


def gradient_check(net: Network, X: Array, Y: Array, eps: float = 1e-6) -> float:
    """Largest relative error between the backward pass and central differences.

    For each parameter array, ``‖grad − approx‖ / (‖grad‖ + ‖approx‖)`` (the
    course's measure); the maximum over arrays is returned. Below about 1e-7
    the backward pass is right; above 1e-3 something is wrong. Use float64.
    """
    X, Y = net.check_data(X, Y)
    Z, A = forward(net.params, X, net.g)
    analytic = backward(net.params, Z, A, Y, net.g)
    numeric = numerical_gradients(net, X, Y, eps)
    worst = 0.0
    for key, approx in numeric.items():
        grad = analytic[key]
        denom = np.linalg.norm(grad) + np.linalg.norm(approx)
        if denom > 0:
            worst = max(worst, float(np.linalg.norm(grad - approx) / denom))
    return worst
