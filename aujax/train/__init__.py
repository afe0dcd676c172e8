"""Training, checkpoints and evaluation metrics (DESIGN §8): one loop for every experiment.

* :mod:`~aujax.train._metrics` — frame-based F1 with 9s skipped, ICC(3,1), MAE, MSE (REFERENCE §3);
* :mod:`~aujax.train._force_metrics` — estimated muscle activity against the truth on what the
  physics identifies (per AU synergy, per bilateral pair, null-space-invariant error);
* :mod:`~aujax.train._reconstruction` — 3D reconstruction errors of seed 004: depth RMSE (eq. 14),
  mean vertex distance (eq. 15), central-face regions, alignment, CED curves, grouped tables;
* :mod:`~aujax.train._osvr` — ordinal support vector regression (Zhao et al., CVPR 2016), a linear
  model solved to a certified optimum by dual coordinate descent; seed 002's OSVR judge;
* :mod:`~aujax.train._person` — person-specific normalisation (a subject's percentile per feature);
* :mod:`~aujax.train._thresholds` — per-AU thresholds of continuous scores chosen on training rows;
* :mod:`~aujax.train._losses` — the masked AU loss every detector trains with;
* :mod:`~aujax.train._inputs` — uint8 crops to the image networks' float input;
* :mod:`~aujax.train._parallel` — the ``'data'`` device mesh, replicated state, sharded batches;
* :mod:`~aujax.train._state` / :mod:`~aujax.train._step` — the NNX model as a pure
  :class:`TrainState` and the jitted data-parallel step;
* :mod:`~aujax.train._adversarial` — several players (generator, discriminators), each with its
  own optimizer, in one :class:`AdversarialState` and one jitted step for :func:`train_loop`;
* :mod:`~aujax.train._arrays` — shuffled minibatches of in-memory arrays, checkpointable;
* :mod:`~aujax.train._checkpoint` — orbax-checkpoint V1 periodic and best checkpoints;
* :mod:`~aujax.train._log` / :mod:`~aujax.train._loop` — ``metrics.jsonl`` and the resumable loop;
* :mod:`~aujax.train._runs` — what experiments share around the loop: optimizer, run seeds,
  train-or-restore, batched prediction, run log and result tables;
* :mod:`~aujax.train._protocol` — the protocol of a run: workdir, folds with validation subjects,
  one directory per model trained or restored with its time logged, fold-averaged F1 tables,
  result files.
"""

from ._adversarial import (
    AdversarialState as AdversarialState,
    create_adversarial_state as create_adversarial_state,
    make_adversarial_step as make_adversarial_step,
)
from ._arrays import ArrayLoader as ArrayLoader
from ._checkpoint import (
    CheckpointError as CheckpointError,
    Checkpoints as Checkpoints,
    Restored as Restored,
)
from ._force_metrics import (
    ForceScores as ForceScores,
    bilateral_pairs as bilateral_pairs,
    force_scores as force_scores,
    pearson as pearson,
    signed_projection as signed_projection,
    synergy_coordinates as synergy_coordinates,
)
from ._inputs import crops_to_float as crops_to_float
from ._log import MetricsLog as MetricsLog, read_metrics as read_metrics
from ._loop import train_loop as train_loop
from ._losses import au_loss as au_loss, masked_mean as masked_mean
from ._metrics import (
    NOT_CODED as NOT_CODED,
    F1Counts as F1Counts,
    f1_counts as f1_counts,
    f1_from_counts as f1_from_counts,
    f1_score as f1_score,
    fold_mean as fold_mean,
    geometry_errors as geometry_errors,
    icc31 as icc31,
    intensity_metrics as intensity_metrics,
    table_f1 as table_f1,
)
from ._osvr import (
    OSVR as OSVR,
    fit_osvr as fit_osvr,
    ordinal_pairs_from_labels as ordinal_pairs_from_labels,
    ordinal_pairs_from_segments as ordinal_pairs_from_segments,
)
from ._parallel import (
    DATA_AXIS as DATA_AXIS,
    batch_sharding as batch_sharding,
    data_mesh as data_mesh,
    initialize as initialize,
    replicate as replicate,
    replicated_sharding as replicated_sharding,
    shard_batch as shard_batch,
)
from ._person import person_quantile as person_quantile
from ._protocol import (
    Report as Report,
    Run as Run,
    Split as Split,
    SubjectFolds as SubjectFolds,
    au_header as au_header,
    fold_f1_lines as fold_f1_lines,
)
from ._reconstruction import (
    ALIGNMENTS as ALIGNMENTS,
    align_prediction as align_prediction,
    ced as ced,
    central_face_mask as central_face_mask,
    depth_rmse as depth_rmse,
    error_table_csv as error_table_csv,
    error_table_markdown as error_table_markdown,
    grouped_errors as grouped_errors,
    mean_vertex_distance as mean_vertex_distance,
    reconstruction_errors as reconstruction_errors,
    vertex_distances as vertex_distances,
)
from ._runs import (
    RunLog as RunLog,
    check_run_config as check_run_config,
    csv_table as csv_table,
    fit_or_restore as fit_or_restore,
    markdown_table as markdown_table,
    predict_in_batches as predict_in_batches,
    run_seed as run_seed,
    use_compilation_cache as use_compilation_cache,
    warmup_cosine_adamw as warmup_cosine_adamw,
)
from ._state import (
    TrainState as TrainState,
    create_train_state as create_train_state,
    model_of as model_of,
    split_rest as split_rest,
)
from ._step import make_eval_step as make_eval_step, make_train_step as make_train_step
from ._thresholds import LevelThresholds as LevelThresholds, choose_thresholds as choose_thresholds
