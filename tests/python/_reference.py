"""Slow, independent reference computations for the numerical tests.

Everything here is dense linear algebra on small problems (T <= a few hundred) so it can be
trusted on its own: the kernel is rebuilt from its definition, the QP is solved by exact
active-set methods (Lawson-Hanson NNLS, BVLS), and nothing calls into the solver under test
except ``build_kernel`` for the FFT path, whose truncation *is* what that path uses.
"""

from __future__ import annotations

import calab
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import lsq_linear, nnls

F64 = NDArray[np.float64]


def _raw(tau_r: float, tau_d: float, fs: float, t: NDArray[np.int64]) -> F64:
    """d^t - r^t, written as -d^t expm1(-t ln(d/r)) so nearly equal time constants do not cancel."""
    ln_d = -1.0 / (tau_d * fs)
    ln_gap = 1.0 / (tau_r * fs) - 1.0 / (tau_d * fs)  # ln(d / r) > 0
    return -np.exp(t * ln_d) * np.expm1(-t * ln_gap)


def kernel_peak_raw(tau_r: float, tau_d: float, fs: float) -> float:
    k = np.arange(1, 50 * int(np.ceil(tau_d * fs)) + 10)
    return float(np.max(_raw(tau_r, tau_d, fs, k)))


def untruncated_kernel(tau_r: float, tau_d: float, fs: float, n: int) -> F64:
    """First n samples of the peak-normalised kernel, from the definition (no truncation)."""
    return _raw(tau_r, tau_d, fs, np.arange(n)) / kernel_peak_raw(tau_r, tau_d, fs)


def dc_gain(tau_r: float, tau_d: float, fs: float) -> float:
    """G_dc = sum of the infinite peak-normalised kernel: (d/(1-d) - r/(1-r)) / peak."""
    d = np.exp(-1.0 / (tau_d * fs))
    r = np.exp(-1.0 / (tau_r * fs))
    return float((d / (1 - d) - r / (1 - r)) / kernel_peak_raw(tau_r, tau_d, fs))


def conv_matrix(h: F64, n: int) -> F64:
    """Dense causal convolution matrix: (K s)[t] = sum_j h[t - j] s[j]."""
    K = np.zeros((n, n))
    m = min(len(h), n)
    for j in range(n):
        L = min(m, n - j)
        K[j : j + L, j] = h[:L]
    return K


def path_matrix(tau_r: float, tau_d: float, fs: float, n: int, *, truncated: bool) -> F64:
    """K as the FFT path uses it (kernel truncated at 1e-6 of the peak) or as the banded/exact
    path uses it (untruncated AR(2) impulse response)."""
    if truncated:
        h = calab.build_kernel(tau_r, tau_d, fs)
    else:
        h = untruncated_kernel(tau_r, tau_d, fs, n)
    return conv_matrix(h, n)


def objective(y: F64, K: F64, s: F64, mu: float) -> float:
    """1/2 ||P (y - K s)||^2 + mu * sum(s): the problem with the optimal baseline eliminated."""
    r = y - K @ s
    r = r - r.mean()
    return float(0.5 * r @ r + mu * s.sum())


def gradient(y: F64, K: F64, s: F64, mu: float) -> F64:
    r = y - K @ s
    r = r - r.mean()
    return -(K.T @ r) + mu


def reference_solution(y: F64, K: F64, mu: float, box: bool) -> F64:
    """Exact minimiser of the baseline-eliminated QP over s >= 0 (or 0 <= s <= 1).

    The last activity sample cannot influence the trace (h[0] = 0), so it is 0 at the optimum
    (mu > 0) or irrelevant (mu = 0, box); it is dropped. A = P K[:, :-1] then has full column
    rank (no column combination is constant, since row 0 of K[:, :-1] is zero), so the linear
    term mu * 1 equals A^T c for c = A (A^T A)^{-1} mu 1 and the problem becomes the bounded least
    squares ||A s - (P y - c)||^2, solved exactly by an active-set method.
    """
    n = len(y)
    P = np.eye(n) - 1.0 / n
    A = P @ K[:, : n - 1]
    b = P @ y
    if mu:
        b = b - A @ np.linalg.solve(A.T @ A, np.full(n - 1, mu))
    if box:
        s = lsq_linear(A, b, bounds=(0.0, 1.0), method="bvls", tol=1e-15).x
    else:
        s, _ = nnls(A, b, maxiter=100 * n)
        # Cross-check the reference against a second active-set solver.
        s2 = lsq_linear(A, b, bounds=(0.0, np.inf), method="bvls", tol=1e-15).x
        assert np.max(np.abs(s - s2)) <= 1e-6 * max(1.0, float(np.max(s)))
    return np.append(s, 0.0)


def spike_train(rng: np.random.Generator, n: int, p: float = 0.08) -> F64:
    return (rng.random(n) < p) * (1.0 + rng.random(n))


def binned_corr(a: F64, b: F64, fs: float, width_s: float = 0.2) -> float:
    """Pearson r of two series after summing into bins of ``width_s`` seconds."""
    w = max(1, int(round(width_s * fs)))
    n = len(a) // w * w
    A = a[:n].reshape(-1, w).sum(axis=1)
    B = b[:n].reshape(-1, w).sum(axis=1)
    return float(np.corrcoef(A, B)[0, 1])
