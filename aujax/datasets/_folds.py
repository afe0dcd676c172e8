"""Subject lists, AU sets and the standard 3-fold subject splits of BP4D and DISFA (REFERENCE §2).

The three parts are the ones used by JAA-Net and ME-GraphAU (CVI-SZU/ME-GraphAU
``tool/BP4D_image_label_process.py`` and ``tool/DISFA_image_label_process.py``; JAA-Net's
``data/list/{BP4D,DISFA}_part{1,2,3}_path.txt`` give the same lists), in the order they are listed
there. Folds follow ME-GraphAU's numbering:

======  ==========  =====
fold    train       test
======  ==========  =====
1       P1 + P2     P3
2       P1 + P3     P2
3       P2 + P3     P1
======  ==========  =====
"""

__all__ = [
    "AU_UNION",
    "BP4D_AUS",
    "BP4D_INTENSITY_AUS",
    "BP4D_PARTS",
    "BP4D_SUBJECTS",
    "BP4D_TASKS",
    "DATASETS",
    "DISFA_AUS",
    "DISFA_DETECTION_AUS",
    "DISFA_PARTS",
    "DISFA_SUBJECTS",
    "NOT_CODED",
    "fold_of",
    "folds",
]


#: The 41 BP4D-Spontaneous subjects: F001-F023 then M001-M018.
BP4D_SUBJECTS: tuple[str, ...] = tuple(f"F{i:03d}" for i in range(1, 24)) + tuple(
    f"M{i:03d}" for i in range(1, 19)
)
#: The eight BP4D tasks.
BP4D_TASKS: tuple[str, ...] = tuple(f"T{i}" for i in range(1, 9))
#: The 27 DISFA subjects: SN001-SN013, SN016-SN018, SN021, SN023-SN032.
DISFA_SUBJECTS: tuple[str, ...] = tuple(
    f"SN{i:03d}" for i in (*range(1, 14), 16, 17, 18, 21, *range(23, 33))
)

#: The 12 BP4D occurrence (detection) AUs.
BP4D_AUS: tuple[int, ...] = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
#: The five BP4D intensity AUs (the FERA 2015 subset).
BP4D_INTENSITY_AUS: tuple[int, ...] = (6, 10, 12, 14, 17)
#: The 12 DISFA intensity AUs (one label file each).
DISFA_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
#: The usual 8-AU DISFA detection subset.
DISFA_DETECTION_AUS: tuple[int, ...] = (1, 2, 4, 6, 9, 12, 25, 26)
#: The union of the BP4D and DISFA AU sets (17 AUs, ascending): the face model's AU basis
#: (:data:`aujax.face.AU_IDS`, DESIGN §2) and the label columns of the Bosphorus builder.
AU_UNION: tuple[int, ...] = tuple(sorted({*BP4D_AUS, *DISFA_AUS}))
#: The label value of a frame an AU was not coded on (BP4D's 9): masked out of losses and metrics.
NOT_CODED: int = 9

#: BP4D parts (P1, P2, P3), subjects in the order of ME-GraphAU / JAA-Net.
BP4D_PARTS: tuple[tuple[str, ...], ...] = (
    ("F001", "M007", "F018", "F008", "F002", "M004", "F010", "F009", "M012", "M001", "F016",
     "M014", "F023", "M008"),
    ("M011", "F003", "M010", "M002", "F005", "F022", "M018", "M017", "F013", "M016", "F020",
     "F011", "M013", "M005"),
    ("F007", "F015", "F006", "F019", "M006", "M009", "F012", "M003", "F004", "F021", "F017",
     "M015", "F014"),
)  # fmt: skip
#: DISFA parts (P1, P2, P3), subjects in the order of ME-GraphAU / JAA-Net.
DISFA_PARTS: tuple[tuple[str, ...], ...] = (
    ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
)

#: Dataset names accepted by :func:`folds` and :func:`fold_of`.
DATASETS: tuple[str, ...] = ("bp4d", "disfa")

# ME-GraphAU numbering: fold k tests this part (0-based index into the parts).
_TEST_PART = (2, 1, 0)


def _parts(dataset: str) -> tuple[tuple[str, ...], ...]:
    name = dataset.lower() if isinstance(dataset, str) else dataset
    if name == "bp4d":
        return BP4D_PARTS
    if name == "disfa":
        return DISFA_PARTS
    raise ValueError(f"dataset: expected one of {DATASETS}, got {dataset!r}")


def folds(dataset: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The three official (train, test) subject splits of a dataset.

    Args:
        dataset: ``"bp4d"`` or ``"disfa"`` (case-insensitive).

    Returns:
        A list of 3 ``(train_subjects, test_subjects)`` tuples in ME-GraphAU numbering: fold 1
        tests P3 (trains on P1 + P2), fold 2 tests P2 (P1 + P3), fold 3 tests P1 (P2 + P3).
        Subjects keep the order of the official part lists.

    Raises:
        ValueError: unknown ``dataset``.
    """
    parts = _parts(dataset)
    out = []
    for test in _TEST_PART:
        train = tuple(s for p, part in enumerate(parts) if p != test for s in part)
        out.append((train, parts[test]))
    return out


def fold_of(dataset: str, subject: str) -> int:
    """The 1-based fold (ME-GraphAU numbering) in which ``subject`` is a test subject.

    Args:
        dataset: ``"bp4d"`` or ``"disfa"`` (case-insensitive).
        subject: a subject ID such as ``"F001"`` or ``"SN001"``.

    Returns:
        1, 2 or 3.

    Raises:
        ValueError: unknown ``dataset`` or a subject that is not in the dataset.
    """
    parts = _parts(dataset)
    for fold, test in enumerate(_TEST_PART, start=1):
        if subject in parts[test]:
            return fold
    raise ValueError(
        f"subject: {subject!r} is not a {dataset.lower()} subject "
        f"(expected one of {sorted(s for p in parts for s in p)})"
    )
