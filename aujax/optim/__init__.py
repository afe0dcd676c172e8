"""Optimisation: batched non-negative least squares, projected gradient and exact active set
(DESIGN §5), and its solution differentiated through the KKT conditions."""

from ._implicit import nnls_implicit as nnls_implicit
from ._nnls import (
    METHODS as METHODS,
    NNLSResult as NNLSResult,
    default_tolerance as default_tolerance,
    lipschitz_constant as lipschitz_constant,
    nnls as nnls,
)
