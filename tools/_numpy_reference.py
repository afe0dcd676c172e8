"""A plain NumPy implementation of the spring-mass forces, the reference for `tools.bench physics`.

It computes exactly what `aujax.physics.internal_forces` + `muscle_forces` compute (same springs,
anchors, dashpots, biphasic law, hinge bending) with the same algorithm and memory layout —
coordinate-major (3, s) spring arrays, `np.bincount` scatters, the muscle force field
``P[i, m] d[i, m]`` precomputed once as an (m, 3n) matrix — in the arrays' own dtype. Each of these
choices was measured to be the faster one for NumPy too (coordinate-major springs ~15 % faster than
(s, 3); the precomputed field turns a 9 ms contraction into a 0.3 ms matrix-vector product at
N = 30k), so the ratio the benchmark prints is against the strongest plain NumPy we have.
"""

import numpy as np


class NumpySkin:
    """The skin's arrays as NumPy, with a `forces(u, v, activations)` method."""

    def __init__(self, system, distribution, directions):
        self.rest_t = np.ascontiguousarray(np.asarray(system.rest).T)
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
        self.corners = self.hinges.reshape(-1)
        self.hinge_w = np.asarray(system.hinge_weights)
        self.hinge_k = np.asarray(system.hinge_stiffness)
        p, d = np.asarray(distribution), np.asarray(directions)
        self.field = np.ascontiguousarray(
            (p[:, :, None] * d).transpose(1, 0, 2).reshape(p.shape[1], -1)
        )
        self.n = self.rest_t.shape[1]

    def forces(self, u, v, activations):
        """Internal (elastic + dashpot + anchor) plus muscle forces, shape (n, 3)."""
        i, j, n = self.i, self.j, self.n
        x = self.rest_t + u.T
        vt = v.T
        d = x[:, j] - x[:, i]
        length = np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        inv = 1.0 / length
        elong = length - self.rest_length
        excess = np.maximum(elong - self.eps0 * self.rest_length, 0.0)
        dv = vt[:, j] - vt[:, i]
        rate = (dv[0] * d[0] + dv[1] * d[1] + dv[2] * d[2]) * inv
        mag = (self.stiffness * (elong + (self.ratio - 1.0) * excess) + self.damping * rate) * inv
        fs = mag * d
        # hinge bending: E = sum_e 1/2 s_e |sum_k K_ek u_k|^2
        curv = self.hinge_k * np.einsum("hk,chk->ch", self.hinge_w, u.T[:, self.hinges])
        per = -(self.hinge_w[None] * curv[:, :, None]).reshape(3, -1)
        f = np.empty((n, 3), dtype=u.dtype)
        for c in range(3):
            f[:, c] = (
                np.bincount(i, fs[c], n)
                - np.bincount(j, fs[c], n)
                + np.bincount(self.corners, per[c], n)
            )
        f -= self.anchor_k[:, None] * u + self.anchor_c[:, None] * v
        f += (activations @ self.field).reshape(n, 3)
        return f
