"""Shared helpers of the NNLS tests: random problems of a given conditioning, objective gaps."""

import numpy as np


def _rng(seed):
    return np.random.default_rng(seed)


def _objective(a, b, x, ridge=0.0):
    r = a @ x - b
    return 0.5 * float(r @ r) + 0.5 * ridge * float(x @ x)


def _gap(a, b, x, x_ref, ridge=0.0):
    """Relative objective gap of x against a reference solution (floored for f* ~ 0)."""
    f, f_ref = _objective(a, b, x, ridge), _objective(a, b, x_ref, ridge)
    return (f - f_ref) / max(f_ref, 1e-12 * (0.5 * float(b @ b) + 1e-300))


def _with_condition(rng, m, n, cond):
    u, _ = np.linalg.qr(rng.normal(size=(m, n)))
    v, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (u * np.geomspace(1.0, 1.0 / cond, n)[None]) @ v.T
