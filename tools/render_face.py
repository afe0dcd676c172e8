"""Contact sheet of the neutral face and every AU at intensity 5: `python -m tools.render_face`.

Writes `docs/figures/au_blendshapes.png` (shaded) and `docs/figures/au_displacement.png` (colour =
displacement magnitude), prints the FACS landmark checks of each AU and the mirror-symmetry defect,
and exits non-zero when a check fails. `--quick` renders a coarse face at 96 px.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from ._common import build_model, enable_float64, print_table


def _colormap(t: np.ndarray) -> np.ndarray:
    """A perceptual blue-green-yellow map for t in [0, 1] (viridis anchors), shape (..., 3)."""
    anchors = np.array(
        [
            [0.267, 0.005, 0.329],
            [0.229, 0.322, 0.546],
            [0.128, 0.567, 0.551],
            [0.369, 0.789, 0.383],
            [0.993, 0.906, 0.144],
        ]
    )
    x = np.clip(t, 0, 1) * (len(anchors) - 1)
    i = np.minimum(x.astype(int), len(anchors) - 2)
    w = (x - i)[..., None]
    return anchors[i] * (1 - w) + anchors[i + 1] * w


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-vertices", type=int, default=12000)
    ap.add_argument("--size", type=int, default=192, help="tile size in pixels")
    ap.add_argument("--intensity", type=float, default=5.0)
    ap.add_argument("--out", default="docs/figures")
    ap.add_argument("--quick", action="store_true", help="coarse face, small tiles (< 1 min)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_vertices, args.size = 2000, 96
    enable_float64()
    import jax
    import jax.numpy as jnp

    from aujax.face import AU_NAMES, au_motion_checks, mirror_map, skin_albedo
    from aujax.geometry import frame_vertices, look_rotation
    from aujax.render import contact_sheet, render, save_png

    face, _, _, model, report, build_s = build_model(args.n_vertices)
    print(
        f"face: {face.n_vertices} vertices, {face.triangles.shape[0]} triangles; "
        f"17 AU blendshapes built in {build_s:.1f} s"
    )
    rot = look_rotation(0.35, -0.12, 0.0)
    cam = frame_vertices(
        model.neutral, height=args.size, width=args.size, margin=0.04, rotation=rot
    )
    albedo = skin_albedo(face, jnp.asarray(0.25), key=jax.random.key(0), noise=0.0)
    light = (-0.35, 0.45, 1.0)
    draw = jax.jit(
        lambda v, a: (
            render(
                v,
                model.triangles,
                a,
                camera=cam,
                light_dir=light,
                ambient=0.25,
                diffuse=0.75,
                supersample=2,
            ).image
        )
    )
    zero = jnp.zeros(model.n_aus)
    shaded, heat, labels = [draw(model.neutral, albedo)], [], ["neutral"]
    peak = float(jnp.max(jnp.linalg.norm(model.au_basis, axis=-1))) * args.intensity
    heat.append(draw(model.neutral, jnp.asarray(_colormap(np.zeros(face.n_vertices)))))
    for k, au in enumerate(model.aus):
        c = zero.at[k].set(args.intensity)
        v = model.vertices(c)
        shaded.append(draw(v, albedo))
        mag = np.linalg.norm(np.asarray(v - model.neutral), axis=1) / peak
        heat.append(draw(v, jnp.asarray(_colormap(mag))))
        labels.append(f"AU{au} {AU_NAMES[au]}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_png(out / "au_blendshapes.png", contact_sheet(shaded, ncols=6, labels=labels))
    save_png(out / "au_displacement.png", contact_sheet(heat, ncols=6, labels=labels))

    checks = au_motion_checks(model, intensity=args.intensity)
    print_table(
        ["AU", "FACS expectation", "margin (cm)", "ok"],
        [[c.au, c.expectation, c.value, "yes" if c.passed else "NO"] for c in checks],
        title=f"FACS landmark checks at intensity {args.intensity:g}",
    )
    mm = mirror_map(face)
    basis = np.asarray(model.au_basis)
    sym = np.abs(basis[:, mm] * np.array([-1.0, 1.0, 1.0]) - basis).max(axis=(1, 2))
    scale = np.abs(basis).max(axis=(1, 2))
    rows = [
        [
            f"AU{au}",
            float(report.peak_displacement[k]),
            float(report.activation_scale[k]),
            float(sym[k] / scale[k]),
            int(report.newton_iterations[k]),
            float(report.residual[k]),
        ]
        for k, au in enumerate(model.aus)
    ]
    print_table(
        [
            "AU",
            "peak at E (cm)",
            "activation per unit",
            "mirror defect (rel)",
            "Newton its",
            "residual",
        ],
        rows,
        title="AU blendshapes",
    )
    n_pass = sum(c.passed for c in checks)
    sym_ok = bool((sym / scale).max() <= 1e-4)
    print(
        f"render_face: {n_pass}/{len(checks)} FACS checks passed, max mirror defect "
        f"{(sym / scale).max():.1e} -> {out / 'au_blendshapes.png'}"
    )
    return 0 if n_pass == len(checks) and sym_ok else 1


if __name__ == "__main__":
    sys.exit(main())
