"""Seed 002: AU-conditioned 3D expression synthesis (``python -m experiments.disfa_synthesis``).

3DMM expression parameters (:class:`aujax.face.MorphableModel`, eqs. 1-2) are extracted from the
DISFA-like landmarks, then generated from AU intensity labels by a conditional GAN (eqs. 3-5) and a
conditional adversarial autoencoder (eqs. 6-10) with soft labels (eq. 11) and the range regulariser
L_R; judged by SVR / OSVR on the parameters and by an image judge on renders.
"""

__all__: list[str] = []
