"""BP4D / DISFA layouts: round trips, hand-written fixtures, malformed input and folds."""

import os

import h5py
import numpy as np
import pytest
import scipy.io

from aujax.datasets import _bp4d, _disfa
from aujax.datasets._bp4d import (
    BP4DSequence,
    list_bp4d_sequences,
    read_bp4d_frames,
    read_bp4d_sequence,
    write_bp4d_frames,
    write_bp4d_sequence,
)
from aujax.datasets._disfa import (
    DISFASequence,
    list_disfa_subjects,
    read_disfa_frames,
    read_disfa_sequence,
    write_disfa_frames,
    write_disfa_sequence,
)
from aujax.datasets._folds import (
    BP4D_AUS,
    BP4D_INTENSITY_AUS,
    BP4D_PARTS,
    BP4D_SUBJECTS,
    BP4D_TASKS,
    DISFA_AUS,
    DISFA_DETECTION_AUS,
    DISFA_PARTS,
    DISFA_SUBJECTS,
    fold_of,
    folds,
)


# ------------------------------------------------------------------------------------ helpers


def _bp4d_seq(*, subject="F001", task="T1", seed=0):
    rng = np.random.default_rng(seed)
    frames = np.array([3, 4, 5, 7, 8])
    t = frames.size
    occurrence = rng.choice(np.array([0, 1, 9], np.int8), size=(t, len(BP4D_AUS)))
    landmarks = rng.normal(100.0, 20.0, size=(t, 49, 2))
    landmarks[2] = np.nan
    pose = rng.normal(size=(t, 3, 3))
    pose[2] = np.nan
    intensity = {au: rng.choice(np.array([0, 1, 2, 3, 4, 5, 9], np.int8), t) for au in (6, 12)}
    return BP4DSequence(
        subject=subject,
        task=task,
        frames=frames,
        occurrence=occurrence,
        aus=BP4D_AUS,
        occlusion=np.array([False, True, False, False, False]),
        intensity=intensity,
        landmarks=landmarks,
        pose=pose,
    )


def _disfa_seq(*, subject="SN001", t=6, seed=0):
    rng = np.random.default_rng(seed)
    landmarks = rng.normal(200.0, 30.0, size=(t, 66, 2))
    landmarks[3] = np.nan
    return DISFASequence(
        subject=subject,
        frames=np.arange(t),
        intensity=rng.integers(0, 6, size=(t, 12)).astype(np.int8),
        landmarks=landmarks,
    )


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def _occ_text(rows, *, header="0,1,2,3,4,5"):
    return header + "\n" + "\n".join(rows) + "\n"


# -------------------------------------------------------------------------------------- folds


def test_subject_lists():
    assert len(BP4D_SUBJECTS) == 41 and len(set(BP4D_SUBJECTS)) == 41
    assert BP4D_SUBJECTS[0] == "F001" and BP4D_SUBJECTS[22] == "F023"
    assert BP4D_SUBJECTS[23] == "M001" and BP4D_SUBJECTS[-1] == "M018"
    assert BP4D_TASKS == ("T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8")
    assert len(DISFA_SUBJECTS) == 27
    assert {"SN014", "SN015", "SN019", "SN020", "SN022"}.isdisjoint(DISFA_SUBJECTS)
    assert BP4D_AUS == (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
    assert BP4D_INTENSITY_AUS == (6, 10, 12, 14, 17)
    assert DISFA_AUS == (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
    assert DISFA_DETECTION_AUS == (1, 2, 4, 6, 9, 12, 25, 26)
    assert set(DISFA_DETECTION_AUS) <= set(DISFA_AUS)


def test_official_parts():
    # REFERENCE §2, typed from the ME-GraphAU / JAA-Net lists.
    assert BP4D_PARTS[0] == tuple(
        "F001 M007 F018 F008 F002 M004 F010 F009 M012 M001 F016 M014 F023 M008".split()
    )
    assert BP4D_PARTS[1] == tuple(
        "M011 F003 M010 M002 F005 F022 M018 M017 F013 M016 F020 F011 M013 M005".split()
    )
    assert BP4D_PARTS[2] == tuple(
        "F007 F015 F006 F019 M006 M009 F012 M003 F004 F021 F017 M015 F014".split()
    )
    assert DISFA_PARTS[0] == tuple("SN002 SN010 SN001 SN026 SN027 SN032 SN030 SN009 SN016".split())
    assert DISFA_PARTS[1] == tuple("SN013 SN018 SN011 SN028 SN012 SN006 SN031 SN021 SN024".split())
    assert DISFA_PARTS[2] == tuple("SN003 SN029 SN023 SN025 SN008 SN005 SN007 SN017 SN004".split())


@pytest.mark.parametrize(
    "dataset, parts, subjects",
    [("bp4d", BP4D_PARTS, BP4D_SUBJECTS), ("DISFA", DISFA_PARTS, DISFA_SUBJECTS)],
)
def test_folds_partition(dataset, parts, subjects):
    fs = folds(dataset)
    assert len(fs) == 3
    # ME-GraphAU numbering: fold 1 tests P3, fold 2 tests P2, fold 3 tests P1.
    assert [test for _, test in fs] == [parts[2], parts[1], parts[0]]
    assert fs[0][0] == parts[0] + parts[1]
    tests = [s for _, test in fs for s in test]
    assert sorted(tests) == sorted(subjects)  # each subject tested exactly once
    for train, test in fs:
        assert set(train).isdisjoint(test)
        assert sorted(train + test) == sorted(subjects)
        for s in test:
            assert fs[fold_of(dataset, s) - 1][1] == test
    assert fold_of(dataset, parts[0][0]) == 3


def test_folds_errors():
    with pytest.raises(ValueError, match="dataset"):
        folds("bosphorus")
    with pytest.raises(ValueError, match="'F024'"):
        fold_of("bp4d", "F024")
    with pytest.raises(ValueError, match="'SN014'"):
        fold_of("disfa", "SN014")


# --------------------------------------------------------------------------------------- BP4D


def test_bp4d_round_trip(tmp_path):
    seq = _bp4d_seq()
    write_bp4d_sequence(tmp_path, seq)
    write_bp4d_sequence(tmp_path, _bp4d_seq(subject="M010", task="T6", seed=1))
    assert list_bp4d_sequences(tmp_path) == [("F001", "T1"), ("M010", "T6")]
    got = read_bp4d_sequence(tmp_path, "F001", "T1")
    np.testing.assert_array_equal(got.frames, seq.frames)
    assert got.aus == BP4D_AUS
    assert got.occurrence.dtype == np.int8
    np.testing.assert_array_equal(got.occurrence, seq.occurrence)
    np.testing.assert_array_equal(got.occlusion, seq.occlusion)
    np.testing.assert_array_equal(got.landmarks, seq.landmarks)  # NaN rows compare equal
    np.testing.assert_array_equal(got.pose, seq.pose)
    assert sorted(got.intensity) == [6, 12]
    for au in (6, 12):
        np.testing.assert_array_equal(got.intensity[au], seq.intensity[au])
    np.testing.assert_array_equal(got.landmark_mask, [True, True, False, True, True])
    expected_mask = (seq.occurrence != 9) & np.array([1, 0, 1, 1, 1], bool)[:, None]
    np.testing.assert_array_equal(got.occurrence_mask, expected_mask)
    assert got.images is None
    # every AU column of the file, contiguous 1..99, with 9 in the columns the sequence lacks
    every = read_bp4d_sequence(tmp_path, "F001", "T1", aus=None, landmarks=False)
    assert every.aus == tuple(range(1, 100))
    assert np.all(every.occurrence[:, 2] == 9)  # AU 3
    assert np.all(np.isnan(every.landmarks))


def test_bp4d_written_files_match_real_layout(tmp_path):
    seq = _bp4d_seq()
    write_bp4d_sequence(tmp_path, seq, max_au=30)
    with open(tmp_path / "AUCoding/AU_OCC/F001_T1.csv") as fh:
        lines = fh.read().splitlines()
    assert lines[0].split(",") == [str(k) for k in range(32)]  # '0', AUs 1..30, occlusion '31'
    assert lines[2].split(",")[0] == "4" and lines[2].split(",")[-1] == "1"
    with open(tmp_path / "AUCoding/AU_INT/AU06/F001_T1_AU06.csv") as fh:
        ilines = fh.read().splitlines()
    assert ilines[0] == f"3,{seq.intensity[6][0]}"  # no header, frame,intensity
    path = tmp_path / "2DFeatures/F001_T1.mat"
    with open(path, "rb") as fh:
        head = fh.read(128)
    assert head.startswith(b"MATLAB 7.3 MAT-file") and head[124:128] == b"\x00\x02IM"
    assert scipy.io.matlab.matfile_version(str(path)) == (2, 0)  # recognised as v7.3
    # REFERENCE snippet.
    fh = h5py.File(path, "r")
    with fh:
        assert fh.get("fit/pred").shape == (8, 1)  # frames 1..8, entry i = frame i + 1
        pts = fh[fh.get("fit/pred")[3][0]][()].T  # frame 4
        assert pts.shape == (49, 2)
        np.testing.assert_array_equal(pts, seq.landmarks[1])
        rot = fh[fh.get("fit/pose")[3][0]].get("rot")
        assert rot.shape == (3, 3)
        np.testing.assert_array_equal(rot[()].T, seq.pose[1])
        empty = fh[fh.get("fit/pred")[0][0]]  # frame 1 was not coded
        assert empty.attrs["MATLAB_empty"] == 1


def test_bp4d_hand_written_fixture(tmp_path):
    # A typed-in AU_OCC file whose last column is named 'occlusion'; AU 3 column present.
    text = _occ_text(
        ["643,0,1,9,0,1", "644,1,1,0,9,0", "646,0,0,0,1,0"], header="0,1,2,3,4,occlusion"
    )
    _write(str(tmp_path / "AUCoding/AU_OCC/F007_T1.csv"), text)
    _write(str(tmp_path / "AU_INT/AU12/F007_T1_AU12.csv"), "643,3\n646,9\n700,2\n")
    seq = read_bp4d_sequence(tmp_path, "F007", "T1", aus=(1, 2, 4), landmarks=False)
    np.testing.assert_array_equal(seq.frames, [643, 644, 646])
    np.testing.assert_array_equal(seq.occurrence, [[0, 1, 0], [1, 1, 9], [0, 0, 1]])
    np.testing.assert_array_equal(seq.occlusion, [True, False, False])
    np.testing.assert_array_equal(seq.occurrence_mask, [[0, 0, 0], [1, 1, 0], [1, 1, 1]])
    assert list(seq.intensity) == [12]
    np.testing.assert_array_equal(seq.intensity[12], [3, 9, 9])  # 644 absent -> 9
    with pytest.raises(ValueError, match=r"F007_T1.csv: expected columns for AUs \[6\]"):
        read_bp4d_sequence(tmp_path, "F007", "T1", aus=(1, 6), landmarks=False)


@pytest.mark.parametrize(
    "text, match",
    [
        ("643,0,1,0,0,0\n644,0,1,0,0,0\n", "line 1: expected a header row"),
        ("0,0,0,0,0,0\n0,1,1,0,0,0\n", "line 1: expected a header row"),
        (
            _occ_text(["643,0,1,0,0,0", "644,0,x,0,0,0"]),
            "line 3: expected an integer label for AU 2",
        ),
        (_occ_text(["643,0,1,0,7,0"]), r"line 2: expected label for AU 4 in \{0, 1, 9\}, got 7"),
        (_occ_text(["643,0,1,0,0,2"]), r"line 2: expected occlusion flag in \{0, 1, 9\}, got 2"),
        (_occ_text(["643,0,1,0,0,0", "643,0,1,0,0,0"]), "line 3: expected frame numbers"),
        (_occ_text(["643,0,1,0,0"]), "line 2: expected 6 fields, got 5"),
        (_occ_text(["64.5,0,1,0,0,0"]), "line 2: expected an integer frame number"),
    ],
)
def test_bp4d_malformed_occ(tmp_path, text, match):
    path = tmp_path / "AUCoding/AU_OCC/F001_T2.csv"
    _write(str(path), text)
    with pytest.raises(ValueError, match="F001_T2.csv") as err:
        read_bp4d_sequence(tmp_path, "F001", "T2", aus=(1, 2), landmarks=False)
    assert err.match(match)


def test_bp4d_malformed_intensity(tmp_path):
    _write(str(tmp_path / "AUCoding/AU_OCC/F001_T1.csv"), _occ_text(["1,0,0,0,0,0"]))
    path = tmp_path / "AUCoding/AU_INT/AU10/F001_T1_AU10.csv"
    _write(str(path), "1,2\n2,6\n")
    with pytest.raises(ValueError, match=r"F001_T1_AU10.csv, line 2: expected intensity 0..5"):
        read_bp4d_sequence(tmp_path, "F001", "T1", aus=(1,), landmarks=False)
    _write(str(path), "frame,intensity\n1,2\n")
    with pytest.raises(ValueError, match=r"AU10.csv, line 1: expected an integer frame number"):
        read_bp4d_sequence(tmp_path, "F001", "T1", aus=(1,), landmarks=False)


def test_bp4d_bad_landmark_shape(tmp_path):
    seq = _bp4d_seq()
    write_bp4d_sequence(tmp_path, seq, max_au=30)
    path = tmp_path / "2DFeatures/F001_T1.mat"
    with h5py.File(path, "r+") as fh:
        bad = fh["#refs#"].create_dataset("bad", data=np.zeros((2, 48)))
        fh["fit/pred"][3, 0] = bad.ref  # frame 4
    with pytest.raises(
        ValueError, match=r"F001_T1.mat: fit/pred entry 3 \(frame 4\): expected a 2x49"
    ):
        read_bp4d_sequence(tmp_path, "F001", "T1")
    os.remove(path)
    with pytest.raises(ValueError, match=r"no landmark file .*F001_T1.mat"):
        read_bp4d_sequence(tmp_path, "F001", "T1")


def test_bp4d_missing_files(tmp_path):
    with pytest.raises(ValueError, match="AU_OCC"):
        list_bp4d_sequences(tmp_path)
    with pytest.raises(ValueError, match=r"no AU occurrence file .*F001_T1.csv"):
        read_bp4d_sequence(tmp_path, "F001", "T1")


def test_bp4d_sequence_validation():
    seq = _bp4d_seq()
    with pytest.raises(ValueError, match="occurrence: expected shape"):
        BP4DSequence(**{**vars(seq), "occurrence": seq.occurrence[:, :3]})
    with pytest.raises(ValueError, match=r"occurrence: expected values in \{0, 1, 9\}"):
        BP4DSequence(**{**vars(seq), "occurrence": np.full_like(seq.occurrence, 7)})
    with pytest.raises(ValueError, match="frames: expected strictly increasing"):
        BP4DSequence(**{**vars(seq), "frames": seq.frames[::-1]})
    with pytest.raises(ValueError, match="max_au"):
        write_bp4d_sequence("unused", seq, max_au=20)


def test_bp4d_frames(tmp_path):
    rng = np.random.default_rng(0)
    seq = _bp4d_seq()
    write_bp4d_sequence(tmp_path, seq)
    # smooth images so that JPEG (quality 95) reproduces them closely
    y, x = np.mgrid[0:16, 0:20]
    images = np.stack([(x * 6 + y * 4 + 10 * k).astype(np.uint8) for k in range(5)])
    paths = write_bp4d_frames(tmp_path, "F001", "T1", seq.frames, images)
    assert paths[0].endswith(os.path.join("img", "F001", "T1", "3.jpg"))
    got = read_bp4d_frames(tmp_path, "F001", "T1")
    assert got.shape == images.shape and got.dtype == np.uint8
    assert np.max(np.abs(got.astype(int) - images)) <= 4
    np.testing.assert_array_equal(
        read_bp4d_frames(tmp_path, "F001", "T1", [7]), read_bp4d_frames(tmp_path, "F001", "T1")[3:4]
    )
    assert read_bp4d_sequence(tmp_path, "F001", "T1").images == paths
    rgb = rng.integers(0, 256, size=(2, 8, 8, 3)).astype(np.uint8)
    write_bp4d_frames(tmp_path, "F002", "T1", [1, 2], rgb)
    assert read_bp4d_frames(tmp_path, "F002", "T1").shape == (2, 8, 8, 3)
    with pytest.raises(ValueError, match=r"missing frame image .*9.jpg"):
        read_bp4d_frames(tmp_path, "F001", "T1", [9])
    with pytest.raises(ValueError, match="images: expected dtype uint8"):
        write_bp4d_frames(tmp_path, "F001", "T1", seq.frames, images.astype(np.float32))


# -------------------------------------------------------------------------------------- DISFA


def test_disfa_round_trip(tmp_path):
    seq = _disfa_seq()
    write_disfa_sequence(tmp_path, seq)
    write_disfa_sequence(tmp_path, _disfa_seq(subject="SN010", seed=1))
    assert list_disfa_subjects(tmp_path) == ["SN001", "SN010"]
    got = read_disfa_sequence(tmp_path, "SN001")
    np.testing.assert_array_equal(got.frames, np.arange(6))
    np.testing.assert_array_equal(got.intensity, seq.intensity)
    assert got.intensity.dtype == np.int8
    np.testing.assert_array_equal(got.landmarks, seq.landmarks)
    assert got.missing_landmarks == (3,)
    np.testing.assert_array_equal(got.landmark_mask, np.arange(6) != 3)
    assert got.aus == DISFA_AUS
    np.testing.assert_array_equal(got.occurrence(), (seq.intensity >= 2).astype(np.int8))
    np.testing.assert_array_equal(got.occurrence(threshold=1), (seq.intensity > 0).astype(np.int8))
    with pytest.raises(ValueError, match="threshold"):
        got.occurrence(threshold=0)
    # written layout: 1-based frame indices, 0-based landmark file names, key 'pts' (66, 2)
    with open(tmp_path / "ActionUnit_Labels/SN001/SN001_au25.txt") as fh:
        assert fh.readline().strip() == f"1,{seq.intensity[0, 10]}"
    pts = scipy.io.loadmat(tmp_path / "Landmark_Points/SN001/tmp_frame_lm/SN001_0000_lm.mat")["pts"]
    np.testing.assert_array_equal(pts, seq.landmarks[0])


def _disfa_fixture(root, lines_per_au):
    for au in DISFA_AUS:
        _write(str(root / f"ActionUnit_Labels/SN031/SN031_au{au}.txt"), lines_per_au(au))


def test_disfa_hand_written_fixture(tmp_path):
    # frameIdx starting at 0 in one file and at 1 in the others: line t is frame t regardless.
    _disfa_fixture(tmp_path, lambda au: "0,0\n1,3\n2,5\n" if au == 1 else "1,0\n2,1\n3,2\n\n")
    lm_dir = tmp_path / "Landmark_Points/SN031/tmp_frame_lm"
    os.makedirs(lm_dir)
    a = np.arange(132.0).reshape(66, 2)
    scipy.io.savemat(lm_dir / "SN031_0000_lm.mat", {"pts": a})
    scipy.io.savemat(lm_dir / "l00003_lm.mat", {"pts": a + 1})  # 1-based pattern -> frame 2
    seq = read_disfa_sequence(tmp_path, "SN031")
    np.testing.assert_array_equal(seq.intensity[:, 0], [0, 3, 5])
    np.testing.assert_array_equal(seq.intensity[:, 1], [0, 1, 2])
    np.testing.assert_array_equal(seq.occurrence()[:, :2], [[0, 0], [1, 0], [1, 1]])
    np.testing.assert_array_equal(seq.landmarks[0], a)
    np.testing.assert_array_equal(seq.landmarks[2], a + 1)
    assert np.all(np.isnan(seq.landmarks[1])) and seq.missing_landmarks == (1,)
    nolm = read_disfa_sequence(tmp_path, "SN031", landmarks=False)
    assert np.all(np.isnan(nolm.landmarks)) and nolm.missing_landmarks == ()
    # wrong landmark shape
    scipy.io.savemat(lm_dir / "l00002_lm.mat", {"pts": np.zeros((68, 2))})
    with pytest.raises(ValueError, match=r"l00002_lm.mat: expected 'pts' of shape \(66, 2\)"):
        read_disfa_sequence(tmp_path, "SN031")


@pytest.mark.parametrize(
    "bad, match",
    [
        ("1,0\n2,x\n3,0\n", "line 2: expected an integer intensity"),
        ("1,0\n2,6\n3,0\n", "line 2: expected intensity 0..5, got 6"),
        ("1,0\n2;1\n3,0\n", "line 2: expected 'frameIdx,intensity'"),
        ("1,0\n2,1\n", "expected 3 lines like .*SN031_au1.txt, got 2"),
    ],
)
def test_disfa_malformed(tmp_path, bad, match):
    _disfa_fixture(tmp_path, lambda au: bad if au == 12 else "1,0\n2,1\n3,0\n")
    with pytest.raises(ValueError, match="SN031_au12.txt") as err:
        read_disfa_sequence(tmp_path, "SN031", landmarks=False)
    assert err.match(match)


def test_disfa_missing(tmp_path):
    with pytest.raises(ValueError, match="ActionUnit_Labels"):
        list_disfa_subjects(tmp_path)
    with pytest.raises(ValueError, match=r"missing AU label file .*SN001_au1.txt"):
        read_disfa_sequence(tmp_path, "SN001")
    _disfa_fixture(tmp_path, lambda au: "1,0\n")
    with pytest.raises(ValueError, match=r"no landmark folder .*tmp_frame_lm"):
        read_disfa_sequence(tmp_path, "SN031")


def test_disfa_frames_png(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(3, 6, 5)).astype(np.uint8)
    paths = write_disfa_frames(tmp_path, "SN002", gray)
    assert paths[2].endswith(os.path.join("Videos_LeftCamera", "frames", "SN002", "2.png"))
    np.testing.assert_array_equal(read_disfa_frames(tmp_path, "SN002"), gray)  # lossless
    np.testing.assert_array_equal(read_disfa_frames(tmp_path, "SN002", [2, 0]), gray[[2, 0]])
    rgb = rng.integers(0, 256, size=(2, 4, 4, 3)).astype(np.uint8)
    write_disfa_frames(tmp_path, "SN003", rgb)
    np.testing.assert_array_equal(read_disfa_frames(tmp_path, "SN003"), rgb)
    with pytest.raises(ValueError, match="frames: expected indices"):
        read_disfa_frames(tmp_path, "SN003", [2])


class _FakeCapture:
    """Minimal stand-in for cv2.VideoCapture, returning BGR frames."""

    frames = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)

    def __init__(self, path):
        self.path, self.i = path, 0

    def isOpened(self):
        return os.path.isfile(self.path)

    def read(self):
        if self.i >= len(self.frames):
            return False, None
        self.i += 1
        return True, self.frames[self.i - 1]

    def release(self):
        pass


def test_disfa_frames_video(tmp_path, monkeypatch):
    import sys
    import types

    video = tmp_path / "Videos_LeftCamera/LeftVideoSN001_comp.avi"
    with pytest.raises(ValueError, match=r"neither a frame folder .*SN001 nor a video .*_comp.avi"):
        read_disfa_frames(tmp_path, "SN001")
    _write(str(video), "not really a video")
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    with pytest.raises(ValueError, match="needs OpenCV"):
        read_disfa_frames(tmp_path, "SN001")
    monkeypatch.setitem(sys.modules, "cv2", types.SimpleNamespace(VideoCapture=_FakeCapture))
    got = read_disfa_frames(tmp_path, "SN001")
    np.testing.assert_array_equal(got, _FakeCapture.frames[..., ::-1])  # BGR -> RGB


def test_module_exports():
    for mod in (_bp4d, _disfa):
        for name in mod.__all__:
            assert hasattr(mod, name), name
