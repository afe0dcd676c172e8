"""The command-line tools: the NumPy force reference in CI; every tool's --quick run as `slow`."""

import jax.numpy as jnp
import numpy as np
import pytest

import aujax.face as F
import aujax.physics as P
from tools._numpy_reference import NumpySkin


def test_numpy_reference_matches_jax_forces():
    face = F.make_face(500)
    muscles = F.make_muscles(face)
    system = P.build_spring_mass(
        face.vertices,
        face.triangles,
        face.bone_weights,
        params=P.SkinParams(biphasic_ratio=3.0, biphasic_strain=0.01),
    )
    rng = np.random.default_rng(0)
    u = rng.normal(size=(face.n_vertices, 3)) * 0.05
    v = rng.normal(size=(face.n_vertices, 3))
    a = np.abs(rng.normal(size=muscles.n_muscles))
    want = P.internal_forces(system, jnp.asarray(u), jnp.asarray(v)) + P.muscle_forces(
        muscles.distribution, muscles.directions, jnp.asarray(a)
    )
    got = NumpySkin(system, muscles.distribution, muscles.directions).forces(u, v, a)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["render_face", "gradcheck", "verify_reduction", "bench"])
def test_tool_quick(tool, tmp_path):
    import importlib

    mod = importlib.import_module(f"tools.{tool}")
    argv = ["--quick"]
    if tool == "render_face":
        argv += ["--out", str(tmp_path)]
    if tool == "bench":
        argv = ["physics", "--quick"]
    code = mod.main(argv)
    if tool == "bench":  # speed goals are measured, not asserted; the run must complete
        assert code in (0, 1)
    else:
        assert code == 0


def test_make_synthetic_rejects_bad_arguments(tmp_path, capsys):
    from tools import make_synthetic

    with pytest.raises(SystemExit) as e:
        make_synthetic.main(["--layout", "affectnet", "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
def test_make_synthetic_tiny(tmp_path):
    from aujax.datasets import list_bp4d_sequences
    from tools import make_synthetic

    assert (
        make_synthetic.main(["--layout", "bp4d", "--preset", "tiny", "--out", str(tmp_path)]) == 0
    )
    assert len(list_bp4d_sequences(tmp_path)) == 24
