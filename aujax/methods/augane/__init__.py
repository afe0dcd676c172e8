"""Seed 003: AU-aware 3D face reconstruction (AUGANE): AU detector features and a global encoder
feature as graph nodes -> graph attention -> transformer with a query token -> expression, pose and
camera, trained with AU-aware losses through a differentiable renderer.

* :mod:`~aujax.methods.augane._landmark_groups` — Table 1's AU -> landmark groups remapped to
  iBUG-68 (plus DISFA's AUs 17, 25, 26) and our 23 configural distances of eq. 6;
* :mod:`~aujax.methods.augane._losses` — eqs. 4-8, one function per equation;
* :mod:`~aujax.methods.augane._gane` — :class:`GANE` (eqs. 1-3 and the query-token heads).
"""

from ._gane import GANE as GANE, GANEOutput as GANEOutput
from ._landmark_groups import (
    CONFIGURAL_DISTANCES as CONFIGURAL_DISTANCES,
    EXTRA_ROWS as EXTRA_ROWS,
    INTER_OCULAR as INTER_OCULAR,
    TABLE1 as TABLE1,
    ConfiguralDistance as ConfiguralDistance,
    LandmarkGroup as LandmarkGroup,
    au_group_matrix as au_group_matrix,
    au_landmark_groups as au_landmark_groups,
    configural_distances as configural_distances,
)
from ._losses import (
    LOSS_WEIGHTS as LOSS_WEIGHTS,
    REGULARIZER_WEIGHTS as REGULARIZER_WEIGHTS,
    au_feature_loss as au_feature_loss,
    au_landmark_loss as au_landmark_loss,
    au_relative_distance_loss as au_relative_distance_loss,
    parameter_regularizer as parameter_regularizer,
    project_landmarks as project_landmarks,
    total_loss as total_loss,
)
