"""A plain NumPy implementation of the spring-mass forces, the reference for `tools.bench physics`.

It computes exactly what `aujax.physics.internal_forces` + `muscle_forces` compute (same springs,
anchors, dashpots, biphasic law, hinge bending), with `np.bincount` scatters — idiomatic,
vectorised NumPy in the arrays' own dtype.
"""

import numpy as np


class NumpySkin:
    """The skin's arrays as NumPy, with a `forces(u, v, activations)` method."""

    def __init__(self, system, distribution, directions):
        self.rest = np.asarray(system.rest)
        self.i = np.asarray(system.springs[:, 0])
        self.j = np.asarray(system.springs[:, 1])
        self.rest_length = np.asarray(system.rest_length)
        self.stiffness = np.asarray(system.stiffness)
        self.damping = np.asarray(system.damping)
        self.anchor_k = np.asarray(system.anchor_stiffness)
        self.anchor_c = np.asarray(system.anchor_damping)
        self.eps0 = float(system.biphasic_strain)
        self.ratio = float(system.biphasic_ratio)
        self.hinges = np.asarray(system.hinges)
        self.hinge_w = np.asarray(system.hinge_weights)
        self.hinge_k = np.asarray(system.hinge_stiffness)
        self.P = np.asarray(distribution)
        self.d = np.asarray(directions)
        self.n = self.rest.shape[0]

    def _scatter(self, fs):
        out = np.empty((self.n, 3), dtype=fs.dtype)
        for c in range(3):
            out[:, c] = np.bincount(self.i, fs[:, c], self.n) - np.bincount(
                self.j, fs[:, c], self.n
            )
        return out

    def forces(self, u, v, activations):
        """Internal (elastic + dashpot + anchor) plus muscle forces, shape (n, 3)."""
        x = self.rest + u
        e = x[self.j] - x[self.i]
        length = np.sqrt(np.einsum("sk,sk->s", e, e))
        n_s = e / length[:, None]
        elong = length - self.rest_length
        excess = np.maximum(elong - self.eps0 * self.rest_length, 0.0)
        rate = np.einsum("sk,sk->s", v[self.j] - v[self.i], n_s)
        mag = self.stiffness * (elong + (self.ratio - 1.0) * excess) + self.damping * rate
        f = self._scatter(mag[:, None] * n_s)
        f -= self.anchor_k[:, None] * u + self.anchor_c[:, None] * v
        # hinge bending: E = sum_e 1/2 s_e |sum_k K_ek u_k|^2
        curv = self.hinge_k[:, None] * np.einsum("hk,hkc->hc", self.hinge_w, u[self.hinges])
        per = -(self.hinge_w[:, :, None] * curv[:, None, :]).reshape(-1, 3)
        idx = self.hinges.reshape(-1)
        for c in range(3):
            f[:, c] += np.bincount(idx, per[:, c], self.n)
        f += np.einsum("nm,nmk->nk", self.P * activations[None, :], self.d)
        return f
