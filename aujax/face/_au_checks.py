"""Does each AU blendshape move the face the FACS way? Landmark tests for a `BlendshapeModel`."""

import dataclasses

import numpy as np

from ._blendshapes import BlendshapeModel


@dataclasses.dataclass(frozen=True)
class AUCheck:
    """One FACS expectation: `value > 0` means the AU moves the face as FACS describes."""

    au: int
    expectation: str
    value: float

    @property
    def passed(self) -> bool:
        return self.value > 0.0


def au_motion_checks(model: BlendshapeModel, *, intensity: float = 5.0) -> list[AUCheck]:
    """Evaluates the FACS description of each AU on the landmarks at `intensity`.

    Landmark indices are iBUG-68 (0-based); "right" is the subject's right (x < 0). Each check's
    value is a signed margin in cm; it passes when positive.
    """
    zero = np.zeros(model.n_aus)
    base = np.asarray(model.landmarks(model.vertices(zero)))
    out = []

    def dl(au):
        c = zero.copy()
        c[model.au_index(au)] = intensity
        return np.asarray(model.landmarks(model.vertices(c))) - base

    def add(au, text, value):
        out.append(AUCheck(au, text, float(value)))

    lid_gap = lambda p: p[[37, 38, 43, 44], 1].mean() - p[[41, 40, 46, 47], 1].mean()
    has = set(model.aus)
    if 1 in has:
        d = dl(1)
        add(1, "inner brow up more than outer", d[[21, 22], 1].mean() - d[[17, 26], 1].mean())
        add(1, "inner brow up", d[[21, 22], 1].mean() - 0.2)
    if 2 in has:
        d = dl(2)
        add(2, "outer brow up more than inner", d[[17, 26], 1].mean() - d[[21, 22], 1].mean())
        add(2, "outer brow up", d[[17, 26], 1].mean() - 0.2)
    if 4 in has:
        d = dl(4)
        add(4, "brows down", -d[[19, 20, 21, 22, 23, 24], 1].mean())
        add(4, "inner brows toward the midline", min(d[21, 0], -d[22, 0]))
    if 5 in has:
        d = dl(5)
        add(5, "upper lids up", d[[37, 38, 43, 44], 1].min())
        add(5, "eyes open wider", lid_gap(base + d) - lid_gap(base))
    if 6 in has:
        d = dl(6)
        add(6, "lower lids up", d[[40, 41, 46, 47], 1].min())
        add(6, "cheeks up (lower lids and cheek line)", d[[40, 47, 1, 15], 1].mean())
    if 7 in has:
        d = dl(7)
        add(7, "lids tighten (fissure narrows)", lid_gap(base) - lid_gap(base + d))
        add(7, "lower lids up", d[[40, 41, 46, 47], 1].mean())
    if 9 in has:
        d = dl(9)
        add(9, "nose wings up", d[[31, 35], 1].min())
    if 10 in has:
        d = dl(10)
        add(10, "upper lip up", d[[50, 51, 52], 1].min())
        add(10, "upper lip up more than lower", d[51, 1] - d[57, 1])
    if 12 in has:
        d = dl(12)
        add(12, "mouth corners up", d[[48, 54], 1].min())
        add(12, "mouth corners out", min(-d[48, 0], d[54, 0]))
    if 14 in has:
        d = dl(14)
        add(14, "mouth corners back (into the face)", -d[[48, 54], 2].max())
    if 15 in has:
        d = dl(15)
        add(15, "mouth corners down", -d[[48, 54], 1].max())
    if 17 in has:
        d = dl(17)
        add(17, "chin boss up", d[8, 1])
        add(17, "lower lip up", d[57, 1])
    if 20 in has:
        d = dl(20)
        add(20, "mouth corners sideways", min(-d[48, 0], d[54, 0]))
        add(
            20,
            "sideways more than vertical",
            min(abs(d[48, 0]) - abs(d[48, 1]), abs(d[54, 0]) - abs(d[54, 1])),
        )
    if 23 in has:
        d = dl(23)
        width = lambda p: p[54, 0] - p[48, 0]
        add(23, "lips narrow (mouth width shrinks)", width(base) - width(base + d))
    if 24 in has:
        d = dl(24)
        add(
            24,
            "lips pressed (upper down, lower up)",
            min(-d[[61, 62, 63], 1].mean(), d[[65, 66, 67], 1].mean()),
        )
    if 25 in has:
        d = dl(25)
        gap = lambda p: p[62, 1] - p[66, 1]
        add(25, "lips apart", gap(base + d) - gap(base) - 0.05)
    if 26 in has:
        d = dl(26)
        add(26, "chin (landmark 8) down", -d[8, 1] - 0.3)
        add(26, "lower lip down with the jaw", -d[57, 1])
    return out
