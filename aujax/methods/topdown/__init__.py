"""Top-down AU engine of seed 000 (§2.1, eqs. 1-4): landmarks -> AU levels and blendshape coefficients."""

from ._engine import (
    SubjectNeutral as SubjectNeutral,
    TopDownEngine as TopDownEngine,
    TopDownResult as TopDownResult,
)
