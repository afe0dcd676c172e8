"""BP4D layout -> readers -> TFDS (array_record, no TensorFlow) -> grain frames and windows."""

import sys

import numpy as np
import pytest

from aujax.datasets._bp4d import (
    BP4DSequence,
    list_bp4d_sequences,
    read_bp4d_frames,
    read_bp4d_sequence,
    write_bp4d_frames,
    write_bp4d_sequence,
)
from aujax.datasets._folds import BP4D_AUS, BP4D_INTENSITY_AUS, BP4D_PARTS, folds
from aujax.datasets._grain import (
    WindowSource,
    fold_split,
    frame_loader,
    window_index,
    window_loader,
)
from aujax.datasets._tfds_bp4d import BP4D_SPLITS, bp4d_data_source, build_bp4d_tfds
from aujax.datasets._tfds_core import rgb as _rgb


# (subject, task, frames): subjects from P1 (F001), P2 (M011) and P3 (F007); one sequence has a
# gap in its frame numbers so windows must not cross it.
_SEQUENCES = (
    ("F001", "T1", np.arange(10, 17)),
    ("F001", "T2", np.concatenate([np.arange(5, 10), np.arange(20, 23)])),
    ("M011", "T1", np.arange(643, 649)),
    ("F007", "T3", np.arange(1, 6)),
)
_SIZE = 64  # the crops64 config stores the frames as they are (no resize)


def _write(root):
    rng = np.random.default_rng(0)
    for n, (subj, task, frames) in enumerate(_SEQUENCES):
        t = frames.size
        lms = rng.uniform(100.0, 300.0, (t, 49, 2))
        lms[1] = np.nan  # a frame without landmarks
        pose = np.stack([np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in range(t)])
        intensity = None
        if n != 2:  # M011_T1 has no intensity files
            intensity = {au: rng.integers(0, 6, t).astype(np.int8) for au in (6, 12, 17)}
            intensity[12][0] = 9
        seq = BP4DSequence(
            subject=subj,
            task=task,
            frames=frames,
            occurrence=rng.choice(np.array([0, 1, 9], np.int8), size=(t, len(BP4D_AUS))),
            aus=BP4D_AUS,
            occlusion=np.arange(t) == 2,
            intensity=intensity,
            landmarks=lms,
            pose=pose,
        )
        write_bp4d_sequence(root, seq, max_au=30)
        shape = (t, _SIZE, _SIZE) if n % 2 else (t, _SIZE, _SIZE, 3)
        write_bp4d_frames(root, subj, task, frames, rng.integers(0, 256, shape, dtype=np.uint8))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("bp4d")
    data_dir = tmp_path_factory.mktemp("tfds")
    _write(root)
    build_bp4d_tfds(root, data_dir, config="crops64")
    build_bp4d_tfds(root, data_dir, config="nocrops")
    return root, data_dir


def _records(source):
    return [source[i] for i in range(len(source))]


def _key(r):
    return (r["subject"].decode(), r["task"].decode(), int(r["frame"]))


def test_no_tensorflow(prepared):
    assert "tensorflow" not in sys.modules


def _assert_matches_reader(root, data_dir, config, size):
    """Every TFDS record equals the reader's view of its frame; returns them by key."""
    got = {}
    for split in BP4D_SPLITS:
        try:
            src = bp4d_data_source(data_dir, split, config=config)
        except ValueError:  # a part without sequences has no split ("Unknown split")
            continue
        for r in _records(src):
            assert _key(r) not in got
            got[_key(r)] = r
    expected = set()
    for subj, task in list_bp4d_sequences(root):
        seq = read_bp4d_sequence(root, subj, task)
        frames = read_bp4d_frames(root, subj, task, seq.frames)
        rgb = frames if frames.ndim == 4 else np.repeat(frames[..., None], 3, axis=-1)
        assert rgb.shape[1:3] == (size, size)  # stored as they are: no resize
        for t, f in enumerate(seq.frames):
            expected.add((subj, task, int(f)))
            r = got[(subj, task, int(f))]
            np.testing.assert_array_equal(r["occurrence"], seq.occurrence[t])
            np.testing.assert_array_equal(r["occurrence_mask"], seq.occurrence_mask[t])
            assert r["occurrence"].dtype == np.int8 and r["occurrence_mask"].dtype == np.bool_
            for j, au in enumerate(BP4D_INTENSITY_AUS):
                want = (
                    9 if seq.intensity is None or au not in seq.intensity else seq.intensity[au][t]
                )
                assert r["intensity"][j] == want
            np.testing.assert_array_equal(r["landmarks"], seq.landmarks[t].astype(np.float32))
            assert bool(r["landmark_mask"]) == bool(seq.landmark_mask[t])
            np.testing.assert_array_equal(r["pose"], seq.pose[t].astype(np.float32))
            np.testing.assert_array_equal(r["image"], rgb[t])
    assert set(got) == expected
    return got


def test_round_trip_equals_reader(prepared):
    root, data_dir = prepared
    got = _assert_matches_reader(root, data_dir, "crops64", _SIZE)
    assert set(got) == {(s, t, int(f)) for s, t, fr in _SEQUENCES for f in fr}
    # The hand-written corner cases did survive: occlusion masks a whole frame, NaN landmarks.
    r = got[("F001", "T1", 12)]
    assert not r["occurrence_mask"].any()
    r = got[("F001", "T1", 11)]
    assert np.isnan(r["landmarks"]).all() and not r["landmark_mask"]
    assert (got[("M011", "T1", 643)]["intensity"] == 9).all()
    assert got[("F001", "T1", 10)]["intensity"][BP4D_INTENSITY_AUS.index(12)] == 9


def test_images_resized_to_config():
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (2, 20, 30), dtype=np.uint8)
    out = _rgb(gray, 8)
    assert out.shape == (2, 8, 8, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    flat = np.full((1, 20, 30, 3), 77, np.uint8)
    np.testing.assert_array_equal(_rgb(flat, 8), np.full((1, 8, 8, 3), 77, np.uint8))


def test_nocrops_has_labels_but_no_image(prepared):
    _, data_dir = prepared
    src = bp4d_data_source(data_dir, "part1", config="nocrops")
    r = src[0]
    assert "image" not in r and r["landmarks"].shape == (49, 2)
    assert len(src) == len(bp4d_data_source(data_dir, "part1", config="crops64"))


def test_splits_are_the_official_parts(prepared):
    _, data_dir = prepared
    for split, part in zip(BP4D_SPLITS, BP4D_PARTS, strict=True):
        src = bp4d_data_source(data_dir, split, config="nocrops")
        subjects = {r["subject"].decode() for r in _records(src)}
        assert subjects == {s for s, _, _ in _SEQUENCES if s in part}
    for fold, (train, test) in enumerate(folds("bp4d"), start=1):
        train_splits, test_split = fold_split(fold)
        assert BP4D_PARTS[BP4D_SPLITS.index(test_split)] == test
        assert {s for p in train_splits for s in BP4D_PARTS[BP4D_SPLITS.index(p)]} == set(train)
        train_src = bp4d_data_source(data_dir, "+".join(train_splits), config="nocrops")
        test_src = bp4d_data_source(data_dir, test_split, config="nocrops")
        train_subj = {r["subject"].decode() for r in _records(train_src)}
        test_subj = {r["subject"].decode() for r in _records(test_src)}
        assert not train_subj & test_subj
        assert train_subj | test_subj == {s for s, _, _ in _SEQUENCES}
    assert fold_split(1) == (("part1", "part2"), "part3")


def _order(loader):
    """Per batch, the (subject, task, frame) of each example (of a window's first frame)."""
    first = lambda x: x if x.ndim == 1 else x[:, 0]
    return [
        tuple(
            (s.decode(), t.decode(), int(f))
            for s, t, f in zip(
                first(b["subject"]), first(b["task"]), first(b["frame"]), strict=True
            )
        )
        for b in loader
    ]


def test_frame_loader_deterministic(prepared):
    _, data_dir = prepared
    src = bp4d_data_source(data_dir, "part1+part2", config="crops64")
    a = _order(frame_loader(src, batch_size=4, seed=3))
    b = _order(frame_loader(src, batch_size=4, seed=3))
    c = _order(frame_loader(src, batch_size=4, seed=4))
    assert a == b and a != c
    assert len(a) == len(src) // 4  # drop_remainder
    batch = next(iter(frame_loader(src, batch_size=4, seed=3)))
    assert batch["image"].shape == (4, 64, 64, 3) and batch["occurrence"].shape == (4, 12)
    every = _order(frame_loader(src, batch_size=1, seed=0, shuffle=False, drop_remainder=False))
    assert sorted(x for b in every for x in b) == sorted(_key(r) for r in _records(src))
    assert len(every) == len(src)


def test_frame_loader_resumes_from_state(prepared):
    _, data_dir = prepared
    src = bp4d_data_source(data_dir, "part1+part2+part3", config="nocrops")
    loader = frame_loader(src, batch_size=3, seed=7, num_epochs=2)
    it = iter(loader)
    head = [next(it) for _ in range(4)]
    state = it.get_state()
    rest = _order(it)
    assert len(rest) == 2 * len(src) // 3 - 4
    resumed = iter(frame_loader(src, batch_size=3, seed=7, num_epochs=2))
    resumed.set_state(state)
    assert _order(resumed) == rest
    assert _order(head) + rest == _order(loader)


def test_frame_loader_shards_partition_records(prepared):
    _, data_dir = prepared
    src = bp4d_data_source(data_dir, "part1+part2+part3", config="nocrops")
    kw = dict(batch_size=1, seed=0, shard_count=2, drop_remainder=False)
    s0 = {x for b in _order(frame_loader(src, shard_index=0, **kw)) for x in b}
    s1 = {x for b in _order(frame_loader(src, shard_index=1, **kw)) for x in b}
    assert not s0 & s1 and len(s0 | s1) == len(src)


def test_windows_are_consecutive_frames_of_one_sequence(prepared):
    _, data_dir = prepared
    src = bp4d_data_source(data_dir, "part1+part2+part3", config="crops64")
    index = window_index(src, window=3)
    # 7 - 2 + (5 - 2) + (3 - 2) + 6 - 2 + 5 - 2 windows; none crosses F001_T2's gap 9 -> 20.
    assert index.shape == (5 + 3 + 1 + 4 + 3, 3)
    records = _records(src)
    for row in index:
        keys = [_key(records[i]) for i in row]
        assert len({k[:2] for k in keys}) == 1
        assert [k[2] for k in keys] == list(range(keys[0][2], keys[0][2] + 3))
    strided = window_index(src, window=3, stride=2)
    assert strided.shape[0] == 3 + 2 + 1 + 2 + 2
    seen = []
    for batch in window_loader(src, window=3, batch_size=2, seed=1, drop_remainder=False):
        assert batch["frame"].shape == (batch["frame"].shape[0], 3)
        assert batch["image"].shape[1:] == (3, 64, 64, 3)
        np.testing.assert_array_equal(np.diff(batch["frame"], axis=1), 1)
        assert (batch["subject"] == batch["subject"][:, :1]).all()
        assert (batch["task"] == batch["task"][:, :1]).all()
        for s, t, f in zip(
            batch["subject"][:, 0], batch["task"][:, 0], batch["frame"][:, 0], strict=True
        ):
            seen.append((s.decode(), t.decode(), int(f)))
    assert sorted(seen) == sorted(_key(records[row[0]]) for row in index)
    window = WindowSource(src, index)[0]
    for t, i in enumerate(index[0]):
        np.testing.assert_array_equal(window["landmarks"][t], records[i]["landmarks"])


def test_window_loader_resumes_and_is_deterministic(prepared):
    _, data_dir = prepared
    src = bp4d_data_source(data_dir, "part1+part2+part3", config="nocrops")
    index = window_index(src, window=2)
    make = lambda seed: window_loader(src, window=2, batch_size=2, seed=seed, index=index)
    assert _order(make(0)) == _order(make(0)) != _order(make(1))
    it = iter(make(0))
    next(it)
    state = it.get_state()
    rest = _order(it)
    again = iter(make(0))
    again.set_state(state)
    assert _order(again) == rest and rest


def test_bad_arguments(prepared, tmp_path):
    _, data_dir = prepared
    src = bp4d_data_source(data_dir, "part1", config="nocrops")
    with pytest.raises(ValueError, match="fold"):
        fold_split(4)
    with pytest.raises(ValueError, match="config"):
        bp4d_data_source(data_dir, "part1", config="crops32")
    with pytest.raises(ValueError, match="manual_dir"):
        build_bp4d_tfds(tmp_path, tmp_path / "out", config="nocrops")
    with pytest.raises(ValueError, match="batch_size"):
        frame_loader(src, batch_size=0, seed=0)
    with pytest.raises(ValueError, match="shard_index"):
        frame_loader(src, batch_size=1, seed=0, shard_index=2, shard_count=2)
    with pytest.raises(ValueError, match="window"):
        window_loader(src, window=50, batch_size=1, seed=0)
    with pytest.raises(ValueError, match="window"):
        window_index(src, window=0)


def test_unknown_subject_and_missing_images_are_rejected(tmp_path):
    rng = np.random.default_rng(2)
    frames = np.arange(1, 3)
    seq = BP4DSequence(
        subject="F001",
        task="T1",
        frames=frames,
        occurrence=np.zeros((2, 12), np.int8),
        aus=BP4D_AUS,
        occlusion=np.zeros(2, bool),
        intensity=None,
        landmarks=rng.normal(size=(2, 49, 2)),
        pose=np.stack([np.eye(3)] * 2),
    )
    write_bp4d_sequence(tmp_path / "a", seq, max_au=30)
    with pytest.raises(ValueError, match="nocrops"):
        build_bp4d_tfds(tmp_path / "a", tmp_path / "out_a", config="crops64")
    # Without images the nocrops config builds; parts without sequences get no split.
    builder = build_bp4d_tfds(tmp_path / "a", tmp_path / "out_a", config="nocrops")
    assert builder.info.splits["part1"].num_examples == 2
    assert set(builder.info.splits) == {"part1"}
    with pytest.raises(ValueError, match="prepared"):
        bp4d_data_source(tmp_path / "out_a", "part1", config="crops128")
    bad = BP4DSequence(**{**seq.__dict__, "subject": "F099"})
    write_bp4d_sequence(tmp_path / "b", bad, max_au=30)
    with pytest.raises(ValueError, match="F099"):
        build_bp4d_tfds(tmp_path / "b", tmp_path / "out_b", config="nocrops")


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_round_trip_from_the_generator(tmp_path):
    """The synthetic generator's layout survives readers -> TFDS unchanged (one sequence)."""
    from aujax.synth._bp4d import generate_bp4d

    root = tmp_path / "syn"
    generate_bp4d(root, size="tiny", seed=0, subjects=["M011"], tasks=["T1"], progress=None)
    build_bp4d_tfds(root, tmp_path / "tfds", config="crops128")
    got = _assert_matches_reader(root, tmp_path / "tfds", "crops128", 128)
    assert {k[0] for k in got} == {"M011"} and len(got) >= 10
    frames = next(
        iter(
            window_loader(
                bp4d_data_source(tmp_path / "tfds", "part2", config="crops128"),
                window=8,
                batch_size=2,
                seed=0,
            )
        )
    )["frame"]
    np.testing.assert_array_equal(np.diff(frames, axis=1), 1)
