"""Optimisation: batched projected-gradient non-negative least squares (DESIGN §5)."""

from ._nnls import (
    NNLSResult as NNLSResult,
    default_tolerance as default_tolerance,
    lipschitz_constant as lipschitz_constant,
    nnls as nnls,
)
