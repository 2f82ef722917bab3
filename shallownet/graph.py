"""A small computation graph: reverse-mode autodiff on scalars and numpy arrays.

Every operation computes its value and, right beside it, its local backward
rule: how the gradient arriving at its output flows to each input (the chain
rule, one node at a time). ``backward()`` visits the nodes in reverse
topological order so each node's gradient is complete before it is passed on.

    >>> a, b, c = Var(5.0), Var(3.0), Var(2.0)
    >>> J = 3 * (a + b * c)        # u = bc, v = a + u, J = 3v
    >>> J.backward()
    >>> J.value, a.grad, b.grad, c.grad
    (33.0, 3.0, 6.0, 9.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from .network import Network

Value = Any  # a float or an ndarray


def _unbroadcast(grad: Value, shape: tuple[int, ...]) -> Value:
    """Sum a gradient over the axes numpy broadcast, back to the input's shape."""
    grad = np.asarray(grad)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad if shape else float(grad)


class Var:
    """A node of the graph: a value, the gradient of the output with respect to it,
    and how it was made."""

    __array_ufunc__ = None  # so that ``ndarray * Var`` defers to Var.__rmul__

    def __init__(
        self,
        value: Value,
        parents: tuple[Var, ...] = (),
        op: str = "",
        label: str = "",
    ) -> None:
        self.value: Value = value if np.ndim(value) else float(value)
        self.grad: Value = np.zeros_like(value, dtype=float) if np.ndim(value) else 0.0
        self.parents = parents
        self.op = op
        self.label = label
        self._backward: Callable[[], None] = lambda: None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.value))

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Var({name}value={self.value}, grad={self.grad})"

    def _accumulate(self, grad: Value) -> None:
        self.grad = self.grad + _unbroadcast(grad, self.shape)

    # -- arithmetic -----------------------------------------------------------

    def __add__(self, other: Var | Value) -> Var:
        other = _lift(other)
        out = Var(self.value + other.value, (self, other), "+")

        def _backward() -> None:  # d(x + y) = dx + dy
            self._accumulate(out.grad)
            other._accumulate(out.grad)

        out._backward = _backward
        return out

    def __mul__(self, other: Var | Value) -> Var:
        other = _lift(other)
        out = Var(self.value * other.value, (self, other), "*")

        def _backward() -> None:  # d(xy) = y dx + x dy
            self._accumulate(other.value * out.grad)
            other._accumulate(self.value * out.grad)

        out._backward = _backward
        return out

    def __pow__(self, k: float) -> Var:
        out = Var(self.value**k, (self,), f"**{k}")

        def _backward() -> None:  # d(x^k) = k x^(k-1) dx
            self._accumulate(k * self.value ** (k - 1) * out.grad)

        out._backward = _backward
        return out

    def __matmul__(self, other: Var | Value) -> Var:
        other = _lift(other)
        out = Var(self.value @ other.value, (self, other), "@")

        def _backward() -> None:  # d(XY) = dX Y + X dY  ->  G Yᵀ and Xᵀ G
            self._accumulate(out.grad @ np.swapaxes(other.value, -1, -2))
            other._accumulate(np.swapaxes(self.value, -1, -2) @ out.grad)

        out._backward = _backward
        return out

    def __neg__(self) -> Var:
        return self * -1.0

    def __sub__(self, other: Var | Value) -> Var:
        return self + (-_lift(other))

    def __truediv__(self, other: Var | Value) -> Var:
        return self * _lift(other) ** -1

    def __radd__(self, other: Value) -> Var:
        return _lift(other) + self

    def __rsub__(self, other: Value) -> Var:
        return _lift(other) - self

    def __rmul__(self, other: Value) -> Var:
        return _lift(other) * self

    def __rtruediv__(self, other: Value) -> Var:
        return _lift(other) / self

    def __rmatmul__(self, other: Value) -> Var:
        return _lift(other) @ self

    # -- elementwise functions ------------------------------------------------

    def exp(self) -> Var:
        out = Var(np.exp(self.value), (self,), "exp")

        def _backward() -> None:  # d e^x = e^x dx
            self._accumulate(out.value * out.grad)

        out._backward = _backward
        return out

    def log(self) -> Var:
        out = Var(np.log(self.value), (self,), "log")

        def _backward() -> None:  # d log x = dx / x
            self._accumulate(out.grad / self.value)

        out._backward = _backward
        return out

    def tanh(self) -> Var:
        out = Var(np.tanh(self.value), (self,), "tanh")

        def _backward() -> None:  # d tanh x = (1 - tanh² x) dx
            self._accumulate((1 - out.value**2) * out.grad)

        out._backward = _backward
        return out

    def sigmoid(self) -> Var:
        out = Var(1 / (1 + np.exp(-self.value)), (self,), "sigmoid")

        def _backward() -> None:  # d σ(x) = σ(x)(1 - σ(x)) dx
            self._accumulate(out.value * (1 - out.value) * out.grad)

        out._backward = _backward
        return out

    def relu(self) -> Var:
        out = Var(np.maximum(self.value, 0), (self,), "relu")

        def _backward() -> None:  # d max(x, 0) = [x > 0] dx
            self._accumulate((np.asarray(self.value) > 0) * out.grad)

        out._backward = _backward
        return out

    def apply(
        self, g: Callable[[Value], Value], dg: Callable[[Value, Value], Value], name: str = "g"
    ) -> Var:
        """An elementwise function given by its value g(x) and derivative dg(x, g(x))."""
        out = Var(g(self.value), (self,), name)

        def _backward() -> None:  # d g(x) = g'(x) dx
            self._accumulate(dg(self.value, out.value) * out.grad)

        out._backward = _backward
        return out

    # -- reductions -----------------------------------------------------------

    def sum(self) -> Var:
        out = Var(float(np.sum(self.value)), (self,), "sum")

        def _backward() -> None:  # every element contributes with weight 1
            self._accumulate(np.ones(self.shape) * out.grad)

        out._backward = _backward
        return out

    def mean(self) -> Var:
        return self.sum() / float(np.size(self.value))

    # -- backpropagation ------------------------------------------------------

    def topological_order(self) -> list[Var]:
        """Every node this one depends on, each after all of its parents."""
        order: list[Var] = []
        seen: set[int] = set()
        stack: list[tuple[Var, bool]] = [(self, False)]
        while stack:  # iterative depth-first search: deep graphs do not hit the recursion limit
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents if id(p) not in seen)
        return order

    def backward(self) -> None:
        """Fill ``.grad`` of every node with d(self)/d(node); self must be a scalar."""
        if np.ndim(self.value) != 0:
            msg = f"backward() starts from a scalar output, got shape {self.shape}; use .sum()"
            raise ValueError(msg)
        order = self.topological_order()
        for node in order:
            node.grad = np.zeros_like(node.value, dtype=float) if node.shape else 0.0
        self.grad = 1.0  # dJ/dJ
        # Reverse topological order: a node's gradient is complete before it flows on.
        for node in reversed(order):
            node._backward()

    def to_dot(self, direction: str = "LR") -> str:
        """The graph in Graphviz dot syntax (render with ``dot -Tpng``); inputs first,
        left to right (``"LR"``) or top to bottom (``"TB"``)."""
        lines = ["digraph G {", f"  rankdir={direction};"]
        for node in self.topological_order():
            value = describe(node.value)
            name = f"{node.label} | " if node.label else ""
            lines.append(
                f'  n{id(node)} [shape=record, label="{{ {name}value {value} | '
                f'grad {describe(node.grad)} }}"];'
            )
            if node.op:
                lines.append(f'  n{id(node)}op [label="{node.op}"];')
                lines.append(f"  n{id(node)}op -> n{id(node)};")
                lines.extend(f"  n{id(p)} -> n{id(node)}op;" for p in node.parents)
        lines.append("}")
        return "\n".join(lines)


def _lift(x: Var | Value) -> Var:
    return x if isinstance(x, Var) else Var(x)


def describe(value: Value) -> str:
    """A scalar to 4 digits; an array by its shape and norm (its size, for a gradient)."""
    if np.ndim(value) == 0:
        return f"{float(value):.4g}"
    return f"{tuple(np.shape(value))} norm {float(np.linalg.norm(value)):.4g}"


def variables(arrays: dict[str, NDArray[Any]]) -> dict[str, Var]:
    """Wrap named arrays as labelled graph leaves."""
    return {name: Var(np.array(a, dtype=float), label=name) for name, a in arrays.items()}


def network_cost(
    params: dict[str, Var], X: NDArray[Any], Y: NDArray[Any], g: Callable[[Var], Var]
) -> Var:
    """The network's forward pass and naive cross-entropy, built as a graph.

    ``g`` maps a Var to a Var (e.g. ``Var.tanh``). ``backward()`` on the result
    fills ``params[...].grad`` with the same gradients the hand-written backward
    pass computes, found here purely by the chain rule.
    """
    L = len(params) // 2
    A: Var = Var(X, label="X")
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        Z.label = f"Z{l}"
        A = g(Z) if l < L else Z.sigmoid()
        A.label = f"A{l}" if A is not Z else f"Z{l} = A{l}"  # identity: one node
    J = -(A.log() * Y + (1 - A).log() * (1 - Y)).mean()
    J.label = "J"
    return J


def network_graph(net: Network, X: NDArray[Any], Y: NDArray[Any]) -> tuple[Var, dict[str, Var]]:
    """The cost of ``net`` on (X, Y) as a graph, after ``backward()``: (J, its parameters).

    The hidden layers use the network's own activation (its g and g'); every other
    derivative comes from the graph's rules. ``params["W1"].grad`` then equals
    ``net.gradients(X, Y)["dW1"]``, found by the chain rule alone.
    """
    g = net.g
    params = variables(net.params)
    J = network_cost(params, X, Y, lambda z: z.apply(g, g.grad, net.activation))
    J.backward()
    return J, params
