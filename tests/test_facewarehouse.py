"""FaceWarehouse layout (aujax.datasets) and the synthetic FaceWarehouse-like generator (aujax.synth)."""

import json
import re
import struct

import numpy as np
import pytest

from aujax.datasets import (
    FaceWarehouseData,
    list_facewarehouse_subjects,
    read_blendshapes,
    read_facewarehouse,
    read_facewarehouse_faces,
    read_facewarehouse_poses,
    write_blendshapes,
    write_facewarehouse,
    write_facewarehouse_poses,
)
from aujax.face import AU_IDS, make_face, muscle_names
from aujax.physics import SparseEquilibriumSolver, muscle_forces
from aujax.synth import (
    FACEWAREHOUSE_EXPRESSION_AUS,
    FACEWAREHOUSE_EXPRESSIONS,
    FACEWAREHOUSE_POSE_AUS,
    FACEWAREHOUSE_POSES,
    TEMPLATE_TAG,
    Cast,
    central_face_vertices,
    facewarehouse_activations,
    facewarehouse_landmark_embedding,
    facewarehouse_landmark_vertices,
    generate_facewarehouse,
    static_equilibria,
    template_model,
)


# ----------------------------------------------------------------------------- layout (NumPy only)


def _meshes(rng, n_subjects=2, n_shapes=4, n_vertices=7):
    v = rng.normal(scale=5.0, size=(n_subjects, n_shapes, n_vertices, 3)).astype(np.float32)
    v[0, 0, 0] = [-0.0, np.float32(1e-42), np.finfo(np.float32).max]  # sign, subnormal, extreme
    return v


def test_write_read_round_trip_is_bit_exact(tmp_path):
    v = _meshes(np.random.default_rng(0))
    faces = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    ids = write_facewarehouse(tmp_path, v, faces=faces, subject_ids=[3, "Tester_12"])
    assert ids == ("Tester_3", "Tester_12")
    data = read_facewarehouse(tmp_path)
    assert isinstance(data, FaceWarehouseData)
    assert data.subject_ids == ("Tester_3", "Tester_12")  # numeric order, not "Tester_12" first
    assert data.vertices.dtype == np.float32 and data.vertices.shape == v.shape
    np.testing.assert_array_equal(data.vertices.view(np.uint32), v.view(np.uint32))
    np.testing.assert_array_equal(data.faces, faces)
    # file -> arrays -> file is byte-identical too
    path = tmp_path / "Tester_3" / "Blendshape" / "shape.bs"
    again = tmp_path / "again" / "shape.bs"
    write_blendshapes(again, read_blendshapes(path), faces=faces)
    assert again.read_bytes() == path.read_bytes()
    # a subset, in the order asked
    sub = read_facewarehouse(tmp_path, subjects=[12, 3])
    assert sub.subject_ids == ("Tester_12", "Tester_3")
    np.testing.assert_array_equal(sub.vertices, v[::-1])


def test_shape_bs_bytes_follow_the_public_reader(tmp_path):
    """int32 nShapes, nVerts, nFaces (little-endian), then float32 B0..Bn, x y z per vertex."""
    v = _meshes(np.random.default_rng(1), n_subjects=1, n_shapes=3, n_vertices=5)[0]
    path = tmp_path / "shape.bs"
    write_blendshapes(path, v, faces=np.array([[0, 1, 2], [0, 2, 3], [1, 3, 4], [0, 1, 4]]))
    raw = path.read_bytes()
    assert struct.unpack("<iii", raw[:12]) == (2, 5, 4)
    assert len(raw) == 12 + 3 * 5 * 3 * 4
    assert raw[12:] == b"".join(struct.pack("<3f", *p) for shape in v for p in shape)
    assert (tmp_path / "shape_0.obj").is_file()  # the faces live in the OBJ beside it
    # a file built by hand (no faces, nFaces 0) reads back
    hand = tmp_path / "hand.bs"
    hand.write_bytes(struct.pack("<iii", 0, 2, 0) + struct.pack("<6f", 1, 2, 3, 4, 5, 6))
    np.testing.assert_array_equal(read_blendshapes(hand), [[[1, 2, 3], [4, 5, 6]]])


def test_real_style_obj_quads_are_split_like_the_public_readers(tmp_path):
    obj = tmp_path / "shape_0.obj"
    obj.write_text(
        "# quads with texture indices\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nf 1/1 2/2 3/3 4/4\nf 2//1 5//2 3//3\nf -1 -4 -3\n"
    )
    faces = read_facewarehouse_faces(obj, n_vertices=5)
    np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3], [1, 4, 2], [4, 1, 2]])
    with pytest.raises(ValueError, match=re.escape(str(obj)) + ".*5 vertices, expected 6"):
        read_facewarehouse_faces(obj, n_vertices=6)


def _bs(tmp_path, header, n_floats, *, value=0.5, extra=b""):
    path = tmp_path / "Tester_1" / "Blendshape" / "shape.bs"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        struct.pack("<iii", *header) + struct.pack(f"<{n_floats}f", *[value] * n_floats) + extra
    )
    return path


@pytest.mark.parametrize(
    "header, n_floats, value, extra, message",
    [
        ((1, 4, 2), 2 * 4 * 3 - 1, 0.5, b"", "truncated shape.bs.*need"),  # data cut short
        ((1, 4, 2), 2 * 4 * 3, 0.5, b"\0\0\0\0", "4 bytes after the data"),  # counts too small
        ((2, 4, 2), 2 * 4 * 3, 0.5, b"", "truncated shape.bs"),  # nShapes one too many
        ((-1, 4, 2), 0, 0.5, b"", "nShapes = -1, expected >= 0"),
        ((1, 0, 2), 0, 0.5, b"", "nVerts = 0, expected >= 1"),
        ((1, 4, -3), 2 * 4 * 3, 0.5, b"", "nFaces = -3, expected >= 0"),
        ((1, 4, 2), 2 * 4 * 3, float("nan"), b"", "non-finite coordinates.*shape 0"),
        ((1, 4, 2), 2 * 4 * 3, float("inf"), b"", "non-finite"),
    ],
)
def test_malformed_shape_bs_errors_name_the_file(tmp_path, header, n_floats, value, extra, message):
    path = _bs(tmp_path, header, n_floats, value=value, extra=extra)
    pattern = re.escape(str(path)) + ".*" + message
    with pytest.raises(ValueError, match=pattern):
        read_blendshapes(path)
    with pytest.raises(ValueError, match=pattern):
        read_facewarehouse(tmp_path)


def test_truncated_header_and_trailing_bytes_option(tmp_path):
    path = tmp_path / "shape.bs"
    path.write_bytes(struct.pack("<ii", 1, 4))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*header.*needs 12 bytes.*has 8"):
        read_blendshapes(path)
    path.write_bytes(struct.pack("<iii", 0, 1, 0) + struct.pack("<3f", 1, 2, 3) + b"tail")
    np.testing.assert_array_equal(read_blendshapes(path, allow_trailing=True), [[[1, 2, 3]]])


def test_missing_and_inconsistent_layouts(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        read_facewarehouse(missing)
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing / "shape.bs"))):
        read_blendshapes(missing / "shape.bs")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no Tester_k/Blendshape/shape.bs"):
        read_facewarehouse(tmp_path / "empty")
    v = _meshes(np.random.default_rng(2))
    write_facewarehouse(tmp_path / "fw", v)
    assert read_facewarehouse(tmp_path / "fw").faces is None
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "fw" / "Tester_5"))):
        read_facewarehouse(tmp_path / "fw", subjects=[5])
    write_facewarehouse(tmp_path / "fw", v[:1, :, :6], subject_ids=[3])  # one vertex fewer
    bad = tmp_path / "fw" / "Tester_3" / "Blendshape" / "shape.bs"
    with pytest.raises(ValueError, match=re.escape(str(bad)) + ".*6 vertices.*Tester_1 has"):
        read_facewarehouse(tmp_path / "fw")
    assert list_facewarehouse_subjects(tmp_path / "fw") == ("Tester_1", "Tester_2", "Tester_3")
    # an OBJ whose vertex count disagrees with shape.bs
    write_facewarehouse(tmp_path / "obj", v, faces=np.array([[0, 1, 2]]))
    obj = tmp_path / "obj" / "Tester_1" / "Blendshape" / "shape_0.obj"
    obj.write_text(obj.read_text().replace("v ", "# v ", 1))
    with pytest.raises(ValueError, match=re.escape(str(obj)) + ".*6 vertices, expected 7"):
        read_facewarehouse(tmp_path / "obj")


def test_training_poses_round_trip_and_errors(tmp_path):
    v = _meshes(np.random.default_rng(5), n_subjects=2, n_shapes=3, n_vertices=6)
    v[0, 0, 0] = [-0.0, np.float32(1e-42), np.float32(-3.4e38)]
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    write_facewarehouse_poses(tmp_path, v, faces=faces, subject_ids=[2, 10])
    data = read_facewarehouse_poses(tmp_path)
    assert data.subject_ids == ("Tester_2", "Tester_10")
    np.testing.assert_array_equal(data.vertices.view(np.uint32), v.view(np.uint32))
    np.testing.assert_array_equal(data.faces, faces)
    assert sorted(p.name for p in (tmp_path / "Tester_2" / "TrainingPose").iterdir()) == [
        "pose_0.obj", "pose_1.obj", "pose_2.obj"
    ]  # fmt: skip
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "Tester_3"))):
        read_facewarehouse_poses(tmp_path, subjects=[3])
    (tmp_path / "Tester_10" / "TrainingPose" / "pose_2.obj").unlink()
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "Tester_10")) + ".*2 poses"):
        read_facewarehouse_poses(tmp_path)
    bad = tmp_path / "Tester_2" / "TrainingPose" / "pose_1.obj"
    bad.write_text("v nan 0 0\n" + bad.read_text())
    with pytest.raises(ValueError, match=re.escape(str(bad)) + ":1: non-finite vertex"):
        read_facewarehouse_poses(tmp_path, subjects=[2])


def test_writer_checks_its_input(tmp_path):
    v = _meshes(np.random.default_rng(3))
    with pytest.raises(ValueError, match="n_subjects, n_expressions, n_vertices, 3"):
        write_facewarehouse(tmp_path, v[0])
    with pytest.raises(ValueError, match="duplicates"):
        write_facewarehouse(tmp_path, v, subject_ids=[1, "Tester_1"])
    with pytest.raises(ValueError, match="Tester_k"):
        write_facewarehouse(tmp_path, v, subject_ids=["bs001", "bs002"])
    bad = v.copy()
    bad[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"vertices\[1\] \(Tester_2\) must be finite"):
        write_facewarehouse(tmp_path, bad)
    with pytest.raises(ValueError, match="faces index vertices outside"):
        write_facewarehouse(tmp_path, v, faces=np.array([[0, 1, 7]]))


# ------------------------------------------------------------------------------ the expressions


def test_expression_list():
    assert len(FACEWAREHOUSE_EXPRESSIONS) == 47 and FACEWAREHOUSE_EXPRESSIONS[0] == "neutral"
    assert len(set(FACEWAREHOUSE_EXPRESSIONS)) == 47
    assert FACEWAREHOUSE_EXPRESSION_AUS["neutral"] == ()
    used = {
        au for name in FACEWAREHOUSE_EXPRESSIONS for au, _ in FACEWAREHOUSE_EXPRESSION_AUS[name]
    }
    assert used == set(AU_IDS)
    assert FACEWAREHOUSE_EXPRESSION_AUS["R12"] == ((12, "r"),)
    assert FACEWAREHOUSE_EXPRESSION_AUS["AU6+12"] == ((6, "both"), (12, "both"))


def test_training_pose_list():
    assert len(FACEWAREHOUSE_POSES) == 20 and FACEWAREHOUSE_POSES[0] == "neutral"
    for name in FACEWAREHOUSE_POSES[1:]:
        aus = FACEWAREHOUSE_POSE_AUS[name]
        assert aus and all(
            au in AU_IDS and side in ("both", "r", "l") and 0 < c <= 5 for au, side, c in aus
        )
    names = muscle_names()
    synergy = np.ones((len(AU_IDS), len(names)))
    act = facewarehouse_activations("pose:happy", synergy, np.ones(len(names)), names)
    np.testing.assert_allclose(act, 7.0)  # 3 (AU6) + 4 (AU12) times a unit synergy and gains


def test_unilateral_activations_split_the_bilateral_one():
    names = muscle_names()
    rng = np.random.default_rng(4)
    synergy = rng.uniform(0.0, 1.0, size=(len(AU_IDS), len(names)))
    gains = rng.uniform(0.8, 1.2, size=len(names))
    both, right, left = (
        facewarehouse_activations(e, synergy, gains, names) for e in ("AU12", "R12", "L12")
    )
    is_r = np.array([n.endswith("_r") for n in names])
    is_l = np.array([n.endswith("_l") for n in names])
    assert np.all(right[~is_r] == 0.0) and np.all(left[~is_l] == 0.0) and right[is_r].min() > 0.0
    np.testing.assert_allclose((right + left)[is_r | is_l], both[is_r | is_l], rtol=1e-15)
    np.testing.assert_allclose(both, 5.0 * gains * synergy[AU_IDS.index(12)], rtol=1e-15)
    assert np.all(facewarehouse_activations("neutral", synergy, gains, names) == 0.0)
    with pytest.raises(ValueError, match="unknown expression 'pose:AU12'"):
        facewarehouse_activations("pose:AU12", synergy, gains, names)
    with pytest.raises(ValueError, match="synergy must have shape"):
        facewarehouse_activations("AU12", synergy[:3], gains, names)


# --------------------------------------------------------------------------------- the generator

_N = 400
_EXPRESSIONS = ("neutral", "AU12", "AU1+2")
_ARGS = dict(
    n_subjects=2, expressions=_EXPRESSIONS, n_poses=3, seed=0, n_vertices=_N, progress=None
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("facewarehouse")
    assert generate_facewarehouse(root, **_ARGS) == root
    return root


def test_static_equilibria_match_newton_pcg(tmp_path):
    face, model = template_model(_N, 0, tmp_path)
    cast = Cast("facewarehouse", 0, 30.0, face, model)
    body = cast.physique("Tester_1")
    acts = np.stack([facewarehouse_activations(e, body.synergy, body.gains, model.muscle_names)
                     for e in ("AU25+26", "R12", "neutral")])  # fmt: skip
    sol = static_equilibria(body.rig, acts, rtol=1e-10)
    plain = static_equilibria(body.rig, acts, rtol=1e-10, memory=0)
    assert sol.residual.max() <= 1e-10 and not sol.fallback.any()
    assert sol.iterations < plain.iterations
    assert np.all(sol.displacements[2] == 0.0)  # no force, no motion
    solver = SparseEquilibriumSolver(body.rig.system)
    for k in range(2):
        f = np.asarray(muscle_forces(body.rig.distribution, body.rig.directions, acts[k]))
        u, _ = solver.solve(f, rtol=1e-11)
        peak = np.abs(u).max()
        assert peak > 0.3  # a real expression (cm)
        # both to a relative residual of 1e-10: the solutions agree far below 1e-6 of the peak
        np.testing.assert_allclose(sol.displacements[k], u, atol=1e-6 * peak)
        np.testing.assert_allclose(plain.displacements[k], u, atol=1e-6 * peak)


def test_generated_copy_reads_back_in_the_real_layout(generated):
    data = read_facewarehouse(generated)
    face = make_face(_N)
    n = face.n_vertices
    assert data.subject_ids == ("Tester_1", "Tester_2")
    assert data.vertices.shape == (2, 3, n, 3) and data.vertices.dtype == np.float32
    np.testing.assert_array_equal(data.faces, np.asarray(face.triangles))
    raw = (generated / "Tester_1" / "Blendshape" / "shape.bs").read_bytes()
    assert struct.unpack("<iii", raw[:12]) == (2, n, face.triangles.shape[0])
    summary = json.loads((generated / "synthetic" / "COMPLETE").read_text())
    assert summary["expressions"] == list(_EXPRESSIONS) and summary["units"] == "cm"
    assert summary["max_residual"] <= 1e-8 and summary["template_tag"] == TEMPLATE_TAG
    gt = np.load(generated / "synthetic" / "Tester_2.npz")
    assert gt["activations"].shape == (3, len(muscle_names())) and np.all(gt["activations"][0] == 0)
    # the training poses: neutral, happy, happy_open, as TrainingPose/pose_j.obj
    poses = read_facewarehouse_poses(generated)
    assert poses.vertices.shape == (2, 3, n, 3) and poses.subject_ids == data.subject_ids
    np.testing.assert_array_equal(poses.faces, data.faces)
    np.testing.assert_array_equal(poses.vertices[:, 0], data.vertices[:, 0])  # the same neutral
    assert summary["poses"] == ["neutral", "happy", "happy_open"]
    assert (
        gt["pose_activations"].shape == (3, len(muscle_names()))
        and gt["pose_residual"].max() <= 1e-8
    )
    # a pose combines AUs at partial intensities: happy (6C + 12D) is not the AU12 blendshape
    happy = poses.vertices[:, 1].astype(np.float64) - poses.vertices[:, 0]
    smile = data.vertices[:, 1].astype(np.float64) - data.vertices[:, 0]
    assert 0.2 < np.abs(happy).max() and np.abs(happy - smile).max() > 0.05


def test_identities_differ_and_expressions_act_where_their_muscles_do(generated):
    v = read_facewarehouse(generated).vertices.astype(np.float64)
    # distinct identities: the neutral faces differ by millimetres
    assert np.linalg.norm(v[0, 0] - v[1, 0], axis=1).max() > 0.2
    face = make_face(_N)
    lm = facewarehouse_landmark_vertices(n_vertices=_N)
    forehead = np.flatnonzero(np.asarray(face.region_mask("forehead")))
    for s in range(2):
        smile = v[s, 1] - v[s, 0]
        brows = v[s, 2] - v[s, 0]
        corners = np.linalg.norm(smile[lm[[48, 54]]], axis=1)
        assert corners.min() > 0.3  # AU12 pulls both mouth corners (cm) ...
        assert np.all(smile[lm[48], 0] < 0.0) and np.all(smile[lm[54], 0] > 0.0)  # ... outward
        assert (
            np.linalg.norm(smile[forehead], axis=1).max() < 0.1 * corners.min()
        )  # not the forehead
        brow_lift = brows[lm[17:27], 1]
        assert brow_lift.min() > 0.2  # AU1+2 raises every brow point ...
        assert (
            np.linalg.norm(brows[lm[[48, 54]]], axis=1).max() < 0.1 * brow_lift.min()
        )  # not the mouth


def test_same_seed_same_bytes_other_seed_other_faces(generated, tmp_path):
    again = generate_facewarehouse(tmp_path / "again", **_ARGS)
    for sid in ("Tester_1", "Tester_2"):
        rel = f"{sid}/Blendshape/shape.bs"
        assert (again / rel).read_bytes() == (generated / rel).read_bytes()
    other = generate_facewarehouse(tmp_path / "other", **{**_ARGS, "seed": 1, "n_subjects": 1})
    a = read_blendshapes(other / "Tester_1/Blendshape/shape.bs")
    b = read_blendshapes(generated / "Tester_1/Blendshape/shape.bs")
    assert np.abs(a - b).max() > 0.1


def test_a_complete_copy_is_reused_and_an_incomplete_one_regenerated(generated, tmp_path):
    bs = generated / "Tester_1" / "Blendshape" / "shape.bs"
    stamp = bs.stat().st_mtime_ns
    lines = []
    assert generate_facewarehouse(generated, **{**_ARGS, "progress": lines.append}) == generated
    assert lines == [f"Using the cached synthetic FaceWarehouse-like dataset {generated}."]
    assert bs.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=re.escape(str(generated)) + ".*other settings.*seed"):
        generate_facewarehouse(generated, **{**_ARGS, "seed": 3})
    # the default root: the cache directory, named by the settings and the template tag
    root = generate_facewarehouse(**{**_ARGS, "n_subjects": 1}, cache_dir=str(tmp_path))
    assert root.parent == tmp_path / "datasets" and root.name.endswith(TEMPLATE_TAG)
    assert f"_{_N}v_seed0" in root.name and (root / "synthetic" / "COMPLETE").is_file()
    (root / "synthetic" / "COMPLETE").unlink()  # an interrupted generation runs again
    lines = []
    generate_facewarehouse(
        **{**_ARGS, "n_subjects": 1, "progress": lines.append}, cache_dir=str(tmp_path)
    )
    assert lines[0].startswith("Generating") and (root / "synthetic" / "COMPLETE").is_file()


def test_generator_argument_errors(tmp_path):
    (tmp_path / "Tester_7").mkdir()  # a folder the reader would take for a subject
    with pytest.raises(ValueError, match=re.escape(str(tmp_path)) + ".*Tester_7"):
        generate_facewarehouse(tmp_path, **_ARGS)
    with pytest.raises(ValueError, match="start with 'neutral'"):
        generate_facewarehouse(tmp_path, expressions=("AU12",), progress=None)
    with pytest.raises(ValueError, match="unknown expression 'AU99'"):
        generate_facewarehouse(tmp_path, expressions=("neutral", "AU99"), progress=None)
    with pytest.raises(ValueError, match="n_subjects"):
        generate_facewarehouse(tmp_path, n_subjects=0, progress=None)
    with pytest.raises(ValueError, match="n_expressions"):
        generate_facewarehouse(tmp_path, n_expressions=48, progress=None)


# ------------------------------------------------------------------------ landmarks and regions


def test_landmark_vertices_and_central_face():
    face = make_face(_N)
    v = np.asarray(face.vertices)
    tris, bary = facewarehouse_landmark_embedding(n_vertices=_N)
    np.testing.assert_array_equal(tris, np.asarray(face.landmark_triangles))
    points = np.einsum("lj,ljd->ld", bary, v[np.asarray(face.triangles)[tris]])
    lm = facewarehouse_landmark_vertices(n_vertices=_N)
    assert lm.shape == (68,) and lm.dtype == np.int64
    corners = np.asarray(face.triangles)[tris]  # a corner of the landmark's own triangle ...
    assert np.all(np.any(corners == lm[:, None], axis=1))
    # ... within the triangle's longest edge of the embedded point
    tri_v = v[np.asarray(face.triangles)[tris]]
    longest = np.linalg.norm(tri_v - np.roll(tri_v, 1, axis=1), axis=2).max(1)
    assert np.all(np.linalg.norm(v[lm] - points, axis=1) <= longest)
    # upper and lower lip landmarks stay on their lips (the slit's duplicated vertices)
    side = np.asarray(face.slit_side)
    assert side[lm[62]] >= 0 and side[lm[66]] <= 0 and lm[62] != lm[66]

    central = central_face_vertices(n_vertices=_N)
    mask = np.zeros(face.n_vertices, bool)
    mask[central] = True
    assert np.all(np.diff(central) > 0) and 0.3 < mask.mean() < 0.7
    assert mask[lm[27:68]].all()  # nose, eyes, mouth inside
    assert v[central, 1].max() <= points[17:27, 1].max()  # the forehead above the brows is out
    assert mask[np.asarray(face.region_mask("forehead"))].mean() < 0.1
    assert v[central, 1].min() >= points[8, 1] - 1e-9  # nothing below the chin
