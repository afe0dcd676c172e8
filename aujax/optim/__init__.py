"""Optimisation: batched non-negative least squares, projected gradient and exact active set
(DESIGN §5)."""

from ._nnls import (
    METHODS as METHODS,
    NNLSResult as NNLSResult,
    default_tolerance as default_tolerance,
    lipschitz_constant as lipschitz_constant,
    nnls as nnls,
)
