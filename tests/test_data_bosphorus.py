"""Bosphorus layout: .bnt / .lm3 / .lm2 / .png readers and writers, names, samples."""

import struct

import numpy as np
import pytest

import aujax.datasets as B


ZMIN = -1.0e9


def _pack_bnt(grid_top_first, *, zmin=ZMIN, imfile=b"bs000_N_N_0.png", nvals=None, nchar=None):
    """Hand-packs a .bnt from an (H, W, 5) grid given top row first (file stores bottom first)."""
    h, w, _ = grid_top_first.shape
    data = grid_top_first[::-1].reshape(h * w, 5).T.ravel()
    nvals = data.size if nvals is None else nvals
    nchar = len(imfile) if nchar is None else nchar
    head = struct.pack("<HHdH", h, w, zmin, nchar) + imfile + struct.pack("<I", nvals)
    return head + struct.pack(f"<{data.size}d", *data)


def _grid():
    """2 x 3 grid, top row first; point (1, 2) (bottom right) is background."""
    g = np.zeros((2, 3, 5))
    for r in range(2):
        for c in range(3):
            g[r, c] = [10.0 * c, 100.0 - 10.0 * r, -50.0 + r + 0.25 * c, c / 3.0, 1.0 - r / 2.0]
    g[1, 2, :3] = ZMIN
    return g


def _scan(seed=0, h=4, w=5):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(h, w, 3)) * 30.0
    valid = rng.random((h, w)) > 0.3
    xyz[~valid] = np.nan
    uv = rng.random((h, w, 2))
    return B.RangeScan(xyz=xyz, uv=uv, valid=valid, zmin=ZMIN, image_file="bs001_E_HAPPY_0.png")


def _lm3():
    rng = np.random.default_rng(1)
    return B.Landmarks3D(B.BOSPHORUS_LANDMARKS, rng.normal(size=(22, 3)) * 40.0)


def _lm2():
    rng = np.random.default_rng(2)
    return B.Landmarks2D(B.BOSPHORUS_LANDMARKS[:5], rng.random((5, 2)) * 600.0)


# ---------------------------------------------------------------------------------- names


def test_parse_name():
    n = B.parse_bosphorus_name("data/bs000/bs000_LFAU_9_0.bnt")
    assert n == B.BosphorusName("bs000", "LFAU", "9", 0)
    assert n.stem == "bs000_LFAU_9_0"
    assert B.parse_bosphorus_name("bs105_E_ANGER_2").index == 2
    assert B.parse_bosphorus_name("bs010_CAU_A22_A25_1.png").code == "A22_A25"
    assert B.bosphorus_name("bs003", "UFAU", 2, 1) == "bs003_UFAU_2_1"
    for bad in ("bs00_N_N_0.bnt", "bs000_XX_N_0.bnt", "bs000_N_N.lm3", "bs000_LFAU_9_x", "foo"):
        with pytest.raises(ValueError, match="not a Bosphorus sample name") as err:
            B.parse_bosphorus_name(bad)
        assert bad in str(err.value)
    with pytest.raises(ValueError, match="lies in folder bs001"):
        B.parse_bosphorus_name("bs001/bs000_N_N_0.bnt")
    with pytest.raises(ValueError, match="cls must be one of"):
        B.bosphorus_name("bs000", "Q", "1", 0)


def test_name_sort_key_numeric():
    names = [
        B.parse_bosphorus_name(s) for s in ("bs000_LFAU_10_0", "bs000_LFAU_9_0", "bs000_N_N_0")
    ]
    assert [n.stem for n in sorted(names, key=B.BosphorusName.sort_key)] == [
        "bs000_N_N_0",
        "bs000_LFAU_9_0",
        "bs000_LFAU_10_0",
    ]


# ------------------------------------------------------------------------------------ bnt


def test_hand_built_bnt_decodes_with_flip(tmp_path):
    g = _grid()
    path = tmp_path / "bs000_N_N_0.bnt"
    path.write_bytes(_pack_bnt(g))
    scan = B.read_bnt(path)
    assert scan.shape == (2, 3)
    assert scan.image_file == "bs000_N_N_0.png" and scan.zmin == ZMIN
    # Row 0 of the result is the top row (the file's last row): y = 100.
    np.testing.assert_array_equal(scan.xyz[0], g[0, :, :3])
    np.testing.assert_array_equal(scan.xyz[1, :2], g[1, :2, :3])
    np.testing.assert_array_equal(scan.valid, [[True, True, True], [True, True, False]])
    assert np.isnan(scan.xyz[1, 2]).all()
    np.testing.assert_array_equal(scan.uv, g[:, :, 3:])
    np.testing.assert_allclose(scan.xyz_cm[0, 1], g[0, 1, :3] / 10.0)
    assert scan.points().shape == (5, 3)
    # The y channel block (after 6 x values) starts with the bottom row: the flip is real.
    raw = path.read_bytes()
    data = 14 + 15 + 4
    assert struct.unpack_from("<3d", raw, data + 8 * 6) == (90.0, 90.0, ZMIN)
    assert struct.unpack_from("<3d", raw, data + 8 * 9) == (100.0, 100.0, 100.0)
    # Exact inverse: re-writing reproduces the hand-built bytes.
    out = tmp_path / "again.bnt"
    B.write_bnt(out, scan)
    assert out.read_bytes() == raw


def test_bnt_round_trip_bit_exact(tmp_path):
    scan = _scan()
    path = tmp_path / "s.bnt"
    B.write_bnt(path, scan)
    back = B.read_bnt(path)
    np.testing.assert_array_equal(back.xyz, scan.xyz)  # NaN == NaN for array_equal here
    np.testing.assert_array_equal(back.uv, scan.uv)
    np.testing.assert_array_equal(back.valid, scan.valid)
    assert back.zmin == scan.zmin and back.image_file == scan.image_file
    assert (back.xyz[back.valid].view(np.uint64) == scan.xyz[scan.valid].view(np.uint64)).all()
    path2 = tmp_path / "s2.bnt"
    B.write_bnt(path2, back)
    assert path2.read_bytes() == path.read_bytes()
    assert len(path.read_bytes()) == 14 + len(scan.image_file) + 4 + 8 * 5 * 4 * 5


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b[:3], r"field 'nrows/ncols' at byte offset 0"),
        (lambda b: b[:10], r"field 'zmin' at byte offset 4"),
        (lambda b: b[:20], r"field 'imfile \(nchar = 15\)' at byte offset 14"),
        (lambda b: b[:31], r"field 'nvals' at byte offset 29"),
        (lambda b: b[:-1], r"truncated .bnt file: field 'data' at byte offset 33"),
        (lambda b: b + b"\x00", r"1 trailing bytes after field 'data'"),
    ],
)
def test_bnt_truncated_and_trailing(tmp_path, mutate, match):
    path = tmp_path / "bad.bnt"
    path.write_bytes(mutate(_pack_bnt(_grid())))
    with pytest.raises(ValueError, match=match) as err:
        B.read_bnt(path)
    assert str(path) in str(err.value)


def test_bnt_bad_fields(tmp_path):
    path = tmp_path / "bad.bnt"
    path.write_bytes(_pack_bnt(_grid(), nvals=29))
    with pytest.raises(ValueError, match=r"field 'nvals' at byte offset 29 is 29, expected .* 30"):
        B.read_bnt(path)
    # nchar too small: the name's tail is read as nvals -> nvals mismatch at the shifted offset.
    path.write_bytes(_pack_bnt(_grid(), nchar=11))
    with pytest.raises(ValueError, match=r"field 'nvals' at byte offset 25"):
        B.read_bnt(path)
    path.write_bytes(_pack_bnt(_grid(), imfile=b"bs\xff.png"))
    with pytest.raises(ValueError, match=r"field 'imfile' at byte offset 14 .* not ASCII"):
        B.read_bnt(path)
    path.write_bytes(_pack_bnt(_grid(), zmin=float("nan")))
    with pytest.raises(ValueError, match=r"field 'zmin' at byte offset 4 is not finite"):
        B.read_bnt(path)


def test_range_scan_validation():
    s = _scan()
    with pytest.raises(ValueError, match="uv must have shape"):
        B.RangeScan(s.xyz, s.uv[:, :2], s.valid, ZMIN, "a.png")
    with pytest.raises(ValueError, match="NaN at invalid"):
        B.RangeScan(np.nan_to_num(s.xyz), s.uv, s.valid, ZMIN, "a.png")
    with pytest.raises(ValueError, match="above zmin"):
        B.RangeScan(s.xyz, s.uv, s.valid, 1e6, "a.png")
    with pytest.raises(ValueError, match="image_file must be ASCII"):
        B.RangeScan(s.xyz, s.uv, s.valid, ZMIN, "é.png")
    with pytest.raises(ValueError, match="must be a RangeScan"):
        B.write_bnt("x.bnt", object())


def test_range_scan_from_depth_orthographic(tmp_path):
    depth = np.full((4, 6), -np.inf)
    depth[1:3, 2:5] = [[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]]
    scan = B.range_scan_from_depth(depth, image_file="r.png", scale=2.0, offset=(3.0, 2.0))
    np.testing.assert_array_equal(scan.valid, np.isfinite(depth))
    # Pixel (row 1, col 2): centre (2.5, 1.5) -> x = (2.5 - 3) / 2 cm, y = (2 - 1.5) / 2 cm.
    np.testing.assert_allclose(scan.xyz_cm[1, 2], [-0.25, 0.25, 1.0])
    np.testing.assert_allclose(scan.xyz[2, 4], [10.0 * 0.75, 10.0 * -0.25, 60.0])
    np.testing.assert_allclose(scan.uv[0, 0], [0.5 / 6, 1 - 0.5 / 4])
    B.write_bnt(tmp_path / "r.bnt", scan)
    back = B.read_bnt(tmp_path / "r.bnt")
    np.testing.assert_array_equal(back.xyz, scan.xyz)


def test_range_scan_from_depth_pinhole_matches_projection():
    k = np.array([[50.0, 0.0, 3.0], [0.0, 40.0, 2.0], [0.0, 0.0, 1.0]])
    depth = np.linspace(20.0, 30.0, 24).reshape(4, 6)
    depth[0, 0] = np.inf
    scan = B.range_scan_from_depth(depth, image_file="p.png", intrinsics=k)
    cam = scan.xyz_cm[scan.valid] * np.array([1.0, -1.0, -1.0])  # back to x right, y down, z fwd
    proj = cam @ k.T
    rows, cols = np.nonzero(scan.valid)
    np.testing.assert_allclose(proj[:, 0] / proj[:, 2], cols, atol=1e-12)
    np.testing.assert_allclose(proj[:, 1] / proj[:, 2], rows, atol=1e-12)
    np.testing.assert_allclose(-scan.xyz_cm[scan.valid][:, 2], depth[scan.valid])
    with pytest.raises(ValueError, match="either intrinsics or both"):
        B.range_scan_from_depth(depth, image_file="p.png", intrinsics=k, scale=1.0, offset=(0, 0))
    with pytest.raises(ValueError, match="either intrinsics or both"):
        B.range_scan_from_depth(depth, image_file="p.png", scale=1.0)
    with pytest.raises(ValueError, match="depth must be > 0"):
        B.range_scan_from_depth(-depth, image_file="p.png", intrinsics=k)
    with pytest.raises(ValueError, match="depth must have shape"):
        B.range_scan_from_depth(depth[0], image_file="p.png", intrinsics=k)


# ---------------------------------------------------------------------------------- lm3/lm2

LM3_TEXT = """# LANDMARKS 3D
3 landmarks:
Outer left eyebrow
-48.5 27.25 -45.0

Nose tip
0.5 -10.0 12.75
Chin middle
1 -80 -20
"""


def test_lm3_hand_written(tmp_path):
    path = tmp_path / "a.lm3"
    path.write_text(LM3_TEXT)
    lm = B.read_lm3(path)
    assert lm.names == ("Outer left eyebrow", "Nose tip", "Chin middle")
    np.testing.assert_array_equal(lm["Nose tip"], [0.5, -10.0, 12.75])
    np.testing.assert_array_equal(lm.points_cm[2], [0.1, -8.0, -2.0])
    assert list(lm.as_dict()) == list(lm.names)
    pts, present = lm.to_ibug68()
    assert present.sum() == 3 and present[[26, 30, 8]].all()
    np.testing.assert_array_equal(pts[30], lm["Nose tip"])
    assert np.isnan(pts[~present]).all()


def test_lm_round_trips(tmp_path):
    lm3, lm2 = _lm3(), _lm2()
    B.write_lm3(tmp_path / "a.lm3", lm3)
    B.write_lm2(tmp_path / "a.lm2", lm2)
    text = (tmp_path / "a.lm3").read_text().splitlines()
    assert text[:3] == ["# LANDMARKS 3D", "22 landmarks:", "Outer left eyebrow"]
    back3, back2 = B.read_lm3(tmp_path / "a.lm3"), B.read_lm2(tmp_path / "a.lm2")
    assert back3.names == lm3.names and back2.names == lm2.names
    assert (back3.points.view(np.uint64) == lm3.points.view(np.uint64)).all()
    assert (back2.points.view(np.uint64) == lm2.points.view(np.uint64)).all()
    B.write_lm2(tmp_path / "b.lm2", {"Nose tip": (1.5, 2.0)})
    np.testing.assert_array_equal(B.read_lm2(tmp_path / "b.lm2")["Nose tip"], [1.5, 2.0])


def test_landmark_tables():
    assert len(B.BOSPHORUS_LANDMARKS) == 22 and len(set(B.BOSPHORUS_LANDMARKS)) == 22
    assert set(B.BOSPHORUS_TO_IBUG68) <= set(B.BOSPHORUS_LANDMARKS)
    idx = list(B.BOSPHORUS_TO_IBUG68.values())
    assert len(set(idx)) == len(idx) and all(0 <= i < 68 for i in idx)
    m = B.BOSPHORUS_TO_IBUG68
    assert (m["Outer right eye corner"], m["Outer left eye corner"]) == (36, 45)
    assert (m["Right mouth corner"], m["Left mouth corner"], m["Nose tip"]) == (48, 54, 30)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("# c\nNose tip\n1 2 3\n", r"line 2: expected the count line"),
        (
            "# c\n2 landmarks:\nNose tip\n1 2 3\nChin middle\n1 two 3\n",
            r"line 6: expected 3 numbers",
        ),
        ("1 landmarks:\nNose tip\n1 2\n", r"line 3: expected 3 numbers for landmark 'Nose tip'"),
        ("3 landmarks:\nNose tip\n1 2 3\nChin middle\n4 5 6\n", r"line 5: count mismatch: .* 3"),
        ("1 landmarks:\nNose tip\n1 2 3\nChin middle\n4 5 6\n", r"line 4: count mismatch"),
        ("2 landmarks:\nNose tip\n1 2 3\n1 2 3\nChin\n", r"line 4: expected a landmark name"),
        ("2 landmarks:\nA\n1 2 3\nA\n1 2 3\n", r"line 4: duplicate landmark name 'A'"),
        ("1 landmarks:\nA\n1 nan 3\n", r"line 3: non-finite coordinate"),
        ("# only comments\n\n", r"no 'N landmarks:' count line"),
    ],
)
def test_lm3_malformed(tmp_path, text, match):
    path = tmp_path / "bad.lm3"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        B.read_lm3(path)
    assert str(path) in str(err.value)


def test_landmarks_validation():
    with pytest.raises(ValueError, match=r"points must have shape \(2, 3\)"):
        B.Landmarks3D(("a", "b"), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="duplicate names"):
        B.Landmarks2D(("a", "a"), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="looks like a coordinate line"):
        B.Landmarks2D(("1 2",), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="must be a Landmarks3D or a name"):
        B.write_lm3("x.lm3", [1, 2, 3])
    with pytest.raises(KeyError, match="no landmark named"):
        _lm2()["Chin middle"]


# ----------------------------------------------------------------------- images and samples


def test_image_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    B.write_bosphorus_image(tmp_path / "c.png", rgb)
    B.write_bosphorus_image(tmp_path / "g.png", gray)
    np.testing.assert_array_equal(B.read_bosphorus_image(tmp_path / "c.png"), rgb)
    np.testing.assert_array_equal(B.read_bosphorus_image(tmp_path / "g.png"), gray)
    with pytest.raises(ValueError, match="must be uint8"):
        B.write_bosphorus_image(tmp_path / "f.png", rgb.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(H, W\) or \(H, W, 3\)"):
        B.write_bosphorus_image(tmp_path / "f.png", rgb[:, :, :2])
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="junk.png: cannot read image"):
        B.read_bosphorus_image(tmp_path / "junk.png")


def test_sample_write_read_list(tmp_path):
    image = np.full((4, 5, 3), 7, dtype=np.uint8)
    names = ["bs001_N_N_0", "bs000_LFAU_10_0", "bs000_LFAU_9_0", "bs000_E_ANGER_0"]
    for i, stem in enumerate(names):
        sample = B.BosphorusSample(
            name=B.parse_bosphorus_name(stem),
            scan=_scan(seed=i),
            lm3=_lm3() if i != 3 else None,
            lm2=_lm2(),
        )
        written = B.write_bosphorus_sample(tmp_path, sample, image=image if i != 2 else None)
        assert (written.image_path is None) == (i == 2)
    listed = B.list_bosphorus_samples(tmp_path)
    assert [n.stem for n in listed] == [
        "bs000_E_ANGER_0",
        "bs000_LFAU_9_0",
        "bs000_LFAU_10_0",
        "bs001_N_N_0",
    ]
    s = B.read_bosphorus_sample(tmp_path, "bs000_LFAU_10_0")
    assert s.name.cls == "LFAU" and s.lm3 is not None and s.lm2 is not None
    np.testing.assert_array_equal(s.scan.xyz, _scan(seed=1).xyz)
    np.testing.assert_array_equal(s.lm3.points, _lm3().points)
    assert s.image_path == tmp_path / "bs000" / "bs000_LFAU_10_0.png"
    np.testing.assert_array_equal(B.read_bosphorus_image(s.image_path), image)
    assert B.read_bosphorus_sample(tmp_path, "bs000_E_ANGER_0").lm3 is None
    assert B.read_bosphorus_sample(tmp_path, "bs000_LFAU_9_0").image_path is None
    # Copying a sample to another root carries the png byte for byte.
    copy = B.write_bosphorus_sample(tmp_path / "copy", s)
    assert copy.image_path.read_bytes() == s.image_path.read_bytes()
    with pytest.raises(ValueError, match="bs002_N_N_0.bnt: range scan of sample"):
        B.read_bosphorus_sample(tmp_path, "bs002_N_N_0")
    (tmp_path / "bs000" / "bs000_junk.bnt").write_bytes(b"")
    with pytest.raises(ValueError, match="bs000_junk.bnt"):
        B.list_bosphorus_samples(tmp_path)
    assert len(B.list_bosphorus_samples(tmp_path, strict=False)) == 4
    with pytest.raises(ValueError, match="root must be a directory"):
        B.list_bosphorus_samples(tmp_path / "missing")
