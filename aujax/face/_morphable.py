r"""The 3D morphable model of seed 002 (eqs. 1-2) and the PCA that builds it.

Shape and albedo are linear in their coefficients,

.. math::
    p = \bar p + A_{id} x_{id} + A_{exp} x_{exp} \quad (1), \qquad
    b = \bar b + A_{alb} x_{alb} \quad (2),

with the principal axes as orthonormal columns and one standard deviation per axis (the prior:
``x_k ~ N(0, std_k^2)``, the Mahalanobis term of the parameter fits). The paper takes ``A_id``
and ``A_alb`` from the Basel Face Model (100 dimensions each) and ``A_exp`` from FaceWarehouse
(79 dimensions, "trained on the offsets between the expression meshes and the neutral meshes of
individual persons"). Here everything comes from one FaceWarehouse layout (real, or the synthetic
copy of :func:`aujax.synth.generate_facewarehouse`), read by :func:`aujax.datasets.read_facewarehouse`
(:meth:`MorphableModel.from_facewarehouse`):

- **identity**: PCA of the subjects' neutral meshes (expression 0), centred: ``p_bar`` is their
  mean and ``A_id`` the leading axes (at most ``n_subjects - 1`` of them; default all that carry
  variance, capped at BFM's 100). The synthetic subjects vary in the template's 20 identity modes
  (:func:`aujax.face.identity_basis`), so about 20 axes carry all of their variance; BFM's shape
  space is 199-dimensional from 200 scans.
- **expression**: PCA of the offsets ``expression mesh - the same subject's neutral`` over all
  subjects and expressions, **uncentred** (the SVD of the offsets themselves, the principal axes of
  their second moment about zero), so that ``x_exp = 0`` is every subject's own neutral face and
  the prior pulls toward the neutral, as the CAAE's neutral sources and the deformation maps of
  figs. 6-8 need. (A centred PCA would put FaceWarehouse's average expression, a blend of all its
  blendshapes, at ``x_exp = 0``.) 79 dimensions by default, capped by the data's numerical rank:
  ``n_subjects * (n_expressions - 1)`` offsets, and the expressions of the synthetic copy span no
  more than what its muscles can do.
- **albedo**: FaceWarehouse's textures are not read, and the synthetic copy has none; the albedo
  samples are passed in, or drawn as the generators draw their subjects' skin
  (:func:`template_albedos`: tone ~ U(0, 1) and :func:`aujax.face.skin_albedo`, per-vertex RGB on
  the template's topology). Centred PCA as for the identity; the first axis is the skin tone, the
  others the smooth blotches. This is a statistical model of the synthetic world's skin (as BFM's
  albedo comes from other people than FaceWarehouse's expressions), not the albedo of particular
  FaceWarehouse subjects: fit a subject's albedo with :meth:`MorphableModel.albedo_coefficients`.
- **landmarks**: the 68 iBUG points as fixed barycentric combinations of three vertices each
  (``landmark_indices`` (68, 3) and ``landmark_weights`` (68, 3)): a template's embedding
  (``FaceTemplate.landmark_triangles`` / ``landmark_barycentric``, the one the synthetic data's
  landmarks come from), or plain vertex indices (weights ``(1, 0, 0)``). Landmarks are thus linear
  in the coefficients (:meth:`MorphableModel.landmark_bases`); DISFA's 66 and BP4D's 49 are the
  subsets of :func:`aujax.face.landmark_subset` (``scheme=66`` / ``49``).

Coefficients are in the data's length unit (cm for the synthetic copy): ``x_k`` is the projection
on the unit axis ``k``, so ``std_k`` is in cm too (albedo: reflectance units).

**PCA** (:func:`pca`): the thin SVD of the (centred) data matrix ``X = U S V^T``; the components
are the rows of ``V^T`` with the sign that makes each one's largest-magnitude entry positive
(deterministic; ties to the first); ``explained_variance = S^2 / (m - 1)`` for a centred PCA (scikit-learn's
convention) and ``S^2 / m`` (the second moment) for an uncentred one.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._checks import as_float, check_finite
from ._identity import skin_albedo
from ._landmarks import LANDMARK_SCHEMES
from ._npz import check_shapes, read_model_npz
from ._template import FaceTemplate


__all__ = ["PCA", "MorphableModel", "pca", "template_albedos"]

#: Singular values below this fraction of the largest count as zero (the data's numerical rank).
#: The FaceWarehouse layout stores float32: rounding leaves singular values near 1e-6 of the
#: largest, far below this threshold, and real shape variation far above it.
RANK_RTOL = 1e-5

#: The default cap of the identity and albedo dimensions (the paper's 100 BFM dimensions).
MAX_ID = 100

#: Standard-deviation floor, relative to the largest of the same basis: an axis without variance
#: (a component kept beyond the data's rank) still gets a finite prior precision.
_STD_FLOOR = 1e-4

#: The array fields :meth:`MorphableModel.save` writes.
_FIELDS = (
    "mean_shape",
    "id_basis",
    "id_std",
    "exp_basis",
    "exp_std",
    "albedo_mean",
    "albedo_basis",
    "albedo_std",
    "landmark_indices",
    "landmark_weights",
    "triangles",
)


class PCA(NamedTuple):
    """A principal component analysis (:func:`pca`).

    Attributes:
        mean: (d,) the data mean (zeros for an uncentred PCA).
        components: (k, d) orthonormal principal axes, decreasing variance, each with its
            largest-magnitude entry positive.
        explained_variance: (k,) variance along each axis (``S^2 / (m - 1)`` centred,
            ``S^2 / m`` uncentred).
        singular_values: (k,) the singular values ``S`` of the (centred) data matrix.
    """

    mean: Float[Array, " d"]
    components: Float[Array, "k d"]
    explained_variance: Float[Array, " k"]
    singular_values: Float[Array, " k"]

    def transform(self, x: Float[ArrayLike, "m d"]) -> Float[Array, "m k"]:
        """Scores ``(x - mean) V^T`` of rows of ``x`` (scikit-learn's ``PCA.transform``)."""
        x = jnp.asarray(x, self.components.dtype)
        return (x - self.mean[None, :]) @ self.components.T

    def inverse_transform(self, z: Float[ArrayLike, "m k"]) -> Float[Array, "m d"]:
        """Rows ``mean + z V`` back in data space."""
        z = jnp.asarray(z, self.components.dtype)
        return z @ self.components + self.mean[None, :]


def pca(data: Float[ArrayLike, "m d"], *, n_components: int, center: bool = True) -> PCA:
    """Principal component analysis by the thin SVD of the (centred) data matrix.

    Args:
        data: (m, d) samples in rows, finite; m >= 2 when centred.
        n_components: axes kept, 1..min(m, d).
        center: subtract the mean first (scikit-learn's PCA); False: the axes of the second moment
            about zero (the SVD of the data itself, scikit-learn's TruncatedSVD).

    Returns:
        :class:`PCA` (in the data's floating dtype).

    Raises:
        ValueError: a data array that is not 2-D, non-finite, too small, or ``n_components`` out
            of range.
    """
    x = as_float(data, "data")
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"data must have shape (m, d) with d >= 1, got {x.shape}.")
    check_finite(x, "data")
    m, d = x.shape
    if m < (2 if center else 1):
        raise ValueError(f"data must hold at least {2 if center else 1} samples, got {m}.")
    top = min(m, d)
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise ValueError(f"n_components must be an int, got {n_components!r}.")
    if not 1 <= n_components <= top:
        raise ValueError(
            f"n_components must be in 1..{top} (min of {m} samples and {d} features), "
            f"got {n_components}."
        )
    out = _pca(np.asarray(x, np.float64), int(n_components), bool(center))
    return PCA(*(jnp.asarray(a, x.dtype) for a in out))


def _pca(x: np.ndarray, n_components: int, center: bool) -> tuple[np.ndarray, ...]:
    """:func:`pca` on validated float64 host data (a model is built once: NumPy, no compile)."""
    m, d = x.shape
    mean = x.mean(axis=0) if center else np.zeros(d)
    _, sv, vt = np.linalg.svd(x - mean[None, :], full_matrices=False)
    comps = vt[:n_components]
    pivot = comps[np.arange(n_components), np.argmax(np.abs(comps), axis=1)]
    comps = comps * np.where(pivot < 0, -1.0, 1.0)[:, None]
    sv = sv[:n_components]
    return mean, comps, np.square(sv) / (m - 1 if center else m), sv


def _numerical_rank(s: Array) -> int:
    s = np.asarray(s)
    return int(np.sum(s > RANK_RTOL * s[0])) if s.size and s[0] > 0 else 0


def template_albedos(
    face: FaceTemplate, n_samples: int, *, key: PRNGKeyArray
) -> Float[Array, "n_samples n 3"]:
    """Skin albedos drawn as the synthetic generators draw their subjects' skin.

    Tone ~ U(0, 1) and :func:`aujax.face.skin_albedo` (light-to-dark base, redder lips, darker
    brows, smooth blotches) with one key per sample: the distribution of
    :func:`aujax.synth.subject_physique`'s albedos (not the same draws).

    Args:
        face: the template (its topology and parameter plane).
        n_samples: number of albedos, >= 1.
        key: PRNG key.

    Returns:
        (n_samples, n_vertices, 3) RGB albedos in [0, 1].
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}.")
    k_tone, k_alb = jax.random.split(key)
    tones = jax.random.uniform(k_tone, (int(n_samples),), dtype=face.vertices.dtype)
    keys = jax.random.split(k_alb, int(n_samples))
    return _albedo_sampler(face)(tones, keys)


_SAMPLERS: list = []  # (template, compiled sampler), the last few templates


def _albedo_sampler(face: FaceTemplate):
    """``skin_albedo`` vmapped and jitted over (tone, key) with the template closed over (it reads
    the template's regions on the host, so the template cannot be traced); cached per template
    object, so repeated draws compile once."""
    for known, fn in _SAMPLERS:
        if known is face:
            return fn
    fn = jax.jit(jax.vmap(lambda t, k: skin_albedo(face, t, key=k)))
    _SAMPLERS[:] = [*_SAMPLERS[-3:], (face, fn)]
    return fn


@struct.dataclass
class MorphableModel:
    r"""The 3DMM of seed 002: shape (eq. 1), albedo (eq. 2) and the landmark embedding.

    Build it with :meth:`from_facewarehouse`; evaluate one example with :meth:`vertices`,
    :meth:`albedo`, :meth:`landmarks` (``jax.vmap`` for batches). Bases hold orthonormal columns
    (over the flattened ``n_vertices * 3`` entries); coefficients are scores in the data's unit.

    Attributes:
        mean_shape: (n, 3) ``p_bar``, the mean neutral face.
        id_basis: (n, 3, n_id) ``A_id``.
        id_std: (n_id,) prior standard deviation of each ``x_id`` entry.
        exp_basis: (n, 3, n_exp) ``A_exp`` (uncentred: ``x_exp = 0`` is the neutral).
        exp_std: (n_exp,) root mean square of each ``x_exp`` entry over the training offsets.
        albedo_mean: (n, 3) ``b_bar``, RGB.
        albedo_basis: (n, 3, n_alb) ``A_alb``.
        albedo_std: (n_alb,) prior standard deviation of each ``x_alb`` entry.
        landmark_indices: (68, 3) the three vertices of each iBUG-68 landmark.
        landmark_weights: (68, 3) their barycentric weights (rows sum to 1).
        triangles: (f, 3) the mesh's triangles (0-based; may be empty).
    """

    mean_shape: Float[Array, "n 3"]
    id_basis: Float[Array, "n 3 n_id"]
    id_std: Float[Array, " n_id"]
    exp_basis: Float[Array, "n 3 n_exp"]
    exp_std: Float[Array, " n_exp"]
    albedo_mean: Float[Array, "n 3"]
    albedo_basis: Float[Array, "n 3 n_alb"]
    albedo_std: Float[Array, " n_alb"]
    landmark_indices: Int[Array, "68 3"]
    landmark_weights: Float[Array, "68 3"]
    triangles: Int[Array, "f 3"]

    @property
    def n_vertices(self) -> int:
        return int(self.mean_shape.shape[0])

    @property
    def n_id(self) -> int:
        return int(self.id_basis.shape[2])

    @property
    def n_exp(self) -> int:
        return int(self.exp_basis.shape[2])

    @property
    def n_alb(self) -> int:
        return int(self.albedo_basis.shape[2])

    # ------------------------------------------------------------------------------ evaluation

    def vertices(
        self, x_id: Float[ArrayLike, " n_id"], x_exp: Float[ArrayLike, " n_exp"]
    ) -> Float[Array, "n 3"]:
        r"""The shape ``p = p_bar + A_id x_id + A_exp x_exp`` (eq. 1 of seed 002).

        Args:
            x_id: (n_id,) identity coefficients.
            x_exp: (n_exp,) expression coefficients.

        Returns:
            (n_vertices, 3) vertices.
        """
        x_id, x_exp = (
            self._coefficients(x_id, "x_id", self.n_id),
            self._coefficients(x_exp, "x_exp", self.n_exp),
        )
        return self.mean_shape + self.id_basis @ x_id + self.exp_basis @ x_exp

    def albedo(self, x_alb: Float[ArrayLike, " n_alb"]) -> Float[Array, "n 3"]:
        r"""The albedo ``b = b_bar + A_alb x_alb`` (eq. 2 of seed 002), not clipped.

        Args:
            x_alb: (n_alb,) albedo coefficients.

        Returns:
            (n_vertices, 3) RGB albedo (the renderer expects [0, 1]: clip for extreme ``x_alb``).
        """
        x_alb = self._coefficients(x_alb, "x_alb", self.n_alb)
        return self.albedo_mean + self.albedo_basis @ x_alb

    def landmarks(
        self,
        x_id: Float[ArrayLike, " n_id"],
        x_exp: Float[ArrayLike, " n_exp"],
        *,
        scheme: int = 68,
    ) -> Float[Array, "k 3"]:
        """The 3D landmarks of the shape of eq. 1 (the 68 iBUG points or a subset).

        Args:
            x_id: (n_id,) identity coefficients.
            x_exp: (n_exp,) expression coefficients.
            scheme: 68, 66 (DISFA: without 60 and 64) or 49 (BP4D).

        Returns:
            (scheme, 3) landmarks.
        """
        mean, a_id, a_exp = self.landmark_bases(scheme=scheme)
        x_id, x_exp = (
            self._coefficients(x_id, "x_id", self.n_id),
            self._coefficients(x_exp, "x_exp", self.n_exp),
        )
        return mean + a_id @ x_id + a_exp @ x_exp

    def landmark_bases(
        self, *, scheme: int = 68
    ) -> tuple[Float[Array, "k 3"], Float[Array, "k 3 n_id"], Float[Array, "k 3 n_exp"]]:
        """Eq. 1 restricted to the landmarks: ``l = mean + A_id x_id + A_exp x_exp``.

        Args:
            scheme: 68, 66 (DISFA) or 49 (BP4D) points (:data:`aujax.face.LANDMARK_SCHEMES`).

        Returns:
            ``(mean (k, 3), A_id (k, 3, n_id), A_exp (k, 3, n_exp))``, k = ``scheme``.
        """
        if scheme not in LANDMARK_SCHEMES:
            raise ValueError(f"scheme must be one of {sorted(LANDMARK_SCHEMES)}, got {scheme!r}.")
        rows = np.asarray(LANDMARK_SCHEMES[scheme])
        idx, w = self.landmark_indices[rows], self.landmark_weights[rows]

        def embed(field):  # (n, 3, ...) -> (k, 3, ...)
            return jnp.einsum("kj,kj...->k...", w.astype(field.dtype), field[idx])

        return embed(self.mean_shape), embed(self.id_basis), embed(self.exp_basis)

    def shape_coefficients(
        self, vertices: Float[ArrayLike, "n 3"]
    ) -> tuple[Float[Array, " n_id"], Float[Array, " n_exp"]]:
        """``(x_id, x_exp)`` whose shape (eq. 1) is closest to ``vertices`` (least squares).

        The two bases are orthonormal each but not mutually orthogonal: the joint least-squares
        solution (minimum norm where they share directions).

        Args:
            vertices: (n_vertices, 3) a mesh on the model's topology.

        Returns:
            ``(x_id (n_id,), x_exp (n_exp,))``.
        """
        v = as_float(vertices, "vertices", self.mean_shape.dtype)
        if v.shape != self.mean_shape.shape:
            raise ValueError(f"vertices must have shape {self.mean_shape.shape}, got {v.shape}.")
        basis = jnp.concatenate([self.id_basis, self.exp_basis], axis=2).reshape(
            -1, self.n_id + self.n_exp
        )
        x = jnp.linalg.lstsq(basis, (v - self.mean_shape).reshape(-1))[0]
        return x[: self.n_id], x[self.n_id :]

    def albedo_coefficients(self, albedo: Float[ArrayLike, "n 3"]) -> Float[Array, " n_alb"]:
        """``x_alb`` whose albedo (eq. 2) is closest to ``albedo``: ``A_alb^T (albedo - b_bar)``.

        Args:
            albedo: (n_vertices, 3) RGB albedo on the model's topology (e.g. a synthetic
                subject's skin).

        Returns:
            (n_alb,) coefficients.
        """
        b = as_float(albedo, "albedo", self.albedo_mean.dtype)
        if b.shape != self.albedo_mean.shape:
            raise ValueError(f"albedo must have shape {self.albedo_mean.shape}, got {b.shape}.")
        return jnp.einsum("ncj,nc->j", self.albedo_basis, b - self.albedo_mean)

    def _coefficients(self, x, name: str, k: int) -> Array:
        x = jnp.asarray(x, self.mean_shape.dtype)
        if x.shape != (k,):
            raise ValueError(f"{name} must have shape ({k},), got {x.shape}.")
        return x

    # ---------------------------------------------------------------------------- construction

    @classmethod
    def from_facewarehouse(
        cls,
        data,
        *,
        n_exp: int = 79,
        n_id: int | None = None,
        n_alb: int | None = None,
        template: FaceTemplate | None = None,
        landmarks: Int[ArrayLike, " 68"]
        | tuple[Int[ArrayLike, " 68"], Float[ArrayLike, "68 3"]]
        | None = None,
        albedo: Float[ArrayLike, "m n 3"] | None = None,
        key: PRNGKeyArray | None = None,
    ) -> "MorphableModel":
        """Builds the model from a FaceWarehouse layout (module docstring for the choices).

        Args:
            data: a :class:`aujax.datasets.FaceWarehouseData` (``read_facewarehouse``'s output):
                (n_subjects, n_expressions, n_vertices, 3) meshes, the neutral first; at least 2
                subjects and 2 expressions.
            n_exp: expression dimensions (paper: 79), capped by the data's numerical rank (the
                model's ``n_exp`` says what was kept).
            n_id: identity dimensions, 1..n_subjects - 1; default: all that carry variance, at
                most 100 (:data:`MAX_ID`).
            n_alb: albedo dimensions, 1..n_albedo_samples - 1; default as ``n_id``.
            template: the procedural template the data was generated on (``make_face`` at the
                generator's ``n_vertices`` and seed): its landmark embedding and, unless
                ``albedo`` is given, ``data.n_subjects`` albedo samples
                (:func:`template_albedos`). It must have the data's vertex count (and triangles,
                when the data has some).
            landmarks: the 68 iBUG points instead: (68,) vertex indices, or
                ``(triangles (68,), barycentric (68, 3))`` into the data's (or template's) faces.
            albedo: (m, n_vertices, 3) albedo samples (m >= 2) instead of the template's.
            key: the key of the template's albedo draws (default ``jax.random.key(template.seed)``).

        Returns:
            The :class:`MorphableModel`, in JAX's default float dtype.

        Raises:
            ValueError: a data array of the wrong shape or with fewer than 2 subjects or
                expressions, mismatched vertex counts (template, albedo, landmark indices), too
                few subjects (or albedo samples) for ``n_id`` (``n_alb``), no landmark embedding
                or no albedo source.
        """
        v = np.asarray(getattr(data, "vertices", data))
        if v.ndim != 4 or v.shape[3] != 3 or v.shape[2] == 0:
            raise ValueError(
                "data.vertices must have shape (n_subjects, n_expressions, n_vertices, 3), "
                f"got {v.shape}."
            )
        n_subjects, n_expressions, n_vertices, _ = v.shape
        if n_subjects < 2 or n_expressions < 2:
            raise ValueError(
                "data must hold at least 2 subjects (identity PCA) and 2 expressions (the neutral "
                f"and one expression), got {n_subjects} subjects x {n_expressions} expressions."
            )
        faces = getattr(data, "faces", None)
        if template is not None:
            if not isinstance(template, FaceTemplate):
                raise ValueError(f"template must be a FaceTemplate, got {type(template).__name__}.")
            if template.n_vertices != n_vertices:
                raise ValueError(
                    f"template has {template.n_vertices} vertices, the data {n_vertices}: not the "
                    "template the data was generated on (make_face at the generator's n_vertices)."
                )
            tri = np.asarray(template.triangles)
            if faces is not None and not np.array_equal(np.asarray(faces), tri):
                raise ValueError("template's triangles differ from the data's faces.")
            faces = tri
        faces = np.zeros((0, 3), np.int64) if faces is None else np.asarray(faces, np.int64)
        lm_idx, lm_w = _landmark_embedding(landmarks, template, faces, n_vertices)
        if albedo is None:
            if template is None:
                raise ValueError(
                    "albedo: FaceWarehouseData carries no albedo; pass albedo=(m, n_vertices, 3) "
                    "samples or the template to draw them from."
                )
            if key is None:
                key = jax.random.key(template.seed)
            albedo = template_albedos(template, n_subjects, key=key)
        alb = np.asarray(albedo)
        if alb.ndim != 3 or alb.shape[1:] != (n_vertices, 3):
            raise ValueError(
                f"albedo must have shape (m, {n_vertices}, 3) (the data's vertex count), got "
                f"{alb.shape}."
            )
        if alb.shape[0] < 2:
            raise ValueError(f"albedo must hold at least 2 samples, got {alb.shape[0]}.")
        v = v.astype(np.float64)
        alb = alb.astype(np.float64)
        for name, x in (("data.vertices", v), ("albedo", alb)):
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{name} contains NaN or inf values.")
        if isinstance(n_exp, bool) or not isinstance(n_exp, int | np.integer) or n_exp < 1:
            raise ValueError(f"n_exp must be an int >= 1, got {n_exp!r}.")
        neutral = v[:, 0].reshape(n_subjects, -1)
        alb = alb.reshape(alb.shape[0], -1)
        offsets = (v[:, 1:] - v[:, :1]).reshape(n_subjects * (n_expressions - 1), -1)
        n_id = _dimension("n_id", n_id, n_subjects - 1, neutral, "subjects")
        n_alb = _dimension("n_alb", n_alb, alb.shape[0] - 1, alb, "albedo samples")
        exp_pca = _pca(offsets, min(offsets.shape), False)
        rank = _numerical_rank(exp_pca[3])
        if rank == 0:
            raise ValueError("data: every expression equals its subject's neutral (no offsets).")
        n_exp = min(int(n_exp), rank)
        exp_pca = (exp_pca[0],) + tuple(a[:n_exp] for a in exp_pca[1:])
        id_pca, alb_pca = _pca(neutral, n_id, True), _pca(alb, n_alb, True)
        dtype = jnp.result_type(float)
        return cls(
            mean_shape=jnp.asarray(id_pca[0].reshape(n_vertices, 3), dtype),
            id_basis=_basis(id_pca, n_vertices, dtype),
            id_std=_std(id_pca, dtype),
            exp_basis=_basis(exp_pca, n_vertices, dtype),
            exp_std=_std(exp_pca, dtype),
            albedo_mean=jnp.asarray(alb_pca[0].reshape(n_vertices, 3), dtype),
            albedo_basis=_basis(alb_pca, n_vertices, dtype),
            albedo_std=_std(alb_pca, dtype),
            landmark_indices=jnp.asarray(lm_idx),
            landmark_weights=jnp.asarray(lm_w, dtype),
            triangles=jnp.asarray(faces),
        )

    # ------------------------------------------------------------------------------------- I/O

    def save(self, path) -> None:
        """Writes the model to an ``.npz`` file (plain arrays, no pickle)."""
        np.savez(path, **{name: np.asarray(getattr(self, name)) for name in _FIELDS})

    @classmethod
    def load(cls, path) -> "MorphableModel":
        """Reads a model written by :meth:`save` (pickles are refused).

        Raises:
            ValueError: naming the file, when it is not such an ``.npz`` or its arrays disagree.
        """
        a = read_model_npz(path, "MorphableModel", _FIELDS)
        n = a["mean_shape"].shape[0]
        expected = {
            "mean_shape": (n, 3),
            "id_basis": (n, 3, None),
            "exp_basis": (n, 3, None),
            "albedo_mean": (n, 3),
            "albedo_basis": (n, 3, None),
            "landmark_indices": (68, 3),
            "landmark_weights": (68, 3),
            "triangles": (None, 3),
        }
        check_shapes(path, a, expected)
        for std, basis in (("id_std", "id_basis"), ("exp_std", "exp_basis"),
                           ("albedo_std", "albedo_basis")):  # fmt: skip
            if a[std].shape != (a[basis].shape[2],):
                raise ValueError(
                    f"{path}: {std} has shape {a[std].shape}, expected ({a[basis].shape[2]},)."
                )
        return cls(**{name: jnp.asarray(value) for name, value in a.items()})


def _dimension(name: str, value, top: int, data: Array, what: str) -> int:
    """The number of axes of a centred PCA: ``value`` checked against ``top``, or the default."""
    if value is None:
        x = np.asarray(data, np.float64)
        s = np.linalg.svd(x - x.mean(axis=0, keepdims=True), compute_uv=False)
        return max(1, min(_numerical_rank(s), top, MAX_ID))
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an int >= 1 or None, got {value!r}.")
    if value > top:
        raise ValueError(
            f"{name}={value} needs at least {value + 1} {what}, got {top + 1} (a centred PCA of "
            f"m {what} has at most m - 1 axes)."
        )
    return int(value)


def _basis(p: tuple[np.ndarray, ...], n_vertices: int, dtype) -> Array:
    """(k, 3n) components of a :func:`_pca` -> (n, 3, k) basis."""
    return jnp.asarray(np.transpose(p[1].reshape(-1, n_vertices, 3), (1, 2, 0)), dtype)


def _std(p: tuple[np.ndarray, ...], dtype) -> Array:
    """Floored standard deviations of a :func:`_pca`'s axes."""
    std = np.sqrt(np.maximum(p[2], 0.0))
    return jnp.asarray(np.maximum(std, _STD_FLOOR * std.max() + np.finfo(np.float64).tiny), dtype)


def _landmark_embedding(landmarks, template, faces: np.ndarray, n_vertices: int):
    """(68, 3) vertex indices and (68, 3) weights of the 68 iBUG landmarks."""
    if landmarks is None:
        if template is None:
            raise ValueError(
                "landmarks: pass the 68 iBUG landmarks' vertex indices (68,), a (triangles (68,), "
                "barycentric (68, 3)) embedding, or the template."
            )
        landmarks = (template.landmark_triangles, template.landmark_barycentric)
    if isinstance(landmarks, tuple | list) and len(landmarks) == 2:
        tri, bary = np.asarray(landmarks[0]), np.asarray(landmarks[1], np.float64)
        if tri.shape != (68,) or not np.issubdtype(tri.dtype, np.integer):
            raise ValueError(f"landmarks: triangles must be (68,) integers, got {tri.shape}.")
        if bary.shape != (68, 3) or not np.all(np.isfinite(bary)):
            raise ValueError(f"landmarks: barycentric must be finite (68, 3), got {bary.shape}.")
        if not len(faces):
            raise ValueError("landmarks: a barycentric embedding needs the mesh's faces.")
        if tri.min() < 0 or tri.max() >= len(faces):
            raise ValueError(f"landmarks: triangle indices must lie in 0..{len(faces) - 1}.")
        idx, w = faces[tri], bary
    else:
        vid = np.asarray(landmarks)
        if vid.shape != (68,) or not np.issubdtype(vid.dtype, np.integer):
            raise ValueError(
                f"landmarks must be (68,) vertex indices or (triangles, barycentric), got "
                f"{vid.dtype} {vid.shape}."
            )
        idx = np.stack([vid, vid, vid], axis=1)
        w = np.tile(np.array([1.0, 0.0, 0.0]), (68, 1))
    if idx.min() < 0 or idx.max() >= n_vertices:
        raise ValueError(f"landmarks: vertex indices must lie in 0..{n_vertices - 1}.")
    return idx.astype(np.int32), w
